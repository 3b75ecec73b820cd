import { type ReferralStatus, type ReferralSubstatus, type ReferralType } from '../referral/request/enums';

/** The referral resource as the Partner API returns it; only what the pipeline reads is typed. */
export interface PartnerReferral {
    id: string;
    engagementId: string;
    eTag?: string;
    status?: ReferralStatus;
    substatus?: ReferralSubstatus;
    type?: ReferralType;
    externalReferenceId?: string | null;
    createdDateTime?: string;
    updatedDateTime?: string;
    [property: string]: unknown;
}

/** One page of `GET /v1.0/engagements/referrals`. */
export interface ReferralPage {
    value: PartnerReferral[];
    count?: number;
    /** Opaque; pass it to `listReferralsNextPage`. */
    nextLink?: string;
}

/** The fields the client can filter on; combined with `and`. */
export interface ReferralFilter {
    engagementId?: string;
    externalReferenceId?: string;
    status?: ReferralStatus;
    type?: ReferralType;
}

export interface ReferralListQuery {
    filter?: ReferralFilter;
    top?: number;
    orderBy?: `${'createdDateTime' | 'updatedDateTime'} ${'asc' | 'desc'}`;
}

/**
 * Per-call identifiers. `requestId` is the referral key (`MS-RequestId`: the API asks for the same value on a retry);
 * `correlationId` is the id of the request being served (`MS-CorrelationId`), so both sides' logs can be joined.
 */
export interface PartnerApiCallContext {
    requestId: string;
    correlationId: string;
    /** Lets the caller give up earlier than the client's own timeout (e.g. at the end of a message lock). */
    signal?: AbortSignal;
}
