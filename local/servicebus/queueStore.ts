import { randomUUID } from 'node:crypto';

import { type BrokerFaultSwitch, lockLossAfter } from './faults';
import { newLockToken, uuidString } from './lockToken';

/**
 * A decoded AMQP message as rhea lays it out: header, properties, annotations and body side by side. The broker owns
 * each stored object (it is decoded once per enqueue), so changing it never touches a client's copy.
 */
export type AmqpMessage = Record<string, unknown>;

export type ReceiveMode = 'peekLock' | 'receiveAndDelete';

export const DEAD_LETTER_SUFFIX = '/$DeadLetterQueue';

/** AMQP error conditions the SDK translates into its own error codes. */
export const Condition = {
    lockLost: 'com.microsoft:message-lock-lost',
    messageNotFound: 'com.microsoft:message-not-found',
    entityNotFound: 'amqp:not-found',
    notImplemented: 'amqp:not-implemented',
    badRequest: 'amqp:invalid-field',
    internalError: 'amqp:internal-error',
    notAllowed: 'amqp:not-allowed',
    messageSizeExceeded: 'amqp:link:message-size-exceeded',
} as const;

export class BrokerError extends Error {
    constructor(
        readonly condition: string,
        description: string,
    ) {
        super(description);
        this.name = 'BrokerError';
    }
}

export interface EntityDefinition {
    name: string;
    maxDeliveryCount: number;
    lockDurationMs: number;
    duplicateDetectionWindowMs: number;
}

export interface DeadLetterInfo {
    reason?: string;
    description?: string;
    /** Deliveries under lock from the source queue before the message was dead-lettered. */
    deliveryCount: number;
}

export interface StoredMessage {
    readonly sequenceNumber: number;
    readonly messageId: string;
    readonly message: AmqpMessage;
    enqueuedAt: number;
    /** Deliveries under a lock so far: what Azure calls DeliveryCount. The wire header carries the ones before. */
    deliveries: number;
    /** Set once deferred: a deferred message stays deferred through abandon and lock expiry, as in Azure. */
    deferred: boolean;
    deadLetter?: DeadLetterInfo;
}

export interface Delivered {
    readonly stored: StoredMessage;
    /** The AMQP header delivery-count: unsuccessful deliveries before this one (0 on the first). */
    readonly priorDeliveries: number;
    readonly lockToken?: string;
    readonly lockedUntil?: number;
}

export interface EntityCounts {
    active: number;
    scheduled: number;
    locked: number;
}

/**
 * What clients asked of an entity since the broker started, message by message (a batch of 100 is 100 sends):
 * benchmarks count the round trips per referral with it.
 */
export interface EntityOperations {
    /** Messages sent or scheduled, duplicates included. */
    sent: number;
    /** Of those, dropped by duplicate detection. */
    duplicates: number;
    /** Deliveries: messages handed to a receiver (locked, or removed in receive-and-delete mode). */
    received: number;
    completed: number;
    abandoned: number;
    deferred: number;
    deadLettered: number;
    lockRenewals: number;
}

interface Lock {
    readonly token: string;
    readonly stored: StoredMessage;
    lockedUntil: number;
    timer: NodeJS.Timeout;
    /** An injected lock loss: it runs out early and cannot be renewed. */
    lost?: boolean;
}

interface Scheduled {
    readonly stored: StoredMessage;
    readonly at: number;
    timer: NodeJS.Timeout;
}

/** Node clamps longer timeouts to 1 ms; far-off deadlines are re-armed in steps instead. */
const MAX_TIMER_MS = 2 ** 31 - 1;

const SCHEDULED_ENQUEUE_TIME = 'x-opt-scheduled-enqueue-time';

function timeOf(value: unknown): number | undefined {
    if (value instanceof Date) return value.getTime();
    if (typeof value === 'number' && Number.isFinite(value)) return value;
    return undefined;
}

