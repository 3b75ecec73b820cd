/**
 * The updates of a referral, kept on its record (one per update key) in the order they were accepted, and their
 * state machine:
 *
 *   Pending → Applying → Applied | Rejected | Failed
 *   Applying → Pending   (the attempt will be retried)
 *   Pending → Rejected | Failed   (refused, or given up, before any attempt: a transition the referral no longer allows)
 *   Failed → Pending     (a replay)
 *
 * An update arriving invalid from the queue is kept as Rejected from the start, with its problems and no patch.
 * The patch, like the create request, may carry names and emails: it stays on the record and never reaches the
 * status document, a log line or an error. What the app knows of the referral now is its create request with every
 * update that is not Rejected or Failed applied in order, with Partner Center's last status once there is one
 * (`latestRequest`, `latestStatus`).
 */
import { isSettledUpdate, withOutcomeEvent } from './outcomeEvents';
import {
    HISTORY_LIMIT,
    IllegalTransitionError,
    type RecordedError,
    type ReferralRecord,
    type ReferralUpdate,
    type UpdateStatus,
} from './record';
import type { ReferralStatus } from './request/enums';
import { applyPatch, type JsonPatch } from './request/jsonPatch';
import type { ReferralRequest } from './request/types';

const NEXT: Record<UpdateStatus, readonly UpdateStatus[]> = {
    Pending: ['Applying', 'Rejected', 'Failed'],
    Applying: ['Applied', 'Rejected', 'Failed', 'Pending'],
    Applied: [],
    Rejected: [],
    Failed: ['Pending'],
};

/** How many updates one record keeps at most: each may be up to MAX_UPDATE_BODY_BYTES, and a Cosmos item 2 MB. */
export const MAX_UPDATES_PER_REFERRAL = 40;

export function updatesOf(record: Pick<ReferralRecord, 'updates'>): ReferralUpdate[] {
    return record.updates ?? [];
}

export function findUpdate(record: Pick<ReferralRecord, 'updates'>, id: string): ReferralUpdate | undefined {
    return updatesOf(record).find((update) => update.id === id);
}

export function canUpdateTransition(from: UpdateStatus, to: UpdateStatus): boolean {
    return NEXT[from].includes(to);
}

export function newUpdate(fields: {
    id: string;
    source: ReferralUpdate['source'];
    correlationId: string;
    requestHash: string;
    patch: JsonPatch | null;
    at: Date;
    /** An invalid update is kept Rejected with this error (never retried). */
    rejection?: RecordedError;
}): ReferralUpdate {
    const { rejection, at, ...update } = fields;
    return {
        ...update,
        status: rejection ? 'Rejected' : 'Pending',
        acceptedAt: at.toISOString(),
        appliedAt: null,
        error: rejection ?? null,
    };
}

/** The record with `update` added last (in acceptance order); one kept Rejected from the start is an outcome. */
export function withUpdate(record: ReferralRecord, update: ReferralUpdate, at: Date): ReferralRecord {
    const when = at.toISOString();
    const added = { ...record, updates: [...updatesOf(record), update], updatedAt: when };
    return settledEvent(added, update.id, update.status, when);
}

/** The record with a `cosell.referral.updated` event pending when update `id` has just ended in `status`. */
function settledEvent(record: ReferralRecord, id: string, status: UpdateStatus, at: string): ReferralRecord {
    return isSettledUpdate(status)
        ? withOutcomeEvent(record, 'cosell.referral.updated', at, { update: { id, status } })
        : record;
}

/**
 * The record after update `id` moved to `to`: `appliedAt` and a history entry when Applied, the outcome event pending
 * once it has ended, `changes` (an error, the applier's lease and attempts) on the update. The record's own fields (partnerReferral after an applied update) are the caller's to set.
 */
export function transitionUpdate(
    record: ReferralRecord,
    id: string,
    to: UpdateStatus,
    at: Date,
    changes: Partial<
        Pick<ReferralUpdate, 'error' | 'attempts' | 'leaseUntil' | 'notBefore' | 'uncertain' | 'retryWindow'>
    > = {},
): ReferralRecord {
    const current = findUpdate(record, id);
    if (!current) throw new Error(`Referral ${record.id} has no update ${id}.`);
    if (!canUpdateTransition(current.status, to)) throw new IllegalTransitionError(current.status, to, 'An update');
    const when = at.toISOString();
    const moved: ReferralUpdate = {
        ...current,
        ...changes,
        status: to,
        ...(to === 'Applied' && { appliedAt: when, error: null }),
        ...(to === 'Pending' && { error: null }),
    };
    const history =
        to === 'Applied' ? [...record.history, { update: id, status: 'Applied' as const, at: when }] : record.history;
    const changed = {
        ...record,
        updates: updatesOf(record).map((update) => (update.id === id ? moved : update)),
        history: history.slice(-HISTORY_LIMIT),
        updatedAt: when,
    };
    return settledEvent(changed, id, to, when);
}

/** Updates that still count: applied, or on their way (not refused, not given up). */
function isLive(update: ReferralUpdate): boolean {
    return update.status !== 'Rejected' && update.status !== 'Failed';
}

/** The updates still to apply, oldest first: what the applier works through, one at a time. */
export function pendingUpdates(record: Pick<ReferralRecord, 'updates'>): ReferralUpdate[] {
    return updatesOf(record).filter((update) => update.status === 'Pending' || update.status === 'Applying');
}

function patched(request: ReferralRequest, updates: readonly ReferralUpdate[]): ReferralRequest {
    let document: unknown = request;
    for (const update of updates) {
        if (!update.patch) continue;
        const result = applyPatch(document, update.patch);
        // Validated against the referral as it then was; one that no longer applies leaves it unchanged.
        if (result.ok) document = result.document;
    }
    return document as ReferralRequest;
}

/**
 * The referral as the app last knows it: the create request with the applied updates, then Partner Center's last
 * status and substatus (its word on the referral, which may differ from the request's), then the updates still to
 * apply, each in acceptance order.
 */
export function latestRequest(
    record: Pick<ReferralRecord, 'request' | 'updates' | 'partnerReferral'>,
): ReferralRequest | null {
    if (!record.request) return null;
    const live = updatesOf(record).filter(isLive);
    const applied = patched(
        record.request,
        live.filter((update) => update.status === 'Applied'),
    );
    const answered = record.partnerReferral;
    const known = answered?.status
        ? ({
              ...applied,
              status: answered.status,
              substatus: answered.substatus ?? applied.substatus,
          } as ReferralRequest)
        : applied;
    return patched(
        known,
        live.filter((update) => update.status !== 'Applied'),
    );
}

/** The status the referral has, or will have once its pending updates apply; Closed at Partner Center is final. */
export function latestStatus(
    record: Pick<ReferralRecord, 'request' | 'updates' | 'partnerReferral'>,
): ReferralStatus | null {
    if (record.partnerReferral?.status === 'Closed') return 'Closed';
    return latestRequest(record)?.status ?? null;
}
