import {
    ASSISTANCE_REQUEST_CODES,
    CUSTOMER_PROFILE_ID_TYPES,
    CUSTOMER_SIZES,
    REFERRAL_QUALIFICATIONS,
    REFERRAL_TYPES,
    SOLUTION_TYPES,
    STATUS_RULES,
    TARGET_TYPES,
} from '../../../shared/referral/request/enums';
import { loggablePath, MAX_NESTING_DEPTH, validateReferral } from '../../../shared/referral/request/validate';
import { expectNoPii, independentReferral, PII, referralWithPii, seedReferral } from '../../support/referrals';

function problemsOf(body: unknown) {
    const result = validateReferral(body);
    return result.ok ? [] : result.problems;
}

describe('the referral contract', () => {
    it('accepts the documented Shared example clean, and passes it on unchanged', () => {
        const seed = seedReferral();
        const result = validateReferral(seed);
        expect(result).toEqual({ ok: true, referral: seed, warnings: [] });
    });

    it('accepts an Independent referral without target', () => {
        expect(validateReferral(independentReferral()).ok).toBe(true);
    });

    it.each(['type', 'customerProfile', 'consent', 'details'])('requires %s', (block) => {
        const body = seedReferral();
        delete body[block];
        expect(problemsOf(body)).toEqual([{ path: block, message: 'is required' }]);
    });

    it('reports every problem at once, each with its path', () => {
        const body = seedReferral();
        body.type = 'Joint';
        body.customerProfile.address.country = 'USA';
        body.details.currency = 'DOLLARS';
        body.details.dealValue = -1;
        body.details.closingDateTime = 'next tuesday';
        body.customerProfile.team[0].email = 'not-an-email';
        body.details.requirements.solutions[0].type = 'Product';
        expect(problemsOf(body).map((p) => p.path)).toEqual([
            'type',
            'customerProfile.address.country',
            'customerProfile.team[0].email',
            'details.dealValue',
            'details.currency',
            'details.closingDateTime',
            'details.requirements.solutions[0].type',
        ]);
    });

    it.each([
        ['type', REFERRAL_TYPES, (b: any, v: string) => (b.type = v)],
        ['qualification', REFERRAL_QUALIFICATIONS, (b: any, v: string) => (b.qualification = v)],
        ['target type', TARGET_TYPES, (b: any, v: string) => (b.target = [{ type: v, id: 'x' }])],
        ['solution type', SOLUTION_TYPES, (b: any, v: string) => (b.details.requirements.solutions[0].type = v)],
        [
            'profile id type',
            CUSTOMER_PROFILE_ID_TYPES,
            (b: any, v: string) => (b.customerProfile.ids = [{ profileType: v, id: '1' }]),
        ],
        ['customer size', CUSTOMER_SIZES, (b: any, v: string) => (b.customerProfile.size = v)],
        [
            'assistance code',
            ASSISTANCE_REQUEST_CODES,
            (b: any, v: string) => (b.inviteContext.assistanceRequestCode = v),
        ],
    ] as const)('accepts every documented %s and rejects others', (_name, values, set) => {
        for (const value of values) {
            const body = seedReferral();
            set(body, value);
            expect(problemsOf(body)).toEqual([]);
        }
        const body = seedReferral();
        set(body, 'NotAValue');
        expect(problemsOf(body)).toHaveLength(1);
        expect(problemsOf(body)[0]!.message).toMatch(/^must be one of: /);
    });

    it('accepts exactly the status/substatus pairs of the transition table', () => {
        for (const [status, rule] of Object.entries(STATUS_RULES)) {
            for (const substatus of ['None', 'Pending', 'Received', 'Accepted', 'Won', 'Lost', 'Declined', 'Expired']) {
                const body = seedReferral();
                body.status = status;
                body.substatus = substatus;
                const allowed = (rule.substatuses as readonly string[]).includes(substatus);
                expect(problemsOf(body)).toEqual(
                    allowed ? [] : [{ path: 'substatus', message: expect.stringContaining(`with status ${status}`) }],
                );
            }
        }
    });

    it('checks consent flags as booleans, with the API spelling consentToToShareInfoWithOthers', () => {
        const body = seedReferral();
        body.consent = {
            consentToToShareInfoWithOthers: true,
            consentToContact: false,
            consentToShareReferralWithMicrosoftSellers: true,
            consentToMicrosoftToContactSpecificPartners: null,
        };
        expect(problemsOf(body)).toEqual([]);
        body.consent.consentToContact = 'yes';
        expect(problemsOf(body)).toEqual([{ path: 'consent.consentToContact', message: 'must be true or false' }]);
    });

    it('passes unknown properties through and reports them as warnings, with a hint for a wrong case', () => {
        const body = seedReferral();
        body.partnerRole = 'ServicesPartner';
        body.consent.ConsentToContact = true;
        const result = validateReferral(body);
        expect(result.ok).toBe(true);
        if (!result.ok) return;
        expect(result.referral).toBe(body);
        expect(result.referral.partnerRole).toBe('ServicesPartner');
        expect(result.warnings).toEqual([
            { path: 'consent.ConsentToContact', message: expect.stringContaining('did you mean "consentToContact"') },
            { path: 'partnerRole', message: 'is not a documented property; it is passed through unchanged' },
        ]);
    });

    it('rejects prototype keys and absurd nesting before anything else', () => {
        const polluted = JSON.parse('{"type":"Shared","__proto__":{"admin":true}}') as unknown;
        expect(problemsOf(polluted)).toEqual([{ path: '__proto__', message: 'is a forbidden property name' }]);

        let deep: Record<string, unknown> = {};
        const body = { ...seedReferral(), extra: deep };
        for (let i = 0; i < MAX_NESTING_DEPTH + 5; i++) deep = deep.child = {};
        expect(problemsOf(body)[0]!.message).toMatch(/nests deeper than/);
    });

    it('rejects bodies that are not JSON objects', () => {
        for (const body of [null, [], 'text', 42]) {
            expect(problemsOf(body)).toEqual([{ path: '', message: 'must be a JSON object' }]);
        }
    });

    it('never quotes a submitted value in a problem or warning', () => {
        const body = referralWithPii();
        body.customerProfile.team[0].email = `${PII.email} is wrong`;
        body.customerProfile.team[0].phoneNumber = PII.phone.repeat(20);
        body.customerProfile.name = { first: PII.customerName };
        body.details.notes = PII.notes.repeat(400);
        body[PII.street] = PII.notes;
        const result = validateReferral(body);
        expect(result.ok).toBe(false);
        const text = JSON.stringify(result);
        // The unknown property's name is the caller's own key, reported as its path; values never appear.
        expectNoPii(text.split(PII.street).join(''));
    });

    it('keeps only documented names in paths meant for logs', () => {
        expect(loggablePath('customerProfile.team[0].email')).toBe('customerProfile.team[0].email');
        expect(loggablePath(`consent.${PII.customerName}`)).toBe('consent.*');
        expect(loggablePath(`${PII.customerName}[2].notes`)).toBe('*[2].notes');
        expect(loggablePath('consent.ConsentToContact')).toBe('consent.*');
    });
});
