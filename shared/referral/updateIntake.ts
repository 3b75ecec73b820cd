/**
 * PATCH /api/referrals/{id}: checks an update (a JSON Patch array), remembers its key on the referral's record, and
 * queues it for the applier.
 *
 * One path for both arrivals: the update is admitted onto the record here (updateAdmission.ts), then sent to
 * `referral-updates` as the very message a publisher would send, so the queue function that applies publishers'
 * updates applies this one too, after admitting it again (a repeat, which changes nothing). The messageId is derived
 * from both keys, so equal update keys of two referrals never collide in the queue's duplicate detection.
 *
 * Idempotency: the update key (the caller's `Idempotency-Key`, else a new UUID) is remembered on the record for as
 * long as the record is kept. The same key with the same body answers 202 as before (and sends the message again
 * while the update is still Pending: the queue drops the copy, the worker's admission finds the repeat); another
 * body is a 409. A 202 means the update is recorded and its message sent. When the send fails the update stays
 * recorded Pending and the answer is 503: a retry with the same key sends it again.
 */
import type { HttpRequest, HttpResponseInit } from '@azure/functions';

import { isValidKey, updateMessage } from '../messaging/messages';
import { json, type JsonBodyRules, problem, readIdempotentRequest, retryLater } from '../platform/http';
import type { EventLogger, LogFields } from '../platform/logging';
import type { MessageSender } from '../platform/serviceBus';
import { statusUrl } from './intake';
import type { ReferralRecord, ReferralUpdate } from './record';
import { loggableUpdatePaths } from './request/patch';
import type { ReferralStore } from './store';
import { admitUpdate, type Finality, type UpdateAdmission } from './updateAdmission';
import { MAX_UPDATES_PER_REFERRAL } from './updates';

/** Far above any real update (a close is two short operations), so that the record stays within Cosmos's 2 MB. */
export const MAX_UPDATE_BODY_BYTES = 32_000;

export const UPDATE_MEDIA_TYPES = ['application/json-patch+json', 'application/json'] as const;

const UPDATE_BODY: JsonBodyRules = {
    maxBytes: MAX_UPDATE_BODY_BYTES,
    mediaTypes: UPDATE_MEDIA_TYPES,
    unsupportedMediaType: 'Send the update as a JSON Patch array, with Content-Type: application/json-patch+json.',
    tooLarge: `The body is larger than ${MAX_UPDATE_BODY_BYTES} bytes, the most one update may be.`,
};

export interface UpdateIntakeDependencies {
    store: ReferralStore;
    updatesQueue: MessageSender;
    newKey: () => string;
    now: () => Date;
}

const FINALITY_DETAILS: Record<Finality, string> = {
    closed: 'The referral is Closed: nothing may change after Closed.',
    rejected: 'The referral was rejected and never reached Partner Center: it cannot be updated.',
};

function unavailable(detail: string): HttpResponseInit {
    return retryLater(`${detail} Retry with the same Idempotency-Key.`);
}

function accepted(record: ReferralRecord, update: ReferralUpdate, correlationId: string): HttpResponseInit {
    const url = statusUrl(record.id);
    return json(
        202,
        { id: record.id, update: { id: update.id, status: update.status }, statusUrl: url },
        { location: url, 'x-correlation-id': correlationId },
    );
}

export async function acceptUpdate(
    request: HttpRequest,
    deps: UpdateIntakeDependencies,
    log: EventLogger,
): Promise<HttpResponseInit> {
    const referralKey = request.params.id;
    if (!referralKey || !isValidKey(referralKey)) return problem(404, 'No referral has this id.');
    const parsed = await readIdempotentRequest(request, UPDATE_BODY);
    if (!parsed.ok) return parsed.response;

    const { correlationId } = parsed;
    const updateKey = parsed.key ?? deps.newKey();
    const fields: LogFields = { referralKey, updateKey, correlationId };
    const send = async (): Promise<boolean> => {
        try {
            await deps.updatesQueue.send(updateMessage({ referralKey, updateKey, body: parsed.body, correlationId }));
            return true;
        } catch {
            log.event('error', 'update.queueUnavailable', fields);
            return false;
        }
    };

    let admission: UpdateAdmission;
    try {
        admission = await admitUpdate(
            { referralKey, updateKey, body: parsed.body, correlationId, source: 'http' },
            deps,
        );
    } catch {
        log.event('error', 'update.storeUnavailable', fields);
        return unavailable('The update could not be recorded right now.');
    }
    switch (admission.outcome) {
        case 'unknownReferral':
            return problem(404, 'No referral has this id.');
        case 'invalid':
        case 'rejected': {
            // 'rejected' is the queue's form of invalid; an HTTP arrival is never kept.
            const { problems, problemsOmitted } = admission;
            log.event('warn', 'update.invalid', {
                ...fields,
                problemPaths: loggableUpdatePaths(problems),
                problemsOmitted,
            });
            return problem(400, 'The update is not valid.', { errors: problems, errorsOmitted: problemsOmitted });
        }
        case 'final':
            log.event('warn', 'update.refused', { ...fields, outcome: admission.finality });
            return problem(409, FINALITY_DETAILS[admission.finality]);
        case 'full':
            log.event('warn', 'update.refused', { ...fields, outcome: 'full' });
            return problem(409, `This referral has had ${MAX_UPDATES_PER_REFERRAL} updates, the most it can keep.`);
        case 'keyConflict':
            log.event('warn', 'update.keyConflict', fields);
            return problem(409, 'This Idempotency-Key was already used for a different update. Use a new key.');
        case 'repeated': {
            const { record, update } = admission;
            log.event('info', 'update.repeated', { ...fields, outcome: update.status });
            // The first answer may have been a 503 whose send failed: a Pending update's message goes again.
            if (update.status === 'Pending' && !(await send())) {
                return unavailable('The update is recorded but could not be queued right now.');
            }
            return accepted(record, update, correlationId);
        }
        case 'admitted': {
            const { record, update } = admission;
            log.event('info', 'update.accepted', { ...fields, outcome: 'Pending' });
            if (!(await send())) return unavailable('The update is recorded but could not be queued right now.');
            return accepted(record, update, correlationId);
        }
    }
}
