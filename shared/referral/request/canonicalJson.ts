import { createHash } from 'node:crypto';

/**
 * JSON with object keys sorted at every level: equal values give equal text, whatever the key order.
 *
 * Iterative, with an explicit stack of pending text and values, so a body nested thousands of levels deep (which
 * JSON.parse accepts) gives its text instead of exhausting the call stack.
 */
export function canonicalJson(value: unknown): string {
    const parts: string[] = [];
    // Work items: a value to write, or literal text (a separator or closing bracket) to append.
    const pending: Array<{ value: unknown } | string> = [{ value }];
    while (pending.length > 0) {
        const item = pending.pop()!;
        if (typeof item === 'string') {
            parts.push(item);
            continue;
        }
        const node = item.value;
        if (Array.isArray(node)) {
            parts.push('[');
            pending.push(']');
            for (let index = node.length - 1; index >= 0; index--) {
                pending.push({ value: node[index] });
                if (index > 0) pending.push(',');
            }
        } else if (node !== null && typeof node === 'object') {
            const keys = Object.keys(node).sort();
            parts.push('{');
            pending.push('}');
            for (let index = keys.length - 1; index >= 0; index--) {
                const key = keys[index]!;
                pending.push({ value: (node as Record<string, unknown>)[key] });
                pending.push(`${index > 0 ? ',' : ''}${JSON.stringify(key)}:`);
            }
        } else {
            parts.push(JSON.stringify(node) ?? 'null');
        }
    }
    return parts.join('');
}

/** Identifies a request body: the same referral sent twice hashes the same, a changed one does not. */
export function requestHash(body: unknown): string {
    return createHash('sha256').update(canonicalJson(body)).digest('hex');
}
