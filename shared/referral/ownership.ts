/**
 * Whether a referral found at the Partner API is provably the one this app created for a record. A lookup after a
 * create whose answer was lost must never adopt another customer's referral, so nothing the server did with the
 * query is trusted: every comparison happens here, on the client, exactly (case-sensitively: `Order-1` is not
 * `order-1`, whatever a case-insensitive `$filter` returned).
 *
 * A candidate is one of ours only if it has our type, our externalReferenceId (absent for a connected referral), our
 * engagement and the Microsoft target when asked, and the same fingerprint: a SHA-256 over the submitted body's
 * stable parts, the fields the Partner API echoes back unchanged (customer name and address, consent, deal value
 * and currency, type, externalReferenceId; see the seed fixtures, reference/partner-api.md §5). Left out on purpose:
 * what the service rewrites or may drop (status, substatus, dates: the documented answer drops
 * `details.closingDateTime`; notes, team and requirements, which carry server-added fields).
 *
 * Verdicts: `none` when nothing relevant was found; `ours` when exactly one relevant candidate matches; `ambiguous`
 * (stop, record an error, alert, never guess) when several do, or when a candidate with our identity has other
 * content (another key's referral with the same externalReferenceId). Candidates with another identity are
 * strangers: a server that ignored the filter returns them, and they are simply not ours.
 *
 * Pure: no I/O, no clock. The time window (created since the step started) is the lookup's business.
 */
import { createHash } from 'node:crypto';

import type { PartnerReferral } from '../partnerApi/types';
import { canonicalJson } from './request/canonicalJson';
import { MICROSOFT_TARGET, type ReferralType } from './request/enums';

type Json = Record<string, unknown>;

const ADDRESS_FIELDS = ['addressLine1', 'addressLine2', 'city', 'state', 'postalCode', 'country'] as const;
const CONSENT_FIELDS = [
    'consentToToShareInfoWithOthers',
    'consentToContact',
    'consentToShareReferralWithMicrosoftSellers',
    'consentToMicrosoftToContactSpecificPartners',
] as const;

function record(value: unknown): Json {
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Json) : {};
}

/** null, undefined and '' are the same absence (production answers `"externalReferenceId": ""` for none). */
function text(value: unknown): string | null {
    return typeof value === 'string' && value !== '' ? value : null;
}

/** `50000`, `50000.0` and the PATCH docs' `"50000"` are one value. */
function amount(value: unknown): number | null {
    const number = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
    return typeof number === 'number' && Number.isFinite(number) ? number : null;
}

/** The externalReferenceId a body or referral carries, or null for none. */
export function externalReferenceIdOf(body: object): string | null {
    return text((body as Json).externalReferenceId);
}

/** The stable parts of a create body (or of a referral the API answered), as one comparable value. */
export function stableParts(body: object): Json {
    const referral = body as Json;
    const profile = record(referral.customerProfile);
    const address = record(profile.address);
    const consent = record(referral.consent);
    const details = record(referral.details);
    return {
        type: text(referral.type),
        externalReferenceId: externalReferenceIdOf(body),
        customerName: text(profile.name),
        address: Object.fromEntries(ADDRESS_FIELDS.map((field) => [field, text(address[field])])),
        // An absent consent is no consent: a service that fills in `false` defaults still matches.
        consent: Object.fromEntries(CONSENT_FIELDS.map((field) => [field, consent[field] === true])),
        dealValue: amount(details.dealValue),
        currency: text(details.currency),
    };
}

/** SHA-256 (hex) over the stable parts: equal for the body we sent and the referral the API stored from it. */
export function fingerprint(body: object): string {
    return createHash('sha256')
        .update(canonicalJson(stableParts(body)))
        .digest('hex');
}

/** Whether the referral targets Microsoft (`{ type: 'BusinessProfileLocation', id: 'msft' }`), exactly. */
export function isMicrosoftTargeted(referral: object): boolean {
    const targets = (referral as Json).target;
    return (
        Array.isArray(targets) &&
        targets.some((target) => {
            const { type, id } = record(target);
            return type === MICROSOFT_TARGET.type && id === MICROSOFT_TARGET.id;
        })
    );
}

export interface OwnershipExpectation {
    /** What was (or will be) submitted; or give its `fingerprint` instead. */
    body?: object;
    fingerprint?: string;
    /** The externalReferenceId submitted; null or undefined for none (a connected referral carries none). */
    externalReferenceId?: string | null;
    type: ReferralType;
    /** The engagement the referral must belong to (the connected referral). */
    engagementId?: string;
    /** The connected referral: it must target Microsoft. */
    mustTargetMicrosoft?: boolean;
    /** Referrals that are certainly not the one looked for (the partner's own referral, for the connected one). */
    excludeIds?: readonly string[];
}

export type OwnershipVerdict =
    { verdict: 'none' } | { verdict: 'ours'; referral: PartnerReferral } | { verdict: 'ambiguous'; count: number };

function expectedFingerprint(expected: OwnershipExpectation): string {
    if (expected.fingerprint) return expected.fingerprint;
    if (expected.body) return fingerprint(expected.body);
    throw new TypeError('judgeCandidates needs the submitted body or its fingerprint');
}

/** The candidates with our identity (type, externalReferenceId, engagement, target), each once, none excluded. */
function relevantCandidates(expected: OwnershipExpectation, candidates: readonly PartnerReferral[]): PartnerReferral[] {
    const externalReferenceId = expected.externalReferenceId ?? null;
    const excluded = new Set(expected.excludeIds ?? []);
    const seen = new Set<string>();
    return candidates.filter((candidate) => {
        if (seen.has(candidate.id) || excluded.has(candidate.id)) return false;
        seen.add(candidate.id);
        return (
            candidate.type === expected.type &&
            externalReferenceIdOf(candidate) === externalReferenceId &&
            (expected.engagementId === undefined || candidate.engagementId === expected.engagementId) &&
            (!expected.mustTargetMicrosoft || isMicrosoftTargeted(candidate))
        );
    });
}

/** Decides which, if any, of the candidates a lookup found is ours. */
export function judgeCandidates(
    expected: OwnershipExpectation,
    candidates: readonly PartnerReferral[],
): OwnershipVerdict {
    const wanted = expectedFingerprint(expected);
    // Same identity as ours: either ours, or a referral we must not silently pass over.
    const relevant = relevantCandidates(expected, candidates);
    if (relevant.length === 0) return { verdict: 'none' };
    const [only] = relevant;
    if (relevant.length === 1 && only && fingerprint(only) === wanted) return { verdict: 'ours', referral: only };
    return { verdict: 'ambiguous', count: relevant.length };
}

/**
 * Every candidate that is provably ours (our identity and our content), the `excludeIds` left out: after a referral
 * is done, with its recorded one excluded, these are the copies that slipped through (the duplicate check). A
 * candidate with our identity but other content is not ours, so never reported as our copy.
 */
export function provablyOurs(
    expected: OwnershipExpectation,
    candidates: readonly PartnerReferral[],
): PartnerReferral[] {
    const wanted = expectedFingerprint(expected);
    return relevantCandidates(expected, candidates).filter((candidate) => fingerprint(candidate) === wanted);
}
