/**
 * The referral record kept in Cosmos DB (one per referral key) and its state machine:
 *
 *   Queued → Submitting → Submitted → (Shared) Connecting → Connected
 *   any non-terminal step → Rejected (invalid, or a permanent 4xx) | Failed (retry window used up)
 *
 * Every transition is written with `If-Match` on the document's etag (see store.ts). The record's rules live here:
 * which status may follow which, what a Partner API answer leaves on it, and how a Failed referral restarts. A
 * transition others hear of (Submitted, Connected, Rejected, Failed) adds its outcome event to the record's outbox
 * in the same change (outcomeEvents.ts).
 */
import type { PartnerReferral } from '../partnerApi/types';
import { lifecycleEventType, type PartnerCenterChange, type RecordEvents, withOutcomeEvent } from './outcomeEvents';
import type { ReferralType } from './request/enums';
import type { JsonPatch } from './request/jsonPatch';
import type { Problem, ReferralRequest } from './request/types';

export const LIFECYCLE_STATUSES = [
    'Queued',
    'Submitting',
    'Submitted',
    'Connecting',
    'Connected',
    'Rejected',
    'Failed',
] as const;
export type LifecycleStatus = (typeof LIFECYCLE_STATUSES)[number];

/** Which status may follow which. A step that retries stays in its status (Submitting → Submitting). */
const NEXT: Record<LifecycleStatus, readonly LifecycleStatus[]> = {
    Queued: ['Submitting', 'Rejected', 'Failed'],
    Submitting: ['Submitting', 'Submitted', 'Rejected', 'Failed'],
    Submitted: ['Connecting', 'Rejected', 'Failed'],
    Connecting: ['Connecting', 'Connected', 'Rejected', 'Failed'],
    Connected: [],
    Rejected: [],
    // A replayed referral starts over from the step that failed.
    Failed: ['Queued', 'Submitted'],
};

export const HISTORY_LIMIT = 20;

/** What the Partner API answered for one referral: identifiers and status, no customer data. */
export interface PartnerReferralSummary {
    id: string;
    engagementId: string;
    status: string | null;
    substatus: string | null;
    eTag: string | null;
    createdDateTime: string | null;
    /** Partner Center's time of its last change (each applied update moves it on). */
    updatedDateTime: string | null;
}

/** The identifiers and status of a Partner API answer, as the record keeps them (no customer data). */
export function summarize(referral: PartnerReferral): PartnerReferralSummary {
    return {
        id: referral.id,
        engagementId: referral.engagementId,
        status: referral.status ?? null,
        substatus: referral.substatus ?? null,
        eTag: referral.eTag ?? null,
        createdDateTime: referral.createdDateTime ?? null,
        updatedDateTime: referral.updatedDateTime ?? null,
    };
}

/**
 * A second copy at Partner Center of one of the record's referrals, which the later duplicate check found
 * (shared/pipeline/duplicateCheck.ts): identifiers and where it stands, no customer data.
 */
export interface DuplicateReferral {
    /** The duplicate's Partner Center id (never the recorded, kept one). */
    id: string;
    engagementId: string;
    /** Which recorded referral it copies. */
    of: 'partnerReferral' | 'connectedReferral';
    foundAt: string;
    /** `Open` as found; `Closed` once an operator closed it at Partner Center (Closed/Lost, npm run duplicates). */
    status: 'Open' | 'Closed';
    closedAt: string | null;
}

export interface RecordedError {
    /** The Partner API's error code, or one of ours (InvalidReferral, RetriesExhausted, ...). */
    code: string;
    message: string;
    /** For an invalid referral: where the problems are (paths and messages, never values). */
    problems?: Problem[];
    /** The step it happened in (a connect failure leaves the submitted partner referral on the record). */
    step?: StepName;
}

/** Where an update stands (its state machine is in updates.ts). */
export const UPDATE_STATUSES = ['Pending', 'Applying', 'Applied', 'Rejected', 'Failed'] as const;
export type UpdateStatus = (typeof UPDATE_STATUSES)[number];

export interface ReferralUpdate {
    /** The update key: the caller's Idempotency-Key or the publisher's messageId. */
    id: string;
    status: UpdateStatus;
    source: 'http' | 'queue';
    correlationId: string;
    /** SHA-256 of the update body in canonical form: tells a repeated update from a different one. */
    requestHash: string;
    /** The validated operations (customer data: stays in Cosmos, never in logs). Null when the update was invalid. */
    patch: JsonPatch | null;
    acceptedAt: string;
    appliedAt: string | null;
    error: RecordedError | null;
    /** Partner API attempts of this update so far (the applier, shared/pipeline/updateStep.ts). */
    attempts?: number;
    /** While Applying: the delivery applying it holds it until then; another delivery waits. */
    leaseUntil?: string | null;
    /** No Partner API call for this update before then (Retry-After, or our back-off). */
    notBefore?: string | null;
    /** The update's retry window (as a step's, `retryWindow`): from its first attempt, plus the time held for auth. */
    retryWindow?: ReferralRecord['retryWindow'];
    /**
     * An earlier attempt may have changed the referral without an answer coming back (a lost answer, a timeout, a
     * 412, a worker that died): read the referral before patching again.
     */
    uncertain?: boolean;
}

