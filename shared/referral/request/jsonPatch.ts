/**
 * The part of JSON Patch (RFC 6902) the Partner API supports: `add` and `replace`, with RFC 6901 JSON Pointers and
 * `-` for appending to an array. Pure: the document given is never changed, a changed copy comes back.
 *
 * No JSON Patch library is among the dependencies, and two operations do not warrant one. Failures say which
 * operation failed and why in words of our own, never quoting the pointer or the value (either may be customer data).
 */

export type PatchOperationName = 'add' | 'replace';

export interface PatchOperation {
    op: PatchOperationName;
    path: string;
    value: unknown;
}

export type JsonPatch = PatchOperation[];

/** Property names that would reach an object's prototype rather than the object. */
const FORBIDDEN_SEGMENTS = new Set(['__proto__', 'constructor', 'prototype']);

/** The reference tokens of a JSON Pointer (`/a/b~1c` → ['a', 'b/c']), or undefined when it is not one. */
export function parsePointer(pointer: string): string[] | undefined {
    if (pointer === '') return [];
    if (!pointer.startsWith('/')) return undefined;
    const segments = pointer.slice(1).split('/');
    // `~` must be followed by 0 or 1 (RFC 6901 §3).
    if (segments.some((segment) => /~(?![01])/.test(segment))) return undefined;
    return segments.map((segment) => segment.replace(/~1/g, '/').replace(/~0/g, '~'));
}

/** An array index as RFC 6901 writes it: digits, no leading zero. */
export function isArrayIndex(segment: string): boolean {
    return /^(0|[1-9][0-9]{0,8})$/.test(segment);
}

/** The value `pointer` names in `document`, or undefined when there is none (`-` names none). */
export function valueAt(document: unknown, pointer: string): unknown {
    const segments = parsePointer(pointer);
    if (segments === undefined) return undefined;
    let node: unknown = document;
    for (const segment of segments) {
        if (Array.isArray(node)) node = isArrayIndex(segment) ? node[Number(segment)] : undefined;
        else if (isContainer(node) && Object.hasOwn(node, segment)) node = (node as Record<string, unknown>)[segment];
        else return undefined;
    }
    return node;
}

export type PatchResult = { ok: true; document: unknown } | { ok: false; index: number; message: string };

function isContainer(node: unknown): node is Record<string, unknown> | unknown[] {
    return node !== null && typeof node === 'object';
}

/** Applies one operation to `document`, changing it; a message (and no change) when it cannot be applied. */
export function applyOperationInPlace(document: unknown, operation: PatchOperation): string | undefined {
    const segments = parsePointer(operation.path);
    if (segments === undefined) return 'must be a JSON Pointer (RFC 6901)';
    if (segments.length === 0) return 'must name a property, not the whole referral';
    if (segments.some((segment) => FORBIDDEN_SEGMENTS.has(segment))) return 'names a forbidden property';
    let parent: unknown = document;
    for (const segment of segments.slice(0, -1)) {
        if (Array.isArray(parent)) {
            parent = isArrayIndex(segment) ? parent[Number(segment)] : undefined;
        } else {
            const object = parent as Record<string, unknown>;
            parent = Object.hasOwn(object, segment) ? object[segment] : undefined;
        }
        if (!isContainer(parent)) return 'names a location whose parent does not exist';
    }
    if (!isContainer(parent)) return 'names a location whose parent does not exist';
    const last = segments.at(-1)!;
    const value = structuredClone(operation.value);
    if (Array.isArray(parent)) {
        if (last === '-') {
            if (operation.op !== 'add') return 'may append with "-" only in an add operation';
            parent.push(value);
            return undefined;
        }
        if (!isArrayIndex(last)) return 'must index the array with a number or "-"';
        const index = Number(last);
        if (operation.op === 'add') {
            if (index > parent.length) return 'names an index past the end of the array';
            parent.splice(index, 0, value);
        } else {
            if (index >= parent.length) return 'names an array item that does not exist';
            parent[index] = value;
        }
        return undefined;
    }
    if (operation.op === 'replace' && !Object.hasOwn(parent, last)) {
        return 'names a property that does not exist; use add to set it';
    }
    parent[last] = value;
    return undefined;
}

/** `document` with every operation applied in order, or the first operation that cannot be applied. */
export function applyPatch(document: unknown, patch: readonly PatchOperation[]): PatchResult {
    const copy = structuredClone(document);
    for (const [index, operation] of patch.entries()) {
        const message = applyOperationInPlace(copy, operation);
        if (message) return { ok: false, index, message };
    }
    return { ok: true, document: copy };
}
