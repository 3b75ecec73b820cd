/**
 * One Partner API step of a referral (submit, or connect), run by a queue-triggered function. At-least-once
 * delivery means any number of deliveries may run this for the same referral, at once or after a crash; the record in
 * Cosmos DB decides what each of them does:
 *
 * 1. Done already: only the follow-up is repeated (it is idempotent). Not this step's turn: nothing.
 * 2. Another delivery holds the step (its lease has not run out): come back when it has.
 * 3. Too early (a Retry-After or back-off is pending): come back then.
 * 4. Otherwise claim the step with a conditional write (a 412 means someone else moved first: read again), and
 *    - if an earlier attempt may have created the referral (no answer came back, or its worker died), look it up at
 *      the Partner API and adopt it only if it is provably ours (shared/referral/ownership.ts: the server's filter is
 *      never trusted). Several candidates, or one with our identity and other content: stop, Failed with
 *      `AmbiguousPartnerReferral`, for the operator; never guess. "Not there" is believed only from a lookup made
 *      PARTNER_API_SETTLE_MS after the uncertain create was given up on (a create may commit after the client gave
 *      up, and the list lags behind creates): before then the attempt only looks, and the next look waits for that
 *      time;
 *    - else create it, check the answer (`check`), and record it.
 *    Every call of the attempt ends by a deadline safely before the lease does; the lease is renewed (fenced by the
 *    etag) while the calls run, moving the deadline on, and a renewal refused (another delivery took the step)
 *    aborts the remaining calls. A create carries its own `MS-RequestId` (the same on every retry of that create,
 *    another for the connect).
 * 5. A transient failure re-sends the message scheduled no earlier than Retry-After (a new, deterministic messageId
 *    per attempt) and completes this one; once the retry window (SUBMIT_RETRY_WINDOW_HOURS) has passed the referral
 *    is Failed. An auth failure holds the referral without spending its window. A permanent 4xx is Rejected.
 *
 * "Come back later" is a scheduled copy of the message, never a sleep: a worker never holds a lock while waiting.
 */
import type { ServiceBusMessage } from '@azure/service-bus';

import { duplicateCheckMessage, type RunReason } from '../messaging/messages';
import {
    type CandidateKey,
    type CandidateLookup,
    type CandidateQuery,
    createRequestId,
    type PartnerApiCallContext,
    PartnerApiError,
    partnerCorrelationId,
    type PartnerReferral,
} from '../partnerApi';
import type { RetryConfig } from '../platform/config';
import { type EventLogger, type LogFields, redactSubmittedValues } from '../platform/logging';
import type { MessageSender } from '../platform/serviceBus';
import { judgeCandidates, type OwnershipExpectation } from '../referral/ownership';
import {
    type LifecycleStatus,
    type RecordedError,
    type ReferralRecord,
    type StepName,
    summarize,
    transition,
} from '../referral/record';
import { type ReferralStore, type StoredRecord, updateWithRetry } from '../referral/store';
import { RETRY_AFTER_CAP_MS, retryDelayMs } from './backoff';

/** The two Partner API calls a step makes. */
export interface PartnerReferralsApi {
    createReferral(referral: object, context: PartnerApiCallContext): Promise<PartnerReferral>;
    findCandidates(query: CandidateQuery, context: PartnerApiCallContext): Promise<CandidateLookup>;
}

/** The queues the steps' messages go to. */
export interface StepQueues {
    referralsQueue: MessageSender;
    connectionsQueue: MessageSender;
}

export interface StepDependencies extends StepQueues {
    /**
     * `referral-updates`: the submit step's completion kicks the updates that waited for the create (updateStep.ts).
     * Absent where no step completes (tools that only send messages).
     */
    updatesQueue?: MessageSender;
    store: ReferralStore;
    partnerApi: PartnerReferralsApi;
    retry: RetryConfig;
    /** How long a claim holds the step: longer than the worst case of one attempt (lookup + create). */
    leaseMs: number;
    /** PARTNER_API_SETTLE_MS: how long after an uncertain create ended a lookup's "not there" is believed. */
    settleMs: number;
    /**
     * DUPLICATE_CHECK_DELAY_MS: how long after the referral is done its duplicate check runs (duplicateCheck.ts).
     * Absent where no check is scheduled (tools that only send messages, tests of the steps alone).
     */
    duplicateCheckDelayMs?: number;
    now: () => Date;
    random: () => number;
}

