/**
 * The self-healing check: a while after a referral is done, look once more for copies of it at Partner Center, and
 * report any that slipped through. The steps make a copy unlikely (lookups before any second create, a settling
 * window), but a create may commit later than any window, or a list lag longer; only a later look can tell.
 *
 * Design: a scheduled message rather than a timer sweep. The step that finishes a referral (submit for an
 * Independent one, connect for a Shared one) sends `duplicateCheckMessage` on the referrals queue, scheduled
 * DUPLICATE_CHECK_DELAY_MS later (longer than PARTNER_API_SETTLE_MS); the submit function routes it here by its
 * `check` property. No query over Cosmos DB, no "checked" marker to keep, no index: the queue holds the one pending
 * check per referral, its fixed messageId drops a repeat, and a check that runs twice adds nothing.
 *
 * The check lists, as the steps' own lookups do (`findCandidates`, never trusting the server's filter), the
 * referral's externalReferenceId and, for a Shared referral, its engagement, both since the record was created. A
 * candidate is a copy only if it is provably ours (shared/referral/ownership.ts: our identity and our content) and
 * not the referral the record keeps; a stranger with the same externalReferenceId is not reported. New copies are
 * added to the record (`duplicates`, identifiers only), shown on the status document, and each is logged as the
 * alert event `duplicateCheck.found` (error). Closing one is for an operator (`npm run duplicates`), never automatic:
 * which copy Partner Center and Microsoft sellers already work on is a human decision.
 *
 * Bounded: two lookups of at most DEFAULT_LOOKUP_MAX_PAGES pages each, within one lease's time. A failed lookup is
 * retried by a scheduled copy of the message (back-off, never before Retry-After); a run from the
 * MAX_DUPLICATE_CHECK_ATTEMPTS-th on that fails for another reason than the rate limit ends the check with
 * `duplicateCheck.abandoned` (error): the referral went unchecked.
 */
import { duplicateCheckMessage } from '../messaging/messages';
import { type PartnerApiCallContext, PartnerApiError } from '../partnerApi';
import type { EventLogger, LogFields } from '../platform/logging';
import { duplicatesOf, type FoundDuplicate, isDone, withDuplicatesFound } from '../referral/duplicates';
import { provablyOurs } from '../referral/ownership';
import type { ReferralRecord } from '../referral/record';
import { updateWithRetry } from '../referral/store';
import { retryDelayMs } from './backoff';
import { connectStep } from './connectStep';
import type { StepDefinition, StepDependencies } from './step';
import { submitStep } from './submitStep';

/** Runs of one check (the first and its retries) before it gives up with an alert. */
export const MAX_DUPLICATE_CHECK_ATTEMPTS = 10;

export type DuplicateCheckOutcome =
    /** Nothing new: no copy, or only copies the record knows already. */
    | 'clean'
    | 'found'
    /** The referral is not done (a replay is under way, say): its last step schedules a check again when it is. */
    | 'notDone'
    /** No record (expired): nothing to check. */
    | 'missing'
    | 'retryScheduled'
    | 'abandoned';

/** The log fields of one check, which name its referral. */
type CheckFields = LogFields & { referralKey: string };

/** Checks referral `key` for copies at Partner Center; `attempt` is this run's number (the message's `attempt`). */
export async function checkForDuplicates(
    key: string,
    correlationId: string,
    attempt: number,
    deps: StepDependencies,
    log: EventLogger,
): Promise<DuplicateCheckOutcome> {
    const fields: CheckFields = { referralKey: key, correlationId, attempt };
    const stored = await deps.store.read(key);
    if (!stored) return 'missing';
    if (!isDone(stored.record)) {
        log.event('info', 'duplicateCheck.notDone', { ...fields, to: stored.record.status });
        return 'notDone';
    }
    let found: FoundDuplicate[];
    try {
        found = await findCopies(stored.record, correlationId, deps);
    } catch (error) {
        if (!(error instanceof PartnerApiError)) throw error;
        return retryLater(key, correlationId, attempt, error, deps, log);
    }
    return recordCopies(found, deps, log, fields);
}

