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
 *      the Partner API and adopt it;
 *    - else create it, and record the answer.
 * 5. A transient failure re-sends the message scheduled no earlier than Retry-After (a new, deterministic messageId
 *    per attempt) and completes this one; after `maxAttempts` the referral is Failed. A permanent 4xx is Rejected.
 *
 * "Come back later" is a scheduled copy of the message, never a sleep: a worker never holds a lock while waiting.
 */
import type { ServiceBusMessage } from '@azure/service-bus';

import { type PartnerApiCallContext, PartnerApiError, type PartnerReferral } from '../partnerApi';
import type { RetryConfig } from '../platform/config';
import { type EventLogger, type LogFields, redactSubmittedValues } from '../platform/logging';
import type { MessageSender } from '../platform/serviceBus';
import { type LifecycleStatus, type PartnerReferralSummary, type ReferralRecord, transition } from '../referral/record';
import type { ReferralStore, StoredRecord } from '../referral/store';
import { retryDelayMs } from './backoff';

/** The two Partner API calls a step makes. */
export interface PartnerReferralsApi {
    createReferral(referral: object, context: PartnerApiCallContext): Promise<PartnerReferral>;
    listAllReferrals(
        query: { filter: { engagementId?: string; externalReferenceId?: string; type?: 'Independent' | 'Shared' } },
        context: PartnerApiCallContext,
    ): Promise<PartnerReferral[]>;
}

export interface StepDependencies {
    store: ReferralStore;
    partnerApi: PartnerReferralsApi;
    referralsQueue: MessageSender;
    connectionsQueue: MessageSender;
    retry: RetryConfig;
    /** How long a claim holds the step: longer than the worst case of one attempt (lookup + create). */
    leaseMs: number;
    now: () => Date;
    random: () => number;
}

export interface StepDefinition {
    name: 'submit' | 'connect';
    /** The status the record must have for this step to start. */
    startsFrom: LifecycleStatus;
    working: LifecycleStatus;
    done: LifecycleStatus;
    /** Where the Partner API's answer is kept on the record. */
    result: 'partnerReferral' | 'connectedReferral';
    /** Whether this record takes part in the step at all (connect: Shared referrals only). */
    applies(record: ReferralRecord): boolean;
    body(record: ReferralRecord): object;
    /** A referral an earlier attempt created although its answer was lost, if any. */
    lookup(
        record: ReferralRecord,
        api: PartnerReferralsApi,
        context: PartnerApiCallContext,
    ): Promise<PartnerReferral | undefined>;
    /** The message that runs this step again, no earlier than `notBefore`. */
    message(record: ReferralRecord, suffix: string | undefined, notBefore: Date): ServiceBusMessage;
    queue(deps: StepDependencies): MessageSender;
    /** Runs after the step is done, on every delivery that finds it done (it must be idempotent). */
    afterDone?(record: ReferralRecord, deps: StepDependencies): Promise<void>;
}

export type StepOutcome =
    | 'created'
    | 'adopted'
    | 'alreadyDone'
    | 'notApplicable'
    | 'waitingForLease'
    | 'waitingForRetryTime'
    | 'retryScheduled'
    | 'rejected'
    | 'failed'
    | 'superseded';

const MAX_CONFLICT_ROUNDS = 5;

export function summarize(referral: PartnerReferral): PartnerReferralSummary {
    return {
        id: referral.id,
        engagementId: referral.engagementId,
        status: referral.status ?? null,
        substatus: referral.substatus ?? null,
        eTag: referral.eTag ?? null,
        createdDateTime: referral.createdDateTime ?? null,
    };
}

/** 401/403 and token failures are ours to fix (consent, roles), never the referral's fault: retry, and alert. */
function isAuthProblem(error: PartnerApiError): boolean {
    return error.kind === 'auth' || error.status === 401 || error.status === 403;
}

export async function runStep(
    step: StepDefinition,
    key: string,
    correlationId: string,
    deps: StepDependencies,
    log: EventLogger,
): Promise<StepOutcome> {
    const fields: LogFields = { referralKey: key, correlationId };
    for (let round = 0; round < MAX_CONFLICT_ROUNDS; round++) {
        const stored = await deps.store.read(key);
        if (!stored) throw new Error(`No record for referral ${key}.`);
        const { record } = stored;
        if (record.status === step.done) {
            await step.afterDone?.(record, deps);
            return 'alreadyDone';
        }
        if ((record.status !== step.startsFrom && record.status !== step.working) || !step.applies(record)) {
            return 'notApplicable';
        }

        const now = deps.now();
        if (record.status === step.working && record.leaseUntil && new Date(record.leaseUntil) > now) {
            const at = new Date(new Date(record.leaseUntil).getTime() + 1000);
            await step.queue(deps).send(step.message(record, `w${Date.parse(record.leaseUntil)}`, at));
            log.event('info', `${step.name}.waitingForLease`, { ...fields, delayMs: at.getTime() - now.getTime() });
            return 'waitingForLease';
        }
        if (record.notBefore && new Date(record.notBefore) > now) {
            // Same messageId as the retry already scheduled for this attempt: the queue keeps only one of them.
            await step.queue(deps).send(step.message(record, `r${record.attempts + 1}`, new Date(record.notBefore)));
            log.event('info', `${step.name}.waitingForRetryTime`, fields);
            return 'waitingForRetryTime';
        }

        // An expired lease means the worker that held it died mid-attempt: what it did is unknown. The flag also
        // survives a replay (Failed → Queued/Submitted), so a replayed step still looks before it creates.
        const uncertain = record.lastAttemptUncertain || (record.status === step.working && record.leaseUntil !== null);
        const continuing = record.status === step.working;
        const claim = transition(record, step.working, now, {
            attempts: continuing ? record.attempts + 1 : 1,
            // A lookup searches from when the step first began, however long ago that was (a replay, hours later).
            stepStartedAt: (continuing || uncertain) && record.stepStartedAt ? record.stepStartedAt : now.toISOString(),
            leaseUntil: new Date(now.getTime() + deps.leaseMs).toISOString(),
            notBefore: null,
        });
        const claimed = await deps.store.replace(claim, stored.etag);
        if (!claimed.replaced) continue;
        log.event('info', `${step.name}.attempt`, {
            ...fields,
            from: record.status,
            to: step.working,
            attempt: claim.attempts,
        });
        return attempt(step, claimed.stored, uncertain, correlationId, deps, log, fields);
    }
    log.event('warn', `${step.name}.contended`, fields);
    throw new Error(`Referral ${key} kept changing under ${step.name}; the delivery will be retried.`);
}

