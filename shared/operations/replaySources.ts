/**
 * Where replay finds stopped work in Azure (or the local runtime): the dead-letter queues, read with the real Service
 * Bus SDK, and the Failed records, queried in Cosmos DB.
 */
import type { Container } from '@azure/cosmos';
import type { ServiceBusClient, ServiceBusReceivedMessage } from '@azure/service-bus';

import type { DeadLetteredMessage, DeadLetterQueue, FailedRecordQuery } from './replay';

const BATCH = 50;
const WAIT_MS = 1_000;

const sequenceOf = (message: ServiceBusReceivedMessage) => message.sequenceNumber?.toString() ?? '';

function toDeadLettered(queue: string, message: ServiceBusReceivedMessage): DeadLetteredMessage {
    const text = (value: unknown) => (typeof value === 'string' && value ? value : undefined);
    return {
        queue,
        sequenceNumber: sequenceOf(message),
        messageId: text(message.messageId),
        correlationId: text(message.correlationId),
        body: message.body as unknown,
        applicationProperties: { ...(message.applicationProperties ?? {}) },
        reason: message.deadLetterReason,
        enqueuedAt: message.enqueuedTimeUtc,
    };
}

export function serviceBusDeadLetterQueue(client: ServiceBusClient, queue: string): DeadLetterQueue {
    return {
        queue,
        async peek() {
            const receiver = client.createReceiver(queue, { subQueueType: 'deadLetter' });
            try {
                const all: DeadLetteredMessage[] = [];
                for (;;) {
                    const batch = await receiver.peekMessages(BATCH);
                    if (batch.length === 0) return all;
                    all.push(...batch.map((m) => toDeadLettered(queue, m)));
                }
            } finally {
                await receiver.close();
            }
        },
        async drain(handle) {
            const receiver = client.createReceiver(queue, { subQueueType: 'deadLetter', receiveMode: 'peekLock' });
            // Messages left in the dead-letter queue stay locked until the end, so the loop never sees them twice
            // (unless a lock runs out on a long run: then they are recognised by sequence number and the loop ends).
            const kept: ServiceBusReceivedMessage[] = [];
            const seen = new Set<string>();
            try {
                for (;;) {
                    const batch = await receiver.receiveMessages(BATCH, { maxWaitTimeInMs: WAIT_MS });
                    const fresh = batch.filter((m) => !seen.has(sequenceOf(m)));
                    kept.push(...batch.filter((m) => seen.has(sequenceOf(m))));
                    if (fresh.length === 0) break;
                    for (const [index, message] of fresh.entries()) {
                        seen.add(sequenceOf(message));
                        let remove: boolean;
                        try {
                            remove = await handle(toDeadLettered(queue, message));
                        } catch (error) {
                            kept.push(...fresh.slice(index));
                            throw error;
                        }
                        if (remove) await receiver.completeMessage(message);
                        else kept.push(message);
                    }
                }
            } finally {
                await Promise.allSettled(kept.map((message) => receiver.abandonMessage(message)));
                await receiver.close();
            }
        },
    };
}

export function cosmosFailedRecords(container: () => Container): FailedRecordQuery {
    return {
        async failedKeys() {
            const { resources } = await container()
                .items.query<{ id: string }>({
                    query: 'SELECT c.id FROM c WHERE c.status = @status',
                    parameters: [{ name: '@status', value: 'Failed' }],
                })
                .fetchAll();
            return resources.map((r) => r.id).sort();
        },
    };
}
