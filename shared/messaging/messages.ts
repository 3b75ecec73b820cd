/**
 * The queue message contract. Upstream publishers build the same message in any language:
 *
 *   body            the referral create body (JSON), exactly as POST /api/referrals takes it
 *   messageId       the referral key (1-128 characters of [A-Za-z0-9._:-]); duplicates within the queue's
 *                   duplicate-detection window are dropped, and the key is remembered in Cosmos DB for
 *                   REFERRAL_TTL_DAYS after the record's last change
 *   correlationId   optional; flows into MS-CorrelationId at the Partner API
 *   contentType     application/json
 *   applicationProperties.contractVersion   "1"
 *
 * Retries of a step are the same message re-sent with `attempt` > 1 and a per-attempt messageId (`<key>:r<attempt>`),
 * scheduled no earlier than the Partner API's Retry-After; `referralKey` then names the referral.
 */
import { createHash } from 'node:crypto';

import type { ServiceBusMessage } from '@azure/service-bus';

import { CONTRACT_VERSION, CONTRACT_VERSION_PROPERTY } from '../platform/names';

export const KEY_PATTERN = /^[A-Za-z0-9._:-]{1,128}$/;

export const ATTEMPT_PROPERTY = 'attempt';
/** The referral key of a retry message, whose messageId is no longer the bare key. */
export const REFERRAL_KEY_PROPERTY = 'referralKey';

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

const MAX_MESSAGE_ID_LENGTH = 128;

/** A messageId derived from the key that stays within Service Bus's 128 characters, however long the key. */
function derivedMessageId(key: string, suffix: string): string {
    if (!suffix) return key;
    const id = `${key}${suffix}`;
    return id.length <= MAX_MESSAGE_ID_LENGTH ? id : `${createHash('sha256').update(key).digest('hex')}${suffix}`;
}

function properties(key: string, attempt: number): Record<string, string | number> {
    return { [CONTRACT_VERSION_PROPERTY]: CONTRACT_VERSION, [REFERRAL_KEY_PROPERTY]: key, [ATTEMPT_PROPERTY]: attempt };
}

/** A later run of a step: a distinct messageId suffix per reason and attempt, and the time it may run. */
export interface ScheduledRun {
    suffix: string;
    attempt: number;
    notBefore: Date;
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
        messageId: derivedMessageId(fields.key, fields.run ? `:${fields.run.suffix}` : ''),
        correlationId: fields.correlationId,
        contentType: 'application/json',
        applicationProperties: properties(fields.key, fields.run?.attempt ?? 1),
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
        messageId: derivedMessageId(fields.key, fields.run ? `:connect:${fields.run.suffix}` : ':connect'),
        correlationId: fields.correlationId,
        contentType: 'application/json',
        applicationProperties: properties(fields.key, fields.run?.attempt ?? 1),
        ...scheduling(fields.run),
    };
}
