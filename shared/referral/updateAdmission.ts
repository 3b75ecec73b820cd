/**
 * Update admission: the one path by which an update gets onto its referral's record, whether it came through
 * PATCH /api/referrals/{id} or was published to the `referral-updates` queue (admission.ts is its twin for creates).
 *
 * One conditional write (`updateWithRetry`): the record is read, the update decided on against it, and written with
 * If-Match; when another writer got there first, it is decided again on the newer record. The update key is
 * remembered on the record: the same key with the same body is a repeat (nothing written), with another body a key
 * conflict. A new update is checked against the referral as the app last knows it (updates.ts `latestRequest`,
 * `latestStatus`) and kept Pending, in acceptance order, for the applier; one accepted while the create is still in
 * flight waits like any other. The two arrivals differ only where they must: an update refused through the intake is
 * answered (400, 409) and nothing is kept; one from the queue has no caller to answer, so it is kept as Rejected with
 * its reason (and never retried).
 *
 * A referral can no longer change when its latest known status is Closed (final at Partner Center), or when it was
 * Rejected before it ever reached Partner Center. A Failed referral still takes updates: a replay restarts it, and
 * one that failed only in its connect step already exists at Partner Center.
 */
import type { RecordedError, ReferralRecord, ReferralUpdate } from './record';
import { requestHash } from './request/canonicalJson';
import { validatePatch } from './request/patch';
import type { ListedProblems } from './request/validate';
import { type Decision, type ReferralStore, updateWithRetry } from './store';
import {
    findUpdate,
    latestRequest,
    latestStatus,
    MAX_UPDATES_PER_REFERRAL,
    newUpdate,
    updatesOf,
    withUpdate,
} from './updates';

export interface UpdateArrival {
    referralKey: string;
    updateKey: string;
    /** The parsed JSON body, as the caller or publisher sent it. */
    body: unknown;
    correlationId: string;
    source: ReferralUpdate['source'];
}

export interface UpdateAdmissionDependencies {
    store: ReferralStore;
    now: () => Date;
}

/** Why a referral takes no more updates. */
export type Finality = 'closed' | 'rejected';

type Listed = Pick<ListedProblems, 'problems' | 'problemsOmitted'>;

export type UpdateAdmission =
    | { outcome: 'unknownReferral' }
    /** Invalid, through the intake: nothing was kept. */
    | ({ outcome: 'invalid' } & Listed)
    /** The referral takes no more updates, through the intake: nothing was kept. */
    | { outcome: 'final'; finality: Finality }
    /** The record holds MAX_UPDATES_PER_REFERRAL updates already: nothing was kept. */
    | { outcome: 'full' }
    /** The update key already belongs to a different update of this referral. */
    | { outcome: 'keyConflict'; record: ReferralRecord; update: ReferralUpdate }
    /** From the queue, invalid or for a referral that takes no more updates: kept as Rejected. */
    | ({ outcome: 'rejected'; record: ReferralRecord; update: ReferralUpdate } & Listed)
    /** Kept Pending. */
    | { outcome: 'admitted'; record: ReferralRecord; update: ReferralUpdate }
    /** The same update under the same key again: as it stands on the record. */
    | { outcome: 'repeated'; record: ReferralRecord; update: ReferralUpdate };

/** Whether the referral takes no more updates, and why (see the module comment). */
export function finalityOf(record: ReferralRecord): Finality | undefined {
    if (latestStatus(record) === 'Closed') return 'closed';
    if (record.status === 'Rejected' && !record.partnerReferral) return 'rejected';
    return undefined;
}

const FINALITY_ERRORS: Record<Finality, RecordedError> = {
    closed: { code: 'ReferralClosed', message: 'The referral is Closed: nothing may change after Closed.' },
    rejected: { code: 'ReferralRejected', message: 'The referral was rejected and never reached Partner Center.' },
};

type Pending = Decision<UpdateAdmission>;

/** Decides on `record` what becomes of the arrival: an answer, or the record with the update added. */
function decide(record: ReferralRecord, arrival: UpdateArrival, hash: string, now: Date): Pending {
    const existing = findUpdate(record, arrival.updateKey);
    if (existing) {
        const outcome = existing.requestHash === hash ? 'repeated' : 'keyConflict';
        return { answer: { outcome, record, update: existing } };
    }
    if (updatesOf(record).length >= MAX_UPDATES_PER_REFERRAL) return { answer: { outcome: 'full' } };

    const fields = { id: arrival.updateKey, source: arrival.source, correlationId: arrival.correlationId };
    const keep = (update: ReferralUpdate, answer: (written: ReferralRecord) => UpdateAdmission): Pending => ({
        write: withUpdate(record, update, now),
        afterWrite: (stored) => Promise.resolve(answer(stored.record)),
    });
    const reject = (error: RecordedError, listed: Listed): Pending => {
        const update = newUpdate({ ...fields, requestHash: hash, patch: null, at: now, rejection: error });
        return keep(update, (written) => ({ outcome: 'rejected', record: written, update, ...listed }));
    };

    const finality = finalityOf(record);
    const latest = latestRequest(record);
    if (finality || !latest) {
        const reason = finality ?? 'rejected';
        if (arrival.source === 'http') return { answer: { outcome: 'final', finality: reason } };
        return reject(FINALITY_ERRORS[reason], { problems: [] });
    }

    const validation = validatePatch(arrival.body, latest, latestStatus(record));
    if (!validation.ok) {
        const { problems, problemsOmitted } = validation;
        if (arrival.source === 'http') return { answer: { outcome: 'invalid', problems, problemsOmitted } };
        const error = { code: 'InvalidUpdate', message: 'The update is not valid.', problems };
        return reject(error, { problems, problemsOmitted });
    }
    const update = newUpdate({ ...fields, requestHash: hash, patch: validation.patch, at: now });
    return keep(update, (written) => ({ outcome: 'admitted', record: written, update }));
}

/** Admits one update (see the module comment). Store failures are thrown to the caller. */
export async function admitUpdate(arrival: UpdateArrival, deps: UpdateAdmissionDependencies): Promise<UpdateAdmission> {
    // Iterative (canonicalJson), so any nesting is safe to hash; the size is bounded by the queue's message limit.
    const hash = requestHash(arrival.body);
    return updateWithRetry<UpdateAdmission>(deps.store, arrival.referralKey, {
        missing: () => ({ outcome: 'unknownReferral' }),
        decide: (record) => Promise.resolve(decide(record, arrival, hash, deps.now())),
        contended: () => new Error(`Referral ${arrival.referralKey} kept changing while an update was admitted.`),
    });
}
