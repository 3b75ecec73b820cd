/**
 * Partner Center's state flowing back into the app's records: the one code path behind the webhook's events
 * (eventDelivery.ts) and the reconciliation (reconciliation.ts). Given a referral as Partner Center now holds it, the
 * records that track its engagement are found (the referral is their partner or connected referral, or belongs to
 * their engagement), the engagement's referrals are listed, and each record takes what is newer:
 *
 * - the partner and connected referrals' summaries (status, substatus, eTag, updatedDateTime);
 * - the engagement's other referrals (`engagement`: ids, statuses and targets, no customer data);
 * - one history entry per change of status or substatus seen, with its source (webhook or reconciliation).
 *
 * Newer means a later `updatedDateTime`, or at the same time an eTag that sorts after (a fixed tie-break, so every
 * worker converges on the same state). A state that is not newer changes nothing: an older event, a lagging list or
 * a re-delivery writes nothing and adds no history entry. Writes are conditional on the record's etag (store.ts).
 */
import type { PartnerApiCallContext, PartnerReferral } from '../partnerApi/types';
import type { EventLogger } from '../platform/logging';
import {
    type EngagementReferral,
    type PartnerCenterChangeSource,
    type PartnerCenterHistoryEntry,
    type PartnerReferralSummary,
    recordPartnerCenterChange,
    type ReferralRecord,
    stepLeaseHeld,
} from '../referral/record';
import { type ReferralStore, updateWithRetry } from '../referral/store';

/** The engagement's other referrals a record keeps at most (an engagement has a handful). */
export const MAX_ENGAGEMENT_REFERRALS = 20;

export interface SyncDependencies {
    store: ReferralStore;
    partnerApi: {
        /** Every referral of the engagement (`$filter=engagementId eq '…'`, following nextLinks). */
        listEngagementReferrals(engagementId: string, context: PartnerApiCallContext): Promise<PartnerReferral[]>;
    };
    now: () => Date;
}

/** What ordering needs of a referral's state. */
type Versioned = Pick<PartnerReferralSummary, 'updatedDateTime' | 'eTag'>;

/** An ISO time as [epoch ms, the digits past the millisecond]: Partner Center writes 7 fractional digits. */
function instant(time: string | null | undefined): [number, string] | undefined {
    const ms = Date.parse(time ?? '');
    if (Number.isNaN(ms)) return undefined;
    const fraction = /\.(\d+)/.exec(time!)?.[1] ?? '';
    return [ms, fraction.slice(3).padEnd(4, '0')];
}

/** Whether `candidate` is a later state of a referral than `current` (see the module comment). */
export function isLaterState(candidate: Versioned, current: Versioned | undefined): boolean {
    if (!current) return true;
    const [next, known] = [instant(candidate.updatedDateTime), instant(current.updatedDateTime)];
    // Without a time of its own a state cannot be placed after any: it is not believed over one that has one.
    if (!next) return !known && (candidate.eTag ?? '') > (current.eTag ?? '');
    if (!known || next[0] !== known[0]) return !known || next[0] > known[0];
    if (next[1] !== known[1]) return next[1] > known[1];
    return (candidate.eTag ?? '') > (current.eTag ?? '');
}

const versionOf = (referral: PartnerReferral): Versioned => ({
    updatedDateTime: referral.updatedDateTime ?? null,
    eTag: referral.eTag ?? null,
});

/** Each referral once, in its latest state (the GET and the list may disagree: the list lags). */
function latestById(seen: readonly PartnerReferral[]): Map<string, PartnerReferral> {
    const latest = new Map<string, PartnerReferral>();
    for (const referral of seen) {
        const known = latest.get(referral.id);
        if (!known || isLaterState(versionOf(referral), versionOf(known))) latest.set(referral.id, referral);
    }
    return latest;
}

/** Each target's type and id: the rest of a target is not kept. */
function targetsOf(referral: PartnerReferral): EngagementReferral['target'] {
    const targets = Array.isArray(referral.target) ? (referral.target as unknown[]) : [];
    return targets.flatMap((target) => {
        const { type, id } = (target ?? {}) as { type?: unknown; id?: unknown };
        return typeof type === 'string' && typeof id === 'string' ? [{ type, id }] : [];
    });
}

export interface Merged {
    record: ReferralRecord;
    /** The history entries added (none when only an eTag moved on). */
    changes: PartnerCenterHistoryEntry[];
}

