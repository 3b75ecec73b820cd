/**
 * The queue message contract, and the one place that makes every messageId and reads every referral key back.
 * Upstream publishers build the same message in any language:
 *
 *   body            the referral create body (JSON), exactly as POST /api/referrals takes it
 *   messageId       the referral key (1-128 characters of [A-Za-z0-9._:-]); duplicates within the queue's
 *                   duplicate-detection window are dropped, and the key is remembered in Cosmos DB for
 *                   REFERRAL_TTL_DAYS after the record's last change
 *   correlationId   optional; flows into MS-CorrelationId at the Partner API
 *   contentType     application/json
 *   applicationProperties.contractVersion   "1"
 *
 * Every later run of a step is the same message re-sent with `attempt` > 1 and a messageId of its own, derived from
 * the key and the reason for the run (see `RunReason`); `referralKey` then names the referral. Queue duplicate
 * detection and so exactly once depend on these messageIds: the same reason always gives the same id, to the byte,
 * across releases (messages already in flight carry the old ones).
 *
 * An update (queue `referral-updates`) is published the same way:
 *
 *   body            the JSON Patch array, exactly as PATCH /api/referrals/{id} takes it
 *   messageId       the update key (same characters as a referral key); duplicate detection is per queue, so a
 *                   publisher makes it unique across referrals (a UUID)
 *   applicationProperties.referralId        the referral key of the referral to change
 *   applicationProperties.contractVersion   "1"
 *
 * The PATCH intake sends that message too, with `updateKey` naming the update and a messageId derived from both keys
 * (`updateMessageId`), since its callers choose update keys per referral. The applier (shared/pipeline/updateStep.ts)
 * runs again through the same queue: a copy of the update's message that carries only the referral key in its body
 * (the patch stays in Cosmos DB), an `attempt` property, and a messageId derived from the update's and the reason
 * (`updateRunMessage`).
 *
 * The later duplicate check of a done referral (shared/pipeline/duplicateCheck.ts) is a message on `referrals` too,
 * sent by the app only: body `{ "id": <key> }`, `referralKey`, `attempt`, the `check` property `duplicates` (which
 * routes it to the check rather than the submit step), and a messageId `<key>:duplicate-check`, or
 * `<key>:duplicate-check:<reason>` for a retry or an outage copy (`duplicateCheckMessageId`).
 *
 * A Partner Center webhook event, verified by the receiver (queue `partner-center-events`, sent only by the app):
 *
 *   body            the event as Partner Center delivered it, its documented fields only: EventName, ResourceUri,
 *                   ResourceName, AuditUri, ResourceChangeUtcDate
 *   messageId       `pc-event:` and the SHA-256 in hex of EventName, ResourceUri and ResourceChangeUtcDate, so
 *                   Partner Center's re-delivery of one event is dropped by duplicate detection
 *   applicationProperties.eventName         the EventName
 *   applicationProperties.referralId        the Partner Center referral id the ResourceUri carries
 *   applicationProperties.contractVersion   "1"
 *
 * The sync worker runs an event again after a transient failure: the same message with an `attempt` property and a
 * messageId of its own (`<event's messageId>:r<attempt>`, partnerCenterEventRetryMessage).
 */
import { createHash } from 'node:crypto';

import type { ServiceBusMessage } from '@azure/service-bus';

import type { PartnerCenterEvent } from '../partnerCenter/events';
import { CONNECTIONS_QUEUE, CONTRACT_VERSION, CONTRACT_VERSION_PROPERTY, REFERRALS_QUEUE } from '../platform/names';

export const KEY_PATTERN = /^[A-Za-z0-9._:-]{1,128}$/;

export const ATTEMPT_PROPERTY = 'attempt';
/** The referral key of a message whose messageId is not the bare key (a connection, a retry). */
export const REFERRAL_KEY_PROPERTY = 'referralKey';
/** On a copy made after an outage: the messageId the chain of copies began with, and which copy this is. */
export const OUTAGE_ORIGIN_PROPERTY = 'outageOrigin';
export const OUTAGE_COPY_PROPERTY = 'outageCopy';