/** Service Bus compares message ids as strings; a binary id from another client is compared by its uuid text. */
export function messageIdKey(id: unknown): string | undefined {
    if (typeof id === 'string') return id;
    if (typeof id === 'number' || typeof id === 'bigint') return String(id);
    if (Buffer.isBuffer(id)) return id.length === 16 ? uuidString(id) : id.toString('hex');
    return undefined;
}

function annotationsOf(message: AmqpMessage): Record<string, unknown> {
    const annotations = message.message_annotations;
    return typeof annotations === 'object' && annotations !== null ? (annotations as Record<string, unknown>) : {};
}

function applicationPropertiesOf(message: AmqpMessage): Record<string, unknown> {
    const properties = message.application_properties;
    return typeof properties === 'object' && properties !== null ? (properties as Record<string, unknown>) : {};
}

function insertBySequence(list: StoredMessage[], stored: StoredMessage): void {
    // Nearly always an append (new messages) or a push to the front (abandoned ones), so scan from the end.
    let index = list.length;
    while (index > 0 && list[index - 1]!.sequenceNumber > stored.sequenceNumber) index--;
    list.splice(index, 0, stored);
}

/**
 * One queue or dead-letter sub-queue: ordering, locks, delivery counting, scheduling, deferral and duplicate
 * detection. It knows nothing about AMQP; the wire layer pulls messages when it has link credit and is told through
 * `onAvailable` when pulling may succeed again.
 */
export class Entity {
    private nextSequence = 1;
    private readonly active: StoredMessage[] = [];
    private readonly scheduled = new Map<number, Scheduled>();
    private readonly deferredMessages = new Map<number, StoredMessage>();
    private readonly locks = new Map<string, Lock>();
    private readonly recentMessageIds = new Map<string, { expiresAt: number; sequenceNumber: number }>();
    private readonly listeners = new Set<() => void>();
    private notifyPending: NodeJS.Immediate | undefined;
    private closed = false;
    private readonly counted: EntityOperations = {
        sent: 0,
        duplicates: 0,
        received: 0,
        completed: 0,
        abandoned: 0,
        deferred: 0,
        deadLettered: 0,
        lockRenewals: 0,
    };

    constructor(
        readonly definition: EntityDefinition,
        readonly deadLetterQueue?: Entity,
        private readonly faults?: BrokerFaultSwitch,
    ) {}

    get name(): string {
        return this.definition.name;
    }

    get isDeadLetterQueue(): boolean {
        return this.deadLetterQueue === undefined;
    }

    /** Called (asynchronously, coalesced) whenever a message may have become receivable. */
    onAvailable(listener: () => void): () => void {
        this.listeners.add(listener);
        return () => this.listeners.delete(listener);
    }

    /**
     * Accepts a sent or scheduled message. A duplicate within the detection window is reported and dropped, which is
     * what Service Bus does: the sender sees success either way.
     */
    enqueue(message: AmqpMessage, scheduledAt?: number): { sequenceNumber: number; duplicate: boolean } {
        this.assertOpen();
        if (this.isDeadLetterQueue) {
            throw new BrokerError(
                Condition.notAllowed,
                `Messages cannot be sent to the dead-letter queue ${this.name}.`,
            );
        }
        let key = messageIdKey(message.message_id);
        if (key === undefined) {
            // The SDK's lock renewer needs a message id; Service Bus assigns one when the sender gave none.
            key = randomUUID().replace(/-/g, '');
            message.message_id = key;
        }
        const now = Date.now();
        this.counted.sent++;
        const original = this.recentlySeen(key, now);
        if (original !== undefined) {
            this.counted.duplicates++;
            return { sequenceNumber: original, duplicate: true };
        }

        const stored: StoredMessage = {
            sequenceNumber: this.nextSequence++,
            messageId: key,
            message,
            enqueuedAt: now,
            deliveries: 0,
            deferred: false,
        };
        if (this.definition.duplicateDetectionWindowMs > 0) {
            this.recentMessageIds.set(key, {
                expiresAt: now + this.definition.duplicateDetectionWindowMs,
                sequenceNumber: stored.sequenceNumber,
            });
        }
        const at = scheduledAt ?? timeOf(annotationsOf(message)[SCHEDULED_ENQUEUE_TIME]);
        if (at !== undefined && at > now) {
            this.schedule(stored, at);
        } else {
            this.makeAvailable(stored);
        }
        return { sequenceNumber: stored.sequenceNumber, duplicate: false };
    }