/** Which of the engagement's referrals a change seen at Partner Center was to (shared/partnerCenter/sync.ts). */
export type PartnerCenterRole = PartnerCenterChange['referral'];

/** How the app saw a change at Partner Center: a webhook's event, or the reconciliation's list. */
export type PartnerCenterChangeSource = PartnerCenterChange['source'];

/**
 * A change seen at Partner Center: a referral of the engagement reached `status`/`substatus` at `at` (Partner
 * Center's updatedDateTime). The single record of such a change, written with its outcome event by
 * `recordPartnerCenterChange`.
 */
export type PartnerCenterHistoryEntry = PartnerCenterChange;

/**
 * A history entry: the record reached a lifecycle status, one of its updates was applied, or a change was seen at
 * Partner Center.
 */
export type HistoryEntry =
    | { status: LifecycleStatus; at: string }
    | { update: string; status: 'Applied'; at: string }
    | PartnerCenterHistoryEntry;

/** Another referral of the engagement (Microsoft's seller's, say): identifiers and status, no customer data. */
export interface EngagementReferral {
    id: string;
    status: string | null;
    substatus: string | null;
    /** Whom it is for: each target's type and id. */
    target: Array<{ type: string; id: string }>;
    updatedDateTime: string | null;
}

export interface ReferralRecord extends RecordEvents {
    id: string;
    status: LifecycleStatus;
    type: ReferralType | null;
    /** How the referral arrived: through the HTTP intake, or published straight to the queue. */
    source: 'http' | 'queue';
    correlationId: string;
    /** SHA-256 of the request body in canonical form: tells a repeated request from a different one. */
    requestHash: string;
    /** The validated request as received (customer data: stays in Cosmos, never in logs). Absent when invalid. */
    request: ReferralRequest | null;
    partnerReferral: PartnerReferralSummary | null;
    connectedReferral: PartnerReferralSummary | null;
    error: RecordedError | null;
    /** Partner API attempts of the current step. */
    attempts: number;
    createdAt: string;
    updatedAt: string;
    /** When the current Submitting/Connecting step began: a lookup after a crash searches from here. */
    stepStartedAt: string | null;
    /** A delivery working on the step holds it until then; another delivery waits instead of calling the API too. */
    leaseUntil: string | null;
    /** No Partner API call for this step before then (the API's Retry-After, or our back-off). */
    notBefore: string | null;
    /** The last attempt may have created the referral although no answer came back: look it up before creating. */
    lastAttemptUncertain: boolean;
    /**
     * While `lastAttemptUncertain`: when the latest attempt that may have created the referral started. A lookup
     * answering "not there" is believed only once PARTNER_API_SETTLE_MS have passed since then (a create may commit
     * after the client gave up, and the list lags behind creates). Absent on records written before it existed.
     */
    uncertainSince?: string | null;
    /**
     * The current step's retry window (SUBMIT_RETRY_WINDOW_HOURS): when its run began (`from`, the time the record
     * entered the working status), how long it has been held for auth failures (`heldMs`, added to the window), and
     * since when it is held now (`heldSince`, while auth keeps failing). Absent, or with another `from`: a fresh
     * window (an earlier step's or run's is never carried over).
     */
    retryWindow?: { from: string; heldMs: number; heldSince?: string };
    history: HistoryEntry[];
    /**
     * The engagement's other referrals, as last seen at Partner Center (shared/partnerCenter/sync.ts). Absent until
     * a change to the engagement is seen.
     */
    engagement?: EngagementReferral[];
    /** The updates, in the order they were accepted (updates.ts). Absent on records written before updates existed. */
    updates?: ReferralUpdate[];
    /** Duplicates of its referrals found at Partner Center after it was done. Absent: none found (or not checked). */
    duplicates?: DuplicateReferral[];
    /** Cosmos DB per-item time to live, in seconds (customer data is not kept forever). */
    ttl?: number;
}

export function isTerminal(record: Pick<ReferralRecord, 'status' | 'type'>): boolean {
    switch (record.status) {
        case 'Connected':
        case 'Rejected':
        case 'Failed':
            return true;
        case 'Submitted':
            return record.type !== 'Shared';
        default:
            return false;
    }
}

/**
 * Whether a delivery holds the record's Submitting/Connecting step now: its attempt writes with the etag it claimed
 * with, and reads any other change as another delivery having taken the step, so nothing else writes the record
 * until the lease is released or runs out.
 */
export function stepLeaseHeld(record: Pick<ReferralRecord, 'status' | 'leaseUntil'>, now: Date): boolean {
    return (
        (record.status === 'Submitting' || record.status === 'Connecting') &&
        record.leaseUntil !== null &&
        Date.parse(record.leaseUntil) > now.getTime()
    );
}

