/**
 * The Service Bus client, set up in one place from the settings of the Functions connection named
 * "ServiceBusConnection", so the triggers (read by the Functions host) and this sender use the same namespace:
 * `ServiceBusConnection__fullyQualifiedNamespace` (+ `__clientId`) with a managed identity, or a connection string in
 * `ServiceBusConnection` for emulators. One client per process, created lazily, closed on app terminate.
 *
 * The HTTP intake sends with the SDK rather than an output binding because only the SDK can set `messageId`, which
 * the queue's duplicate detection keys on.
 */
import { ServiceBusClient, type ServiceBusMessage, type ServiceBusSender } from '@azure/service-bus';

import { keepDispositionOutcomes } from './amqpDispositions';
import { getConfig } from './config';
import { createAzureCredential } from './credential';

/** What the app needs from a queue: send one message now, or at a later time. */
export interface MessageSender {
    send(message: ServiceBusMessage): Promise<void>;
}

let client: ServiceBusClient | undefined;
const senders = new Map<string, ServiceBusSender>();

// Fail fast enough that an HTTP caller gets a 503 in seconds, not after the SDK's minute-long default.
const RETRY_OPTIONS = { maxRetries: 2, retryDelayInMs: 250, maxRetryDelayInMs: 2000, timeoutInMs: 10_000 };

export function getServiceBusClient(): ServiceBusClient {
    if (!client) {
        keepDispositionOutcomes();
        const config = getConfig('serviceBus');
        client =
            config.kind === 'identity'
                ? new ServiceBusClient(config.fullyQualifiedNamespace, createAzureCredential(config.clientId), {
                      retryOptions: RETRY_OPTIONS,
                  })
                : new ServiceBusClient(config.connectionString, { retryOptions: RETRY_OPTIONS });
    }
    return client;
}

function getSender(queueName: string): ServiceBusSender {
    let sender = senders.get(queueName);
    if (!sender) {
        sender = getServiceBusClient().createSender(queueName);
        senders.set(queueName, sender);
    }
    return sender;
}

/** A sender for one queue; the underlying AMQP link is opened on the first send and then reused. */
export function queueSender(queueName: string): MessageSender {
    return {
        async send(message) {
            await getSender(queueName).sendMessages(message);
        },
    };
}

export async function closeServiceBus(): Promise<void> {
    const closing = client;
    client = undefined;
    const open = [...senders.values()];
    senders.clear();
    await Promise.allSettled(open.map((sender) => sender.close()));
    await closing?.close();
}
