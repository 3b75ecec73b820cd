import { once } from 'node:events';
import type { AddressInfo, Socket } from 'node:net';

import {
    type AmqpError,
    type Connection,
    create_container,
    type Delivery,
    type EventContext,
    message as rheaMessage,
    type Receiver,
    type Sender,
} from 'rhea';

import { keepDispositionOutcomes } from '../../shared/platform/amqpDispositions';
import { type BrokerFaultSwitch, refusesSend } from './faults';
import { deliveryTagFor } from './lockToken';
import { handleManagementRequest } from './management';
import { type AmqpMessage, BrokerError, Condition, type Entity, type QueueStore, type ReceiveMode } from './queueStore';
import { asRheaMessage, encodeMessage, messagesOfTransfer, outgoingDelivered } from './wire';

/** Service Bus Standard's message size limit; the SDK sizes its batches from the attach's max-message-size. */
const MAX_MESSAGE_SIZE = 256 * 1024;
const CBS_ADDRESS = '$cbs';
const MANAGEMENT_SUFFIX = '/$management';

/**
 * Fields of rhea links and deliveries that its typings leave out. Each use below says why the public API is not
 * enough; keep this list short.
 */
interface LinkInternals {
    local: { attach: { snd_settle_mode?: number; rcv_settle_mode?: number; max_message_size?: number } };
}
interface SenderInternals extends LinkInternals {
    credit: number;
    delivery_count: number;
    _draining: boolean;
    _drained: boolean;
    _get_drain: () => boolean;
}
interface SessionInternals {
    outgoing: {
        next_pending_delivery: number;
        next_delivery_id: number;
        deliveries: { available(): number; by_id(id: number): { link: unknown } | undefined };
    };
}
interface DeliveryInternals {
    remote_settled: boolean;
    remote_state?: OutcomeState;
}
interface OutcomeState {
    error?: { condition?: string; description?: string; info?: Record<string, unknown> | null };
    undeliverable_here?: boolean;
    message_annotations?: Record<string, unknown> | null;
}
interface Described {
    described(): unknown;
}
interface OutcomeFactory {
    accepted(): Described;
    rejected(fields: { error?: AmqpError }): Described;
    released(): Described;
    modified(fields: { delivery_failed?: boolean; undeliverable_here?: boolean }): Described;
}
const outcomes = rheaMessage as unknown as OutcomeFactory;

/** The outcome the broker confirms a settlement with: the client's own, minus the dead-letter error (see below). */
function confirmation(kind: OutcomeKind, state: OutcomeState | undefined): unknown {
    switch (kind) {
        case 'accepted':
            return outcomes.accepted().described();
        case 'rejected':
            // The SDK treats any error on the broker's outcome as a failed settlement, so the error is left out.
            return outcomes.rejected({}).described();
        case 'modified':
            return outcomes
                .modified({ delivery_failed: true, undeliverable_here: state?.undeliverable_here })
                .described();
        case 'released':
            return outcomes.released().described();
    }
}

interface Consumer {
    readonly sender: Sender;
    readonly entity: Entity;
    readonly mode: ReceiveMode;
}

type OutcomeKind = 'accepted' | 'rejected' | 'modified' | 'released';

export interface AmqpServer {
    readonly port: number;
    close(): Promise<void>;
}

function addressOf(terminus: { address?: string } | undefined): string {
    return terminus?.address ?? '';
}

function errorOf(error: unknown): AmqpError {
    if (error instanceof BrokerError) return { condition: error.condition, description: error.message };
    return { condition: Condition.internalError, description: error instanceof Error ? error.message : String(error) };
}

/**
 * Service Bus refuses a transfer (a message, or a batch as a whole) larger than the link's max-message-size with
 * `amqp:link:message-size-exceeded`, which the SDK reports as a ServiceBusError with code MessageSizeExceeded. The
 * SDK does not check a single message itself, so without this a message the real service refuses would pass here.
 */
function refuseOversize(payload: unknown, format: number | undefined): void {
    const size = Buffer.isBuffer(payload) ? payload.byteLength : encodeMessage(payload as AmqpMessage).byteLength;
    if (size <= MAX_MESSAGE_SIZE) return;
    throw new BrokerError(
        Condition.messageSizeExceeded,
        `The ${format ? 'batch' : 'message'} (size:${size} bytes) is larger than is currently allowed (${MAX_MESSAGE_SIZE} bytes).`,
    );
}

