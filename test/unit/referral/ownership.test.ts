import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import type { PartnerReferral } from '../../../shared/partnerApi';
import {
    fingerprint,
    isMicrosoftTargeted,
    judgeCandidates,
    type OwnershipExpectation,
    provablyOurs,
} from '../../../shared/referral/ownership';

const fixtures = join(__dirname, '..', '..', 'fixtures');
const load = (name: string) => JSON.parse(readFileSync(join(fixtures, name), 'utf8')) as Record<string, any>;

const MSFT = { type: 'BusinessProfileLocation', id: 'msft' };
const ENGAGEMENT = '37ef26aa-1d15-4533-9f93-a69bd33ab1e5';

/** What the submit step sends for a key: the seed request with our externalReferenceId. */
function body(externalReferenceId: string, changes: Record<string, any> = {}): Record<string, any> {
    return { ...load('seed-shared-referral.request.json'), externalReferenceId, ...changes };
}

/** What the API stores from a body: the documented answer's rewrites (status, dates, dropped closing date). */
let nextId = 0;
function stored(sent: Record<string, any>, changes: Record<string, any> = {}): PartnerReferral {
    const answer = load('seed-shared-referral.response.json');
    return {
        ...answer,
        ...sent,
        id: `00000000-0000-4000-8000-${String(++nextId).padStart(12, '0')}`,
        engagementId: answer.engagementId,
        status: 'Active',
        substatus: 'Accepted',
        details: { ...sent.details, closingDateTime: undefined },
        ...changes,
    };
}

describe('fingerprint', () => {
    it('is equal for the documented request and answer (the API echoes the stable parts)', () => {
        expect(fingerprint(load('seed-shared-referral.response.json'))).toBe(
            fingerprint(load('seed-shared-referral.request.json')),
        );
    });

    it('ignores what the service rewrites, adds or normalizes', () => {
        const sent = body('crm-1');
        const answer = stored(sent, {
            consent: { ...sent.consent, consentToShareReferralWithMicrosoftSellers: false }, // a filled-in default
            details: { ...sent.details, dealValue: '50000', closingDateTime: undefined, notes: null },
            customerProfile: { ...sent.customerProfile, address: { ...sent.customerProfile.address, region: null } },
            team: [],
        });
        expect(fingerprint(answer)).toBe(fingerprint(sent));
    });

    it.each([
        ['the customer name', (b: any) => (b.customerProfile.name = 'Contoso Customer INC')],
        ['the city', (b: any) => (b.customerProfile.address.city = 'redmond')],
        ['the country', (b: any) => (b.customerProfile.address.country = 'CA')],
        ['a consent', (b: any) => (b.consent.consentToContact = false)],
        ['the deal value', (b: any) => (b.details.dealValue = 50001)],
        ['the currency', (b: any) => (b.details.currency = 'EUR')],
        ['the type', (b: any) => (b.type = 'Independent')],
        ['the externalReferenceId, by case', (b: any) => (b.externalReferenceId = 'CRM-1')],
    ])('changes with %s (compared exactly)', (_, change) => {
        const sent = body('crm-1');
        const other = structuredClone(sent);
        change(other);
        expect(fingerprint(other)).not.toBe(fingerprint(sent));
    });
});