/**
 * The record with what `seen` holds that is newer than what it knows, or undefined when nothing is. Pure: the
 * ordering and merge rules of the module comment, and nothing else.
 */
export function mergePartnerCenterState(
    record: ReferralRecord,
    seen: readonly PartnerReferral[],
    source: PartnerCenterChangeSource,
    now: Date,
): Merged | undefined {
    const latest = latestById(seen);
    const changes: PartnerCenterHistoryEntry[] = [];
    let changed = false;
    const entry = (referral: PartnerCenterHistoryEntry['referral'], state: PartnerReferral) =>
        changes.push({
            at: state.updatedDateTime ?? now.toISOString(),
            referral,
            status: state.status ?? null,
            substatus: state.substatus ?? null,
            source,
        });

    const summary = (role: 'partner' | 'connected', known: PartnerReferralSummary | null) => {
        const state = known && latest.get(known.id);
        if (!known || !state || !isLaterState(versionOf(state), known)) return known;
        changed = true;
        const next = {
            ...known,
            status: state.status ?? null,
            substatus: state.substatus ?? null,
            ...versionOf(state),
        };
        if (next.status !== known.status || next.substatus !== known.substatus) entry(role, state);
        return next;
    };
    const partnerReferral = summary('partner', record.partnerReferral);
    const connectedReferral = summary('connected', record.connectedReferral);

    const own = new Set([partnerReferral?.id, connectedReferral?.id]);
    const engagementId = partnerReferral?.engagementId;
    // The connected referral was seen before the connect step recorded it: it is no longer another referral.
    const engagement = (record.engagement ?? []).filter(({ id }) => !own.has(id));
    if (engagement.length !== (record.engagement ?? []).length) changed = true;
    for (const state of latest.values()) {
        if (own.has(state.id) || !engagementId || state.engagementId !== engagementId) continue;
        const index = engagement.findIndex(({ id }) => id === state.id);
        const known = engagement[index];
        if (known && !isLaterState(versionOf(state), { updatedDateTime: known.updatedDateTime, eTag: null })) continue;
        const next: EngagementReferral = {
            id: state.id,
            status: state.status ?? null,
            substatus: state.substatus ?? null,
            target: targetsOf(state),
            updatedDateTime: state.updatedDateTime ?? null,
        };
        if (known && JSON.stringify(known) === JSON.stringify(next)) continue;
        if (!known && engagement.length >= MAX_ENGAGEMENT_REFERRALS) continue;
        changed = true;
        if (known) engagement[index] = next;
        else engagement.push(next);
        if (!known || known.status !== next.status || known.substatus !== next.substatus) entry('engagement', state);
    }

    if (!changed) return undefined;
    changes.sort((a, b) => a.at.localeCompare(b.at));
    // Each change seen is a history entry and an outcome event, written together with the summaries.
    const withChanges = changes.reduce((current, change) => recordPartnerCenterChange(current, change), record);
    return {
        record: { ...withChanges, partnerReferral, connectedReferral, engagement, updatedAt: now.toISOString() },
        changes,
    };
}

/**
 * Whether `record` already holds `referral` in this state or a later one (as its partner or connected referral, or
 * among its engagement's others): merging it would change nothing that the engagement's list is needed for.
 */
export function holdsState(record: ReferralRecord, referral: PartnerReferral): boolean {
    const seen = versionOf(referral);
    const own = [record.partnerReferral, record.connectedReferral].find((known) => known?.id === referral.id);
    if (own) return !isLaterState(seen, own);
    const other = record.engagement?.find((known) => known.id === referral.id);
    // The engagement's others keep no eTag: the same time is the same state.
    return other !== undefined && !isLaterState(seen, { updatedDateTime: other.updatedDateTime, eTag: seen.eTag });
}

/**
 * `busy`: a record's Submitting/Connecting step is under way (stepLeaseHeld) and was left alone: apply the change
 * again after `retryAt`, its lease's end. `held`: every record held the referral's state (SyncOptions.skipHeldState),
 * so its engagement was not listed.
 */
export type SyncOutcome = 'untracked' | 'unchanged' | 'synced' | 'busy' | 'held';

export interface SyncResult {
    outcome: SyncOutcome;
    /** For `busy`: when the step's lease runs out at the latest. */
    retryAt?: Date;
}

