import { applyPatch, parsePointer } from '../../../shared/referral/request/jsonPatch';
import { IMMUTABLE_PROPERTIES, MAX_PATCH_OPERATIONS, validatePatch } from '../../../shared/referral/request/patch';
import type { ReferralRequest } from '../../../shared/referral/request/types';
import { MAX_LISTED_PROBLEMS } from '../../../shared/referral/request/validate';
import { PII, seedReferral } from '../../support/referrals';

const latest = () => seedReferral() as ReferralRequest;
const close = (substatus = 'Won') => [
    { op: 'replace', path: '/status', value: 'Closed' },
    { op: 'replace', path: '/substatus', value: substatus },
];

describe('JSON Patch add and replace (RFC 6902 subset, RFC 6901 pointers)', () => {
    it('reads pointers with ~0 and ~1 escapes and refuses malformed ones', () => {
        expect(parsePointer('/a~1b/c~0d/0')).toEqual(['a/b', 'c~d', '0']);
        expect(parsePointer('')).toEqual([]);
        expect(parsePointer('a/b')).toBeUndefined();
        expect(parsePointer('/a~2')).toBeUndefined();
    });

    it('replaces, adds, inserts and appends without changing the original', () => {
        const original = { a: { b: 1 }, list: [1, 2] };
        const result = applyPatch(original, [
            { op: 'replace', path: '/a/b', value: 2 },
            { op: 'add', path: '/a/c', value: { d: 3 } },
            { op: 'add', path: '/list/0', value: 0 },
            { op: 'add', path: '/list/-', value: 9 },
            { op: 'replace', path: '/list/1', value: 10 },
        ]);
        expect(result).toEqual({ ok: true, document: { a: { b: 2, c: { d: 3 } }, list: [0, 10, 2, 9] } });
        expect(original).toEqual({ a: { b: 1 }, list: [1, 2] });
    });

    it.each([
        [{ op: 'replace', path: '/missing', value: 1 }, /does not exist/],
        [{ op: 'replace', path: '/list/2', value: 1 }, /does not exist/],
        [{ op: 'add', path: '/list/3', value: 1 }, /past the end/],
        [{ op: 'replace', path: '/list/-', value: 1 }, /only in an add/],
        [{ op: 'add', path: '/list/01', value: 1 }, /number or "-"/],
        [{ op: 'add', path: '/x/y', value: 1 }, /parent does not exist/],
        [{ op: 'add', path: '/__proto__/polluted', value: 1 }, /forbidden/],
        [{ op: 'add', path: '', value: 1 }, /whole referral/],
    ] as const)('refuses %j', (operation, message) => {
        const result = applyPatch({ list: [1, 2] }, [operation]);
        expect(result).toMatchObject({ ok: false, index: 0, message: expect.stringMatching(message) });
        expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    });
});

