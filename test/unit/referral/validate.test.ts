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
import { referralSchema } from '../../../shared/referral/request/schema';
import {
    loggablePath,
    MAX_LISTED_PROBLEMS,
    MAX_NESTING_DEPTH,
    MAX_PROPERTIES_PER_OBJECT,
    MAX_VALUES,
    validateReferral,
} from '../../../shared/referral/request/validate';
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

    describe('hostile input', () => {
        const UNCLEAN = 'must not contain control characters, bidi controls or unpaired surrogates';

        afterEach(() => jest.restoreAllMocks());

        it('refuses a 40 KB body nested 20,000 deep with one clear problem, before joi runs', () => {
            const validate = jest.spyOn(referralSchema(), 'validate');
            const text = `{"type":"Shared","extra":${'['.repeat(20_000)}${']'.repeat(20_000)}}`;
            expect(text.length).toBeGreaterThan(40_000);
            const result = validateReferral(JSON.parse(text));
            expect(result).toMatchObject({ ok: false, problems: [{ message: 'nests deeper than 32 levels' }] });
            expect(validate).not.toHaveBeenCalled();
        });

        it('caps the properties of an object and the values of the body before joi runs', () => {
            const validate = jest.spyOn(referralSchema(), 'validate');
            const wide = seedReferral();
            for (let i = 0; i < 25_000; i++) wide[`unknownProperty${i}`] = 'x';
            expect(problemsOf(wide)).toEqual([
                { path: '', message: `must not have more than ${MAX_PROPERTIES_PER_OBJECT} properties` },
            ]);

            const many = seedReferral();
            many.customerProfile.team = Array.from({ length: 17_001 }, () => ({ email: 'not-an-email' }));
            expect(problemsOf(many)).toEqual([
                { path: '', message: `must not hold more than ${MAX_VALUES} values in all` },
            ]);
            expect(validate).not.toHaveBeenCalled();
        });

        it(`lists at most ${MAX_LISTED_PROBLEMS} problems and ${MAX_LISTED_PROBLEMS} warnings, and counts the rest`, () => {
            const body = seedReferral();
            const member = body.customerProfile.team[0];
            body.customerProfile.team = Array.from({ length: 100 }, () => ({ ...member, email: 'bad' }));
            body.team = Array.from({ length: 100 }, () => ({ ...member, email: 'bad' }));
            for (let i = 0; i < 150; i++) body[`extra${i}`] = i;
            const result = validateReferral(body);
            expect(result.ok).toBe(false);
            if (result.ok) return;
            expect(result.problems).toHaveLength(MAX_LISTED_PROBLEMS);
            expect(result.problems[0]).toEqual({
                path: 'customerProfile.team[0].email',
                message: 'must be a valid email address',
            });
            expect(result.problemsOmitted).toBe(200 - MAX_LISTED_PROBLEMS);
            expect(result.warnings).toHaveLength(MAX_LISTED_PROBLEMS);
            expect(result.warningsOmitted).toBe(150 - MAX_LISTED_PROBLEMS);

            const valid = seedReferral();
            for (let i = 0; i < 60; i++) valid[`extra${i}`] = i;
            expect(validateReferral(valid)).toMatchObject({ ok: true, warningsOmitted: 10 });
        });

        it('keeps the listed problems small however long their paths are', () => {
            const body = seedReferral();
            let node = body;
            for (let depth = 0; depth < MAX_NESTING_DEPTH - 1; depth++) node = node[`${'n'.repeat(120)}${depth}`] = {};
            for (let i = 0; i < 100; i++) node[`${'k'.repeat(120)}${i}`] = '\u202E';
            const result = validateReferral(body);
            expect(result.ok).toBe(false);
            if (result.ok) return;
            expect(JSON.stringify(result.problems).length).toBeLessThan(13_000);
            expect(result.problems.length + result.problemsOmitted!).toBe(100);
        });

        it.each([
            ['NUL', 'Ada\u0000Lovelace'],
            ['a C0 control', 'Ada\u001BLovelace'],
            ['DEL', 'Ada\u007F'],
            ['a C1 control', 'Ada\u0085Lovelace'],
            ['a right-to-left override', '\u202Egnp.exe'],
            ['a left-to-right embedding', '\u202AContoso'],
            ['a first-strong isolate', 'Contoso\u2068'],
            ['a pop directional isolate', 'Contoso\u2069'],
            ['a lone high surrogate', 'Contoso\uD83D'],
            ['a lone low surrogate', '\uDE00Contoso'],
            ['a tab', 'Ada\tLovelace'],
            ['a newline', 'Ada\nLovelace'],
        ])('refuses %s in a customer name, a team member and an unknown property, with the path', (_what, value) => {
            const body = seedReferral();
            body.customerProfile.name = value;
            body.customerProfile.team[0].lastName = value;
            body.partnerRole = value;
            expect(problemsOf(body)).toEqual([
                { path: 'customerProfile.name', message: UNCLEAN },
                { path: 'customerProfile.team[0].lastName', message: UNCLEAN },
                { path: 'partnerRole', message: UNCLEAN },
            ]);
        });

        it('allows tab and line breaks in the free-text notes only, and any paired surrogate anywhere', () => {
            const body = seedReferral();
            body.details.notes = 'Line one\r\nLine two\n\tindented \u{1F600}';
            body.inviteContext.notes = 'a\tb\nc';
            body.customerProfile.name = 'Contoso \u{1F600} Ltd — café';
            expect(problemsOf(body)).toEqual([]);
            body.details.notes = 'bell\u0007';
            expect(problemsOf(body)).toEqual([{ path: 'details.notes', message: UNCLEAN }]);
        });

        it('refuses unclean, over-long and forbidden property names without quoting them', () => {
            const body = seedReferral();
            body.consent['\u202Eevil'] = true;
            body['x'.repeat(129)] = 1;
            const problems = problemsOf(body);
            expect(problems.map((p) => p.path)).toEqual(['', 'consent']);
            expect(JSON.stringify(problems)).not.toContain('evil');
        });

        it('refuses non-finite numbers anywhere (1e309 parses to Infinity), with the path', () => {
            const text = JSON.stringify(seedReferral())
                .replace(/"dealValue":[^,}]+/, '"dealValue":1e309')
                .replace(/}$/, ',"extra":{"ratio":-1e400}}');
            expect(problemsOf(JSON.parse(text))).toEqual([
                { path: 'details.dealValue', message: 'must be a finite number' },
                { path: 'extra.ratio', message: 'must be a finite number' },
            ]);
        });
    });
});
