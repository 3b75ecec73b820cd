/**
 * The status document of GET /api/referrals/{id}: what happened to a referral, with the Partner API's identifiers,
 * and nothing of the customer's data.
 */
import type { HttpResponseInit } from '@azure/functions';

import { isValidKey } from '../messaging/messages';
import { json, problem } from '../platform/http';
import { duplicatesOf } from './duplicates';
import type {
    DuplicateReferral,
    EngagementReferral,
    HistoryEntry,
    LifecycleStatus,
    PartnerReferralSummary,
    ReferralRecord,
    ReferralUpdate,
} from './record';
import type { ReferralType } from './request/enums';
import type { ReferralStore } from './store';
import { updatesOf } from './updates';

/** A Partner API answer as the status document shows it: the record's summary without its creation time. */
type PartnerReferralStatus = Omit<PartnerReferralSummary, 'createdDateTime'>;

export interface ReferralStatusDocument {
    id: string;
    status: LifecycleStatus;
    type: ReferralType | null;
    partnerReferral: PartnerReferralStatus | null;
    connectedReferral: PartnerReferralStatus | null;
    /** The engagement's other referrals as last seen at Partner Center (empty until a change is seen). */
    engagement: EngagementReferral[];
    error: { code: string; message: string } | null;
    attempts: number;
    createdAt: string;
    updatedAt: string;
    /** Each update: where it stands, never what it changes (a patch may carry names and emails). */
    updates: UpdateStatusEntry[];
    /** Copies of its referrals found at Partner Center after it was done (the duplicate check): ids and status. */
    duplicates: DuplicateReferral[];
    history: HistoryEntry[];
}

type UpdateStatusEntry = Pick<ReferralUpdate, 'id' | 'status' | 'acceptedAt' | 'appliedAt'> & {
    error: { code: string; message: string } | null;
};

/** A recorded error as answered: its code and our message, without the problem list kept for operators. */
function errorStatus(error: { code: string; message: string } | null): { code: string; message: string } | null {
    return error ? { code: error.code, message: error.message } : null;
}

function historyEntry(entry: HistoryEntry): HistoryEntry {
    if ('update' in entry) return { update: entry.update, status: entry.status, at: entry.at };
    if ('referral' in entry) {
        const { at, referral, status, substatus, source } = entry;
        return { at, referral, status, substatus, source };
    }
    return { status: entry.status, at: entry.at };
}

function engagementReferral({ id, status, substatus, target, updatedDateTime }: EngagementReferral) {
    return { id, status, substatus, target: target.map(({ type, id }) => ({ type, id })), updatedDateTime };
}

function partnerStatus(summary: PartnerReferralSummary | null): PartnerReferralStatus | null {
    if (!summary) return null;
    const { id, engagementId, status, substatus, eTag, updatedDateTime } = summary;
    return { id, engagementId, status, substatus, eTag, updatedDateTime: updatedDateTime ?? null };
}

/** Picks each field by name: whatever else the record holds (the request, with customer data) stays out. */
export function statusDocument(record: ReferralRecord): ReferralStatusDocument {
    return {
        id: record.id,
        status: record.status,
        type: record.type,
        partnerReferral: partnerStatus(record.partnerReferral),
        connectedReferral: partnerStatus(record.connectedReferral),
        engagement: (record.engagement ?? []).map(engagementReferral),
        error: errorStatus(record.error),
        attempts: record.attempts,
        createdAt: record.createdAt,
        updatedAt: record.updatedAt,
        updates: updatesOf(record).map(({ id, status, acceptedAt, appliedAt, error }) => ({
            id,
            status,
            acceptedAt,
            appliedAt,
            error: errorStatus(error),
        })),
        duplicates: duplicatesOf(record).map(({ id, engagementId, of, foundAt, status, closedAt }) => ({
            id,
            engagementId,
            of,
            foundAt,
            status,
            closedAt,
        })),
        history: record.history.map(historyEntry),
    };
}

/** An outcome event's `data` (outcomeEvents.ts): the status document at the change, without its history. */
export type OutcomeEventData = Omit<ReferralStatusDocument, 'history'>;

export function outcomeEventData(record: ReferralRecord): OutcomeEventData {
    const { history: _history, ...data } = statusDocument(record);
    return data;
}

export async function readReferralStatus(id: string | undefined, store: ReferralStore): Promise<HttpResponseInit> {
    if (!id || !isValidKey(id)) return problem(404, 'No referral has this id.');
    const stored = await store.read(id);
    if (!stored) return problem(404, 'No referral has this id.');
    return json(200, statusDocument(stored.record), { 'cache-control': 'no-store' });
}
