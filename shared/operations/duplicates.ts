/**
 * Duplicates: what an operator does with the copies the later duplicate check reported (shared/pipeline/
 * duplicateCheck.ts), through `npm run duplicates` (scripts/duplicates.ts).
 *
 * `list` reads the records that report copies. `close` closes one copy at Partner Center as `Closed`/`Lost` with the
 * documented `statusReason` "Duplicate" (reference/partner-api.md: "A descriptive message about the status. Example:
 * Why was the referral lost?"; no coded reason field is documented, and `notes` is not used because it carries the
 * partner's own text, which may name the customer), then records the copy as closed.
 *
 * The decisions are made here, before and during the close, never on the operator's word alone:
 * - only a copy the record reports can be closed, never one of the referrals the record keeps (its partner and
 *   connected referral), and only one at a time (`--referral` chooses when there are several);
 * - the copy is read first (GET) and patched with `If-Match` its eTag; a 412 (someone changed it at Partner Center
 *   meanwhile) reads it again and decides afresh, a few times at most;
 * - a copy already Closed at Partner Center (an earlier close whose answer was lost, or a seller's) is not patched
 *   again: it is recorded as closed, so running the same close twice is harmless.
 * Nothing here reads or prints customer data: keys, Partner Center ids and statuses only.
 */
import type { Container } from '@azure/cosmos';

import { type PartnerApiCallContext, PartnerApiError, type PartnerReferral } from '../partnerApi';
import type { PartnerReferralUpdatesApi } from '../pipeline/updateStep';
import { duplicatesOf, keptIds, withDuplicateClosed } from '../referral/duplicates';
import type { DuplicateReferral, LifecycleStatus } from '../referral/record';
import type { JsonPatch } from '../referral/request/jsonPatch';
import { type ReferralStore, updateWithRetry } from '../referral/store';

/** The closing reason written to the copy's `statusReason`. */
export const DUPLICATE_REASON = 'Duplicate';

/** The JSON Patch that closes a copy: Closed/Lost, reason "Duplicate" (`add` sets statusReason, present or not). */
export const CLOSE_AS_DUPLICATE: JsonPatch = [
    { op: 'replace', path: '/status', value: 'Closed' },
    { op: 'replace', path: '/substatus', value: 'Lost' },
    { op: 'add', path: '/statusReason', value: DUPLICATE_REASON },
];

/** Reads after a 412 before the close gives up (someone keeps changing the copy at Partner Center). */
export const MAX_CLOSE_ROUNDS = 3;

export interface DuplicatesDependencies {
    store: ReferralStore;
    /** The keys of the records that report at least one copy. */
    keysWithDuplicates(): Promise<string[]>;
    /** The copy read before it is closed, and the close itself (the applier's calls). */
    partnerApi: PartnerReferralUpdatesApi;
    now: () => Date;
}

/** One reported copy, as `list` shows it. */
export interface DuplicateListing {
    key: string;
    /** The record's lifecycle status. */
    status: LifecycleStatus;
    /** The referral it copies (the one the record keeps). */
    keptId: string | null;
    duplicate: DuplicateReferral;
}

/** Every copy the records report, open ones first, then by key. */
export async function listDuplicates(deps: Pick<DuplicatesDependencies, 'store' | 'keysWithDuplicates'>) {
    const listings: DuplicateListing[] = [];
    for (const key of await deps.keysWithDuplicates()) {
        const stored = await deps.store.read(key);
        if (!stored) continue;
        const { record } = stored;
        for (const duplicate of duplicatesOf(record)) {
            const kept = duplicate.of === 'partnerReferral' ? record.partnerReferral : record.connectedReferral;
            listings.push({ key, status: record.status, keptId: kept?.id ?? null, duplicate });
        }
    }
    const open = (listing: DuplicateListing) => (listing.duplicate.status === 'Open' ? 0 : 1);
    return listings.sort((a, b) => open(a) - open(b) || a.key.localeCompare(b.key));
}

/** What `close` would do, or why it refuses. */
export type ClosePlan =
    | { kind: 'close'; key: string; duplicate: DuplicateReferral }
    | { kind: 'refused'; reason: CloseRefusal; message: string };

export type CloseRefusal = 'noRecord' | 'noDuplicates' | 'kept' | 'notReported' | 'chooseOne' | 'alreadyClosed';

function refused(reason: CloseRefusal, message: string): ClosePlan {
    return { kind: 'refused', reason, message };
}

