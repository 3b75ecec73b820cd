/**
 * A corpus of hostile requests to POST /api/referrals: wrong types, bad enums, huge strings, deep nesting,
 * prototype keys, invalid UTF-8, wrong content types, oversized bodies, a missing or wrong function key, bad
 * Idempotency-Keys. Every one must get a 4xx, enqueue nothing, and never see a submitted value echoed back.
 *
 * Each request carries a canary (a string unique to this run) in the values it submits, so responses and host logs
 * can be searched for it.
 */

export interface HostileRequest {
    name: string;
    headers: Record<string, string>;
    body: string | Buffer;
    /** Omit the function key (answer must be 401). */
    noFunctionKey?: boolean;
    wrongFunctionKey?: boolean;
}

type Json = Record<string, unknown>;

function set(target: Json, path: string, value: unknown): Json {
    const copy = structuredClone(target);
    const parts = path.split('.');
    let node: Json = copy;
    for (const part of parts.slice(0, -1)) node = node[part] as Json;
    node[parts.at(-1)!] = value;
    return copy;
}

function get(target: Json, path: string): unknown {
    let node: unknown = target;
    for (const part of path.split('.')) node = (node as Json)[part];
    return node;
}

function remove(target: Json, path: string): Json {
    const copy = structuredClone(target);
    const parts = path.split('.');
    let node: Json = copy;
    for (const part of parts.slice(0, -1)) node = node[part] as Json;
    delete node[parts.at(-1)!];
    return copy;
}

/** A valid body with one more property whose value nests `depth` objects deep (as text: too deep to stringify). */
function withNested(valid: Json, depth: number, leaf: string): string {
    const nested = `${'{"deeper":'.repeat(depth)}${JSON.stringify(leaf)}${'}'.repeat(depth)}`;
    return `{"extension":${nested},${JSON.stringify(valid).slice(1)}`;
}

/**
 * @param seed A valid referral body (the seed example).
 * @param canary A unique string; every hostile value includes it.
 */
