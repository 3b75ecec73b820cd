/**
 * The status document of GET /api/referrals/{id}: what happened to a referral, with the Partner API's identifiers,
 * and nothing of the customer's data.
 */
import type { HttpResponseInit } from '@azure/functions';

import { isValidKey } from '../messaging/messages';
import { json, problem } from '../platform/http';
import type { LifecycleStatus, PartnerReferralSummary, ReferralRecord } from './record';
import type { ReferralType } from './request/enums';
import type { ReferralStore } from './store';

/** A Partner API answer as the status document shows it: the record's summary without its creation time. */
type PartnerReferralStatus = Omit<PartnerReferralSummary, 'createdDateTime'>;

export interface ReferralStatusDocument {
    id: string;
    status: LifecycleStatus;
    type: ReferralType | null;
    partnerReferral: PartnerReferralStatus | null;
    connectedReferral: PartnerReferralStatus | null;
    error: { code: string; message: string } | null;
    attempts: number;
    createdAt: string;
    updatedAt: string;
    history: Array<{ status: LifecycleStatus; at: string }>;
}

function partnerStatus(summary: PartnerReferralSummary | null): PartnerReferralStatus | null {
    if (!summary) return null;
    const { id, engagementId, status, substatus, eTag } = summary;
    return { id, engagementId, status, substatus, eTag };
}

/** Picks each field by name: whatever else the record holds (the request, with customer data) stays out. */
export function statusDocument(record: ReferralRecord): ReferralStatusDocument {
    return {
        id: record.id,
        status: record.status,
        type: record.type,
        partnerReferral: partnerStatus(record.partnerReferral),
        connectedReferral: partnerStatus(record.connectedReferral),
        error: record.error ? { code: record.error.code, message: record.error.message } : null,
        attempts: record.attempts,
        createdAt: record.createdAt,
        updatedAt: record.updatedAt,
        history: record.history.map(({ status, at }) => ({ status, at })),
    };
}

export async function readReferralStatus(id: string | undefined, store: ReferralStore): Promise<HttpResponseInit> {
    if (!id || !isValidKey(id)) return problem(404, 'No referral has this id.');
    const stored = await store.read(id);
    if (!stored) return problem(404, 'No referral has this id.');
    return json(200, statusDocument(stored.record), { 'cache-control': 'no-store' });
}
