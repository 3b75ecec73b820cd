/**
 * The service deserializes property names case-insensitively (the docs' own example mixes `ConsentToContact` with
 * `consentToShareReferralWithMicrosoftSellers`), and answers in camelCase. Input keys are mapped to the camelCase
 * wire names below; an unknown key keeps its spelling with a lower-case first letter.
 */
import { CONSENT_FLAGS } from '../../shared/referral/request/enums';

// prettier-ignore
const WIRE_NAMES = [
    // Referral
    'id', 'engagementId', 'organizationId', 'organizationName', 'name', 'externalReferenceId', 'createdDateTime',
    'updatedDateTime', 'expirationDateTime', 'acceptedDateTime', 'closedDateTime', 'status', 'substatus',
    'statusReason', 'type', 'qualification', 'referralSource', 'callToAction', 'customerProfile', 'consent', 'details',
    'team', 'inviteContext', 'target', 'eTag', 'links', 'direction', 'salesStage', 'campaignId', 'favorite',
    'lastModifiedVia', 'lastRunId', 'mpnId', 'referralProgram', 'quality', 'isSpam', 'dealSensitivity', 'createdVia',
    'tags', 'registrationStatus', 'registrations', 'trackingInfo', 'partnerRole', 'solutionArea', 'solutionPlay',
    'customerMarketplaceIntent',
    // CustomerProfile, Address, Member
    'address', 'size', 'ids', 'profileType', 'isMatchingComplete', 'addressLine1', 'addressLine2', 'city', 'state',
    'postalCode', 'country', 'region', 'firstName', 'lastName', 'phoneNumber', 'email', 'title', 'contactPreference',
    'locale', 'disableNotifications',
    // Consent
    ...CONSENT_FLAGS,
    // Details, requirements, invite context, links
    'notes', 'dealValue', 'currency', 'closingDateTime', 'requirements', 'customerRequestedContact', 'customerAction',
    'incentiveLevel', 'industries', 'products', 'services', 'solutions', 'offers', 'salesPlays',
    'additionalRequirements', 'attributes', 'price', 'quantity', 'publisherName', 'solutionType', 'invitedBy',
    'assistanceRequestCode', 'invitedMpnId', 'relatedReferrals', 'self', 'uri', 'method', 'microsoftMsxId',
];

const BY_LOWER_CASE = new Map(WIRE_NAMES.map((name) => [name.toLowerCase(), name]));

export function wireName(key: string): string {
    return BY_LOWER_CASE.get(key.toLowerCase()) ?? key.charAt(0).toLowerCase() + key.slice(1);
}

/** A deep copy of a JSON value with every object key in its camelCase wire spelling. */
export function toWireNames(value: unknown): unknown {
    if (Array.isArray(value)) return value.map(toWireNames);
    if (typeof value !== 'object' || value === null) return value;
    const result: Record<string, unknown> = {};
    for (const [key, inner] of Object.entries(value)) result[wireName(key)] = toWireNames(inner);
    return result;
}
