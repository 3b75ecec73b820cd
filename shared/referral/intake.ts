/**
 * The HTTP intake: checks a referral request, remembers its key, and queues it for submission.
 *
 * Idempotency guarantee: a referral key (the caller's `Idempotency-Key`, else a new UUID) is remembered in the
 * referral's Cosmos DB record for REFERRAL_TTL_DAYS after its last change, not only for the queue's
 * duplicate-detection window. The same key with the same body answers with the same id and never leads to a second
 * submission; the same key with another body is a 409. So is another key with an externalReferenceId that a referral
 * which may be at Partner Center holds (admission.ts): the answer names that referral's key.
 *
 * A 202 means the referral is recorded and will reach the Partner API, even if this process dies right after
 * answering: the record, written `Queued` before the message is sent, is the outbox entry (outbox.ts). When the send
 * fails (Service Bus down, or a timeout that leaves unknown whether the broker took the message) the answer is still
 * 202 and the sweep sends the message later; the record is never removed, since a message the broker did take would
 * bring it back through the worker, and the caller's retry would then make a second referral. Two writes per request:
 * the record, and the message. A 503 means Cosmos DB could not be reached, so no record was written (unless the write
 * went through and only its answer was lost: a retry with the same key then finds it and answers 202).
 */
import type { HttpRequest, HttpResponseInit } from '@azure/functions';

import { fitsOnQueue, MAX_MESSAGE_BYTES } from '../messaging/messageSize';
import { json, type JsonBodyRules, problem, readIdempotentRequest, retryLater } from '../platform/http';
import type { EventLogger } from '../platform/logging';
import type { MessageSender } from '../platform/serviceBus';
import { type Admission, admit } from './admission';
import { intakeMessage } from './outbox';
import type { ReferralRecord } from './record';
import { type ListedProblems, loggablePaths } from './request/validate';
import type { ReferralStore } from './store';

/** The Service Bus Standard limit is 256 KB per message, headers included: this leaves room for them. */
export const MAX_BODY_BYTES = 256_000;

export interface IntakeDependencies {
    store: ReferralStore;
    referralsQueue: MessageSender;
    newKey: () => string;
    now: () => Date;
}

export function statusUrl(key: string): string {
    return `/api/referrals/${encodeURIComponent(key)}`;
}

function tooLargeForQueue(): HttpResponseInit {
    return problem(
        413,
        `The referral, as queued, would exceed ${MAX_MESSAGE_BYTES} bytes, the most a queue message can carry.`,
    );
}

function unavailable(): HttpResponseInit {
    return retryLater('The referral could not be recorded right now. Retry with the same Idempotency-Key.');
}

function accepted(record: ReferralRecord, listed: Warnings, correlationId: string): HttpResponseInit {
    const url = statusUrl(record.id);
    const { warnings, warningsOmitted } = listed;
    return json(
        202,
        { id: record.id, status: record.status, statusUrl: url, warnings, warningsOmitted },
        { location: url, 'x-correlation-id': correlationId },
    );
}

type Warnings = Pick<ListedProblems, 'warnings' | 'warningsOmitted'>;

/** A referral body: any JSON media type, at most what one queue message can carry. */
const REFERRAL_BODY: JsonBodyRules = {
    maxBytes: MAX_BODY_BYTES,
    unsupportedMediaType: 'Send the referral as JSON, with Content-Type: application/json.',
    tooLarge: `The body is larger than ${MAX_BODY_BYTES} bytes, the most one queue message can carry.`,
};

export async function acceptReferral(
    request: HttpRequest,
    deps: IntakeDependencies,
    log: EventLogger,
): Promise<HttpResponseInit> {
    const parsed = await readIdempotentRequest(request, REFERRAL_BODY);
    if (!parsed.ok) return parsed.response;

    const { correlationId } = parsed;
    const key = parsed.key ?? deps.newKey();
    const fields = { referralKey: key, correlationId };
    const message = intakeMessage({ id: key, body: parsed.body, correlationId });

    let admission: Admission;
    try {
        admission = await admit(
            // Numbers such as 1e20 re-serialise longer than they were sent: the message as sent must fit.
            { key, body: parsed.body, correlationId, source: 'http', fitsOnQueue: () => fitsOnQueue(message) },
            deps,
        );
    } catch {
        log.event('error', 'referral.storeUnavailable', fields);
        return unavailable();
    }
    switch (admission.outcome) {
        case 'invalid':
        case 'rejected': {
            // 'rejected' is the queue's form of invalid; an HTTP arrival is never kept.
            const { problems, problemsOmitted } = admission;
            log.event('warn', 'referral.invalid', {
                correlationId,
                problemPaths: loggablePaths(problems),
                problemsOmitted,
            });
            return problem(400, 'The referral is not valid.', { errors: problems, errorsOmitted: problemsOmitted });
        }
        case 'tooLarge':
            return tooLargeForQueue();
        case 'keyConflict':
            log.event('warn', 'referral.keyConflict', fields);
            return problem(409, 'This Idempotency-Key was already used for a different referral. Use a new key.');
        case 'externalReferenceIdInUse':
            // The holder's key is its caller's identifier, not customer data; the externalReferenceId is never echoed.
            log.event('warn', 'referral.externalReferenceIdInUse', fields);
            return problem(
                409,
                `This referral's externalReferenceId is already used by the referral with key ${admission.holder}, ` +
                    'which may be at Partner Center. Give each referral its own externalReferenceId.',
                {
                    errors: [
                        {
                            path: 'externalReferenceId',
                            message: `is already used by the referral with key ${admission.holder}`,
                        },
                    ],
                },
            );
        case 'repeated': {
            // Its message was sent, or is the sweep's to send if it was not: a repeat sends nothing.
            const existing = admission.stored;
            log.event('info', 'referral.repeated', { ...fields, outcome: existing.record.status });
            return accepted(existing.record, admission, correlationId);
        }
        case 'admitted': {
            const created = admission.stored;
            try {
                await deps.referralsQueue.send(message);
            } catch {
                // Kept as the outbox entry: the sweep sends it once Service Bus answers (see the module comment).
                log.event('error', 'referral.queueUnavailable', fields);
            }
            log.event('info', 'referral.accepted', {
                ...fields,
                to: 'Queued',
                problemPaths: loggablePaths(admission.warnings),
                problemsOmitted: admission.warningsOmitted,
            });
            return accepted(created.record, admission, correlationId);
        }
    }
}
