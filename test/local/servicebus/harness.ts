import { ServiceBusClient } from '@azure/service-bus';

import { type DevBroker, type QueueDefinition, startBroker } from '../../../local/servicebus/broker';

export interface Harness {
    broker: DevBroker;
    client: ServiceBusClient;
    close(): Promise<void>;
}

/** A queue with generous defaults; tests override what they exercise. */
export function queue(name: string, overrides: Partial<QueueDefinition> = {}): QueueDefinition {
    return { name, maxDeliveryCount: 10, lockDurationMs: 30_000, duplicateDetectionWindowMs: 0, ...overrides };
}

/** An ephemeral broker on loopback and a real SDK client connected to it. */
export async function startHarness(queues: QueueDefinition[], options: { adminPort?: number } = {}): Promise<Harness> {
    const broker = await startBroker({ queues, port: 0, host: '127.0.0.1', adminPort: options.adminPort });
    const client = new ServiceBusClient(broker.connectionString, {
        retryOptions: { maxRetries: 1, timeoutInMs: 10_000 },
    });
    return {
        broker,
        client,
        async close() {
            await client.close();
            await broker.close();
        },
    };
}

/** Polls until `check` returns a value other than undefined/false, or fails after `timeoutMs`. */
export async function waitFor<T>(
    what: string,
    check: () => T | undefined | false | Promise<T | undefined | false>,
    timeoutMs = 5_000,
): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
        const value = await check();
        if (value !== undefined && value !== false) return value;
        if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
        await new Promise((resolve) => setTimeout(resolve, 25));
    }
}
