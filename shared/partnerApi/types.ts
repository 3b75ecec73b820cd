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
    /** Referrals changed at or after this instant: `updatedDateTime ge <ISO time>` (a documented filter). */
    updatedSince?: Date;
}

export interface ReferralListQuery {
    filter?: ReferralFilter;
    top?: number;
    orderBy?: `${'createdDateTime' | 'updatedDateTime'} ${'asc' | 'desc'}`;
}

/**
 * What one step attempt tells the client about its calls. The identifying headers are the client's business
 * (./requestIds.ts): `MS-CorrelationId` is `correlationId` itself when it is a GUID, else a stable UUIDv5 of it;
 * `MS-RequestId` is `createRequestId` on a create and a fresh GUID on every other call.
 */
export interface PartnerApiCallContext {
    /** The id of the request being served (any text), so both sides' logs can be joined. */
    correlationId: string;
    /**
     * `MS-RequestId` of a create: `createRequestId(referralKey, step)`, the same for every retry of that create.
     * Must be a GUID. Only `createReferral` uses it.
     */
    createRequestId?: string;
    /**
     * The end of the attempt (an absolute time). It bounds every HTTP call of the attempt, each page of a list, the
     * repeat after a 401 and the token acquisition; past it a call fails as `kind: 'timeout'`, `code:
     * 'deadlineExceeded'` (with `outcomeUnknown` for a create that was sent). Without it, each call has the client's
     * own timeout.
     */
    deadline?: Date | number;
    /**
     * Work that can wait: a webhook's sync, a duplicate check. The tenant's gate lets such a call wait at most
     * BACKGROUND_MAX_WAIT_MS (./gate.ts), so that under a load the creates and updates go first.
     */
    background?: boolean;
    /** Lets the caller give up earlier still (e.g. on shutdown). */
    signal?: AbortSignal;
}

/** What identifies a referral that a create may have made: our externalReferenceId and type, or the engagement. */
export type CandidateKey =
    { externalReferenceId: string; type: ReferralType } | { engagementId: string; type?: ReferralType };

/** A search for the referrals a create since `since` may have made (`PartnerApiClient.findCandidates`). */
export type CandidateQuery = CandidateKey & {
    /** When the step first started: referrals created before it (less `clockSkewMs`) are not candidates. */
    since: Date | number;
    /** Allowance for the service's clock being behind ours. Default 10 minutes. */
    clockSkewMs?: number;
    /** Pages read at most per query; a window not read to its end is an error, never "not there". Default 10. */
    maxPages?: number;
};

/**
 * The referrals created in the window, as the server listed them: not filtered on the client (the caller judges
 * them, shared/referral/ownership.ts). `strategy` says which query answered: `filter` (the undocumented
 * `externalReferenceId`/`engagementId` filter) or `recent` (the documented fallback after the filter was refused:
 * newest first, filtered on `type` only).
 */
export interface CandidateLookup {
    candidates: PartnerReferral[];
    strategy: 'filter' | 'recent';
}
