/**
 * The Partner API's referral create body (../shared/reference/partner-api.md §3 and §4), as callers send it to us.
 * Unknown properties are allowed and passed through unchanged: the API grows (partnerRole, solutionArea, ...).
 */
import type {
    AssistanceRequestCode,
    CustomerProfileIdType,
    ReferralQualification,
    ReferralStatus,
    ReferralSubstatus,
    ReferralType,
    SolutionType,
    TargetType,
} from './enums';

export interface ContactPreference {
    locale?: string | null;
    disableNotifications?: boolean | null;
}

export interface Member {
    firstName?: string | null;
    lastName?: string | null;
    phoneNumber?: string | null;
    email?: string | null;
    title?: string | null;
    contactPreference?: ContactPreference | null;
}

export interface Address {
    addressLine1?: string | null;
    addressLine2?: string | null;
    city?: string | null;
    state?: string | null;
    postalCode?: string | null;
    country?: string | null;
    region?: string | null;
}

export interface CustomerProfileId {
    profileType: CustomerProfileIdType;
    id: string;
}

export interface CustomerProfile {
    name: string;
    address?: Address;
    size?: string | null;
    team?: Member[];
    ids?: CustomerProfileId[];
}

export interface Consent {
    consentToToShareInfoWithOthers?: boolean;
    consentToContact?: boolean;
    consentToShareReferralWithMicrosoftSellers?: boolean;
    consentToMicrosoftToContactSpecificPartners?: boolean | null;
}

export interface Tag {
    id: string;
}

export interface SolutionTag {
    id: string;
    name?: string | null;
    type?: SolutionType | null;
    price?: number | null;
    quantity?: number | null;
    currency?: string | null;
    publisherName?: string | null;
    solutionType?: string | null;
    closingDateTime?: string | null;
}

export interface AdditionalRequirements {
    iot?: Record<string, unknown> | null;
    attributes?: Array<{ type: string; id: string }>;
}

export interface Requirements {
    industries?: Tag[];
    products?: Tag[];
    services?: Tag[];
    solutions?: SolutionTag[];
    offers?: unknown[];
    salesPlays?: unknown[];
    additionalRequirements?: AdditionalRequirements | null;
}

export interface ReferralDetails {
    notes?: string | null;
    dealValue?: number | null;
    currency?: string | null;
    closingDateTime?: string | null;
    customerRequestedContact?: boolean | null;
    customerAction?: string | null;
    incentiveLevel?: string | null;
    requirements?: Requirements;
}

export interface InviteContext {
    notes?: string | null;
    assistanceRequestCode?: AssistanceRequestCode | null;
    invitedMpnId?: string | null;
    invitedBy?: { organizationId: string; organizationName?: string | null } | null;
}

export interface ReferralTarget {
    type: TargetType;
    id: string;
}

export interface ReferralRequest {
    name?: string | null;
    externalReferenceId?: string | null;
    engagementId?: string | null;
    status?: ReferralStatus;
    substatus?: ReferralSubstatus;
    statusReason?: string | null;
    type: ReferralType;
    qualification?: ReferralQualification;
    customerProfile: CustomerProfile;
    consent: Consent;
    details: ReferralDetails;
    team?: Member[];
    inviteContext?: InviteContext | null;
    target?: ReferralTarget[];
    expirationDateTime?: string | null;
    [unknownProperty: string]: unknown;
}

/** One problem with a request: where (a JSON path) and what, never the submitted value. */
export interface Problem {
    path: string;
    message: string;
}