export interface StepDefinition {
    name: StepName;
    /** The status the record must have for this step to start. */
    startsFrom: LifecycleStatus;
    working: LifecycleStatus;
    done: LifecycleStatus;
    /** Where the Partner API's answer is kept on the record. */
    result: 'partnerReferral' | 'connectedReferral';
    /** Whether this record takes part in the step at all (connect: Shared referrals only). */
    applies(record: ReferralRecord): boolean;
    body(record: ReferralRecord): object;
    /** Where a referral an earlier attempt created would be listed, and what it must be to be ours. */
    search(record: ReferralRecord): { key: CandidateKey; expected: OwnershipExpectation };
    /** Why a referral the API answered (created or adopted) must not be recorded as this step's result, if so. */
    check?(record: ReferralRecord, referral: PartnerReferral): StepProblem | undefined;
    /** The message that runs this step again (attempt `record.attempts + 1`), no earlier than `notBefore`. */
    message(record: ReferralRecord, reason: RunReason, notBefore: Date): ServiceBusMessage;
    queue(queues: StepQueues): MessageSender;
    /** Runs after the step is done, on every delivery that finds it done (it must be idempotent). */
    afterDone?(record: ReferralRecord, deps: StepDependencies): Promise<void>;
}

/** A referral answer the step refuses: retried as an uncertain attempt, or (`retry` false) the referral is Failed. */
export interface StepProblem {
    code: string;
    message: string;
    retry: boolean;
}

export type StepOutcome =
    | 'created'
    | 'adopted'
    | 'ambiguous'
    | 'settling'
    | 'alreadyDone'
    | 'notApplicable'
    | 'waitingForLease'
    | 'waitingForRetryTime'
    | 'retryScheduled'
    | 'held'
    | 'rejected'
    | 'failed'
    | 'superseded';

/**
 * Schedules the later duplicate check of a referral whose last step is done, DUPLICATE_CHECK_DELAY_MS from now, on
 * the referrals queue. Every delivery that finds the step done sends it again: the same messageId, so the queue keeps
 * one, and a check that runs twice adds nothing.
 */
export async function scheduleDuplicateCheck(record: ReferralRecord, deps: StepDependencies): Promise<void> {
    if (deps.duplicateCheckDelayMs === undefined) return;
    const notBefore = new Date(deps.now().getTime() + deps.duplicateCheckDelayMs);
    await deps.referralsQueue.send(
        duplicateCheckMessage({ key: record.id, correlationId: record.correlationId, run: { attempt: 1, notBefore } }),
    );
}

/** The attempt's calls end this long before its lease does (at most a quarter of the lease), leaving the writes room. */
export const LEASE_MARGIN_MS = 15_000;

/** When the attempt's Partner API calls must be over: safely before the lease runs out. */
export function attemptDeadline(leaseUntil: string, leaseMs: number): Date {
    return new Date(Date.parse(leaseUntil) - Math.min(LEASE_MARGIN_MS, leaseMs / 4));
}

/**
 * When the attempt that may have created the referral started. A worker that died holding the step started before
 * its lease ran out: the lease's end is a safe (late) stand-in. Records written before `uncertainSince` existed
 * fall back to their last change, which came after the attempt started.
 */
function uncertainSinceOf(record: ReferralRecord, deadLease: boolean): string {
    if (deadLease && record.leaseUntil) return record.leaseUntil;
    return record.uncertainSince ?? record.updatedAt;
}

/** The message that asks for attempt `record.attempts + 1` of the step, no earlier than `notBefore`. */
function retryMessage(step: StepDefinition, record: ReferralRecord, notBefore: Date): ServiceBusMessage {
    return step.message(record, { kind: 'retry', attempt: record.attempts + 1 }, notBefore);
}