export class SyncContendedError extends Error {
    override readonly name = 'SyncContendedError';
}

export interface SyncOptions {
    /**
     * Leave the engagement unlisted when every record already holds `referral`'s state. Only for a caller that sees
     * each changed referral of an engagement for itself (the reconciliation's list): a webhook's event, which may
     * stand for a change of another referral of the engagement, lists it always.
     */
    skipHeldState?: boolean;
    /** With skipHeldState: the states found held before, not compared with the records again. */
    heldStates?: HeldStates;
}

/** How many held states a HeldStates keeps before it starts again (each is an id, an eTag and a time). */
export const MAX_HELD_STATES = 100_000;

/**
 * Referral states every record was found to hold. A record never goes back to an older state, so a state held once
 * stays held: the reconciliation, which reads its 5-minute overlap again every run, compares each state with Cosmos
 * DB once (a query and a read; in a bulk fault run that cost kept a run from getting past its overlap). Per process,
 * in memory; emptied when full.
 */
export class HeldStates {
    private readonly states = new Set<string>();

    constructor(private readonly limit = MAX_HELD_STATES) {}

    has(referral: PartnerReferral): boolean {
        return this.states.has(HeldStates.keyOf(referral));
    }

    add(referral: PartnerReferral): void {
        if (this.states.size >= this.limit) this.states.clear();
        this.states.add(HeldStates.keyOf(referral));
    }

    private static keyOf(referral: PartnerReferral): string {
        return `${referral.id} ${referral.eTag ?? ''} ${referral.updatedDateTime ?? ''}`;
    }
}

/**
 * Applies `referral`, as Partner Center now holds it, to every record that tracks its engagement. Partner API and
 * store failures are thrown: the caller reschedules (a webhook's event) or ends its run (the reconciliation).
 */
export async function syncReferral(
    referral: PartnerReferral,
    source: PartnerCenterChangeSource,
    deps: SyncDependencies,
    log: EventLogger,
    context: PartnerApiCallContext,
    options: SyncOptions = {},
): Promise<SyncResult> {
    const ids = { referralId: referral.id, engagementId: referral.engagementId };
    const fields = { partnerReferralId: referral.id, engagementId: referral.engagementId, source };
    if (options.skipHeldState && options.heldStates?.has(referral)) return { outcome: 'held' };
    const keys = await deps.store.findByPartnerCenterIds(ids);
    if (keys.length === 0) {
        log.event('info', 'partnerCenter.untracked', fields);
        return { outcome: 'untracked' };
    }
    if (options.skipHeldState && (await allHoldState(keys, referral, deps.store))) {
        options.heldStates?.add(referral);
        return { outcome: 'held' };
    }
    const seen = [referral, ...(await deps.partnerApi.listEngagementReferrals(referral.engagementId, context))];
    let outcome: SyncOutcome = 'unchanged';
    let retryAt: Date | undefined;
    for (const key of keys) {
        const applied = await updateWithRetry<Merged | { busyUntil: string } | undefined>(deps.store, key, {
            missing: () => undefined,
            decide: (current) => {
                const now = deps.now();
                if (stepLeaseHeld(current, now)) return Promise.resolve({ answer: { busyUntil: current.leaseUntil! } });
                const merged = mergePartnerCenterState(current, seen, source, now);
                return Promise.resolve(
                    merged
                        ? { write: merged.record, afterWrite: () => Promise.resolve(merged) }
                        : { answer: undefined },
                );
            },
            contended: () => new SyncContendedError(`Referral ${key} kept changing while it was synced.`),
        });
        if (!applied) continue;
        if ('busyUntil' in applied) {
            const until = new Date(applied.busyUntil);
            retryAt = retryAt && retryAt > until ? retryAt : until;
            log.event('info', 'partnerCenter.stepInProgress', { ...fields, referralKey: key });
            continue;
        }
        if (outcome === 'unchanged') outcome = 'synced';
        log.event('info', 'partnerCenter.synced', { ...fields, referralKey: key, count: applied.changes.length });
    }
    return retryAt ? { outcome: 'busy', retryAt } : { outcome };
}

async function allHoldState(keys: readonly string[], referral: PartnerReferral, store: ReferralStore) {
    for (const key of keys) {
        const stored = await store.read(key);
        if (!stored || !holdsState(stored.record, referral)) return false;
    }
    return true;
}
