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