function nonEmpty(value: unknown): string | undefined {
    return typeof value === 'string' ? value : undefined;
}

/**
 * rhea only echoes `drain` when credit is left, but by the time a drain request arrives the broker may already have
 * spent the credit on messages still in flight. The SDK's `receiveMessages` then waits for a drained flow that never
 * comes, times out and closes its link. This variant always answers a pending drain once the broker has sent what
 * it had.
 */
function answerDrainsAlways(sender: Sender): void {
    const internals = sender as unknown as SenderInternals;
    internals._get_drain = function (this: SenderInternals): boolean {
        if (!this._draining || !this._drained) return false;
        this.delivery_count += this.credit;
        this.credit = 0;
        this._draining = false;
        return true;
    };
}

/**
 * rhea takes link credit only when a transfer is written, not when `send` queues it, so `sendable()` stays true
 * while queued deliveries wait; the broker subtracts those itself or it would send a whole queue on one credit.
 */
function unsentDeliveries(sender: Sender): number {
    const outgoing = (sender.session as unknown as SessionInternals).outgoing;
    let unsent = 0;
    for (let id = outgoing.next_pending_delivery; id < outgoing.next_delivery_id; id++) {
        if (outgoing.deliveries.by_id(id)?.link === sender) unsent++;
    }
    return unsent;
}

/**
 * With rcv-settle-mode=second the client never sends a final settled disposition, so rhea keeps every delivery the
 * broker settled in the session's 2048-slot outgoing window and delivery stops after 2048 messages. The client has
 * nothing more to say about a delivery the broker settled, so the broker marks it remotely settled itself.
 */
function settle(delivery: Delivery, state?: unknown): void {
    delivery.update(true, state);
    (delivery as unknown as DeliveryInternals).remote_settled = true;
}

