/**
 * The outcome events of a referral (the catalogue: docs/events.md) and the outbox they wait in, on the record itself.
 *
 * A change that other systems hear of adds an event to the record's `pendingEvents` in the very function that makes
 * the change (record.ts `transition`, updates.ts `transitionUpdate` and `withUpdate`, record.ts
 * `recordPartnerCenterChange`), so the change and its event are written in the same conditional Cosmos DB write and
 * cannot diverge, and no step can forget one. The store that writes it (eventOutbox.ts) seals each new event with
 * the status document as written, publishes the record's pending events after the write and clears them; its sweep
 * publishes whatever a crash or an Event Grid outage left behind.
 *
 * An event's id is `<referral key>:<sequence>`, the sequence counting the record's events (`eventSequence`): fixed
 * when the change is written, so every publication of the change, however often repeated, carries the same id and
 * consumers de-duplicate on it. (The history's index would not do: the history keeps only its last entries.)
 *
 * This module imports nothing of the record's, so the record's rules can use it without an import cycle.
 */

export const OUTCOME_EVENT_TYPES = [
    'cosell.referral.submitted',
    'cosell.referral.connected',
    'cosell.referral.rejected',
    'cosell.referral.failed',
    'cosell.referral.updated',
    'cosell.referral.partnerCenterChanged',
] as const;
export type OutcomeEventType = (typeof OUTCOME_EVENT_TYPES)[number];

/**
 * A status or substatus change seen at Partner Center (the sync worker's history entry): on the partner referral,
 * the connected (Microsoft's) referral, or the engagement; from a webhook or a reconciliation read.
 */
export interface PartnerCenterChange {
    at: string;
    referral: 'partner' | 'connected' | 'engagement';
    status: string | null;
    substatus: string | null;
    source: 'webhook' | 'reconciliation';
}

/** Where one of the referral's updates ended (cosell.referral.updated). */
export interface SettledUpdate {
    id: string;
    status: 'Applied' | 'Rejected' | 'Failed';
}

/** An event still to be published: what the change was, and once written, the status document it left. */
export interface PendingEvent {
    id: string;
    type: OutcomeEventType;
    /** The time of the change. */
    time: string;
    update?: SettledUpdate;
    partnerCenterChange?: PartnerCenterChange;
    /**
     * The status document (without history) as written with the change: set by the store on that write
     * (eventOutbox.ts), so it shows the change's every field, even those a step sets after calling `transition`.
     */
    data?: Record<string, unknown>;
}

/** The part of a record the outbox keeps. */
export interface RecordEvents {
    id: string;
    /** How many events the record has ever had: the last event id's sequence. Absent: none yet. */
    eventSequence?: number;
    /** Events written with their change and not yet published (absent or empty: none). */
    pendingEvents?: PendingEvent[];
}

/** The subject of a referral's events. */
export function eventSubject(key: string): string {
    return `/referrals/${key}`;
}

/** The record with one more event pending for a change made `at`. */
export function withOutcomeEvent<R extends RecordEvents>(
    record: R,
    type: OutcomeEventType,
    at: string,
    details: Pick<PendingEvent, 'update' | 'partnerCenterChange'> = {},
): R {
    const sequence = (record.eventSequence ?? 0) + 1;
    const event: PendingEvent = { id: `${record.id}:${sequence}`, type, time: at, ...details };
    return { ...record, eventSequence: sequence, pendingEvents: [...(record.pendingEvents ?? []), event] };
}

/** The lifecycle event of moving `from` → `to`, if others hear of it (a restart or a retry is not an outcome). */
export function lifecycleEventType(from: string, to: string): OutcomeEventType | undefined {
    if (from === to || from === 'Failed') return undefined;
    switch (to) {
        case 'Submitted':
            return 'cosell.referral.submitted';
        case 'Connected':
            return 'cosell.referral.connected';
        case 'Rejected':
            return 'cosell.referral.rejected';
        case 'Failed':
            return 'cosell.referral.failed';
        default:
            return undefined;
    }
}

/** Whether an update in `status` has ended, so others hear of it. */
export function isSettledUpdate(status: string): status is SettledUpdate['status'] {
    return status === 'Applied' || status === 'Rejected' || status === 'Failed';
}
