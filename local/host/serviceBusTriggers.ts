/**
 * Drives the app's Service Bus triggers with the real `@azure/service-bus` receiver, the way the Functions host's
 * Service Bus extension does: peek-lock, `maxConcurrentCalls` messages in flight per function, locks renewed up to
 * `maxAutoLockRenewalDuration`, and explicit settlement: success completes, failure abandons (the broker then
 * redelivers with `deliveryCount` + 1 and dead-letters after the queue's max delivery count).
 */
import {
    type ProcessErrorArgs,
    type ServiceBusClient,
    type ServiceBusReceivedMessage,
    type ServiceBusReceiver,
} from '@azure/service-bus';

import { type RegisteredFunction } from './functionsCore';
import { type HostLogger } from './hostLog';
import { describeError, type FunctionInvoker, triggerBinding } from './invoker';
import {
    createServiceBusClient,
    DEFAULT_SERVICE_BUS_CONNECTION,
    resolveAppSettingReferences,
    resolveServiceBusConnection,
} from './serviceBusConnection';

type Env = Record<string, string | undefined>;

export interface ServiceBusTriggerOptions {
    maxConcurrentCalls: number;
    maxAutoLockRenewalDurationInMs: number;
    /** host.json `autoCompleteMessages`: when false, a successful invocation leaves the message unsettled. */
    autoCompleteMessages: boolean;
    invoker: FunctionInvoker;
    logger: HostLogger;
    env?: Env;
}

export interface ServiceBusTriggerDefinition {
    functionName: string;
    connection: string;
    /** Queue name, or topic name when `subscriptionName` is set. */
    entityName: string;
    subscriptionName?: string;
    registered: RegisteredFunction;
}

export function serviceBusTriggers(
    functions: Iterable<RegisteredFunction>,
    env: Env = process.env,
): ServiceBusTriggerDefinition[] {
    const definitions: ServiceBusTriggerDefinition[] = [];
    for (const registered of functions) {
        const trigger = triggerBinding(registered.metadata);
        if (trigger.type.toLowerCase() !== 'servicebustrigger') continue;
        const name = registered.metadata.name;
        if (trigger.isSessionsEnabled === true) {
            throw new Error(
                `Function "${name}": session-enabled Service Bus triggers are not supported by the local host.`,
            );
        }
        if (typeof trigger.cardinality === 'string' && trigger.cardinality.toLowerCase() === 'many') {
            throw new Error(
                `Function "${name}": batched (cardinality "many") Service Bus triggers are not supported locally.`,
            );
        }
        const queueName = typeof trigger.queueName === 'string' ? trigger.queueName : undefined;
        const topicName = typeof trigger.topicName === 'string' ? trigger.topicName : undefined;
        const subscriptionName = typeof trigger.subscriptionName === 'string' ? trigger.subscriptionName : undefined;
        const entity = queueName ?? topicName;
        if (!entity) throw new Error(`Function "${name}": the Service Bus trigger names no queue or topic.`);
        definitions.push({
            functionName: name,
            connection: typeof trigger.connection === 'string' ? trigger.connection : DEFAULT_SERVICE_BUS_CONNECTION,
            entityName: resolveAppSettingReferences(entity, env),
            subscriptionName:
                queueName || !subscriptionName ? undefined : resolveAppSettingReferences(subscriptionName, env),
            registered,
        });
    }
    return definitions;
}

function tryJsonParse(text: string): unknown {
    try {
        return JSON.parse(text) as unknown;
    } catch {
        return text;
    }
}

/**
 * The handler's first argument, as the host hands it over: JSON text becomes the parsed value, other text stays a
 * string, and bytes that are not UTF-8 JSON stay a Buffer.
 */
export function triggerInput(body: unknown): unknown {
    if (typeof body === 'string') return tryJsonParse(body);
    if (body instanceof Uint8Array) {
        const text = Buffer.from(body).toString('utf8');
        const parsed = tryJsonParse(text);
        return parsed === text ? Buffer.from(body) : parsed;
    }
    return body;
}

/** The library camel-cases trigger metadata keys, nested ones too (`toCamelCaseValue`); so does this host. */
function camelCaseDeep(value: unknown): unknown {
    if (Array.isArray(value)) return value.map(camelCaseDeep);
    if (value === null || typeof value !== 'object' || value instanceof Date) return value;
    const result: Record<string, unknown> = {};
    for (const [key, inner] of Object.entries(value)) {
        result[key.charAt(0).toLowerCase() + key.slice(1)] = camelCaseDeep(inner);
    }
    return result;
}

/** The trigger metadata the Service Bus extension sends for one message (the subset a Node app can use). */
export function triggerMetadata(message: ServiceBusReceivedMessage): Record<string, unknown> {
    const fromHost: Record<string, unknown> = {
        MessageId: message.messageId,
        // The host is .NET: its DeliveryCount is the AMQP header's count of earlier deliveries + 1 (1 on the first
        // delivery), while the JavaScript SDK passes the header through unchanged (0 on the first delivery).
        DeliveryCount: (message.deliveryCount ?? 0) + 1,
        CorrelationId: message.correlationId,
        ContentType: message.contentType,
        Subject: message.subject,
        To: message.to,
        ReplyTo: message.replyTo,
        SessionId: message.sessionId,
        LockToken: message.lockToken,
        SequenceNumber: message.sequenceNumber?.toNumber(),
        EnqueuedTimeUtc: message.enqueuedTimeUtc?.toISOString(),
        ExpiresAtUtc: message.expiresAtUtc?.toISOString(),
        DeadLetterSource: message.deadLetterSource,
        ApplicationProperties: { ...(message.applicationProperties ?? {}) },
        UserProperties: { ...(message.applicationProperties ?? {}) },
    };
    for (const [key, value] of Object.entries(fromHost)) if (value === undefined) delete fromHost[key];
    return camelCaseDeep(fromHost) as Record<string, unknown>;
}