/** `known`: the record as this delivery has just read or created it (admission), so the step need not read it. */
export async function runStep(
    step: StepDefinition,
    key: string,
    correlationId: string,
    deps: StepDependencies,
    log: EventLogger,
    known?: StoredRecord,
): Promise<StepOutcome> {
    const fields: LogFields = { referralKey: key, correlationId };
    return updateWithRetry<StepOutcome>(deps.store, key, {
        known,
        missing() {
            throw new Error(`No record for referral ${key}.`);
        },
        contended() {
            log.event('warn', `${step.name}.contended`, fields);
            return new Error(`Referral ${key} kept changing under ${step.name}; the delivery will be retried.`);
        },
        async decide(record) {
            if (record.status === step.done) {
                await step.afterDone?.(record, deps);
                return { answer: 'alreadyDone' };
            }
            if ((record.status !== step.startsFrom && record.status !== step.working) || !step.applies(record)) {
                return { answer: 'notApplicable' };
            }

            const now = deps.now();
            if (record.status === step.working && record.leaseUntil && new Date(record.leaseUntil) > now) {
                const at = new Date(new Date(record.leaseUntil).getTime() + 1000);
                await step
                    .queue(deps)
                    .send(step.message(record, { kind: 'leaseWait', leaseUntil: record.leaseUntil }, at));
                log.event('info', `${step.name}.waitingForLease`, { ...fields, delayMs: at.getTime() - now.getTime() });
                return { answer: 'waitingForLease' };
            }
            if (record.notBefore && new Date(record.notBefore) > now) {
                // Same messageId as the retry already scheduled for this attempt: the queue keeps only one of them.
                await step.queue(deps).send(retryMessage(step, record, new Date(record.notBefore)));
                log.event('info', `${step.name}.waitingForRetryTime`, fields);
                return { answer: 'waitingForRetryTime' };
            }

            // An expired lease means the worker that held it died mid-attempt: what it did is unknown. The flag
            // also survives a replay (Failed → Queued/Submitted), so a replayed step still looks before it creates.
            const deadLease = record.status === step.working && record.leaseUntil !== null;
            const uncertainSince =
                record.lastAttemptUncertain || deadLease ? uncertainSinceOf(record, deadLease) : undefined;
            const continuing = record.status === step.working;
            const claim = transition(record, step.working, now, {
                attempts: continuing ? record.attempts + 1 : 1,
                // A lookup searches from when the step first began, however long ago that was (a replay, hours later).
                stepStartedAt:
                    (continuing || uncertainSince) && record.stepStartedAt ? record.stepStartedAt : now.toISOString(),
                leaseUntil: new Date(now.getTime() + deps.leaseMs).toISOString(),
                notBefore: null,
            });
            return {
                write: claim,
                afterWrite: (claimed) => {
                    const sentCorrelationId = partnerCorrelationId(correlationId);
                    log.event('info', `${step.name}.attempt`, {
                        ...fields,
                        from: record.status,
                        to: step.working,
                        attempt: claim.attempts,
                        // The MS-CorrelationId the Partner API sees, when it is not ours as is (a non-GUID id).
                        ...(sentCorrelationId === correlationId ? {} : { partnerCorrelationId: sentCorrelationId }),
                    });
                    const run = {
                        step,
                        claimed,
                        correlationId,
                        deps,
                        log,
                        fields,
                    };
                    return attempt(run, uncertainSince);
                },
            };
        },
    });
}

/** One claimed attempt of a step: what it works on and reports with. */
interface StepRun {
    step: StepDefinition;
    /** The record as this delivery last wrote it: the claim, then its lease renewals (writeUnderLease). */
    claimed: StoredRecord;
    correlationId: string;
    deps: StepDependencies;
    log: EventLogger;
    fields: LogFields;
}

/** Conflict rounds of one lease-fenced write before the delivery gives up (and is retried). */
const MAX_LEASE_WRITE_ROUNDS = 5;

/**
 * Writes what the attempt came to: `build` applied to the record as this delivery holds it. The step is fenced by
 * its lease, not by the whole document's etag: other writers change the record while an attempt runs without taking
 * the step (an update accepted, a change seen at Partner Center, an event published), and their writes only make the
 * etag stale. So a refused write reads the record again and, while the step is still this delivery's (the same
 * working status, attempt and lease), builds on the fresh record, keeping the others' changes. Another delivery's
 * claim, or a record gone, supersedes the attempt: undefined.
 */