/** The referrals at Partner Center that are provably copies of the record's partner or connected referral. */
async function findCopies(
    record: ReferralRecord,
    correlationId: string,
    deps: StepDependencies,
): Promise<FoundDuplicate[]> {
    const context: PartnerApiCallContext = {
        correlationId,
        // As bounded as a step's attempt.
        deadline: new Date(deps.now().getTime() + deps.leaseMs),
        background: true,
    };
    const since = new Date(record.createdAt);
    const copiesOf = async (step: StepDefinition, keptId: string, of: FoundDuplicate['of']) => {
        const { key, expected } = step.search(record);
        const { candidates } = await deps.partnerApi.findCandidates({ ...key, since }, context);
        const excludeIds = [...(expected.excludeIds ?? []), keptId];
        return provablyOurs({ ...expected, excludeIds }, candidates).map((referral) => ({ referral, of }));
    };
    const found = await copiesOf(submitStep, record.partnerReferral!.id, 'partnerReferral');
    if (record.connectedReferral) {
        found.push(...(await copiesOf(connectStep, record.connectedReferral.id, 'connectedReferral')));
    }
    return found;
}

/** Adds the copies the record does not know yet; alerts once per copy (a re-run finds them known). */
function recordCopies(
    found: readonly FoundDuplicate[],
    deps: StepDependencies,
    log: EventLogger,
    fields: CheckFields,
): Promise<DuplicateCheckOutcome> {
    const key = fields.referralKey;
    return updateWithRetry<DuplicateCheckOutcome>(deps.store, key, {
        missing: () => 'missing',
        contended: () => new Error(`Referral ${key} kept changing under the duplicate check; it will be retried.`),
        decide(record) {
            const { record: next, added } = withDuplicatesFound(record, found, deps.now());
            if (added.length === 0) {
                log.event('info', 'duplicateCheck.clean', { ...fields, count: duplicatesOf(record).length });
                return Promise.resolve({ answer: 'clean' });
            }
            return Promise.resolve({
                write: next,
                afterWrite: () => {
                    for (const duplicate of added) {
                        log.event('error', 'duplicateCheck.found', {
                            ...fields,
                            partnerReferralId: duplicate.id,
                            engagementId: duplicate.engagementId,
                            outcome: duplicate.of,
                        });
                    }
                    return Promise.resolve<DuplicateCheckOutcome>('found');
                },
            });
        },
    });
}

/**
 * The tenant's rate limit: a 429, or the gate's refusal to wait past the run's deadline (a call never sent). It only
 * delays the check, as it does a step: a bulk run at the limit would otherwise end its checks with false alerts.
 */
function isRateLimit(error: PartnerApiError): boolean {
    return error.kind === 'throttled' || error.status === 429;
}

/** A lookup failed: the same check again after a back-off (never before Retry-After), or give up with an alert. */
async function retryLater(
    key: string,
    correlationId: string,
    attempt: number,
    error: PartnerApiError,
    deps: StepDependencies,
    log: EventLogger,
): Promise<DuplicateCheckOutcome> {
    const failure: LogFields = {
        referralKey: key,
        correlationId,
        attempt,
        httpStatus: error.status,
        errorCode: error.code ?? error.kind,
    };
    if (attempt >= MAX_DUPLICATE_CHECK_ATTEMPTS && !isRateLimit(error)) {
        log.event('error', 'duplicateCheck.abandoned', failure);
        return 'abandoned';
    }
    const delayMs = retryDelayMs(attempt, error.retryAfterMs, deps.retry, deps.random);
    const notBefore = new Date(deps.now().getTime() + delayMs);
    const next = attempt + 1;
    await deps.referralsQueue.send(
        duplicateCheckMessage({
            key,
            correlationId,
            run: { reason: { kind: 'retry', attempt: next }, attempt: next, notBefore },
        }),
    );
    log.event('warn', 'duplicateCheck.retryScheduled', { ...failure, delayMs });
    return 'retryScheduled';
}
