/**
 * The reconciliation: the safety net under the webhooks. Partner Center gives up on an event after 10 failed
 * deliveries, and only one URL may be registered per event, so a webhook can be lost without anyone knowing. A timer
 * (PARTNER_CENTER_RECONCILE_SCHEDULE, every 15 minutes by default) lists the referrals Partner Center changed since a
 * watermark (the documented `updatedDateTime` filter, `$orderby=updatedDateTime asc`, following `@odata.nextLink`)
 * and applies each through the webhook's own path (sync.ts), so whatever the webhooks missed arrives within a run.
 *
 * - The window starts OVERLAP_MS before the watermark: a list that lags behind writes, or two changes in the same
 *   instant, are read again rather than skipped (applying a state already known changes nothing).
 * - The watermark (reconciliationState.ts) is Partner Center's own updatedDateTime, never our clock. It moves to the
 *   latest change listed when the list was read to its end; after a failure, or with pages left over, only as far as
 *   the changes applied in an order checked to be ascending, so the next run goes on from there.
 * - One run at a time: a run takes the lease (leaseUntil, written with the document's etag) and writes the watermark
 *   with the etag of its own lease write. A run that finds the lease held skips; one whose lease was taken over (it
 *   overran its lease) writes nothing. Each referral is applied once per run per engagement (the engagement's list
 *   covers its other referrals). A record whose submit or connect step is under way ends the run there (sync.ts):
 *   the next run goes on from it.
 * - A referral whose state every record already holds costs no Partner API call (SyncOptions.skipHeldState): the
 *   overlap, and the changes the webhooks brought, are read from the list and compared with the records. Listing
 *   the engagement of each would spend the tenant's rate limit on known states, and a run under a bulk load would
 *   not get past its own overlap before its deadline. A state found held is remembered (HeldStates, per process),
 *   so the next runs' overlap does not query Cosmos DB for it again.
 * - A run stops at its deadline, `incomplete`: also when the tenant's gate refuses a wait that would pass it.
 * - A referral throttled by Partner Center (429) is applied again, up to REFERRAL_RETRIES times: the tenant's gate
 *   (partnerApi/gate.ts) holds the retry until the answer's Retry-After. Ending the run at a 429 instead would let
 *   no run progress once the overlap holds more referrals than one burst of the tenant's limit: each run starts
 *   again OVERLAP_MS before the watermark and spends its burst re-applying the same referrals. So is a referral
 *   whose Cosmos DB read or write failed transiently: a run makes hundreds of them, and one 503 in a hundred ended
 *   most runs of a fault run as failed (an alert) though Cosmos DB was up.
 */
import { PartnerApiError } from '../partnerApi/errors';
import { THROTTLED_LOCALLY } from '../partnerApi/gate';
import type { PartnerApiCallContext, PartnerReferral } from '../partnerApi/types';
import { isDependencyOutage } from '../platform/dependencyOutage';
import { errorFields, type EventLogger } from '../platform/logging';
import {
    RECONCILIATION_STATE_ID,
    type ReconciliationState,
    type ReconciliationStateStore,
    type StoredState,
} from './reconciliationState';
import { type HeldStates, type SyncDependencies, syncReferral, type SyncResult } from './sync';

/** How far before the watermark each window starts. */
export const OVERLAP_MS = 5 * 60_000;
/** The first run's window: the day before it. */
export const FIRST_WINDOW_MS = 24 * 60 * 60_000;
/** How long a run holds the lease by default (PARTNER_CENTER_RECONCILE_LEASE_MS); it stops listing at 4/5 of it. */
export const LEASE_MS = 10 * 60_000;
const RUN_LIMIT_SHARE = 0.8;
/** Pages (of up to 100 referrals) read per run at most; the next run goes on from the watermark. */
export const MAX_PAGES_PER_RUN = 50;
/** How many times a run applies again a referral Partner Center throttled or Cosmos DB failed, before the run fails. */
export const REFERRAL_RETRIES = 5;

export interface ReconciliationDependencies {
    state: ReconciliationStateStore;
    sync: SyncDependencies;
    partnerApi: {
        /** The referrals changed since `since`, oldest change first, page by page (at most `maxPages`). */
        changedSince(
            since: Date,
            context: PartnerApiCallContext,
            maxPages: number,
        ): AsyncIterable<{ value: PartnerReferral[]; nextLink?: string }>;
    };
    now: () => Date;
    /** PARTNER_CENTER_RECONCILE_LEASE_MS; LEASE_MS when absent. */
    leaseMs?: number;
    /** The states this process found held in earlier runs (one per process, kept between runs). */
    heldStates?: HeldStates;
}

export type ReconciliationOutcome = 'complete' | 'incomplete' | 'failed' | 'skipped' | 'leaseLost';

export interface ReconciliationResult {
    outcome: ReconciliationOutcome;
    /** Referrals listed. */
    listed: number;
    /** Records changed. */
    synced: number;
    watermark: string | null;
}

const initialState = (): ReconciliationState => ({
    id: RECONCILIATION_STATE_ID,
    kind: 'partnerCenterReconciliation',
    watermark: null,
    leaseUntil: null,
    lastRun: null,
});