async function writeUnderLease(
    run: StepRun,
    build: (record: ReferralRecord) => ReferralRecord,
): Promise<StoredRecord | undefined> {
    const held = run.claimed.record;
    let current: StoredRecord | undefined = run.claimed;
    for (let round = 0; round < MAX_LEASE_WRITE_ROUNDS; round++) {
        const written = await run.deps.store.replace(build(current.record), current.etag);
        if (written.replaced) {
            run.claimed = written.stored;
            return written.stored;
        }
        current = await run.deps.store.read(held.id);
        if (
            !current ||
            current.record.status !== held.status ||
            current.record.attempts !== held.attempts ||
            current.record.leaseUntil !== held.leaseUntil
        ) {
            return undefined;
        }
    }
    throw new Error(`Referral ${held.id} kept changing under ${run.step.name}; the delivery will be retried.`);
}

/**
 * Keeps the claimed step's lease while the attempt's Partner API calls run (lookup pages, a slow create): every
 * third of the lease, a lease-fenced write (writeUnderLease) moves `leaseUntil` a whole lease on, and the attempt
 * carries on with the new etag (`run.claimed`) and a deadline that many seconds later. Only `leaseUntil` changes:
 * `updatedAt` stays the claim's time, which is when the attempt started. A renewal refused because another delivery
 * took the step aborts the attempt's remaining calls (the context's signal), and its own writes then find the step
 * taken (superseded). A renewal that fails (Cosmos DB unreachable) keeps the deadline it had and tries again at the
 * next tick.
 */
function keepLease(run: StepRun, context: PartnerApiCallContext): { stop(): Promise<void> } {
    const { deps } = run;
    const lost = new AbortController();
    context.signal = context.signal ? AbortSignal.any([context.signal, lost.signal]) : lost.signal;
    let renewing: Promise<void> = Promise.resolve();
    const renew = async () => {
        const leaseUntil = new Date(deps.now().getTime() + deps.leaseMs).toISOString();
        const written = await writeUnderLease(run, (record) => ({ ...record, leaseUntil }));
        if (!written) {
            run.log.event('warn', `${run.step.name}.leaseLost`, run.fields);
            lost.abort();
            clearInterval(timer);
            return;
        }
        context.deadline = attemptDeadline(leaseUntil, deps.leaseMs);
    };
    const timer = setInterval(() => {
        renewing = renewing.then(renew).catch(() => undefined);
    }, deps.leaseMs / 3);
    return {
        async stop() {
            clearInterval(timer);
            // The attempt's writes use the etag of the last renewal, so they wait for one under way.
            await renewing;
        },
    };
}

/** What an attempt's Partner API calls came to, before anything is written. */
type CallsResult =
    | { kind: 'ambiguous'; count: number }
    | { kind: 'found'; referral: PartnerReferral; outcome: 'created' | 'adopted' }
    | { kind: 'settling'; settledAt: Date }
    | { kind: 'failed'; error: PartnerApiError; mayHaveCreatedSince: string | undefined };

/**
 * One attempt. `uncertainSince`: an earlier attempt, started then, may have created the referral; look it up first,
 * and create again only once a lookup made PARTNER_API_SETTLE_MS after that time found nothing. The calls run under
 * a kept lease (keepLease); the record is written once they are over.
 */
async function attempt(run: StepRun, uncertainSince: string | undefined): Promise<StepOutcome> {
    const { step, deps, log, fields } = run;
    const { record } = run.claimed;
    const context: PartnerApiCallContext = {
        correlationId: run.correlationId,
        createRequestId: createRequestId(record.id, step.name),
        deadline: attemptDeadline(record.leaseUntil!, deps.leaseMs),
    };
    const started = Date.now();
    const lease = keepLease(run, context);
    let result: CallsResult;
    try {
        result = await callPartnerApi(run, context, uncertainSince);
    } finally {
        await lease.stop();
    }
    try {
        switch (result.kind) {
            case 'ambiguous':
                return await stop(run, ambiguity(step.name, result.count), true);
            case 'settling':
                return await awaitSettling(run, uncertainSince!, result.settledAt);
            case 'found': {
                const { referral, outcome } = result;
                const ids = { partnerReferralId: referral.id, engagementId: referral.engagementId };
                if (outcome === 'adopted') log.event('info', `${step.name}.adopted`, { ...fields, ...ids });
                else log.event('info', `${step.name}.created`, { ...fields, ...ids, durationMs: Date.now() - started });
                return await finish(run, referral, outcome);
            }
            case 'failed':
                return await handleFailure(run, result.error, result.mayHaveCreatedSince, Date.now() - started);
        }
    } catch (error) {
        // A created or adopted referral that `check` refused: retried, as an attempt of unknown outcome.
        if (!(error instanceof PartnerApiError)) throw error;
        return handleFailure(run, error, undefined, Date.now() - started);
    }
}