    cancelScheduled(sequenceNumber: number): void {
        const entry = this.scheduled.get(sequenceNumber);
        if (!entry) {
            throw new BrokerError(
                Condition.messageNotFound,
                `No scheduled message with sequence number ${sequenceNumber}.`,
            );
        }
        clearTimeout(entry.timer);
        this.scheduled.delete(sequenceNumber);
    }

    /** The next receivable message, locked (peek-lock) or removed (receive-and-delete). */
    take(mode: ReceiveMode): Delivered | undefined {
        if (this.closed) return undefined;
        const stored = this.active.shift();
        if (!stored) return undefined;
        return this.deliver(stored, mode);
    }

    hasAvailable(): boolean {
        return this.active.length > 0;
    }

    complete(token: string): void {
        this.release(this.lockFor(token));
        this.counted.completed++;
    }

    abandon(token: string, propertiesToModify?: Record<string, unknown>): void {
        const lock = this.lockFor(token);
        this.release(lock);
        this.counted.abandoned++;
        this.modifyProperties(lock.stored, propertiesToModify);
        this.returnUnsettled(lock.stored);
    }

    defer(token: string, propertiesToModify?: Record<string, unknown>): void {
        const lock = this.lockFor(token);
        this.release(lock);
        this.counted.deferred++;
        this.modifyProperties(lock.stored, propertiesToModify);
        lock.stored.deferred = true;
        this.deferredMessages.set(lock.stored.sequenceNumber, lock.stored);
    }

    deadLetter(
        token: string,
        reason?: string,
        description?: string,
        propertiesToModify?: Record<string, unknown>,
    ): void {
        const lock = this.lockFor(token);
        this.release(lock);
        this.counted.deadLettered++;
        this.modifyProperties(lock.stored, propertiesToModify);
        this.moveToDeadLetter(lock.stored, reason, description);
    }

    renewLock(token: string): number {
        const lock = this.lockFor(token);
        if (lock.lost) throw new BrokerError(Condition.lockLost, 'The lock on the message was lost (injected).');
        this.counted.lockRenewals++;
        lock.lockedUntil = Date.now() + this.definition.lockDurationMs;
        clearTimeout(lock.timer);
        lock.timer = this.armLockTimer(lock);
        return lock.lockedUntil;
    }

    /** Messages from `fromSequenceNumber` on, in every state but dead-lettered, without locking them. */
    peek(fromSequenceNumber: number, count: number): StoredMessage[] {
        const all: StoredMessage[] = [
            ...this.active,
            ...[...this.locks.values()].map((lock) => lock.stored),
            ...this.deferredMessages.values(),
            ...[...this.scheduled.values()].map((entry) => entry.stored),
        ];
        return all
            .filter((stored) => stored.sequenceNumber >= fromSequenceNumber)
            .sort((a, b) => a.sequenceNumber - b.sequenceNumber)
            .slice(0, count);
    }

    /** State as peek reports it (`x-opt-message-state`): 0 active, 1 deferred, 2 scheduled. */
    stateOf(stored: StoredMessage): number {
        if (this.scheduled.has(stored.sequenceNumber)) return 2;
        return stored.deferred ? 1 : 0;
    }

    receiveDeferred(sequenceNumbers: number[], mode: ReceiveMode): Delivered[] {
        this.assertOpen();
        const found = sequenceNumbers.map((sequenceNumber) => this.deferredMessages.get(sequenceNumber));
        if (found.some((stored) => stored === undefined)) {
            throw new BrokerError(
                Condition.messageNotFound,
                'Failed to lock one or more specified messages. Either the message is not deferred or it was settled.',
            );
        }
        return (found as StoredMessage[]).map((stored) => {
            this.deferredMessages.delete(stored.sequenceNumber);
            return this.deliver(stored, mode);
        });
    }

