/**
 * The applier: applies a referral's accepted updates (shared/referral/updates.ts) to the partner's own referral at
 * Partner Center, exactly once each, in acceptance order, one at a time. It runs on every delivery of the
 * `referral-updates` queue after the admission, and on the copies of those messages it schedules for itself. Like a
 * step (step.ts), it never sleeps and the record decides what each delivery does:
 *
 * 1. Nothing Pending or Applying: nothing. The referral not yet at Partner Center (`partnerReferral` unset): the
 *    update waits; the submit step's completion kicks it (`kickPendingUpdates`).
 * 2. The oldest unsettled update is Applying under another delivery's lease, or its Retry-After is pending: come back
 *    then (a scheduled copy of its message).
 * 3. Otherwise claim it (Pending → Applying with a lease, one conditional write) and PATCH the referral with its JSON
 *    Patch, `If-Match` the last eTag the app knows, `Prefer: return=representation`. Partner Center's answer moves
 *    `partnerReferral` on (status, substatus, eTag, updatedDateTime) and the update is Applied; the next one's turn
 *    message is sent.
 * 4. JSON Patch is not idempotent and the API has no idempotency key. So after a lost answer, a timeout, a 412 (someone
 *    changed the referral at Partner Center) or a worker that died holding the lease, the referral is read first: an
 *    update already reflected (every value equal, an appended member already present) is Applied without a second
 *    PATCH; otherwise its transition is checked again against the newer referral (a move the status no longer allows
 *    is Rejected) and the same operations are sent with the new eTag. JSON Patch names only its own fields, so what
 *    others changed elsewhere is kept. This happens once within an attempt; a second 412 waits for the next attempt.
 * 5. Other failures are judged as a step's are (`decideFailure`: Retry-After, back-off, attempts): a permanent 4xx
 *    Rejects that update with the API's code and the next one proceeds.
 *
 * Every write after the claim re-reads the record (`updateWithRetry`): admissions of new updates change it meanwhile,
 * and only the delivery still holding the update's lease may settle it.
 */
import { updateRunMessage, type UpdateRunReason } from '../messaging/messages';
import { type PartnerApiCallContext, PartnerApiError, type PartnerReferral } from '../partnerApi';
import type { EventLogger, LogEvent, LogFields } from '../platform/logging';
import type { MessageSender } from '../platform/serviceBus';
import { type RecordedError, type ReferralRecord, type ReferralUpdate, summarize } from '../referral/record';
import { type JsonPatch, type PatchOperation, valueAt } from '../referral/request/jsonPatch';
import { validatePatch } from '../referral/request/patch';
import { updateWithRetry } from '../referral/store';
import { findUpdate, latestRequest, pendingUpdates, transitionUpdate, updatesOf } from '../referral/updates';
import { attemptDeadline, decideFailure, type StepDependencies } from './step';

/** The Partner API calls the applier makes. */
export interface PartnerReferralUpdatesApi {
    getReferral(id: string, context: PartnerApiCallContext): Promise<PartnerReferral>;
    patchReferral(
        id: string,
        patch: JsonPatch,
        eTag: string | null,
        context: PartnerApiCallContext,
    ): Promise<PartnerReferral | undefined>;
}

export interface UpdateStepDependencies extends Pick<
    StepDependencies,
    'store' | 'retry' | 'leaseMs' | 'now' | 'random'
> {
    partnerApi: PartnerReferralUpdatesApi;
    updatesQueue: MessageSender;
}

export type UpdateStepOutcome =
    | 'applied'
    | 'alreadyApplied'
    | 'rejected'
    | 'failed'
    | 'retryScheduled'
    | 'waitingForCreate'
    | 'waitingForLease'
    | 'waitingForRetryTime'
    | 'idle'
    | 'superseded';

/** The message that runs the applier again for `update`, no earlier than `notBefore`. */
function runMessage(record: ReferralRecord, update: ReferralUpdate, reason: UpdateRunReason, notBefore?: Date) {
    return updateRunMessage({
        referralKey: record.id,
        updateKey: update.id,
        correlationId: update.correlationId,
        reason,
        attempt: (update.attempts ?? 0) + 1,
        notBefore,
    });
}

/**
 * Sends the turn message of the oldest unsettled update, if any: after the create is done (the submit step) and
 * after an update is settled. Its messageId is fixed per update, so a repeat is harmless.
 */