/** The attempt's Partner API calls: look up what an earlier attempt may have made, else create. */
async function callPartnerApi(
    run: StepRun,
    context: PartnerApiCallContext,
    uncertainSince: string | undefined,
): Promise<CallsResult> {
    const { step, deps } = run;
    // Until a lookup has settled the question, an earlier attempt may still have created the referral.
    let mayHaveCreatedSince = uncertainSince;
    try {
        if (uncertainSince) {
            const lookedAt = deps.now();
            const verdict = await lookUp(run, context);
            if (verdict.verdict === 'ambiguous') return { kind: 'ambiguous', count: verdict.count };
            if (verdict.verdict === 'ours') return { kind: 'found', referral: verdict.referral, outcome: 'adopted' };
            const settledAt = new Date(Date.parse(uncertainSince) + deps.settleMs);
            if (lookedAt < settledAt) return { kind: 'settling', settledAt };
        }
        // Settled: nothing earlier was created. A create without an answer makes this attempt the uncertain one.
        mayHaveCreatedSince = undefined;
        const created = await deps.partnerApi.createReferral(step.body(run.claimed.record), context);
        return { kind: 'found', referral: created, outcome: 'created' };
    } catch (error) {
        if (!(error instanceof PartnerApiError)) throw error;
        return { kind: 'failed', error, mayHaveCreatedSince };
    }
}

/** The referrals an earlier attempt may have made, judged on the client: only one provably ours is adopted. */
async function lookUp(run: StepRun, context: PartnerApiCallContext) {
    const { record } = run.claimed;
    const { key, expected } = run.step.search(record);
    const since = new Date(record.stepStartedAt ?? record.createdAt);
    const { candidates } = await run.deps.partnerApi.findCandidates({ ...key, since }, context);
    return judgeCandidates(expected, candidates);
}

function ambiguity(step: StepName, count: number): RecordedError {
    return {
        code: 'AmbiguousPartnerReferral',
        message:
            `${count} referral(s) at the Partner API could be this one and none is provably ours, so none was ` +
            'adopted. Check them at Partner Center before replaying.',
        step,
    };
}

/** The lookup found nothing yet, but too early to believe it: look again at `settledAt`, still uncertain. */
async function awaitSettling(run: StepRun, uncertainSince: string, settledAt: Date): Promise<StepOutcome> {
    const { step, deps, log, fields } = run;
    const written = await writeUnderLease(run, (record) =>
        transition(record, record.status, deps.now(), {
            leaseUntil: null,
            notBefore: settledAt.toISOString(),
            lastAttemptUncertain: true,
            uncertainSince,
        }),
    );
    if (!written) return 'superseded';
    await step.queue(deps).send(retryMessage(step, written.record, settledAt));
    log.event('info', `${step.name}.settling`, { ...fields, delayMs: settledAt.getTime() - deps.now().getTime() });
    return 'settling';
}

/**
 * Stops the step for the operator: Failed with `error`. `uncertain`: the referral may exist at the Partner API,
 * so a replay looks it up again before creating anything.
 */
async function stop(
    run: StepRun,
    error: RecordedError,
    uncertain: boolean,
    referral?: PartnerReferral,
): Promise<StepOutcome> {
    const { step, deps, log, fields } = run;
    const written = await writeUnderLease(run, (record) =>
        transition(record, 'Failed', deps.now(), {
            ...(referral ? { [step.result]: summarize(referral) } : {}),
            leaseUntil: null,
            notBefore: null,
            lastAttemptUncertain: uncertain,
            error,
        }),
    );
    if (!written) return 'superseded';
    const ambiguous = error.code === 'AmbiguousPartnerReferral';
    log.event('error', `${step.name}.${ambiguous ? 'ambiguous' : 'failed'}`, {
        ...fields,
        errorCode: error.code,
        partnerReferralId: referral?.id,
        from: step.working,
        to: 'Failed',
    });
    return ambiguous ? 'ambiguous' : 'failed';
}