    counts(): EntityCounts {
        return {
            active: this.active.length + this.deferredMessages.size,
            scheduled: this.scheduled.size,
            locked: this.locks.size,
        };
    }

    operations(): EntityOperations {
        return { ...this.counted };
    }

    /** Every message held, in sequence order (dead-letter listings). */
    all(): StoredMessage[] {
        return this.peek(0, Number.MAX_SAFE_INTEGER);
    }

    close(): void {
        this.closed = true;
        for (const lock of this.locks.values()) clearTimeout(lock.timer);
        for (const entry of this.scheduled.values()) clearTimeout(entry.timer);
        if (this.notifyPending) clearImmediate(this.notifyPending);
        this.listeners.clear();
    }

    private deliver(stored: StoredMessage, mode: ReceiveMode): Delivered {
        this.counted.received++;
        const priorDeliveries = stored.deliveries;
        if (mode === 'receiveAndDelete') return { stored, priorDeliveries };
        stored.deliveries++;
        const lostAfterMs = this.faults && lockLossAfter(this.faults);
        const lockedUntil = Date.now() + (lostAfterMs ?? this.definition.lockDurationMs);
        const lock: Lock = {
            token: newLockToken(),
            stored,
            lockedUntil,
            timer: undefined as unknown as NodeJS.Timeout,
            lost: lostAfterMs !== undefined,
        };
        lock.timer = this.armLockTimer(lock);
        this.locks.set(lock.token, lock);
        return { stored, priorDeliveries, lockToken: lock.token, lockedUntil };
    }

    private armLockTimer(lock: Lock): NodeJS.Timeout {
        const delay = Math.min(Math.max(lock.lockedUntil - Date.now(), 0), MAX_TIMER_MS);
        return setTimeout(() => {
            if (this.locks.get(lock.token) !== lock) return;
            if (Date.now() < lock.lockedUntil) {
                lock.timer = this.armLockTimer(lock);
                return;
            }
            // An expired lock counts as a failed delivery, exactly like an abandon.
            this.release(lock);
            this.returnUnsettled(lock.stored);
        }, delay);
    }

    private lockFor(token: string): Lock {
        const lock = this.locks.get(token);
        if (!lock) {
            throw new BrokerError(
                Condition.lockLost,
                'The lock supplied is invalid. Either the lock expired, or the message has already been removed from the queue.',
            );
        }
        return lock;
    }

    private release(lock: Lock): void {
        clearTimeout(lock.timer);
        this.locks.delete(lock.token);
    }

    private returnUnsettled(stored: StoredMessage): void {
        if (this.deadLetterQueue && stored.deliveries >= this.definition.maxDeliveryCount) {
            this.moveToDeadLetter(
                stored,
                'MaxDeliveryCountExceeded',
                `Message could not be consumed after ${this.definition.maxDeliveryCount} delivery attempts.`,
            );
        } else if (stored.deferred) {
            this.deferredMessages.set(stored.sequenceNumber, stored);
        } else {
            this.makeAvailable(stored);
        }
    }

    private moveToDeadLetter(stored: StoredMessage, reason?: string, description?: string): void {
        if (!this.deadLetterQueue) {
            // Dead-lettering from the dead-letter queue itself keeps the message where it is, as Service Bus does.
            this.returnUnsettled(stored);
            return;
        }
        const properties = applicationPropertiesOf(stored.message);
        if (reason !== undefined) properties.DeadLetterReason = reason;
        if (description !== undefined) properties.DeadLetterErrorDescription = description;
        stored.message.application_properties = properties;
        stored.message.message_annotations = { ...annotationsOf(stored.message), 'x-opt-deadletter-source': this.name };
        this.deadLetterQueue.acceptDeadLettered(stored, { reason, description, deliveryCount: stored.deliveries });
    }

