/**
 * The messageIds every message is sent under, pinned to the byte: queue duplicate detection (and so exactly once)
 * and the messages already in flight depend on them staying what they are.
 */
import { createHash } from 'node:crypto';

import {
    connectionMessage,
    connectionMessageId,
    duplicateCheckMessage,
    duplicateCheckMessageId,
    isDuplicateCheck,
    isUpdateRun,
    referralKeyOf,
    referralMessage,
    referralMessageId,
    type RunReason,
    updateMessage,
    updateRunMessage,
    updateRunMessageId,
    type UpdateRunReason,
} from '../../../shared/messaging/messages';
import { CONNECTIONS_QUEUE, REFERRALS_QUEUE } from '../../../shared/platform/names';

const LONG_KEY = 'k'.repeat(128);
const LONG_KEY_HASH = createHash('sha256').update(LONG_KEY).digest('hex');
const LEASE_UNTIL = '2026-11-21T12:01:30.000Z'; // 1795262490000 ms
const UPDATED_AT = '2026-11-21T12:00:00.000Z'; // 1795262400000 ms

const lease: RunReason = { kind: 'leaseWait', leaseUntil: LEASE_UNTIL };
const retry: RunReason = { kind: 'retry', attempt: 3 };
const replay: RunReason = { kind: 'replay', updatedAt: UPDATED_AT };
const deadLetter: RunReason = { kind: 'replayDeadLetter', sequenceNumber: '42' };
/** The first 16 hex digits of SHA-256('crm-4711:r3'). */
const outage: RunReason = { kind: 'outage', origin: 'crm-4711:r3', copy: 2 };
const resend: RunReason = { kind: 'resend', round: 3 };

const runFor = (reason: RunReason | undefined) => reason && { reason, attempt: 2, notBefore: new Date(UPDATED_AT) };

describe('messageIds', () => {
    it.each<[string, string, RunReason | undefined, string]>([
        ['referral, first', 'crm-4711', undefined, 'crm-4711'],
        ['referral, waiting for a lease', 'crm-4711', lease, 'crm-4711:w1795262490000'],
        ['referral, retry', 'crm-4711', retry, 'crm-4711:r3'],
        ['referral, replay of a record', 'crm-4711', replay, 'crm-4711:replay-1795262400000'],
        ['referral, replay of a dead letter', 'crm-4711', deadLetter, 'crm-4711:replay-dlq-42'],
        ['referral, copy after an outage', 'crm-4711', outage, 'crm-4711:o2-58ce2cff91c28649'],
        ['referral, the outbox re-sending in a later interval', 'crm-4711', resend, 'crm-4711:s3'],
        ['referral, 128-character key', LONG_KEY, undefined, LONG_KEY],
        ['referral, retry of a 128-character key', LONG_KEY, retry, `${LONG_KEY_HASH}:r3`],
    ])('%s', (_case, key, reason, expected) => {
        expect(referralMessageId(key, reason)).toBe(expected);
        expect(referralMessage({ key, body: {}, correlationId: 'c', run: runFor(reason) }).messageId).toBe(expected);
    });

    it.each<[string, string, RunReason | undefined, string]>([
        ['connection, first', 'crm-4711', undefined, 'crm-4711:connect'],
        ['connection, waiting for a lease', 'crm-4711', lease, 'crm-4711:connect:w1795262490000'],
        ['connection, retry', 'crm-4711', retry, 'crm-4711:connect:r3'],
        ['connection, replay of a record', 'crm-4711', replay, 'crm-4711:connect:replay-1795262400000'],
        ['connection, copy after an outage', 'crm-4711', outage, 'crm-4711:connect:o2-58ce2cff91c28649'],
        ['connection, 128-character key', LONG_KEY, undefined, `${LONG_KEY_HASH}:connect`],
        ['connection, retry of a 128-character key', LONG_KEY, retry, `${LONG_KEY_HASH}:connect:r3`],
    ])('%s', (_case, key, reason, expected) => {
        expect(connectionMessageId(key, reason)).toBe(expected);
        expect(connectionMessage({ key, correlationId: 'c', run: runFor(reason) }).messageId).toBe(expected);
    });

    it('sends a later run under its messageId, with its attempt and time, and the key as a property', () => {
        const notBefore = new Date(LEASE_UNTIL);
        const message = connectionMessage({
            key: 'k1',
            correlationId: 'c1',
            run: { reason: retry, attempt: 3, notBefore },
        });
        expect(message).toEqual({
            body: { id: 'k1' },
            messageId: 'k1:connect:r3',
            correlationId: 'c1',
            contentType: 'application/json',
            applicationProperties: { contractVersion: '1', referralKey: 'k1', attempt: 3 },
            scheduledEnqueueTimeUtc: notBefore,
        });
    });
});