/** Records the referral as the step's result, once `check` has accepted it. */
async function finish(run: StepRun, referral: PartnerReferral, outcome: 'created' | 'adopted'): Promise<StepOutcome> {
    const { step, claimed, deps, log, fields } = run;
    const problem = step.check?.(claimed.record, referral);
    if (problem?.retry) {
        // Not what was asked for (an answer to another request): ours may or may not exist, so look before creating.
        throw new PartnerApiError({
            kind: 'invalidResponse',
            verdict: 'transient',
            operation: 'createReferral',
            code: problem.code,
            apiMessage: problem.message,
            outcomeUnknown: true,
        });
    }
    if (problem) return stop(run, { code: problem.code, message: problem.message, step: step.name }, false, referral);
    const written = await writeUnderLease(run, (record) =>
        transition(record, step.done, deps.now(), {
            [step.result]: summarize(referral),
            leaseUntil: null,
            notBefore: null,
            lastAttemptUncertain: false,
            uncertainSince: null,
            error: null,
        }),
    );
    if (!written) {
        // Our lease ran out and another delivery claimed the step: it will find this referral by lookup.
        log.event('warn', `${step.name}.leaseLost`, { ...fields, partnerReferralId: referral.id });
        return 'superseded';
    }
    log.event('info', 'referral.transition', { ...fields, from: step.working, to: step.done });
    await step.afterDone?.(written.record, deps);
    return outcome;
}

/** 401/403 and token failures are ours to fix (consent, roles), never the referral's fault: hold it, and alert. */
function isAuthProblem(error: PartnerApiError): boolean {
    return error.kind === 'auth' || error.status === 401 || error.status === 403;
}

/** The code a failure is recorded and logged under: the Partner API's own, else the HTTP status, else its kind. */
function failureCode(error: PartnerApiError): string {
    return error.code ?? (error.status ? `HTTP${error.status}` : error.kind);
}

/** The error code of a referral held because the Partner API refuses our credentials (visible on its status). */
export const WAITING_FOR_CONSENT = 'WaitingForConsent';

export interface FailureDecision {
    next: ReferralRecord;
    outcome: 'rejected' | 'failed' | 'retryScheduled' | 'held';
    /** For a scheduled retry or a hold: how long until it may run. */
    delayMs?: number;
}

type RetryWindow = NonNullable<ReferralRecord['retryWindow']>;

/**
 * The retry window of the step the claimed record is in, as of `now`: it began when the record entered its working
 * status (the step's first claim, or a replay), and grows by the time held for auth failures (a hold still going on
 * counts up to now).
 */
function retryWindowOf(record: ReferralRecord, now: Date): RetryWindow {
    // The record's own last transition: updates applied and changes seen at Partner Center have entries too.
    const entered = record.history.findLast((entry) => !('update' in entry) && !('referral' in entry));
    const from = entered?.at ?? record.stepStartedAt ?? record.updatedAt;
    const window = record.retryWindow?.from === from ? record.retryWindow : { from, heldMs: 0 };
    if (!window.heldSince) return window;
    return { from, heldMs: window.heldMs + Math.max(0, now.getTime() - Date.parse(window.heldSince)) };
}

/**
 * What a failed attempt leaves on the claimed record (its status is the step's working status):
 * - a permanent 4xx rejects the referral (never an auth problem, which is ours to fix);
 * - an auth problem holds it: the next attempt after the back-off, and the time held (from an auth failure to the
 *   next failure) is added to the window, so however long consent takes to fix, the referral never fails for it
 *   (`WaitingForConsent` on its status meanwhile);
 * - any other failure schedules the next attempt (capped back-off, never before Retry-After up to its cap) while the
 *   retry window (`retry.windowMs` from the step's start, plus time held) lasts, and fails the referral after it.
 * `uncertain`: the attempt may have created the referral, so the next one looks it up first.
 */