/** On a message that asks for a check rather than a step: which check (`duplicates`). */
export const CHECK_PROPERTY = 'check';
const DUPLICATES_CHECK = 'duplicates';

/** The referral an update message changes (a publisher sets it). */
export const REFERRAL_ID_PROPERTY = 'referralId';
/** The update key of an update message whose messageId is not the bare key (one the PATCH intake sends). */
export const UPDATE_KEY_PROPERTY = 'updateKey';

/** The host hands JSON bodies over parsed; a publisher that sent JSON as text or bytes gets the same treatment. */
export function parseMessageBody(body: unknown): unknown {
    const text = typeof body === 'string' ? body : Buffer.isBuffer(body) ? body.toString('utf8') : undefined;
    if (text === undefined) return body;
    try {
        return JSON.parse(text) as unknown;
    } catch {
        return text;
    }
}

export function isValidKey(key: string): boolean {
    return KEY_PATTERN.test(key);
}

/** Why a step's message is sent again; each reason has its own messageId suffix. */
export type RunReason =
    /** Another delivery holds the step until `leaseUntil` (ISO time): `w<epoch ms>`. */
    | { kind: 'leaseWait'; leaseUntil: string }
    /** Attempt `attempt` of the step, after a failure or while its Retry-After is pending: `r<attempt>`. */
    | { kind: 'retry'; attempt: number }
    /** A replay of the record as it was at `updatedAt` (ISO time): `replay-<epoch ms>`. */
    | { kind: 'replay'; updatedAt: string }
    /** A dead-lettered message that never got a record, published again: `replay-dlq-<sequence number>`. */
    | { kind: 'replayDeadLetter'; sequenceNumber: string }
    /**
     * Copy `copy` of a delivery that met a Cosmos DB or Service Bus outage, the first of the chain being the message
     * `origin` (a messageId): `o<copy>-<first 16 hex digits of the origin's SHA-256>`. A redelivery of the same
     * message makes the same copy; two different messages of one referral make different ones.
     */
    | { kind: 'outage'; origin: string; copy: number }
    /**
     * The outbox's re-send of a record still Queued in its `round`-th round of resend intervals (1 and later;
     * before that a re-send is the intake's own message): `s<round>`.
     */
    | { kind: 'resend'; round: number };

function suffixOf(reason: RunReason): string {
    switch (reason.kind) {
        case 'leaseWait':
            return `w${Date.parse(reason.leaseUntil)}`;
        case 'retry':
            return `r${reason.attempt}`;
        case 'replay':
            return `replay-${Date.parse(reason.updatedAt)}`;
        case 'replayDeadLetter':
            return `replay-dlq-${reason.sequenceNumber}`;
        case 'outage':
            return `o${reason.copy}-${createHash('sha256').update(reason.origin).digest('hex').slice(0, 16)}`;
        case 'resend':
            return `s${reason.round}`;
    }
}

const MAX_MESSAGE_ID_LENGTH = 128;

/** The key plus a suffix, within Service Bus's 128 characters however long the key (else its SHA-256 in hex). */
function derivedMessageId(key: string, suffix: string): string {
    if (!suffix) return key;
    const id = `${key}${suffix}`;
    return id.length <= MAX_MESSAGE_ID_LENGTH ? id : `${createHash('sha256').update(key).digest('hex')}${suffix}`;
}

/** The messageId of a referrals-queue message: the bare key, or `<key>:<reason>` for a later run. */
export function referralMessageId(key: string, reason?: RunReason): string {
    return derivedMessageId(key, reason ? `:${suffixOf(reason)}` : '');
}

/** The messageId of a connections-queue message: `<key>:connect`, or `<key>:connect:<reason>` for a later run. */
export function connectionMessageId(key: string, reason?: RunReason): string {
    return derivedMessageId(key, reason ? `:connect:${suffixOf(reason)}` : ':connect');
}

/**
 * The messageId of a duplicate check: `<key>:duplicate-check`, or `<key>:duplicate-check:<reason>` for its retry
 * (`r<attempt>`) or a copy after an outage. One check per referral: a repeat of the first is dropped by the queue.
 */