describe('judgeCandidates', () => {
    const sentA = body('Order-1');
    const sentB = body('Order-1', {
        customerProfile: { ...sentA.customerProfile, name: 'Fabrikam Ltd' },
    });
    const submitOf = (sent: Record<string, any>): OwnershipExpectation => ({
        body: sent,
        externalReferenceId: sent.externalReferenceId as string,
        type: 'Shared',
    });

    const ours = stored(sentA);
    const otherKeySameExternalId = stored(sentB);
    const caseVariant = stored(body('order-1'));
    const stranger = stored(body('crm-999'), { customerProfile: { name: 'Northwind' } });
    const independentTwin = stored(sentA, { type: 'Independent' });

    const cases: Array<[string, OwnershipExpectation, PartnerReferral[], ReturnType<typeof judgeCandidates>]> = [
        ['nothing found', submitOf(sentA), [], { verdict: 'none' }],
        ['exactly our referral', submitOf(sentA), [ours], { verdict: 'ours', referral: ours }],
        ['the same referral listed twice', submitOf(sentA), [ours, ours], { verdict: 'ours', referral: ours }],
        [
            'by fingerprint instead of body',
            { ...submitOf(sentA), body: undefined, fingerprint: fingerprint(sentA) },
            [ours],
            { verdict: 'ours', referral: ours },
        ],
        // Defect 1: two keys share an externalReferenceId; the first key's referral is not adopted by the second.
        ['another key with our externalReferenceId only', submitOf(sentB), [ours], { verdict: 'ambiguous', count: 1 }],
        [
            'ours and another key with the same externalReferenceId',
            submitOf(sentB),
            [ours, otherKeySameExternalId],
            { verdict: 'ambiguous', count: 2 },
        ],
        // A case-insensitive $filter returns `order-1` for `Order-1`: not ours.
        ['a case variant only', submitOf(sentA), [caseVariant], { verdict: 'none' }],
        ['ours beside a case variant', submitOf(sentA), [caseVariant, ours], { verdict: 'ours', referral: ours }],
        // Defect 3: a server that ignored the filter returns strangers; they are simply not ours.
        ['an ignored filter: strangers only', submitOf(sentA), [stranger, caseVariant], { verdict: 'none' }],
        [
            'an ignored filter: ours among strangers',
            submitOf(sentA),
            [stranger, ours, caseVariant],
            { verdict: 'ours', referral: ours },
        ],
        ['the same content of another type', submitOf(sentA), [independentTwin], { verdict: 'none' }],
        ['an excluded id', { ...submitOf(sentA), excludeIds: [ours.id] }, [ours], { verdict: 'none' }],
    ];

    it.each(cases)('%s', (_, expected, candidates, verdict) => {
        expect(judgeCandidates(expected, candidates)).toEqual(verdict);
    });

    describe('the connected referral', () => {
        const own = stored(sentA, { engagementId: ENGAGEMENT });
        const { externalReferenceId: _dropped, target: _target, ...shared } = sentA;
        const connectBody = { ...shared, type: 'Shared', engagementId: ENGAGEMENT, target: [MSFT] };
        const connected = stored(connectBody, { externalReferenceId: null });
        const expectation: OwnershipExpectation = {
            body: connectBody,
            type: 'Shared',
            engagementId: ENGAGEMENT,
            mustTargetMicrosoft: true,
            excludeIds: [own.id],
        };

        it.each<[string, PartnerReferral[], ReturnType<typeof judgeCandidates>]>([
            [
                'ours in the engagement, beside the partner referral',
                [own, connected],
                { verdict: 'ours', referral: connected },
            ],
            ['only the partner referral (it does not target Microsoft)', [own], { verdict: 'none' }],
            [
                'a Microsoft referral in another engagement',
                [{ ...connected, engagementId: 'e-other' }],
                { verdict: 'none' },
            ],
            [
                'two Microsoft referrals in the engagement',
                [connected, { ...connected, id: 'c-2' }],
                { verdict: 'ambiguous', count: 2 },
            ],
            [
                'a Microsoft referral with another customer',
                [{ ...connected, customerProfile: { name: 'Northwind' } }],
                { verdict: 'ambiguous', count: 1 },
            ],
        ])('%s', (_, candidates, verdict) => {
            expect(judgeCandidates(expectation, candidates)).toEqual(verdict);
        });

        it('a connect answer that is the partner own referral is not Microsoft-targeted (not to be stored)', () => {
            // A service deduping on MS-RequestId could answer the connect POST with the submit's referral.
            expect(isMicrosoftTargeted(own)).toBe(false);
            expect(isMicrosoftTargeted(connected)).toBe(true);
            expect(isMicrosoftTargeted({ target: [{ type: 'BusinessProfileLocation', id: 'MSFT' }] })).toBe(false);
            expect(isMicrosoftTargeted({ target: 'msft' })).toBe(false);
            expect(isMicrosoftTargeted({})).toBe(false);
        });
    });

    it('needs the body or the fingerprint', () => {
        expect(() => judgeCandidates({ type: 'Shared' }, [])).toThrow(TypeError);
    });
});

describe('provablyOurs', () => {
    it('answers every candidate with our identity and content, each once, the excluded ones and strangers left out', () => {
        const sent = body('crm-dup');
        const kept = stored(sent);
        const copy = stored(sent);
        const otherContent = stored(
            body('crm-dup', { customerProfile: { ...sent.customerProfile, name: 'Other Ltd' } }),
        );
        const otherId = stored(body('CRM-DUP'));
        const expected: OwnershipExpectation = { body: sent, externalReferenceId: 'crm-dup', type: 'Shared' };

        const ours = provablyOurs({ ...expected, excludeIds: [kept.id] }, [kept, copy, copy, otherContent, otherId]);
        expect(ours.map((r) => r.id)).toEqual([copy.id]);
        expect(provablyOurs(expected, [otherContent, otherId])).toEqual([]);
    });
});