export async function kickPendingUpdates(record: ReferralRecord, queue: MessageSender): Promise<void> {
    const next = pendingUpdates(record)[0];
    if (next && record.partnerReferral) await queue.send(runMessage(record, next, { kind: 'turn' }));
}

/** Applies the oldest unsettled update of referral `key`, if it may run now (see the module comment). */
export async function applyNextUpdate(
    key: string,
    deps: UpdateStepDependencies,
    log: EventLogger,
): Promise<UpdateStepOutcome> {
    return updateWithRetry<UpdateStepOutcome>(deps.store, key, {
        // The record expired (REFERRAL_TTL_DAYS) after the message was sent: nothing is left to apply.
        missing: () => 'idle',
        contended: () =>
            new Error(`Referral ${key} kept changing while an update was claimed; the delivery is retried.`),
        async decide(record) {
            const update = pendingUpdates(record)[0];
            if (!update) return { answer: 'idle' };
            const fields: LogFields = { referralKey: key, updateKey: update.id, correlationId: update.correlationId };
            if (!record.partnerReferral) {
                log.event('info', 'update.waitingForCreate', fields);
                return { answer: 'waitingForCreate' };
            }
            const now = deps.now();
            if (update.status === 'Applying' && update.leaseUntil && new Date(update.leaseUntil) > now) {
                const at = new Date(Date.parse(update.leaseUntil) + 1000);
                await deps.updatesQueue.send(
                    runMessage(record, update, { kind: 'leaseWait', leaseUntil: update.leaseUntil }, at),
                );
                log.event('info', 'update.waitingForLease', { ...fields, delayMs: at.getTime() - now.getTime() });
                return { answer: 'waitingForLease' };
            }
            if (update.notBefore && new Date(update.notBefore) > now) {
                // The same messageId as the retry already scheduled: the queue keeps only one of them.
                const reason = { kind: 'retry', attempt: (update.attempts ?? 0) + 1 } as const;
                await deps.updatesQueue.send(runMessage(record, update, reason, new Date(update.notBefore)));
                log.event('info', 'update.waitingForRetryTime', fields);
                return { answer: 'waitingForRetryTime' };
            }
            // Still Applying with its lease run out: the worker that held it died mid-attempt, what it sent is unknown.
            const deadLease = update.status === 'Applying';
            const released = deadLease ? transitionUpdate(record, update.id, 'Pending', now) : record;
            const claim = transitionUpdate(released, update.id, 'Applying', now, {
                attempts: (update.attempts ?? 0) + 1,
                // The retry window runs from the update's first attempt.
                retryWindow: update.retryWindow ?? { from: now.toISOString(), heldMs: 0 },
                leaseUntil: new Date(now.getTime() + deps.leaseMs).toISOString(),
                notBefore: null,
                uncertain: deadLease || (update.uncertain ?? false),
            });
            return {
                write: claim,
                afterWrite: (stored) => {
                    const claimed = findUpdate(stored.record, update.id)!;
                    log.event('info', 'update.attempt', { ...fields, attempt: claimed.attempts });
                    return attempt({ record: stored.record, update: claimed, deps, log, fields });
                },
            };
        },
    });
}

/** One claimed attempt: the record and update as this delivery claimed them. */
interface UpdateRun {
    record: ReferralRecord;
    update: ReferralUpdate;
    deps: UpdateStepDependencies;
    log: EventLogger;
    fields: LogFields;
}

/** A failure after which the patch may or may not be in place, or was refused for a stale eTag: read first. */
function leavesDoubt(error: PartnerApiError): boolean {
    return error.outcomeUnknown || error.status === 412 || error.status === 409;
}