describe('duplicate check messageIds', () => {
    it.each<[string, string, RunReason | undefined, string]>([
        ['the check', 'crm-4711', undefined, 'crm-4711:duplicate-check'],
        ['its retry', 'crm-4711', retry, 'crm-4711:duplicate-check:r3'],
        ['a copy after an outage', 'crm-4711', outage, 'crm-4711:duplicate-check:o2-58ce2cff91c28649'],
        ['the check of a 128-character key', LONG_KEY, undefined, `${LONG_KEY_HASH}:duplicate-check`],
    ])('%s', (_case, key, reason, expected) => {
        expect(duplicateCheckMessageId(key, reason)).toBe(expected);
        const notBefore = new Date(UPDATED_AT);
        expect(
            duplicateCheckMessage({ key, correlationId: 'c', run: { reason, attempt: 2, notBefore } }).messageId,
        ).toBe(expected);
    });

    it('carries only the key, scheduled, and is told apart from a referral message', () => {
        const notBefore = new Date(LEASE_UNTIL);
        const message = duplicateCheckMessage({ key: 'k1', correlationId: 'c1', run: { attempt: 1, notBefore } });
        expect(message).toEqual({
            body: { id: 'k1' },
            messageId: 'k1:duplicate-check',
            correlationId: 'c1',
            contentType: 'application/json',
            applicationProperties: { contractVersion: '1', referralKey: 'k1', attempt: 1, check: 'duplicates' },
            scheduledEnqueueTimeUtc: notBefore,
        });
        expect(isDuplicateCheck(message as { applicationProperties: Record<string, unknown> })).toBe(true);
        const referral = referralMessage({ key: 'k1', body: {}, correlationId: 'c1' });
        expect(isDuplicateCheck(referral as { applicationProperties: Record<string, unknown> })).toBe(false);
        const arrived = {
            messageId: message.messageId as string,
            applicationProperties: message.applicationProperties!,
            body: message.body as unknown,
        };
        expect(referralKeyOf(REFERRALS_QUEUE, arrived)).toBe('k1');
    });
});

describe('update run messageIds', () => {
    const LONG_UPDATE_HASH = createHash('sha256').update(`crm-4711\n${LONG_KEY}`).digest('hex');

    it.each<[string, string, UpdateRunReason, string]>([
        ['its turn', 'close-1', { kind: 'turn' }, 'crm-4711:update:close-1:apply'],
        ['waiting for a lease', 'close-1', lease, 'crm-4711:update:close-1:w1795262490000'],
        ['retry', 'close-1', retry, 'crm-4711:update:close-1:r3'],
        ['retry of a 128-character update key', LONG_KEY, retry, `update:${LONG_UPDATE_HASH}:r3`],
    ])('%s', (_case, updateKey, reason, expected) => {
        expect(updateRunMessageId('crm-4711', updateKey, reason)).toBe(expected);
    });

    it('is the update’s message with the referral key for a body and its attempt, told apart from an update to admit', () => {
        const notBefore = new Date(LEASE_UNTIL);
        const fields = { referralKey: 'k1', updateKey: 'u1', correlationId: 'c1' };
        const run = updateRunMessage({ ...fields, reason: retry, attempt: 3, notBefore });
        expect(run).toEqual({
            body: { id: 'k1' },
            messageId: 'k1:update:u1:r3',
            correlationId: 'c1',
            contentType: 'application/json',
            applicationProperties: { contractVersion: '1', referralId: 'k1', updateKey: 'u1', attempt: 3 },
            scheduledEnqueueTimeUtc: notBefore,
        });
        expect(isUpdateRun(run as { applicationProperties: Record<string, unknown> })).toBe(true);
        const published = updateMessage({ ...fields, body: [] });
        expect(isUpdateRun(published as { applicationProperties: Record<string, unknown> })).toBe(false);
    });
});

describe('referralKeyOf', () => {
    const props = (referralKey?: unknown) => (referralKey === undefined ? {} : { referralKey });

    it.each<
        [
            string,
            string,
            { messageId?: string; applicationProperties: Record<string, unknown>; body: unknown },
            string | undefined,
        ]
    >([
        [
            'the property, on a retry',
            REFERRALS_QUEUE,
            { messageId: 'k1:r2', applicationProperties: props('k1'), body: {} },
            'k1',
        ],
        [
            'an upstream message: its messageId',
            REFERRALS_QUEUE,
            { messageId: 'up-1', applicationProperties: {}, body: {} },
            'up-1',
        ],
        [
            'an unusable messageId',
            REFERRALS_QUEUE,
            { messageId: 'has space', applicationProperties: {}, body: {} },
            undefined,
        ],
        [
            'an unusable property is not passed over',
            REFERRALS_QUEUE,
            { messageId: 'k1', applicationProperties: props('bad key!'), body: {} },
            undefined,
        ],
        [
            'a connection: the property',
            CONNECTIONS_QUEUE,
            { messageId: 'k1:connect', applicationProperties: props('k1'), body: { id: 'k1' } },
            'k1',
        ],
        [
            'a connection without the property: the body, not the messageId',
            CONNECTIONS_QUEUE,
            { messageId: 'k1:connect', applicationProperties: {}, body: { id: 'k1' } },
            'k1',
        ],
        ['a connection body sent as text', CONNECTIONS_QUEUE, { applicationProperties: {}, body: '{"id":"k1"}' }, 'k1'],
        [
            'a connection naming nothing',
            CONNECTIONS_QUEUE,
            { messageId: 'k1:connect', applicationProperties: {}, body: 'x' },
            undefined,
        ],
    ])('%s', (_case, queue, message, expected) => {
        expect(referralKeyOf(queue, message)).toBe(expected);
    });
});