export function duplicateCheckMessageId(key: string, reason?: RunReason): string {
    return derivedMessageId(key, reason ? `:duplicate-check:${suffixOf(reason)}` : ':duplicate-check');
}

/**
 * The message that asks for the later duplicate check of a done referral, no earlier than `run.notBefore`. It carries
 * only the key: the check reads the record from Cosmos DB.
 */
export function duplicateCheckMessage(fields: {
    key: string;
    correlationId: string;
    run: Omit<ScheduledRun, 'reason'> & { reason?: RunReason };
}): ServiceBusMessage {
    const { reason, attempt, notBefore } = fields.run;
    const run = reason ? { reason, attempt, notBefore } : undefined;
    return {
        body: { id: fields.key },
        messageId: duplicateCheckMessageId(fields.key, reason),
        correlationId: fields.correlationId,
        contentType: 'application/json',
        applicationProperties: {
            ...properties(fields.key, run),
            [ATTEMPT_PROPERTY]: attempt,
            [CHECK_PROPERTY]: DUPLICATES_CHECK,
        },
        scheduledEnqueueTimeUtc: notBefore,
    };
}

/** Whether a referrals-queue message asks for the duplicate check (`duplicateCheckMessage`) rather than a submit. */
export function isDuplicateCheck(message: Pick<ArrivedMessage, 'applicationProperties'>): boolean {
    return message.applicationProperties[CHECK_PROPERTY] === DUPLICATES_CHECK;
}

/**
 * The messageId of an update the PATCH intake sends: `<referral key>:update:<update key>`, or, over 128 characters,
 * `update:` and the SHA-256 in hex of both keys.
 */
export function updateMessageId(referralKey: string, updateKey: string): string {
    const id = `${referralKey}:update:${updateKey}`;
    return id.length <= MAX_MESSAGE_ID_LENGTH
        ? id
        : `update:${createHash('sha256').update(`${referralKey}\n${updateKey}`).digest('hex')}`;
}

/**
 * Why the applier runs again for an update: its turn came (the create is done, or the update before it is settled:
 * `apply`), another delivery's lease to wait out (`w<epoch ms>`), or attempt `attempt` (`r<attempt>`).
 */
export type UpdateRunReason = { kind: 'turn' } | Extract<RunReason, { kind: 'leaseWait' | 'retry' }>;

/** `<update message id>:apply`, `:w<epoch ms>` or `:r<attempt>`: the same reason always gives the same id. */
export function updateRunMessageId(referralKey: string, updateKey: string, reason: UpdateRunReason): string {
    const suffix = reason.kind === 'turn' ? 'apply' : suffixOf(reason);
    return derivedMessageId(updateMessageId(referralKey, updateKey), `:${suffix}`);
}

/**
 * A later run of the applier for an update: the update's message (`updateMessage`) with the referral key for its body
 * (no admission: the update is on the record already), an `attempt`, and a messageId of its own.
 */
export function updateRunMessage(fields: {
    referralKey: string;
    updateKey: string;
    correlationId: string;
    reason: UpdateRunReason;
    attempt: number;
    notBefore?: Date;
}): ServiceBusMessage {
    const { referralKey, updateKey, correlationId } = fields;
    const message = updateMessage({ referralKey, updateKey, correlationId, body: { id: referralKey } });
    return {
        ...message,
        messageId: updateRunMessageId(referralKey, updateKey, fields.reason),
        applicationProperties: { ...message.applicationProperties, [ATTEMPT_PROPERTY]: fields.attempt },
        ...(fields.notBefore ? { scheduledEnqueueTimeUtc: fields.notBefore } : {}),
    };
}

/** Whether an update message is a run of the applier (`updateRunMessage`) rather than an update to admit. */
export function isUpdateRun(message: Pick<ArrivedMessage, 'applicationProperties'>): boolean {
    return typeof message.applicationProperties[ATTEMPT_PROPERTY] === 'number';
}

/** What a key is read back from: a delivery to a worker, or a message in a dead-letter queue. */
export interface ArrivedMessage {
    messageId?: string;
    applicationProperties: Record<string, unknown>;
    /** As received: parsed here if it came as text or bytes. */
    body: unknown;
}