interface RunningTrigger {
    definition: ServiceBusTriggerDefinition;
    receiver: ServiceBusReceiver;
    stop(): Promise<void>;
}

export class ServiceBusTriggerHost {
    private readonly clients = new Map<string, ServiceBusClient>();
    private readonly running: RunningTrigger[] = [];
    private readonly inFlight = new Set<Promise<void>>();
    readonly definitions: ServiceBusTriggerDefinition[];

    constructor(
        functions: Iterable<RegisteredFunction>,
        private readonly options: ServiceBusTriggerOptions,
    ) {
        this.definitions = serviceBusTriggers(functions, options.env);
    }

    /** Opens one receiver per trigger; connections are shared per connection setting, as the host does. */
    start(): void {
        for (const definition of this.definitions) {
            const client = this.clientFor(definition.connection);
            const receiver = definition.subscriptionName
                ? client.createReceiver(definition.entityName, definition.subscriptionName, this.receiverOptions())
                : client.createReceiver(definition.entityName, this.receiverOptions());
            const slots = new ConcurrencyLimit(this.options.maxConcurrentCalls);
            const subscription = receiver.subscribe(
                {
                    processMessage: (message) =>
                        this.track(slots.run(() => this.process(definition, receiver, message))),
                    processError: (args) => this.reportError(definition, args),
                },
                { autoCompleteMessages: false, maxConcurrentCalls: this.options.maxConcurrentCalls },
            );
            this.running.push({ definition, receiver, stop: () => subscription.close() });
        }
    }

    /** Stops receiving, lets running invocations settle their messages, then closes receivers and connections. */
    async close(drainTimeoutMs = 30_000): Promise<void> {
        await Promise.allSettled(this.running.map((trigger) => trigger.stop()));
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([
            Promise.allSettled([...this.inFlight]),
            new Promise<void>((resolve) => (timer = setTimeout(resolve, drainTimeoutMs))),
        ]);
        clearTimeout(timer);
        await Promise.allSettled(this.running.map((trigger) => trigger.receiver.close()));
        await Promise.allSettled([...this.clients.values()].map((client) => client.close()));
        this.running.length = 0;
        this.clients.clear();
    }

    private receiverOptions() {
        return {
            receiveMode: 'peekLock' as const,
            maxAutoLockRenewalDurationInMs: this.options.maxAutoLockRenewalDurationInMs,
        };
    }

    private clientFor(connection: string): ServiceBusClient {
        let client = this.clients.get(connection);
        if (!client) {
            client = createServiceBusClient(resolveServiceBusConnection(connection, this.options.env));
            this.clients.set(connection, client);
        }
        return client;
    }

    private track(work: Promise<void>): Promise<void> {
        this.inFlight.add(work);
        void work.finally(() => this.inFlight.delete(work));
        return work;
    }

    /** Never throws: settlement is explicit, so the SDK's own abandon-on-throw never runs twice. */
    private async process(
        definition: ServiceBusTriggerDefinition,
        receiver: ServiceBusReceiver,
        message: ServiceBusReceivedMessage,
    ): Promise<void> {
        let succeeded: boolean;
        try {
            await this.options.invoker.invoke(
                definition.registered,
                [triggerInput(message.body)],
                triggerMetadata(message),
            );
            succeeded = true;
        } catch {
            succeeded = false;
        }
        try {
            if (!succeeded) await receiver.abandonMessage(message);
            else if (this.options.autoCompleteMessages) await receiver.completeMessage(message);
        } catch (error) {
            // Typically a lost lock: the broker redelivers the message, as Azure would.
            this.options.logger.host(
                'warning',
                `Could not ${succeeded ? 'complete' : 'abandon'} message ${message.messageId as string} for ` +
                    `'Functions.${definition.functionName}': ${describeServiceBusError(error)}`,
            );
        }
    }

    private reportError(definition: ServiceBusTriggerDefinition, args: ProcessErrorArgs): Promise<void> {
        const entity = definition.subscriptionName
            ? `${definition.entityName}/${definition.subscriptionName}`
            : definition.entityName;
        this.options.logger.host(
            'warning',
            `Service Bus receiver for 'Functions.${definition.functionName}' (${entity}, ${args.errorSource}): ` +
                describeServiceBusError(args.error),
        );
        return Promise.resolve();
    }
}

function describeServiceBusError(error: unknown): string {
    // SDK errors describe the connection or entity, never message bodies, so their message is safe to print.
    const code = (error as { code?: unknown }).code;
    const message = error instanceof Error ? error.message : describeError(error);
    return typeof code === 'string' ? `${code}: ${message}` : message;
}

/** At most `limit` concurrent runs; the SDK's link credit normally ensures this already, this makes it certain. */
class ConcurrencyLimit {
    private active = 0;
    private readonly waiting: (() => void)[] = [];

    constructor(private readonly limit: number) {}

    async run(work: () => Promise<void>): Promise<void> {
        if (this.active >= this.limit) await new Promise<void>((resolve) => this.waiting.push(resolve));
        this.active += 1;
        try {
            await work();
        } finally {
            this.active -= 1;
            this.waiting.shift()?.();
        }
    }
}
