/**
 * Every enum of the Partner API referral resource, as documented (../shared/reference/partner-api.md §3).
 * The joi schema, the TypeScript types and the Partner API simulator all read them from here.
 */

export const REFERRAL_STATUSES = ['None', 'New', 'Active', 'Closed'] as const;
export type ReferralStatus = (typeof REFERRAL_STATUSES)[number];

// prettier-ignore
export const REFERRAL_SUBSTATUSES = [
    'None',
    'Pending', 'Received', // New
    'Accepted', // Active
    'Won', 'Lost', 'Declined', 'Expired', // Closed
] as const;
export type ReferralSubstatus = (typeof REFERRAL_SUBSTATUSES)[number];

/**
 * The allowed substatus of each status, and the statuses each status may move to (the "Status & Substatus
 * transition states" table). `None` carries no documented rule: it only pairs with itself.
 */
export const STATUS_RULES: Record<
    ReferralStatus,
    { substatuses: readonly ReferralSubstatus[]; next: readonly ReferralStatus[] }
> = {
    None: { substatuses: ['None'], next: ['None', 'New', 'Active', 'Closed'] },
    New: { substatuses: ['Pending', 'Received'], next: ['New', 'Active', 'Closed'] },
    Active: { substatuses: ['Accepted'], next: ['Active', 'Closed'] },
    Closed: { substatuses: ['Won', 'Lost', 'Declined', 'Expired'], next: ['Closed'] },
};

export const REFERRAL_TYPES = ['Independent', 'Shared'] as const;
export type ReferralType = (typeof REFERRAL_TYPES)[number];

export const REFERRAL_QUALIFICATIONS = ['None', 'Direct', 'MarketingQualified', 'SalesQualified'] as const;
export type ReferralQualification = (typeof REFERRAL_QUALIFICATIONS)[number];

export const TARGET_TYPES = ['None', 'BusinessProfileLocation', 'SolutionProfile'] as const;
export type TargetType = (typeof TARGET_TYPES)[number];

export const SOLUTION_TYPES = ['None', 'Category', 'Name'] as const;
export type SolutionType = (typeof SOLUTION_TYPES)[number];

export const CUSTOMER_PROFILE_ID_TYPES = ['Duns', 'External'] as const;
export type CustomerProfileIdType = (typeof CUSTOMER_PROFILE_ID_TYPES)[number];

/** Documented order kept; production also sends "" for an unknown size, which the schema accepts. */
// prettier-ignore
export const CUSTOMER_SIZES = [
    '1to50employees', '51to500employees', 'Morethan500employees',
    '1to9employees', '10to50employees', '51to250employees', '251to1000employees', '1001to5000employees',
    '5001to10000employees', '10001to20000employees', 'Morethan20000employees',
] as const;
export type CustomerSize = (typeof CUSTOMER_SIZES)[number];

// prettier-ignore
export const ASSISTANCE_REQUEST_CODES = [
    'Unknown', 'GeneralOrOther', 'CustomerTechnicalArchitecture', 'ProofOfConceptOrDemo', 'QuotesOrLicensing',
    'PostSalesCustomerSuccess', 'WorkloadSpecificValueProposition',
] as const;
export type AssistanceRequestCode = (typeof ASSISTANCE_REQUEST_CODES)[number];

/** Consent flags, spelled as on the wire (the doubled "To" is the API's own spelling). */
export const CONSENT_FLAGS = [
    'consentToToShareInfoWithOthers',
    'consentToContact',
    'consentToShareReferralWithMicrosoftSellers',
    'consentToMicrosoftToContactSpecificPartners',
] as const;
export type ConsentFlag = (typeof CONSENT_FLAGS)[number];

export const DIRECTIONS = ['Incoming', 'Outgoing'] as const;
export type Direction = (typeof DIRECTIONS)[number];

/** The target that makes a connected referral go to Microsoft. */
export const MICROSOFT_TARGET = { type: 'BusinessProfileLocation', id: 'msft' } as const;

export function isAllowedStatusPair(status: ReferralStatus, substatus: ReferralSubstatus): boolean {
    return STATUS_RULES[status].substatuses.includes(substatus);
}

export function isAllowedTransition(from: ReferralStatus, to: ReferralStatus): boolean {
    return STATUS_RULES[from].next.includes(to);
}
