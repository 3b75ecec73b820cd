/**
 * The record's rules for duplicates: second copies at Partner Center of a done referral's partner or connected
 * referral, which the later check (shared/pipeline/duplicateCheck.ts) reports and an operator closes
 * (shared/operations/duplicates.ts). Each is kept once by its Partner Center id, so running the check again adds
 * nothing, and a closed one stays closed. Pure: no I/O.
 */
import type { PartnerReferral } from '../partnerApi/types';
import type { DuplicateReferral, ReferralRecord } from './record';

/** A copy the check found, and which recorded referral it copies. */
export interface FoundDuplicate {
    referral: PartnerReferral;
    of: DuplicateReferral['of'];
}

export function duplicatesOf(record: Pick<ReferralRecord, 'duplicates'>): DuplicateReferral[] {
    return record.duplicates ?? [];
}

/** Whether the referral went through all its steps: Submitted (Independent), Connected (Shared). */
export function isDone(record: Pick<ReferralRecord, 'status' | 'type' | 'partnerReferral'>): boolean {
    if (!record.partnerReferral) return false;
    return record.status === 'Connected' || (record.status === 'Submitted' && record.type !== 'Shared');
}

/** The ids of the referrals the record keeps: never reported, never closed. */
export function keptIds(record: Pick<ReferralRecord, 'partnerReferral' | 'connectedReferral'>): string[] {
    return [record.partnerReferral?.id, record.connectedReferral?.id].filter((id): id is string => Boolean(id));
}

/**
 * The record with the copies it does not know yet added (`added`), or `added` empty and the record unchanged when
 * the check found nothing new. A kept referral is never taken for a copy of itself.
 */
export function withDuplicatesFound(
    record: ReferralRecord,
    found: readonly FoundDuplicate[],
    at: Date,
): { record: ReferralRecord; added: DuplicateReferral[] } {
    const known = new Set([...duplicatesOf(record).map((d) => d.id), ...keptIds(record)]);
    const added: DuplicateReferral[] = [];
    for (const { referral, of } of found) {
        if (known.has(referral.id)) continue;
        known.add(referral.id);
        added.push({
            id: referral.id,
            engagementId: referral.engagementId,
            of,
            foundAt: at.toISOString(),
            status: 'Open',
            closedAt: null,
        });
    }
    if (added.length === 0) return { record, added };
    const when = at.toISOString();
    return { record: { ...record, duplicates: [...duplicatesOf(record), ...added], updatedAt: when }, added };
}

/** The record with duplicate `id` marked closed at Partner Center (unchanged when it is closed already). */
export function withDuplicateClosed(record: ReferralRecord, id: string, at: Date): ReferralRecord {
    const when = at.toISOString();
    const duplicates = duplicatesOf(record).map((d) =>
        d.id === id && d.status === 'Open' ? { ...d, status: 'Closed' as const, closedAt: when } : d,
    );
    return { ...record, duplicates, updatedAt: when };
}
