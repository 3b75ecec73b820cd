/**
 * The HTTP intake: checks a referral request, remembers its key, and queues it for submission.
 *
 * Idempotency guarantee: a referral key (the caller's `Idempotency-Key`, else a new UUID) is remembered for good in
 * the referral's Cosmos DB record, not only for the queue's duplicate-detection window. The same key with the same
 * body answers with the same id and never leads to a second submission; the same key with another body is a 409.
 *
 * A 202 means the message is on the queue. If Service Bus (or Cosmos DB) cannot be reached the answer is 503 with
 * Retry-After. With a caller's key the record stays, marked as not yet queued, and a retry with the same key sends
 * the message; a key we generated is known to nobody else, so its record is removed again and nothing is left.
 */
import { randomUUID } from 'node:crypto';

import type { HttpRequest, HttpResponseInit } from '@azure/functions';
import type { ServiceBusMessage } from '@azure/service-bus';

import { isValidKey, referralMessage } from '../messaging/messages';
import { fitsOnQueue, MAX_MESSAGE_BYTES } from '../messaging/messageSize';
import { json, problem, RETRY_AFTER_SECONDS } from '../platform/http';
import type { EventLogger, LogFields } from '../platform/logging';
import type { MessageSender } from '../platform/serviceBus';
import { type Admission, admit, correlationIdOr } from './admission';
import type { ReferralRecord } from './record';
import { type ListedProblems, loggablePaths } from './request/validate';
import type { ReferralStore, StoredRecord } from './store';

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

function isJsonContentType(contentType: string | null): boolean {
    if (!contentType) return false;
    const mediaType = contentType.split(';')[0]!.trim().toLowerCase();
    return mediaType === 'application/json' || /^application\/[a-z0-9.+-]+\+json$/.test(mediaType);
}

function tooLarge(): HttpResponseInit {
    return problem(413, `The body is larger than ${MAX_BODY_BYTES} bytes, the most one queue message can carry.`);
}

function tooLargeForQueue(): HttpResponseInit {
    return problem(
        413,
        `The referral, as queued, would exceed ${MAX_MESSAGE_BYTES} bytes, the most a queue message can carry.`,
    );
}

function unavailable(): HttpResponseInit {
    return problem(
        503,
        'The referral could not be queued right now; nothing was kept. Retry with the same Idempotency-Key.',
        {
            headers: { 'retry-after': String(RETRY_AFTER_SECONDS) },
        },
    );
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

type ParsedBody = { ok: true; body: unknown } | { ok: false; response: HttpResponseInit };

async function readJsonBody(request: HttpRequest): Promise<ParsedBody> {
    if (!isJsonContentType(request.headers.get('content-type'))) {
        return { ok: false, response: problem(415, 'Send the referral as JSON, with Content-Type: application/json.') };
    }
    if (Number(request.headers.get('content-length')) > MAX_BODY_BYTES) return { ok: false, response: tooLarge() };
    const bytes = new Uint8Array(await request.arrayBuffer());
    if (bytes.byteLength > MAX_BODY_BYTES) return { ok: false, response: tooLarge() };
    let text: string;
    try {
        text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    } catch {
        return { ok: false, response: problem(400, 'The body is not valid UTF-8.') };
    }
    try {
        // The parser's own message quotes the input, so it is never passed on.
        return { ok: true, body: JSON.parse(text) as unknown };
    } catch {
        return { ok: false, response: problem(400, 'The body is not valid JSON.') };
    }
}

export async function acceptReferral(
    request: HttpRequest,
    deps: IntakeDependencies,
    log: EventLogger,
): Promise<HttpResponseInit> {
    const idempotencyKey = request.headers.get('idempotency-key');
    if (idempotencyKey !== null && !isValidKey(idempotencyKey)) {
        return problem(400, 'The Idempotency-Key header is not valid.', {
            errors: [
                { path: 'headers.Idempotency-Key', message: 'must be 1 to 128 characters of A-Z a-z 0-9 . _ : -' },
            ],
        });
    }
    const parsed = await readJsonBody(request);
    if (!parsed.ok) return parsed.response;

    const correlationId = correlationIdOr(request.headers.get('x-correlation-id'), randomUUID());
    const key = idempotencyKey ?? deps.newKey();
    const fields = { referralKey: key, correlationId };
    const message = referralMessage({ key, body: parsed.body, correlationId });

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
        case 'repeated': {
            const existing = admission.stored;
            // The same request again: only a request whose message never reached the queue needs sending.
            if (existing.record.status === 'Queued' && existing.record.queuedAt === null) {
                if (!(await sendAndMark(existing, message, deps, log, fields))) return unavailable();
            }
            log.event('info', 'referral.repeated', { ...fields, outcome: existing.record.status });
            return accepted(existing.record, admission, correlationId);
        }
        case 'admitted': {
            const created = admission.stored;
            if (!(await sendAndMark(created, message, deps, log, fields))) {
                if (idempotencyKey === null) await deps.store.remove(key, created.etag).catch(() => false);
                return unavailable();
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

/**
 * Sends the referral's message, then notes on the record that it is queued. A failed note is harmless: the worker
 * may already have moved the record on, and at worst a repeat sends the message again and the queue drops it.
 */
async function sendAndMark(
    stored: StoredRecord,
    message: ServiceBusMessage,
    deps: IntakeDependencies,
    log: EventLogger,
    fields: LogFields,
): Promise<boolean> {
    try {
        await deps.referralsQueue.send(message);
    } catch {
        log.event('error', 'referral.queueUnavailable', fields);
        return false;
    }
    const queued = { ...stored.record, queuedAt: deps.now().toISOString() };
    await deps.store.replace(queued, stored.etag).catch(() => undefined);
    return true;
}