/** Decides which copy of referral `key` a close would close (`referralId`: the one the operator named). */
export async function planClose(
    deps: Pick<DuplicatesDependencies, 'store'>,
    key: string,
    referralId?: string,
): Promise<ClosePlan> {
    const stored = await deps.store.read(key);
    if (!stored) return refused('noRecord', `No referral has the key ${key}.`);
    const { record } = stored;
    if (referralId && keptIds(record).includes(referralId)) {
        return refused('kept', `${referralId} is the referral ${key} keeps: it is never closed as a duplicate.`);
    }
    const duplicates = duplicatesOf(record);
    if (duplicates.length === 0) return refused('noDuplicates', `Referral ${key} reports no duplicate.`);
    if (referralId) {
        const named = duplicates.find((d) => d.id === referralId);
        if (!named) return refused('notReported', `${referralId} is not a duplicate referral ${key} reports.`);
        if (named.status === 'Closed') return refused('alreadyClosed', `${referralId} is closed already.`);
        return { kind: 'close', key, duplicate: named };
    }
    const open = duplicates.filter((d) => d.status === 'Open');
    if (open.length === 0) return refused('alreadyClosed', `Every duplicate referral ${key} reports is closed.`);
    if (open.length > 1) {
        const ids = open.map((d) => d.id).join(', ');
        return refused('chooseOne', `Referral ${key} reports ${open.length} open duplicates (${ids}): name one.`);
    }
    return { kind: 'close', key, duplicate: open[0]! };
}

/** What a close did: `closed` (patched now) or `alreadyClosed` (found Closed at Partner Center: only recorded). */
export interface CloseResult {
    outcome: 'closed' | 'alreadyClosed';
    key: string;
    duplicateId: string;
    /** The copy's status and substatus at Partner Center afterwards. */
    status: string | null;
    substatus: string | null;
}

/** Closes the planned copy at Partner Center (GET, then PATCH with If-Match), and records it as closed. */
export async function closeDuplicate(
    deps: DuplicatesDependencies,
    plan: Extract<ClosePlan, { kind: 'close' }>,
    correlationId: string,
): Promise<CloseResult> {
    const { key, duplicate } = plan;
    const context: PartnerApiCallContext = { correlationId };
    let closed: PartnerReferral | undefined;
    let outcome: CloseResult['outcome'] = 'closed';
    for (let round = 1; !closed; round++) {
        const current = await deps.partnerApi.getReferral(duplicate.id, context);
        if (current.status === 'Closed') {
            closed = current;
            outcome = 'alreadyClosed';
            break;
        }
        try {
            const answer = await deps.partnerApi.patchReferral(
                duplicate.id,
                CLOSE_AS_DUPLICATE,
                current.eTag ?? null,
                context,
            );
            closed = answer ?? (await deps.partnerApi.getReferral(duplicate.id, context));
        } catch (error) {
            // Changed at Partner Center since the read: read it again and decide afresh.
            const stale = error instanceof PartnerApiError && error.status === 412;
            if (!stale || round >= MAX_CLOSE_ROUNDS) throw error;
        }
    }
    if (closed.status !== 'Closed') {
        throw new Error(`Partner Center answered the close of ${duplicate.id} with status ${closed.status ?? 'none'}.`);
    }
    await updateWithRetry<void>(deps.store, key, {
        missing: () => undefined,
        contended: () => new Error(`Referral ${key} kept changing; run the close again to record it.`),
        decide(record) {
            const known = duplicatesOf(record).find((d) => d.id === duplicate.id);
            if (!known || known.status === 'Closed') return Promise.resolve({ answer: undefined });
            return Promise.resolve({
                write: withDuplicateClosed(record, duplicate.id, deps.now()),
                afterWrite: () => Promise.resolve(),
            });
        },
    });
    return {
        outcome,
        key,
        duplicateId: duplicate.id,
        status: closed.status ?? null,
        substatus: closed.substatus ?? null,
    };
}

/** The keys of the records that report copies, queried in Cosmos DB. */
export function cosmosKeysWithDuplicates(container: () => Container): () => Promise<string[]> {
    return async () => {
        const { resources } = await container()
            .items.query<{ id: string }>('SELECT c.id FROM c WHERE ARRAY_LENGTH(c.duplicates) > 0')
            .fetchAll();
        return resources.map((r) => r.id).sort();
    };
}