async function attempt(run: UpdateRun): Promise<UpdateStepOutcome> {
    const { record, update, deps } = run;
    const partner = record.partnerReferral!;
    const patch = update.patch!;
    const context: PartnerApiCallContext = {
        correlationId: update.correlationId,
        deadline: attemptDeadline(update.leaseUntil!, deps.leaseMs),
    };
    let uncertain = update.uncertain ?? false;
    let eTag = partner.eTag;
    try {
        for (let round = 0; ; round++) {
            if (uncertain) {
                const current = await deps.partnerApi.getReferral(partner.id, context);
                if (isReflected(patch, current)) return await settleApplied(run, current, 'alreadyApplied');
                const problem = recheck(record, patch, current);
                // What Partner Center now holds is kept either way: later updates are checked against it.
                if (problem) return await settle(run, 'Rejected', problem, { referral: current });
                eTag = current.eTag ?? null;
            }
            try {
                const answer = await deps.partnerApi.patchReferral(partner.id, patch, eTag, context);
                // Applied: from here on a failure (reading the referral after a 204) leaves it to be recognised.
                uncertain = true;
                return await settleApplied(
                    run,
                    answer ?? (await deps.partnerApi.getReferral(partner.id, context)),
                    'applied',
                );
            } catch (error) {
                if (!(error instanceof PartnerApiError) || !leavesDoubt(error)) throw error;
                uncertain = true;
                // Read at once only when the API asked for no wait: a Retry-After holds the read too (next attempt).
                if (round > 0 || error.retryAfterMs !== undefined) throw error;
            }
        }
    } catch (error) {
        if (!(error instanceof PartnerApiError)) throw error;
        return handleFailure(run, error, uncertain);
    }
}

/**
 * Whether `referral` already shows every operation of `patch`: the value at a replaced or added path equal to the
 * one sent, a member appended with `-` present in the array. Equal means every property sent is there with an equal
 * value (Partner Center adds properties of its own, e.g. a member's `title: null`).
 */
export function isReflected(patch: readonly PatchOperation[], referral: PartnerReferral): boolean {
    return patch.every(({ path, value }) => {
        if (path.endsWith('/-')) {
            const array = valueAt(referral, path.slice(0, -2));
            return Array.isArray(array) && array.some((member) => contains(member, value));
        }
        return contains(valueAt(referral, path), value);
    });
}

function contains(actual: unknown, expected: unknown): boolean {
    if (Array.isArray(expected)) {
        return (
            Array.isArray(actual) &&
            actual.length === expected.length &&
            expected.every((item, index) => contains(actual[index], item))
        );
    }
    if (expected !== null && typeof expected === 'object') {
        if (actual === null || typeof actual !== 'object' || Array.isArray(actual)) return false;
        const object = actual as Record<string, unknown>;
        return Object.entries(expected).every(([name, item]) => contains(object[name], item));
    }
    return Object.is(actual, expected);
}

/**
 * Why `patch` may no longer be sent to the newer `referral`, if so: its status move checked from the status Partner
 * Center now holds, on the referral as the app knows it (the create request with the applied updates).
 */
function recheck(record: ReferralRecord, patch: JsonPatch, referral: PartnerReferral): RecordedError | undefined {
    const applied = updatesOf(record).filter((update) => update.status === 'Applied');
    const known = latestRequest({ request: record.request, updates: applied, partnerReferral: summarize(referral) });
    if (!known) return undefined;
    const validation = validatePatch(patch, known, referral.status ?? null);
    if (validation.ok) return undefined;
    const { problems } = validation;
    if (referral.status === 'Closed') {
        return {
            code: 'ReferralClosed',
            message: 'The referral was Closed at Partner Center: nothing may change.',
            problems,
        };
    }
    const transition = problems.some(({ path }) => path === 'status' || path === 'substatus');
    return transition
        ? {
              code: 'IllegalTransition',
              message: `The referral is now ${referral.status ?? 'unknown'} at Partner Center; the update's status move is not allowed from there.`,
              problems,
          }
        : {
              code: 'UpdateNoLongerApplies',
              message: 'The update does not apply to the referral as it now is.',
              problems,
          };
}

/** The partner referral summary moved on by Partner Center's answer (identity and creation time stay). */
function movedOn(record: ReferralRecord, referral: PartnerReferral): ReferralRecord['partnerReferral'] {
    const known = record.partnerReferral!;
    const answered = summarize({ ...referral, id: known.id, engagementId: known.engagementId });
    return {
        ...known,
        status: answered.status ?? known.status,
        substatus: answered.substatus ?? known.substatus,
        eTag: answered.eTag ?? known.eTag,
        updatedDateTime: answered.updatedDateTime ?? known.updatedDateTime,
    };
}

function settleApplied(run: UpdateRun, referral: PartnerReferral, outcome: 'applied' | 'alreadyApplied') {
    return settle(run, 'Applied', undefined, { outcome, referral });
}

const SETTLED_EVENTS = {
    Applied: 'update.applied',
    Rejected: 'update.applyRejected',
    Failed: 'update.applyFailed',
    Pending: 'update.retryScheduled',
} as const satisfies Record<string, LogEvent>;