    private acceptDeadLettered(source: StoredMessage, info: DeadLetterInfo): void {
        const stored: StoredMessage = {
            sequenceNumber: this.nextSequence++,
            messageId: source.messageId,
            message: source.message,
            enqueuedAt: Date.now(),
            deliveries: source.deliveries,
            deferred: false,
            deadLetter: info,
        };
        this.makeAvailable(stored);
    }

    private modifyProperties(stored: StoredMessage, propertiesToModify?: Record<string, unknown>): void {
        if (!propertiesToModify || Object.keys(propertiesToModify).length === 0) return;
        stored.message.application_properties = { ...applicationPropertiesOf(stored.message), ...propertiesToModify };
    }

    private schedule(stored: StoredMessage, at: number): void {
        const entry: Scheduled = { stored, at, timer: undefined as unknown as NodeJS.Timeout };
        const arm = (): NodeJS.Timeout =>
            setTimeout(
                () => {
                    if (Date.now() < at) {
                        entry.timer = arm();
                        return;
                    }
                    this.scheduled.delete(stored.sequenceNumber);
                    stored.enqueuedAt = Date.now();
                    this.makeAvailable(stored);
                },
                Math.min(Math.max(at - Date.now(), 0), MAX_TIMER_MS),
            );
        entry.timer = arm();
        this.scheduled.set(stored.sequenceNumber, entry);
    }

    private makeAvailable(stored: StoredMessage): void {
        insertBySequence(this.active, stored);
        this.notify();
    }

    private notify(): void {
        if (this.closed || this.notifyPending) return;
        // Coalesced and deferred so a settlement handler never re-enters the wire layer's send loop.
        this.notifyPending = setImmediate(() => {
            this.notifyPending = undefined;
            for (const listener of [...this.listeners]) listener();
        });
    }

    private recentlySeen(key: string, now: number): number | undefined {
        if (this.definition.duplicateDetectionWindowMs <= 0) return undefined;
        // Insertion order is expiry order (one window per entity), so expired ids are always at the front.
        for (const [id, entry] of this.recentMessageIds) {
            if (entry.expiresAt > now) break;
            this.recentMessageIds.delete(id);
        }
        return this.recentMessageIds.get(key)?.sequenceNumber;
    }

    private assertOpen(): void {
        if (this.closed) throw new BrokerError(Condition.internalError, 'The broker is shutting down.');
    }
}

/** All entities of the broker, addressed the way the SDK addresses them. */
export class QueueStore {
    private readonly entities = new Map<string, Entity>();
    private readonly queues = new Map<string, Entity>();

    /** @param faults injected faults (lock loss) of the queues, not of their dead-letter queues */
    constructor(definitions: EntityDefinition[], faults?: BrokerFaultSwitch) {
        for (const definition of definitions) {
            if (this.queues.has(definition.name)) throw new Error(`Queue "${definition.name}" is declared twice.`);
            const deadLetterQueue = new Entity({
                name: `${definition.name}${DEAD_LETTER_SUFFIX}`,
                maxDeliveryCount: Number.MAX_SAFE_INTEGER,
                lockDurationMs: definition.lockDurationMs,
                duplicateDetectionWindowMs: 0,
            });
            const queue = new Entity(definition, deadLetterQueue, faults);
            this.queues.set(definition.name, queue);
            this.entities.set(queue.name, queue);
            this.entities.set(deadLetterQueue.name, deadLetterQueue);
        }
    }

    /** Entity paths are case-insensitive in Service Bus. */
    find(address: string): Entity | undefined {
        const path = address.replace(/^\/+/, '');
        return (
            this.entities.get(path) ??
            [...this.entities.values()].find((e) => e.name.toLowerCase() === path.toLowerCase())
        );
    }

    queue(name: string): Entity | undefined {
        return this.queues.get(name);
    }

    queueNames(): string[] {
        return [...this.queues.keys()];
    }

    close(): void {
        for (const entity of this.entities.values()) entity.close();
    }
}
