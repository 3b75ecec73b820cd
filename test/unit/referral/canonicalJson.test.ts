import { canonicalJson, requestHash } from '../../../shared/referral/request/canonicalJson';
import { seedReferral } from '../../support/referrals';

function nested(depth: number): unknown {
    let body: unknown = { leaf: [1, 'two', null] };
    for (let i = 0; i < depth; i++) body = i % 2 ? { child: body } : [body];
    return body;
}

describe('canonicalJson', () => {
    it('sorts keys at every level and otherwise writes what JSON.stringify writes', () => {
        expect(canonicalJson({ b: 1, a: { d: [true, null, { z: 'x', y: 2.5 }], c: '"quoted"' }, e: [] })).toBe(
            '{"a":{"c":"\\"quoted\\"","d":[true,null,{"y":2.5,"z":"x"}]},"b":1,"e":[]}',
        );
        expect(canonicalJson({})).toBe('{}');
        expect(canonicalJson([[], [{}]])).toBe('[[],[{}]]');
        expect(canonicalJson('text')).toBe('"text"');
        expect(canonicalJson(undefined)).toBe('null');
        expect(JSON.parse(canonicalJson(seedReferral()))).toEqual(seedReferral());
    });

    it('hashes the same referral the same whatever its key order, and a changed one differently', () => {
        const seed = seedReferral();
        const reordered = Object.fromEntries(Object.entries(seed).reverse());
        expect(requestHash(reordered)).toBe(requestHash(seed));
        expect(requestHash({ ...seed, name: 'other' })).not.toBe(requestHash(seed));
    });

    it('writes a body nested 20,000 levels deep without exhausting the stack', () => {
        expect(canonicalJson(nested(20_000))).toBe(
            `${'{"child":['.repeat(10_000)}{"leaf":[1,"two",null]}${']}'.repeat(10_000)}`,
        );
        expect(requestHash(nested(20_000))).toMatch(/^[0-9a-f]{64}$/);
    });
});