async function attempt(
    step: StepDefinition,
    claimed: StoredRecord,
    uncertain: boolean,
    correlationId: string,
    deps: StepDependencies,
    log: EventLogger,
    fields: LogFields,
): Promise<StepOutcome> {
    const { record } = claimed;
    const context: PartnerApiCallContext = { requestId: record.id, correlationId };
    const started = Date.now();
    // Until a lookup has answered, an earlier attempt may still have created the referral.
    let unresolved = uncertain;
    try {
        const found = uncertain ? await step.lookup(record, deps.partnerApi, context) : undefined;
        unresolved = false;
        if (found) {
            log.event('info', `${step.name}.adopted`, {
                ...fields,
                partnerReferralId: found.id,
                engagementId: found.engagementId,
            });
            return (await finish(step, claimed, found, deps, log, fields)) ? 'adopted' : 'superseded';
        }
        const created = await deps.partnerApi.createReferral(step.body(record), context);
        log.event('info', `${step.name}.created`, {
            ...fields,
            partnerReferralId: created.id,
            engagementId: created.engagementId,
            durationMs: Date.now() - started,
        });
        return (await finish(step, claimed, created, deps, log, fields)) ? 'created' : 'superseded';
    } catch (error) {
        if (!(error instanceof PartnerApiError)) throw error;
        const uncertainAfter = unresolved || error.outcomeUnknown;
        return handleFailure(step, claimed, error, uncertainAfter, deps, log, {
            ...fields,
            durationMs: Date.now() - started,
        });
    }
}

async function finish(
    step: StepDefinition,
    claimed: StoredRecord,
    referral: PartnerReferral,
    deps: StepDependencies,
    log: EventLogger,
    fields: LogFields,
): Promise<boolean> {
    const done = transition(claimed.record, step.done, deps.now(), {
        [step.result]: summarize(referral),
        leaseUntil: null,
        notBefore: null,
        lastAttemptUncertain: false,
        error: null,
    });
    const written = await deps.store.replace(done, claimed.etag);
    if (!written.replaced) {
        // Our lease ran out and another delivery claimed the step: it will find this referral by lookup.
        log.event('warn', `${step.name}.leaseLost`, { ...fields, partnerReferralId: referral.id });
        return false;
    }
    log.event('info', 'referral.transition', { ...fields, from: step.working, to: step.done });
    await step.afterDone?.(written.stored.record, deps);
    return true;
}

async function handleFailure(
    step: StepDefinition,
    claimed: StoredRecord,
    error: PartnerApiError,
    uncertain: boolean,
    deps: StepDependencies,
    log: EventLogger,
    fields: LogFields,
): Promise<StepOutcome> {
    const { record } = claimed;
    const now = deps.now();
    const code = error.code ?? (error.status ? `HTTP${error.status}` : error.kind);
    const message = redactSubmittedValues(error.apiMessage ?? error.message, record.request);
    const failure = { ...fields, errorCode: code, httpStatus: error.status, attempt: record.attempts };
    const auth = isAuthProblem(error);
    if (auth) log.event('error', 'partnerApi.authFailed', failure);

    let next: ReferralRecord;
    let outcome: StepOutcome;
    if (error.verdict === 'permanent' && !auth) {
        next = transition(record, 'Rejected', now, { leaseUntil: null, error: { code, message } });
        outcome = 'rejected';
    } else if (record.attempts >= deps.retry.maxAttempts) {
        next = transition(record, 'Failed', now, {
            leaseUntil: null,
            lastAttemptUncertain: uncertain,
            error: {
                code: 'RetriesExhausted',
                message: `Gave up after ${record.attempts} attempts; last error ${code}: ${message}`,
            },
        });
        outcome = 'failed';
    } else {
        const delayMs = retryDelayMs(record.attempts, error.retryAfterMs, deps.retry, deps.random);
        next = transition(record, step.working, now, {
            leaseUntil: null,
            notBefore: new Date(now.getTime() + delayMs).toISOString(),
            lastAttemptUncertain: uncertain,
            error: { code, message },
        });
        outcome = 'retryScheduled';
        failure.delayMs = delayMs;
    }
    const written = await deps.store.replace(next, claimed.etag);
    if (!written.replaced) return 'superseded';
    if (outcome === 'retryScheduled') {
        await step.queue(deps).send(step.message(next, `r${next.attempts + 1}`, new Date(next.notBefore!)));
    }
    log.event(outcome === 'retryScheduled' ? 'warn' : 'error', `${step.name}.${outcome}`, {
        ...failure,
        from: step.working,
        to: next.status,
    });
    return outcome;
}