/**
 * The referral key a message on `queue` names, if it names a usable one. The first source present decides: the
 * `referralKey` property (every message we send has it); else the body's `id` on the connections queue; else the
 * messageId on the referrals queue (an upstream publisher's message). A present but unusable key is not passed over
 * for the next source: a retry's messageId (`<key>:r2`) is itself a well-formed key, of another referral.
 */
export function referralKeyOf(queue: string, message: ArrivedMessage): string | undefined {
    const fromBody = () => (parseMessageBody(message.body) as { id?: unknown } | null | undefined)?.id;
    const key =
        message.applicationProperties[REFERRAL_KEY_PROPERTY] ??
        (queue === CONNECTIONS_QUEUE ? fromBody() : undefined) ??
        (queue === REFERRALS_QUEUE ? message.messageId : undefined);
    return typeof key === 'string' && isValidKey(key) ? key : undefined;
}

function properties(key: string, run: ScheduledRun | undefined): Record<string, string | number> {
    const outage: Record<string, string | number> =
        run?.reason.kind === 'outage'
            ? { [OUTAGE_ORIGIN_PROPERTY]: run.reason.origin, [OUTAGE_COPY_PROPERTY]: run.reason.copy }
            : {};
    return {
        [CONTRACT_VERSION_PROPERTY]: CONTRACT_VERSION,
        [REFERRAL_KEY_PROPERTY]: key,
        [ATTEMPT_PROPERTY]: run?.attempt ?? 1,
        ...outage,
    };
}

/** A later run of a step: why (which sets its messageId), which attempt it is, and the time it may run. */
export interface ScheduledRun {
    reason: RunReason;
    attempt: number;
    notBefore: Date;
}

/** A step message's fields for a referral's next run: its key and correlation id, at attempt `attempts + 1`. */
export function nextRunOf(
    referral: { id: string; correlationId: string; attempts: number },
    reason: RunReason,
    notBefore: Date,
): { key: string; correlationId: string; run: ScheduledRun } {
    const run = { reason, attempt: referral.attempts + 1, notBefore };
    return { key: referral.id, correlationId: referral.correlationId, run };
}

function scheduling(run: ScheduledRun | undefined): Partial<ServiceBusMessage> {
    return run ? { scheduledEnqueueTimeUtc: run.notBefore } : {};
}

/** The message that asks submitReferral to submit a referral (from the intake, or a later run of the worker). */
export function referralMessage(fields: {
    key: string;
    body: unknown;
    correlationId: string;
    run?: ScheduledRun;
}): ServiceBusMessage {
    return {
        body: fields.body,
        messageId: referralMessageId(fields.key, fields.run?.reason),
        correlationId: fields.correlationId,
        contentType: 'application/json',
        applicationProperties: properties(fields.key, fields.run),
        ...scheduling(fields.run),
    };
}

/**
 * The message that asks connectReferral to create the connected Microsoft referral. It carries only the key: the
 * worker reads the stored request and engagementId from Cosmos DB, so no customer data travels twice.
 */
export function connectionMessage(fields: {
    key: string;
    correlationId: string;
    run?: ScheduledRun;
}): ServiceBusMessage {
    return {
        body: { id: fields.key },
        messageId: connectionMessageId(fields.key, fields.run?.reason),
        correlationId: fields.correlationId,
        contentType: 'application/json',
        applicationProperties: properties(fields.key, fields.run),
        ...scheduling(fields.run),
    };
}

function usableKey(key: unknown): string | undefined {
    return typeof key === 'string' && isValidKey(key) ? key : undefined;
}

/** The referral an update message names (`referralId`), if it names a usable key. */
export function updatedReferralKeyOf(message: Pick<ArrivedMessage, 'applicationProperties'>): string | undefined {
    return usableKey(message.applicationProperties[REFERRAL_ID_PROPERTY]);
}

/** The update key of an update message: the `updateKey` property when present (ours), else the messageId. */
export function updateKeyOf(message: Omit<ArrivedMessage, 'body'>): string | undefined {
    return usableKey(message.applicationProperties[UPDATE_KEY_PROPERTY] ?? message.messageId);
}