/**
 * Writes where the attempt left the update, on the record as it now is, if this delivery still holds the update's
 * lease; then sends what follows: the retry (back to Pending, no earlier than `notBefore`), or the next update's turn.
 */
async function settle(
    run: UpdateRun,
    to: 'Applied' | 'Rejected' | 'Failed' | 'Pending',
    error: RecordedError | undefined,
    extra: {
        outcome?: UpdateStepOutcome;
        referral?: PartnerReferral;
        notBefore?: string;
        uncertain?: boolean;
        retryWindow?: ReferralUpdate['retryWindow'];
    } = {},
): Promise<UpdateStepOutcome> {
    const { record, update, deps, log, fields } = run;
    const outcome: UpdateStepOutcome =
        extra.outcome ?? (to === 'Pending' ? 'retryScheduled' : to === 'Rejected' ? 'rejected' : 'failed');
    const now = deps.now();
    return updateWithRetry<UpdateStepOutcome>(deps.store, record.id, {
        missing: () => 'superseded',
        contended: () => new Error(`Referral ${record.id} kept changing while update ${update.id} was settled.`),
        decide(current) {
            const held = findUpdate(current, update.id);
            if (held?.status !== 'Applying' || held.leaseUntil !== update.leaseUntil) {
                // Our lease ran out and another delivery claimed the update: it reads the referral before patching.
                log.event('warn', 'update.leaseLost', fields);
                return Promise.resolve({ answer: 'superseded' as const });
            }
            const moved = transitionUpdate(current, update.id, to, now, {
                leaseUntil: null,
                notBefore: extra.notBefore ?? null,
                uncertain: extra.uncertain ?? false,
                ...(extra.retryWindow && { retryWindow: extra.retryWindow }),
                ...(error && { error }),
            });
            const next = extra.referral ? { ...moved, partnerReferral: movedOn(current, extra.referral) } : moved;
            return Promise.resolve({
                write: next,
                afterWrite: async ({ record: written }) => {
                    const settled = findUpdate(written, update.id)!;
                    if (to === 'Pending') {
                        const retry = { kind: 'retry', attempt: (settled.attempts ?? 0) + 1 } as const;
                        await deps.updatesQueue.send(runMessage(written, settled, retry, new Date(extra.notBefore!)));
                    } else {
                        await kickPendingUpdates(written, deps.updatesQueue);
                    }
                    log.event(to === 'Applied' ? 'info' : to === 'Pending' ? 'warn' : 'error', SETTLED_EVENTS[to], {
                        ...fields,
                        outcome,
                        attempt: settled.attempts,
                        errorCode: error?.code,
                        delayMs: extra.notBefore ? Date.parse(extra.notBefore) - now.getTime() : undefined,
                    });
                    return outcome;
                },
            });
        },
    });
}

/**
 * A failed attempt, judged as a step's is (`decideFailure`: permanent 4xx, auth holds, Retry-After, back-off, the retry
 * window). It decides on a record at a step's working status: the update's attempt stands in as one (`Submitting`
 * since the update's first attempt, with the update's attempts and window). A 412 or a lost answer is never the
 * update's fault: retried, reading the referral first.
 */
function handleFailure(run: UpdateRun, error: PartnerApiError, uncertain: boolean): Promise<UpdateStepOutcome> {
    const { record, update, deps, log, fields } = run;
    if (error.kind === 'auth' || error.status === 401 || error.status === 403) {
        log.event('error', 'partnerApi.authFailed', { ...fields, errorCode: error.code, httpStatus: error.status });
    }
    const judged = leavesDoubt(error) ? error.asTransient() : error;
    const window = update.retryWindow!;
    const standIn: ReferralRecord = {
        ...record,
        status: 'Submitting',
        attempts: update.attempts ?? 1,
        history: [{ status: 'Submitting', at: window.from }],
        retryWindow: window,
    };
    const decision = decideFailure(standIn, judged, uncertain, deps.retry, deps.now(), deps.random);
    const recorded = decision.next.error ?? { code: 'PartnerApiError', message: error.message };
    switch (decision.outcome) {
        case 'rejected':
            return settle(run, 'Rejected', recorded);
        case 'failed':
            return settle(run, 'Failed', recorded);
        case 'retryScheduled':
        case 'held':
            return settle(run, 'Pending', recorded, {
                notBefore: decision.next.notBefore!,
                uncertain,
                retryWindow: decision.next.retryWindow ?? window,
            });
    }
}
