import { newRecord, type PartnerReferralSummary, type ReferralRecord } from '../../shared/referral/record';
import { requestHash } from '../../shared/referral/request/canonicalJson';
import type { ReferralRequest } from '../../shared/referral/request/types';
import { seedReferral } from './referrals';

/** The instant unit tests start at (the clock of `workerSetup`). */
export const GIVEN_AT = new Date('2026-11-21T12:00:00.000Z');

export type GivenRecord = Partial<Omit<ReferralRecord, 'request'>> & {
    /** The request the record keeps (any JSON, so a test can store an invalid one); null for an invalid arrival. */
    request?: Record<string, unknown> | null;
    /** When it was created: createdAt, updatedAt and the first history entry. */
    at?: Date;
};

/**
 * A referral record as the intake writes it (Queued, `newRecord`), for tests to start from: by default key `k1`,
 * arrived over HTTP with correlation id `corr-1`, carrying the seed's Shared referral and that request's hash (so a
 * delivery of the same body matches it). `overrides` replace any field; later states come from `transition`, as in
 * the pipeline.
 */
export function givenRecord(overrides: GivenRecord = {}): ReferralRecord {
    const { request = seedReferral(), at = GIVEN_AT, ...fields } = overrides;
    const record = newRecord({
        id: 'k1',
        source: 'http',
        correlationId: 'corr-1',
        // A request that was never kept (invalid) has no body to hash here; any stand-in will do.
        requestHash: request ? requestHash(request) : 'h',
        request: request as ReferralRequest | null,
        at,
    });
    return { ...record, ...fields };
}

/** A partner referral as the record keeps it after the create: id `p1`, engagement `e1`, New/Pending. */
export function givenPartnerReferral(): PartnerReferralSummary {
    return {
        id: 'p1',
        engagementId: 'e1',
        status: 'New',
        substatus: 'Pending',
        eTag: null,
        createdDateTime: null,
        updatedDateTime: null,
    };
}