export async function startAmqpServer(
    store: QueueStore,
    options: { port: number; host: string; faults?: BrokerFaultSwitch },
): Promise<AmqpServer> {
    // A refused send must reach its sender as refused, not batched into its neighbour's acceptance.
    keepDispositionOutcomes();
    const container = create_container({ id: 'servicebus-dev-broker' });
    const consumers = new Map<Sender, Consumer>();
    const consumersByEntity = new Map<Entity, Consumer[]>();
    const producers = new Map<Receiver, Entity>();
    const managementLinks = new Map<Receiver, Entity>();
    const lockedDeliveries = new WeakMap<Delivery, { entity: Entity; token: string }>();
    const connections = new Set<Connection>();
    const sockets = new Set<Socket>();
    const unsubscribers: Array<() => void> = [];

    function pump(consumer: Consumer): void {
        const { sender, entity, mode } = consumer;
        if (!sender.is_open()) return;
        const outgoing = (sender.session as unknown as SessionInternals).outgoing;
        let budget = (sender as unknown as SenderInternals).credit - unsentDeliveries(sender);
        while (budget > 0 && outgoing.deliveries.available() > 0) {
            const delivered = entity.take(mode);
            if (!delivered) return;
            budget--;
            const message = asRheaMessage(outgoingDelivered(delivered));
            if (delivered.lockToken) {
                const delivery = sender.send(message, deliveryTagFor(delivered.lockToken));
                lockedDeliveries.set(delivery, { entity, token: delivered.lockToken });
            } else {
                sender.send(message);
            }
        }
    }

    function pumpEntity(entity: Entity): void {
        const list = consumersByEntity.get(entity);
        if (!list || list.length === 0) return;
        // Rotate so competing receivers share the queue instead of the first link taking everything.
        list.push(list.shift()!);
        for (const consumer of [...list]) {
            if (!entity.hasAvailable()) return;
            pump(consumer);
        }
    }

    function removeConsumer(sender: Sender): void {
        const consumer = consumers.get(sender);
        if (!consumer) return;
        consumers.delete(sender);
        const list = consumersByEntity.get(consumer.entity) ?? [];
        consumersByEntity.set(
            consumer.entity,
            list.filter((c) => c !== consumer),
        );
        // Locks stay: the SDK settles messages of a closed link through $management, as it does against Azure.
    }

    /** The reply link of a request/response pair: the SDK names it, or targets it, with the request's reply_to. */
    function replyLink(connection: Connection, replyTo: string): Sender | undefined {
        return connection.find_sender((s: Sender) => s.name === replyTo || addressOf(s.target) === replyTo);
    }

    function reply(
        context: EventContext,
        request: AmqpMessage,
        applicationProperties: Record<string, unknown>,
        body?: unknown,
    ): void {
        const replyTo = nonEmpty(request.reply_to);
        const sender = replyTo === undefined ? undefined : replyLink(context.connection, replyTo);
        if (!sender) return;
        const response: AmqpMessage = {
            correlation_id: request.message_id,
            to: replyTo,
            application_properties: applicationProperties,
        };
        if (body !== undefined) response.body = body;
        sender.send(asRheaMessage(response));
    }

    function onRequest(context: EventContext, receiver: Receiver, request: AmqpMessage): void {
        const target = addressOf(receiver.target);
        if (target === CBS_ADDRESS) {
            // Any token is accepted: this broker is a development tool with no authorisation model.
            reply(context, request, { 'status-code': 202, 'status-description': 'Accepted' });
            return;
        }
        const entity = managementLinks.get(receiver);
        if (!entity) return;
        const response = handleManagementRequest(entity, request);
        const properties: Record<string, unknown> = { statusCode: response.statusCode };
        if (response.statusDescription !== undefined) properties.statusDescription = response.statusDescription;
        if (response.errorCondition !== undefined) properties.errorCondition = response.errorCondition;
        reply(context, request, properties, response.body);
    }

    function onOutcome(kind: OutcomeKind, context: EventContext): void {
        const delivery = context.delivery;
        if (!delivery) return;
        const locked = lockedDeliveries.get(delivery);
        if (!locked) return;
        lockedDeliveries.delete(delivery);
        const { entity, token } = locked;
        const state = (delivery as unknown as DeliveryInternals).remote_state;
        try {
            if (kind === 'accepted') {
                entity.complete(token);
            } else if (kind === 'rejected') {
                const { DeadLetterReason, DeadLetterErrorDescription, ...properties } = state?.error?.info ?? {};
                entity.deadLetter(token, nonEmpty(DeadLetterReason), nonEmpty(DeadLetterErrorDescription), properties);
            } else if (kind === 'modified' && state?.undeliverable_here) {
                entity.defer(token, state.message_annotations ?? undefined);
            } else {
                entity.abandon(token, kind === 'modified' ? (state?.message_annotations ?? undefined) : undefined);
            }
            settle(delivery, confirmation(kind, state));
        } catch (error) {
            // Typically an expired lock: the SDK turns this error into MessageLockLostError, as with Azure.
            settle(delivery, outcomes.rejected({ error: errorOf(error) }).described());
        }
    }

    // The SDK authenticates with CBS, not SASL; accept whatever SASL mechanism a client picks.
    const mechanisms = container.sasl_server_mechanisms as {
        enable_anonymous(): void;
        enable_plain(check: () => boolean): void;
    };
    mechanisms.enable_anonymous();
    mechanisms.enable_plain(() => true);

    container.on('connection_open', (context: EventContext) => connections.add(context.connection));
    container.on('connection_close', (context: EventContext) => connections.delete(context.connection));
    container.on('disconnected', (context: EventContext) => connections.delete(context.connection));
    // Link and connection errors are the clients' business; without a listener rhea would throw them here.
    container.on('error', () => undefined);

    container.on('sender_open', (context: EventContext) => {
        const sender = context.sender!;
        const source = addressOf(sender.source);
        sender.set_source({ address: source });
        sender.set_target({ address: addressOf(sender.target) });
        if (source === CBS_ADDRESS || source.endsWith(MANAGEMENT_SUFFIX)) return;
        const entity = store.find(source);
        if (!entity) {
            sender.close({
                condition: Condition.entityNotFound,
                description: `The messaging entity '${source}' could not be found.`,
            });
            return;
        }
        const internals = sender as unknown as SenderInternals;
        const mode: ReceiveMode = sender.snd_settle_mode === 1 ? 'receiveAndDelete' : 'peekLock';
        // Mirror the settle modes asked for; rhea then pre-settles receive-and-delete transfers itself.
        internals.local.attach.snd_settle_mode = mode === 'receiveAndDelete' ? 1 : 0;
        internals.local.attach.rcv_settle_mode = sender.rcv_settle_mode;
        answerDrainsAlways(sender);
        const consumer: Consumer = { sender, entity, mode };
        consumers.set(sender, consumer);
        consumersByEntity.set(entity, [...(consumersByEntity.get(entity) ?? []), consumer]);
    });

    container.on('receiver_open', (context: EventContext) => {
        const receiver = context.receiver!;
        const target = addressOf(receiver.target);
        receiver.set_target({ address: target });
        receiver.set_source({ address: addressOf(receiver.source) });
        if (target === CBS_ADDRESS) return;
        if (target.endsWith(MANAGEMENT_SUFFIX)) {
            const entity = store.find(target.slice(0, -MANAGEMENT_SUFFIX.length));
            if (entity) {
                managementLinks.set(receiver, entity);
                return;
            }
        } else {
            const entity = store.find(target);
            if (entity && !entity.isDeadLetterQueue) {
                (receiver as unknown as LinkInternals).local.attach.max_message_size = MAX_MESSAGE_SIZE;
                producers.set(receiver, entity);
                return;
            }
        }
        receiver.close({
            condition: Condition.entityNotFound,
            description: `The messaging entity '${target}' could not be found.`,
        });
    });

    container.on('message', (context: EventContext) => {
        const receiver = context.receiver!;
        const delivery = context.delivery!;
        const entity = producers.get(receiver);
        if (!entity) {
            delivery.accept();
            onRequest(context, receiver, context.message as unknown as AmqpMessage);
            return;
        }
        if (options.faults && refusesSend(options.faults)) {
            delivery.reject({ condition: Condition.internalError, description: 'Send refused (injected fault).' });
            return;
        }
        try {
            refuseOversize(context.message, delivery.format);
            // Decode the whole transfer first so a malformed batch enqueues nothing.
            const messages = messagesOfTransfer(context.message, delivery.format);
            for (const message of messages) entity.enqueue(message);
            delivery.accept();
        } catch (error) {
            delivery.reject(errorOf(error));
        }
    });

    container.on('sendable', (context: EventContext) => {
        const consumer = consumers.get(context.sender!);
        if (consumer) pump(consumer);
    });

    container.on('sender_draining', (context: EventContext) => {
        const consumer = consumers.get(context.sender!);
        if (!consumer) return;
        pump(consumer);
        context.sender!.set_drained(true);
    });

    for (const kind of ['accepted', 'rejected', 'modified', 'released'] as const) {
        container.on(kind, (context: EventContext) => onOutcome(kind, context));
    }

    container.on('sender_close', (context: EventContext) => removeConsumer(context.sender!));
    container.on('receiver_close', (context: EventContext) => {
        producers.delete(context.receiver!);
        managementLinks.delete(context.receiver!);
    });

    for (const name of store.queueNames()) {
        const queue = store.queue(name)!;
        for (const entity of [queue, queue.deadLetterQueue!]) {
            unsubscribers.push(entity.onAvailable(() => pumpEntity(entity)));
        }
    }

    const server = container.listen({
        port: options.port,
        host: options.host,
        // The broker decides each transfer's outcome itself (duplicates, unknown entities, malformed batches).
        autoaccept: false,
        // Abandon (modified) and release are different settlements here; rhea would otherwise report both.
        treat_modified_as_released: false,
    } as Parameters<typeof container.listen>[0]);
    server.on('connection', (socket: Socket) => {
        sockets.add(socket);
        socket.on('close', () => sockets.delete(socket));
    });
    await Promise.race([
        once(server, 'listening'),
        once(server, 'error').then(([error]) => {
            throw error as Error;
        }),
    ]);
    const port = (server.address() as AddressInfo).port;

    return {
        port,
        async close(): Promise<void> {
            for (const unsubscribe of unsubscribers) unsubscribe();
            for (const connection of connections) {
                try {
                    connection.close({
                        condition: 'amqp:connection:forced',
                        description: 'The dev broker is stopping.',
                    });
                } catch {
                    // Already going away.
                }
            }
            const closed = new Promise<void>((resolve) => server.close(() => resolve()));
            // Give the close frames a moment to leave, then drop whatever is still connected.
            await new Promise((resolve) => setTimeout(resolve, 20));
            for (const socket of sockets) socket.destroy();
            await closed;
        },
    };
}