/** The lease for this run, or undefined when another run holds it (or took it first). */
async function takeLease(
    deps: ReconciliationDependencies,
    now: Date,
    leaseMs: number,
): Promise<StoredState | undefined> {
    const current = (await deps.state.read()) ?? (await deps.state.create(initialState())) ?? (await deps.state.read());
    if (!current) return undefined;
    if (current.state.leaseUntil && Date.parse(current.state.leaseUntil) > now.getTime()) return undefined;
    const leaseUntil = new Date(now.getTime() + leaseMs).toISOString();
    return deps.state.replace({ ...current.state, leaseUntil }, current.etag);
}

/** Partner Center's 429 (not the gate's own refusal of a wait past the run's deadline: that stays so). */
function isThrottled(error: unknown): boolean {
    return error instanceof PartnerApiError && error.status === 429;
}

/** The gate's refusal of a wait past the run's deadline: the run has reached its end. */
function isPastDeadline(error: unknown): boolean {
    return error instanceof PartnerApiError && error.code === THROTTLED_LOCALLY;
}

/**
 * syncReferral, applied again after a 429 (the gate waits out its Retry-After) or a transient Cosmos DB failure, up
 * to REFERRAL_RETRIES times.
 */
async function syncWithRetries(
    referral: PartnerReferral,
    deps: ReconciliationDependencies,
    log: EventLogger,
    context: PartnerApiCallContext,
): Promise<SyncResult> {
    for (let retries = 0; ; retries++) {
        try {
            return await syncReferral(referral, 'reconciliation', deps.sync, log, context, {
                skipHeldState: true,
                heldStates: deps.heldStates,
            });
        } catch (error) {
            if (!(isThrottled(error) || isDependencyOutage(error)) || retries >= REFERRAL_RETRIES) throw error;
        }
    }
}

/** The later of two ISO times (either may be absent). */
function later(a: string | null, b: string | null | undefined): string | null {
    if (!b || Number.isNaN(Date.parse(b))) return a;
    return !a || Date.parse(b) > Date.parse(a) ? b : a;
}

export async function reconcile(deps: ReconciliationDependencies, log: EventLogger): Promise<ReconciliationResult> {
    const started = deps.now();
    const leaseMs = deps.leaseMs ?? LEASE_MS;
    const lease = await takeLease(deps, started, leaseMs);
    if (!lease) {
        log.event('info', 'reconciliation.skipped', { outcome: 'leaseHeld' });
        return { outcome: 'skipped', listed: 0, synced: 0, watermark: null };
    }
    const { watermark: previous } = lease.state;
    const since = new Date(previous ? Date.parse(previous) - OVERLAP_MS : started.getTime() - FIRST_WINDOW_MS);
    const deadline = started.getTime() + leaseMs * RUN_LIMIT_SHARE;
    const context: PartnerApiCallContext = { correlationId: `reconciliation-${started.getTime()}`, deadline };

    let outcome: ReconciliationOutcome = 'complete';
    let listed = 0;
    let synced = 0;
    /** The latest change listed, and the latest applied while the list was seen to be in ascending order. */
    let latestListed = previous;
    let appliedInOrder = previous;
    let ascending = true;
    let lastListed: string | null = null;
    const engagements = new Set<string>();
    let failure: unknown;
    try {
        pages: for await (const page of deps.partnerApi.changedSince(since, context, MAX_PAGES_PER_RUN)) {
            for (const referral of page.value) {
                if (deps.now().getTime() >= deadline) {
                    outcome = 'incomplete';
                    break pages;
                }
                if (!engagements.has(referral.engagementId)) {
                    const { outcome: applied } = await syncWithRetries(referral, deps, log, context);
                    // A step under way holds the record: the watermark stops here, the next run applies it.
                    if (applied === 'busy') {
                        outcome = 'incomplete';
                        break pages;
                    }
                    if (applied === 'synced') synced++;
                    // A held state was compared alone: a later referral of its engagement still needs the list.
                    if (applied !== 'held') engagements.add(referral.engagementId);
                }
                listed++;
                const changedAt = referral.updatedDateTime ?? null;
                if (changedAt && lastListed && Date.parse(changedAt) < Date.parse(lastListed)) ascending = false;
                lastListed = changedAt ?? lastListed;
                latestListed = later(latestListed, changedAt);
                if (ascending) appliedInOrder = later(appliedInOrder, changedAt);
            }
            outcome = page.nextLink ? 'incomplete' : 'complete';
        }
    } catch (error) {
        if (isPastDeadline(error)) outcome = 'incomplete';
        else if (error instanceof PartnerApiError || isDependencyOutage(error)) {
            outcome = 'failed';
            failure = error;
        } else throw error;
    }

    const watermark = outcome === 'complete' ? latestListed : appliedInOrder;
    const endedAt = deps.now();
    const released = await deps.state.replace(
        { ...lease.state, watermark, leaseUntil: null, lastRun: { endedAt: endedAt.toISOString(), outcome, listed } },
        lease.etag,
    );
    const fields = {
        outcome,
        count: listed,
        durationMs: endedAt.getTime() - started.getTime(),
        ...errorFields(failure),
    };
    if (!released) {
        log.event('error', 'reconciliation.leaseLost', fields);
        return { outcome: 'leaseLost', listed, synced, watermark: previous };
    }
    if (outcome === 'failed') log.event('error', 'reconciliation.failed', fields);
    else log.event('info', 'reconciliation.completed', fields);
    return { outcome, listed, synced, watermark };
}