/** The message the PATCH intake sends for an accepted update: a publisher's message, with the update key named. */
export function updateMessage(fields: {
    referralKey: string;
    updateKey: string;
    body: unknown;
    correlationId: string;
}): ServiceBusMessage {
    return {
        body: fields.body,
        messageId: updateMessageId(fields.referralKey, fields.updateKey),
        correlationId: fields.correlationId,
        contentType: 'application/json',
        applicationProperties: {
            [CONTRACT_VERSION_PROPERTY]: CONTRACT_VERSION,
            [REFERRAL_ID_PROPERTY]: fields.referralKey,
            [UPDATE_KEY_PROPERTY]: fields.updateKey,
        },
    };
}

/**
 * A copy of a delivery on `referral-updates` that met a Cosmos DB or Service Bus outage (`run.reason` is the
 * outage): the same body, correlation id and properties, a messageId of its own (`<delivered id>:o<copy>-<hash>`),
 * scheduled for later. Whatever the delivery was (a publisher's update, the PATCH intake's, an applier's run), its
 * copy is processed as it would have been.
 */
export function updateDeliveryCopy(
    delivered: Omit<ArrivedMessage, 'messageId'> & { messageId: string; correlationId?: string },
    run: ScheduledRun,
): ServiceBusMessage {
    return {
        body: delivered.body,
        // Named after the first message of the chain of copies, so a copy of a copy does not grow its id.
        messageId: derivedMessageId(
            run.reason.kind === 'outage' && run.reason.origin ? run.reason.origin : delivered.messageId,
            `:${suffixOf(run.reason)}`,
        ),
        ...(delivered.correlationId ? { correlationId: delivered.correlationId } : {}),
        contentType: 'application/json',
        applicationProperties: {
            ...(delivered.applicationProperties as Record<string, string | number | boolean>),
            ...(run.reason.kind === 'outage'
                ? { [OUTAGE_ORIGIN_PROPERTY]: run.reason.origin, [OUTAGE_COPY_PROPERTY]: run.reason.copy }
                : {}),
        },
        scheduledEnqueueTimeUtc: run.notBefore,
    };
}

/** The Partner Center event a message on `partner-center-events` carries (its EventName). */
export const EVENT_NAME_PROPERTY = 'eventName';
/** The Partner Center referral id an event names (not a referral key: a GUID of Partner Center's). */
export const PARTNER_REFERRAL_ID_PROPERTY = 'referralId';

/** One event, one id: the same event delivered again gets the same messageId, to the byte. */
export function partnerCenterEventMessageId(event: PartnerCenterEvent): string {
    const identity = `${event.EventName}\n${event.ResourceUri}\n${event.ResourceChangeUtcDate}`;
    return `pc-event:${createHash('sha256').update(identity).digest('hex')}`;
}

/** The message the webhook receiver queues for a verified referral event. */
export function partnerCenterEventMessage(fields: {
    event: PartnerCenterEvent;
    referralId: string;
    correlationId: string;
}): ServiceBusMessage {
    return {
        body: fields.event,
        messageId: partnerCenterEventMessageId(fields.event),
        correlationId: fields.correlationId,
        contentType: 'application/json',
        applicationProperties: {
            [CONTRACT_VERSION_PROPERTY]: CONTRACT_VERSION,
            [EVENT_NAME_PROPERTY]: fields.event.EventName,
            [PARTNER_REFERRAL_ID_PROPERTY]: fields.referralId,
        },
    };
}

/** The sync worker's later run of an event after a transient failure: `<event's messageId>:r<attempt>`. */
export function partnerCenterEventRetryMessage(fields: {
    event: PartnerCenterEvent;
    referralId: string;
    correlationId: string;
    attempt: number;
    notBefore: Date;
}): ServiceBusMessage {
    const message = partnerCenterEventMessage(fields);
    return {
        ...message,
        messageId: `${message.messageId as string}:r${fields.attempt}`,
        applicationProperties: { ...message.applicationProperties, [ATTEMPT_PROPERTY]: fields.attempt },
        scheduledEnqueueTimeUtc: fields.notBefore,
    };
}
