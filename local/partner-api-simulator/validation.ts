/**
 * Validation of a referral body as the service does it: the four required blocks, and every documented enum (read
 * from shared/referral/request/enums.ts). Problems name the field and the rule, never the submitted value.
 */
import {
    ASSISTANCE_REQUEST_CODES,
    CONSENT_FLAGS,
    CUSTOMER_PROFILE_ID_TYPES,
    CUSTOMER_SIZES,
    DIRECTIONS,
    isAllowedStatusPair,
    REFERRAL_QUALIFICATIONS,
    REFERRAL_STATUSES,
    REFERRAL_SUBSTATUSES,
    REFERRAL_TYPES,
    type ReferralStatus,
    type ReferralSubstatus,
    SOLUTION_TYPES,
    TARGET_TYPES,
} from '../../shared/referral/request/enums';

export type Json = Record<string, unknown>;

export interface Problem {
    target: string;
    rule: string;
}

export const REQUIRED_BLOCKS = ['type', 'customerProfile', 'consent', 'details'] as const;

export function isObject(value: unknown): value is Json {
    return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Accepts a single object where the contract has an array (seen in hand-edited payloads); emits arrays. */
function asArray(value: unknown): unknown[] | undefined {
    if (value === undefined || value === null) return undefined;
    return Array.isArray(value) ? (value as unknown[]) : [value];
}

/**
 * Checks (and canonicalizes in place: enum spelling, single objects to arrays) a referral whose keys are already in
 * wire spelling. Returns the problems found; empty means valid.
 */
export function validateReferral(referral: Json): Problem[] {
    const problems: Problem[] = [];
    for (const block of REQUIRED_BLOCKS) {
        const value = referral[block];
        if (value === undefined || value === null || value === '')
            problems.push({ target: block, rule: 'is required' });
        else if (block !== 'type' && !isObject(value)) problems.push({ target: block, rule: 'must be an object' });
    }
    checkEnum(referral, 'type', REFERRAL_TYPES, 'type', problems);
    checkEnum(referral, 'status', REFERRAL_STATUSES, 'status', problems);
    checkEnum(referral, 'substatus', REFERRAL_SUBSTATUSES, 'substatus', problems);
    checkEnum(referral, 'qualification', REFERRAL_QUALIFICATIONS, 'qualification', problems);
    checkEnum(referral, 'direction', DIRECTIONS, 'direction', problems);
    const { status, substatus } = referral;
    if (typeof status === 'string' && typeof substatus === 'string' && !problems.some((p) => /status/.test(p.target))) {
        if (!isAllowedStatusPair(status as ReferralStatus, substatus as ReferralSubstatus)) {
            problems.push({ target: 'substatus', rule: 'is not allowed with this status' });
        }
    }
    checkArrayOfObjects(referral, 'target', 'target', problems, (item, path) =>
        checkEnum(item, 'type', TARGET_TYPES, `${path}.type`, problems),
    );
    checkArrayOfObjects(referral, 'team', 'team', problems);
    const profile = referral.customerProfile;
    if (isObject(profile)) {
        if (profile.size !== '' && profile.size !== null) {
            checkEnum(profile, 'size', CUSTOMER_SIZES, 'customerProfile.size', problems);
        }
        checkArrayOfObjects(profile, 'team', 'customerProfile.team', problems);
        checkArrayOfObjects(profile, 'ids', 'customerProfile.ids', problems, (item, path) =>
            checkEnum(item, 'profileType', CUSTOMER_PROFILE_ID_TYPES, `${path}.profileType`, problems),
        );
    }
    const consent = referral.consent;
    if (isObject(consent)) {
        for (const flag of CONSENT_FLAGS) {
            const value = consent[flag];
            if (value !== undefined && value !== null && typeof value !== 'boolean') {
                problems.push({ target: `consent.${flag}`, rule: 'must be a boolean' });
            }
        }
    }
    const details = referral.details;
    if (isObject(details)) {
        if (details.dealValue !== undefined && details.dealValue !== null && !isNumeric(details.dealValue)) {
            problems.push({ target: 'details.dealValue', rule: 'must be a number' });
        }
        const requirements = details.requirements;
        if (isObject(requirements)) {
            checkArrayOfObjects(requirements, 'solutions', 'details.requirements.solutions', problems, (item, path) =>
                checkEnum(item, 'type', SOLUTION_TYPES, `${path}.type`, problems),
            );
        }
    }
    const invite = referral.inviteContext;
    if (isObject(invite)) {
        checkEnum(
            invite,
            'assistanceRequestCode',
            ASSISTANCE_REQUEST_CODES,
            'inviteContext.assistanceRequestCode',
            problems,
        );
    }
    return problems;
}

function isNumeric(value: unknown): boolean {
    return (
        typeof value === 'number' || (typeof value === 'string' && value.trim() !== '' && !Number.isNaN(Number(value)))
    );
}

/** Enum values are matched case-insensitively, like .NET's enum binding, and stored in their documented spelling. */
function checkEnum(holder: Json, key: string, allowed: readonly string[], path: string, problems: Problem[]): void {
    const value = holder[key];
    if (value === undefined || value === null) return;
    const match = typeof value === 'string' ? allowed.find((a) => a.toLowerCase() === value.toLowerCase()) : undefined;
    if (match === undefined) problems.push({ target: path, rule: 'has a value that is not allowed' });
    else holder[key] = match;
}

function checkArrayOfObjects(
    holder: Json,
    key: string,
    path: string,
    problems: Problem[],
    eachItem?: (item: Json, path: string) => void,
): void {
    const items = asArray(holder[key]);
    if (items === undefined) return;
    holder[key] = items;
    items.forEach((item, index) => {
        if (!isObject(item)) problems.push({ target: `${path}[${index}]`, rule: 'must be an object' });
        else eachItem?.(item, `${path}[${index}]`);
    });
}

/** One human sentence for the error body: fields and rules only. */
export function describeProblems(problems: Problem[]): string {
    return `The referral is invalid: ${problems.map((p) => `'${p.target}' ${p.rule}`).join('; ')}.`;
}