describe('validatePatch', () => {
    it('accepts the documented examples and gives the patched referral', () => {
        const member = { email: 'jane.doe@contoso.com', firstName: 'Jane', lastName: 'Doe', phoneNumber: '0000000001' };
        const result = validatePatch(
            [
                { op: 'replace', path: '/details/dealValue', value: 10000 },
                { op: 'add', path: '/team/-', value: member },
            ],
            latest(),
            'New',
        );
        expect(result.ok).toBe(true);
        if (!result.ok) return;
        expect(result.referral.details.dealValue).toBe(10000);
        expect(result.referral.team!.at(-1)).toEqual(member);
        expect(result.patch).toHaveLength(2);
        expect(validatePatch(close(), latest(), 'Active').ok).toBe(true);
        expect(validatePatch(close('Lost'), latest(), 'New').ok).toBe(true);
    });

    it('refuses a body that is not a non-empty array of at most the limit', () => {
        for (const body of [{}, 'x', null, []]) {
            expect(validatePatch(body, latest(), 'New')).toMatchObject({ ok: false, problems: [{ path: '' }] });
        }
        const many = Array.from({ length: MAX_PATCH_OPERATIONS + 1 }, () => close()[0]);
        expect(validatePatch(many, latest(), 'New')).toMatchObject({ ok: false, problems: [{ path: '' }] });
    });

    it.each([...IMMUTABLE_PROPERTIES])('refuses a change of /%s (and below it)', (property) => {
        const result = validatePatch(
            [
                { op: 'replace', path: `/${property}`, value: 'x' },
                { op: 'add', path: `/${property}/0`, value: 'x' },
            ],
            latest(),
            'New',
        );
        expect(result).toMatchObject({
            ok: false,
            problems: [
                { path: '[0].path', message: 'names a property that may not change' },
                { path: '[1].path', message: 'names a property that may not change' },
            ],
        });
    });

    it('lists every problem at once: ops, paths, values, the patched referral, the transition', () => {
        const result = validatePatch(
            [
                { op: 'remove', path: '/name' },
                { op: 'move', path: '/notAProperty', value: 1 },
                { op: 'add', path: 'no-slash', value: 1 },
                { op: 'replace', path: '/team/-', value: {} },
                { op: 'replace', path: '/details/dealValue', value: -1 },
                { op: 'replace', path: '/status', value: 'New' },
                { op: 'replace', path: '/substatus', value: 'Pending' },
                { op: 'add', path: '/team/0/email', value: 'not an email' },
                'not an operation',
            ],
            latest(),
            'Active',
        );
        expect(result.ok).toBe(false);
        if (result.ok) return;
        expect(result.problems).toEqual([
            { path: '[0].op', message: 'must be one of: add, replace' },
            { path: '[0].value', message: 'is required' },
            { path: '[1].op', message: 'must be one of: add, replace' },
            { path: '[1].path', message: 'is not a path of the referral' },
            { path: '[2].path', message: expect.stringMatching(/JSON Pointer/) },
            { path: '[3].path', message: 'may append with "-" only in an add operation' },
            { path: '[8]', message: 'must be an object' },
            { path: 'details.dealValue', message: 'must be greater than or equal to 0' },
            { path: 'team[0].email', message: 'must be a valid email address' },
            { path: 'status', message: 'cannot move from Active; allowed: Active, Closed' },
        ]);
    });

    it('checks the status pair of the patched referral and refuses any change after Closed', () => {
        expect(validatePatch(close('Accepted'), latest(), 'Active')).toMatchObject({
            ok: false,
            problems: [{ path: 'substatus', message: expect.stringMatching(/not allowed with status Closed/) }],
        });
        const notes = [{ op: 'replace', path: '/details/notes', value: 'later' }];
        expect(validatePatch(notes, latest(), 'Closed')).toMatchObject({
            ok: false,
            problems: [{ path: 'status', message: 'is Closed: nothing may change after Closed' }],
        });
        expect(validatePatch(close(), latest(), 'Closed').ok).toBe(false);
        expect(validatePatch(notes, latest(), null).ok).toBe(true);
    });

    it('accepts line breaks where they land in notes, and refuses them in a name', () => {
        expect(validatePatch([{ op: 'replace', path: '/details/notes', value: 'a\nb' }], latest(), 'New').ok).toBe(
            true,
        );
        expect(validatePatch([{ op: 'replace', path: '/name', value: 'a\nb' }], latest(), 'New')).toMatchObject({
            ok: false,
            problems: [{ path: 'name' }],
        });
    });

    it('never quotes a value or a pointer, and bounds the list', () => {
        const body = [
            { op: 'replace', path: `/customerProfile/${PII.email}`, value: PII.firstName },
            { op: 'replace', path: '/customerProfile/team/0/email', value: PII.customerName },
            ...Array.from({ length: 80 }, (_, i) => ({ op: 'bad', path: `/${PII.lastName}${i}`, value: PII.notes })),
        ];
        const result = validatePatch(body, latest(), 'New');
        const text = JSON.stringify(result);
        for (const value of Object.values(PII)) expect(text).not.toContain(value);
        expect(result.ok).toBe(false);
        if (result.ok) return;
        expect(result.problems).toHaveLength(MAX_LISTED_PROBLEMS);
        expect(result.problemsOmitted).toBeGreaterThan(0);
    });
});