export function hostileCorpus(seed: Json, canary: string): HostileRequest[] {
    const json = { 'content-type': 'application/json' };
    const valid = set(seed, 'customerProfile.name', `${canary}-customer`);
    const post = (name: string, body: unknown, headers: Record<string, string> = json): HostileRequest => ({
        name,
        headers,
        body: typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body),
    });
    const huge = (length: number) => `${canary}-${'x'.repeat(length)}`;
    const requests: HostileRequest[] = [
        // Wrong types.
        post('type is a number', set(valid, 'type', 12345)),
        post('customerProfile is a string', set(valid, 'customerProfile', `${canary}-profile`)),
        post('consent is an array', set(valid, 'consent', [canary])),
        post('details is null', set(valid, 'details', null)),
        post('dealValue is a string', set(valid, 'details.dealValue', `${canary}-dollars`)),
        post('dealValue is negative', set(valid, 'details.dealValue', -1)),
        post('team is an object', set(valid, 'customerProfile.team', { name: canary })),
        post('country is a number', set(valid, 'customerProfile.address.country', 840)),
        post('closingDateTime is not a date', set(valid, 'details.closingDateTime', `${canary}-tomorrow`)),
        post('email is not an email', set(valid, 'customerProfile.team.0.email', `${canary}-not-an-email`)),
        post('consentToContact is a string', set(valid, 'consent.consentToContact', `${canary}-yes`)),
        post('name is an object', set(valid, 'customerProfile.name', { first: canary })),
        post('body is an array', [valid]),
        post('body is a string', JSON.stringify(`${canary}-just-a-string`)),
        post('body is a number', '42'),
        post('body is null', 'null'),
        // Bad enums.
        post('type not an enum', set(valid, 'type', `${canary}-Sharedish`)),
        post('status not an enum', set(valid, 'status', `${canary}-Status`)),
        post('status/substatus pair not allowed', set(set(valid, 'status', 'Closed'), 'substatus', 'Pending')),
        post('size not an enum', set(valid, 'customerProfile.size', `${canary}-huge`)),
        post('currency not ISO 4217', set(valid, 'details.currency', 'XQZ')),
        post('country not ISO 3166', set(valid, 'customerProfile.address.country', 'QZ')),
        post('qualification not an enum', set(valid, 'qualification', `${canary}-Qualified`)),
        post(
            'solution type not an enum',
            set(valid, 'details.requirements.solutions', [{ id: 'x', type: `${canary}-Kind` }]),
        ),
        post('assistance code not an enum', set(valid, 'inviteContext.assistanceRequestCode', `${canary}-Help`)),
        post('customer id type not an enum', set(valid, 'customerProfile.ids', [{ profileType: canary, id: '1' }])),
        post('target type not an enum', set(valid, 'target', [{ type: `${canary}-Type`, id: 'x' }])),
        post('locale wrong type', set(valid, 'customerProfile.team.0.contactPreference.locale', 7)),
        // Huge strings and arrays (within the body limit, beyond the schema's).
        post('customer name of 10 kB', set(valid, 'customerProfile.name', huge(10_000))),
        post('notes of 200 kB', set(valid, 'details.notes', huge(200_000))),
        post('email of 5 kB', set(valid, 'customerProfile.team.0.email', `${huge(5_000)}@example.test`)),
        post(
            '1000 team members',
            set(valid, 'customerProfile.team', Array(1000).fill(get(valid, 'customerProfile.team.0'))),
        ),
        post('500 targets', set(valid, 'target', Array(500).fill({ type: 'SolutionProfile', id: canary }))),
        // Deep nesting.
        post('unknown property nested 64 deep', withNested(valid, 64, canary)),
        post('unknown property nested 10000 deep', withNested(valid, 10_000, canary)),
        post('arrays nested 5000 deep', `{"type":"Shared","x":${'['.repeat(5000)}"${canary}"${']'.repeat(5000)}}`),
        // Prototype keys.
        post('__proto__ at the top', `{"__proto__":{"polluted":"${canary}"},${JSON.stringify(valid).slice(1)}`),
        post(
            '__proto__ in customerProfile',
            JSON.stringify(valid).replace('"customerProfile":{', `"customerProfile":{"__proto__":{"x":"${canary}"},`),
        ),
        post('constructor key', set(valid, 'details.constructor', { prototype: { polluted: canary } })),
        post('prototype key', set(valid, 'consent.prototype', canary)),
        // Not JSON, or not UTF-8.
        post(
            'invalid UTF-8',
            Buffer.concat([Buffer.from(`{"name":"${canary}`), Buffer.from([0xff, 0xfe, 0xc3]), Buffer.from('"}')]),
        ),
        post(
            'overlong UTF-8 encoding',
            Buffer.concat([Buffer.from(`{"name":"${canary}`), Buffer.from([0xc0, 0xaf]), Buffer.from('"}')]),
        ),
        post(
            'lone surrogate bytes',
            Buffer.concat([Buffer.from(`{"name":"${canary}`), Buffer.from([0xed, 0xa0, 0x80]), Buffer.from('"}')]),
        ),
        post('truncated JSON', JSON.stringify(valid).slice(0, 200)),
        post('trailing garbage', `${JSON.stringify(valid)}${canary}`),
        post('empty body', ''),
        post('JSON with comments', `{/* ${canary} */ "type": "Shared"}`),
        // Wrong content types.
        post('text/plain', JSON.stringify(valid), { 'content-type': 'text/plain' }),
        post('form encoded', `name=${canary}`, { 'content-type': 'application/x-www-form-urlencoded' }),
        post('no content type', JSON.stringify(valid), {}),
        post('xml', `<referral>${canary}</referral>`, { 'content-type': 'application/xml' }),
        post('multipart', `--b\r\n\r\n${canary}\r\n--b--`, { 'content-type': 'multipart/form-data; boundary=b' }),
        // Oversized bodies.
        post('body of 300 kB', set(valid, 'extension', huge(300_000))),
        post('body of 2 MB', set(valid, 'extension', huge(2_000_000))),
        // Missing things.
        post('missing type', remove(valid, 'type')),
        post('missing customerProfile', remove(valid, 'customerProfile')),
        post('missing consent', remove(valid, 'consent')),
        post('missing details', remove(valid, 'details')),
        post('empty object', {}),
        // Keys.
        post('Idempotency-Key with spaces', valid, { ...json, 'idempotency-key': `${canary} with spaces` }),
        post('Idempotency-Key of 200 characters', valid, { ...json, 'idempotency-key': `${canary}${'k'.repeat(200)}` }),
        post('Idempotency-Key with a slash', valid, { ...json, 'idempotency-key': `${canary}/../x` }),
        { ...post('missing function key', valid), noFunctionKey: true },
        { ...post('wrong function key', valid), wrongFunctionKey: true },
    ];
    return requests;
}
