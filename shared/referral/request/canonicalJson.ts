import { createHash } from 'node:crypto';

/** JSON with object keys sorted at every level: equal values give equal text, whatever the key order. */
export function canonicalJson(value: unknown): string {
    if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
    if (value !== null && typeof value === 'object') {
        const entries = Object.keys(value)
            .sort()
            .map((key) => `${JSON.stringify(key)}:${canonicalJson((value as Record<string, unknown>)[key])}`);
        return `{${entries.join(',')}}`;
    }
    return JSON.stringify(value) ?? 'null';
}

/** Identifies a request body: the same referral sent twice hashes the same, a changed one does not. */
export function requestHash(body: unknown): string {
    return createHash('sha256').update(canonicalJson(body)).digest('hex');
}