export function decideFailure(
    record: ReferralRecord,
    error: PartnerApiError,
    uncertain: boolean,
    retry: RetryConfig,
    now: Date,
    random: () => number,
): FailureDecision {
    const code = failureCode(error);
    const message = redactSubmittedValues(error.apiMessage ?? error.message, record.request);
    const auth = isAuthProblem(error);
    if (error.verdict === 'permanent' && !auth) {
        return {
            next: transition(record, 'Rejected', now, { leaseUntil: null, error: { code, message } }),
            outcome: 'rejected',
        };
    }
    const window = retryWindowOf(record, now);
    const delayMs = retryDelayMs(record.attempts, error.retryAfterMs, retry, random);
    const deadline = Date.parse(window.from) + retry.windowMs + window.heldMs;
    if (!auth && now.getTime() + delayMs > deadline) {
        return {
            next: transition(record, 'Failed', now, {
                leaseUntil: null,
                lastAttemptUncertain: uncertain,
                retryWindow: window,
                error: {
                    code: 'RetriesExhausted',
                    message: `Gave up after ${record.attempts} attempts over the retry window; last error ${code}: ${message}`,
                },
            }),
            outcome: 'failed',
        };
    }
    return {
        next: transition(record, record.status, now, {
            leaseUntil: null,
            notBefore: new Date(now.getTime() + delayMs).toISOString(),
            lastAttemptUncertain: uncertain,
            // Held from now on (the time held so far is in `heldMs`): the next failure adds the rest to the window.
            retryWindow: auth ? { ...window, heldSince: now.toISOString() } : window,
            error: auth
                ? {
                      code: WAITING_FOR_CONSENT,
                      message: `The Partner API refused our credentials (${code}): ${message}`,
                  }
                : { code, message },
        }),
        outcome: auth ? 'held' : 'retryScheduled',
        delayMs,
    };
}

/**
 * `mayHaveCreatedSince`: when the attempt that may have created the referral started, if one may have (an earlier
 * attempt not yet settled by a lookup, or this one's create without an answer).
 */
async function handleFailure(
    run: StepRun,
    error: PartnerApiError,
    mayHaveCreatedSince: string | undefined,
    durationMs: number,
): Promise<StepOutcome> {
    const { step, deps, log } = run;
    const { record } = run.claimed;
    const failure: LogFields = {
        ...run.fields,
        durationMs,
        errorCode: failureCode(error),
        httpStatus: error.status,
        attempt: record.attempts,
    };
    if (isAuthProblem(error)) log.event('error', 'partnerApi.authFailed', failure);
    if (error.retryAfterMs !== undefined && error.retryAfterMs > RETRY_AFTER_CAP_MS) {
        log.event('warn', `${step.name}.retryAfterCapped`, { ...failure, retryAfterMs: error.retryAfterMs });
    }

    const now = deps.now();
    // Counted from when the create was given up on, not from the attempt's start: the call may have waited at the
    // rate-limit gate, up to the attempt's deadline, before it was sent, and a late commit follows the sending.
    const uncertainSince = error.outcomeUnknown ? now.toISOString() : mayHaveCreatedSince;
    const delayRoll = deps.random();
    let decision: FailureDecision | undefined;
    const written = await writeUnderLease(run, (current) => {
        decision = decideFailure(current, error, uncertainSince !== undefined, deps.retry, now, () => delayRoll);
        // Which step failed (a connect failure keeps the partner referral), and since when the outcome is in doubt.
        return {
            ...decision.next,
            uncertainSince: uncertainSince ?? null,
            error: decision.next.error && { ...decision.next.error, step: step.name },
        };
    });
    if (!written || !decision) return 'superseded';
    const { outcome, delayMs } = decision;
    const next = written.record;
    if (next.notBefore) await step.queue(deps).send(retryMessage(step, next, new Date(next.notBefore)));
    log.event(outcome === 'rejected' || outcome === 'failed' ? 'error' : 'warn', `${step.name}.${outcome}`, {
        ...failure,
        delayMs,
        from: step.working,
        to: next.status,
    });
    return outcome;
}