export function canTransition(from: LifecycleStatus, to: LifecycleStatus): boolean {
    return NEXT[from].includes(to);
}

/** A transition its state machine does not allow: the referral's lifecycle, or one of its updates (updates.ts). */
export class IllegalTransitionError<S extends string = LifecycleStatus> extends Error {
    constructor(
        readonly from: S,
        readonly to: S,
        subject = 'A referral',
    ) {
        super(`${subject} cannot move from ${from} to ${to}.`);
        this.name = 'IllegalTransitionError';
    }
}

/**
 * The record after a transition: status, timestamps and history updated, the outcome event pending when others hear
 * of it (outcomeEvents.ts); `changes` applied on top.
 */
export function transition(
    record: ReferralRecord,
    to: LifecycleStatus,
    at: Date,
    changes: Partial<Omit<ReferralRecord, 'id' | 'status' | 'history' | 'updatedAt'>> = {},
): ReferralRecord {
    if (!canTransition(record.status, to)) throw new IllegalTransitionError(record.status, to);
    const when = at.toISOString();
    const history = record.status === to ? record.history : [...record.history, { status: to, at: when }];
    const moved = { ...record, ...changes, status: to, updatedAt: when, history: history.slice(-HISTORY_LIMIT) };
    const event = lifecycleEventType(record.status, to);
    return event ? withOutcomeEvent(moved, event, when) : moved;
}

/**
 * The record after Partner Center's status of the referral changed (the sync worker: a webhook or a reconciliation
 * read): the change in its history and a `cosell.referral.partnerCenterChanged` event pending, in one change.
 */
export function recordPartnerCenterChange(record: ReferralRecord, change: PartnerCenterChange): ReferralRecord {
    const entry: PartnerCenterChange = {
        at: change.at,
        referral: change.referral,
        status: change.status,
        substatus: change.substatus,
        source: change.source,
    };
    const changed = { ...record, updatedAt: entry.at, history: [...record.history, entry].slice(-HISTORY_LIMIT) };
    return withOutcomeEvent(changed, 'cosell.referral.partnerCenterChanged', entry.at, { partnerCenterChange: entry });
}

export function newRecord(fields: {
    id: string;
    source: ReferralRecord['source'];
    correlationId: string;
    requestHash: string;
    request: ReferralRequest | null;
    at: Date;
}): ReferralRecord {
    const when = fields.at.toISOString();
    return {
        id: fields.id,
        status: 'Queued',
        type: fields.request?.type ?? null,
        source: fields.source,
        correlationId: fields.correlationId,
        requestHash: fields.requestHash,
        request: fields.request,
        partnerReferral: null,
        connectedReferral: null,
        error: null,
        attempts: 0,
        createdAt: when,
        updatedAt: when,
        stepStartedAt: null,
        leaseUntil: null,
        notBefore: null,
        lastAttemptUncertain: false,
        uncertainSince: null,
        history: [{ status: 'Queued', at: when }],
    };
}

/** The validated request the steps submit (an invalid referral has none and never reaches a step). */
export function storedRequest(record: Pick<ReferralRecord, 'id' | 'request'>): ReferralRequest {
    if (!record.request) throw new Error(`Referral ${record.id} has no stored request.`);
    return record.request;
}

/** The externalReferenceId a referral is submitted with: the caller's own, else the referral key. */
export function submittedExternalReferenceId(record: Pick<ReferralRecord, 'id' | 'request'>): string {
    return storedRequest(record).externalReferenceId || record.id;
}

export type StepName = 'submit' | 'connect';

/** The step a record in progress is at: connecting once submitted, else submitting. */
export function currentStep(record: Pick<ReferralRecord, 'status'>): StepName {
    return record.status === 'Submitted' || record.status === 'Connecting' ? 'connect' : 'submit';
}

/** Which step a Failed referral failed in: connect when it was submitted already, else submit. */
export function failedStep(record: Pick<ReferralRecord, 'partnerReferral'>): StepName {
    return record.partnerReferral ? 'connect' : 'submit';
}

/**
 * The record after a restart of its Failed step: back to the status the step starts from (Failed → Queued, or
 * Failed → Submitted), attempts reset. When the last attempt may have reached the Partner API
 * (`lastAttemptUncertain`), it restarts *in* the working state instead, with no lease: the next delivery looks the
 * referral up before creating it again, searching from when the failed step began.
 */
export function restarted(record: ReferralRecord, now: Date): ReferralRecord {
    const step = failedStep(record);
    const reset = { attempts: 0, error: null, leaseUntil: null, notBefore: null };
    const entry = transition(record, step === 'submit' ? 'Queued' : 'Submitted', now, reset);
    if (!record.lastAttemptUncertain) return { ...entry, stepStartedAt: null };
    return transition(entry, step === 'submit' ? 'Submitting' : 'Connecting', now, {
        stepStartedAt: record.stepStartedAt,
        lastAttemptUncertain: true,
    });
}
