import type { FaultChange } from '../faults/dependencyFaults';
import { type AdminServer, startAdminServer } from './adminHttp';
import { type AmqpServer, startAmqpServer } from './amqpServer';
import { type BrokerFaults, brokerFaultSwitch } from './faults';
import type { DeadLetterEntry, QueueOperations, QueueStats } from './queueReports';
import { QueueStore } from './queueStore';

/**
 * A Service Bus development broker: enough of Service Bus over AMQP 1.0 for the real `@azure/service-bus` SDK with a
 * `UseDevelopmentEmulator=true` connection string. State lives in memory: it survives clients reconnecting, not a
 * broker restart.
 */

export interface QueueDefinition {
    name: string;
    maxDeliveryCount: number;
    lockDurationMs: number;
    duplicateDetectionWindowMs: number;
}

export interface DevBroker {
    readonly port: number;
    readonly adminPort?: number;
    readonly connectionString: string;
    stats(): Record<string, QueueStats>;
    /** What clients asked of each queue so far (sends, receives, settlements), as the admin `/operations` answers. */
    operations(): Record<string, QueueOperations>;
    deadLetters(queue: string): DeadLetterEntry[];
    /** The injected faults (faults.ts), as the admin server's `/faults` also sets them. */
    readonly faults: BrokerFaultControl;
    close(): Promise<void>;
}

export interface BrokerFaultControl {
    current(): BrokerFaults;
    update(change: FaultChange<BrokerFaults>): BrokerFaults;
    reset(): BrokerFaults;
}

export interface BrokerOptions {
    queues: QueueDefinition[];
    /** 0 = ephemeral; default 5672, the port the SDK uses for `UseDevelopmentEmulator=true`. */
    port?: number;
    /** Default 127.0.0.1. */
    host?: string;
    /** undefined = no admin server, 0 = ephemeral. The admin server always binds to 127.0.0.1. */
    adminPort?: number;
}

function validate(queues: QueueDefinition[]): void {
    for (const q of queues) {
        if (!q.name || q.name.includes('/') || q.name.startsWith('$'))
            throw new Error(`Invalid queue name "${q.name}".`);
        if (!Number.isInteger(q.maxDeliveryCount) || q.maxDeliveryCount < 1) {
            throw new Error(`Queue "${q.name}": maxDeliveryCount must be a positive integer.`);
        }
        if (!(q.lockDurationMs > 0)) throw new Error(`Queue "${q.name}": lockDurationMs must be positive.`);
        if (!(q.duplicateDetectionWindowMs >= 0)) {
            throw new Error(`Queue "${q.name}": duplicateDetectionWindowMs must not be negative.`);
        }
    }
}

function connectHost(host: string): string {
    if (host === '0.0.0.0' || host === '::' || host === '') return '127.0.0.1';
    return host.includes(':') ? `[${host}]` : host;
}

export async function startBroker(options: BrokerOptions): Promise<DevBroker> {
    validate(options.queues);
    const faults = brokerFaultSwitch();
    const store = new QueueStore(options.queues, faults);
    const host = options.host ?? '127.0.0.1';
    let amqp: AmqpServer | undefined;
    let admin: AdminServer | undefined;

    const stats = (): Record<string, QueueStats> => {
        const result: Record<string, QueueStats> = {};
        for (const name of store.queueNames()) {
            const queue = store.queue(name)!;
            const deadLetter = queue.deadLetterQueue!.counts();
            result[name] = {
                ...queue.counts(),
                deadLettered: deadLetter.active + deadLetter.locked + deadLetter.scheduled,
            };
        }
        return result;
    };

    const operations = (): Record<string, QueueOperations> =>
        Object.fromEntries(store.queueNames().map((name) => [name, store.queue(name)!.operations()]));

    const listDeadLetters = (queue: string): DeadLetterEntry[] | undefined =>
        store
            .queue(queue)
            ?.deadLetterQueue?.all()
            .map((stored) => {
                const entry: DeadLetterEntry = {
                    messageId: stored.messageId,
                    deliveryCount: stored.deadLetter?.deliveryCount ?? stored.deliveries,
                };
                if (stored.deadLetter?.reason !== undefined) entry.reason = stored.deadLetter.reason;
                if (stored.deadLetter?.description !== undefined) entry.description = stored.deadLetter.description;
                return entry;
            });

    try {
        amqp = await startAmqpServer(store, { port: options.port ?? 5672, host, faults });
        if (options.adminPort !== undefined) {
            admin = await startAdminServer(
                { stats, operations, deadLetters: listDeadLetters, faults },
                options.adminPort,
            );
        }
    } catch (error) {
        await amqp?.close();
        store.close();
        throw error;
    }

    const port = amqp.port;
    let closing: Promise<void> | undefined;
    return {
        port,
        adminPort: admin?.port,
        connectionString: `Endpoint=sb://${connectHost(host)}:${port};SharedAccessKeyName=local;SharedAccessKey=local;UseDevelopmentEmulator=true`,
        stats,
        operations,
        faults,
        deadLetters(queue: string): DeadLetterEntry[] {
            const entries = listDeadLetters(queue);
            if (!entries) throw new Error(`Unknown queue "${queue}".`);
            return entries;
        },
        close(): Promise<void> {
            closing ??= (async () => {
                store.close();
                await Promise.all([amqp.close(), admin?.close()]);
            })();
            return closing;
        },
    };
}
