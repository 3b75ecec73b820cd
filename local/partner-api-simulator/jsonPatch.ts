/**
 * JSON Patch (RFC 6902) restricted to what the Partner API documents: `add` and `replace`. Paths are JSON pointers;
 * segments are matched to wire names case-insensitively; `-` appends to an array.
 */
import { wireName } from './propertyNames';
import { isObject, type Json } from './validation';

export interface PatchOperation {
    op: 'add' | 'replace';
    path: string;
    value: unknown;
}

export class PatchError extends Error {
    constructor(
        message: string,
        readonly target: string,
    ) {
        super(message);
    }
}

/** Properties the service owns: a patch may not touch them. */
export const READ_ONLY_PROPERTIES = new Set([
    'id',
    'engagementId',
    'organizationId',
    'organizationName',
    'createdDateTime',
    'updatedDateTime',
    'acceptedDateTime',
    'closedDateTime',
    'eTag',
    'links',
    'direction',
]);

export function readPatch(body: unknown): PatchOperation[] {
    if (!Array.isArray(body) || body.length === 0)
        throw new PatchError('The body must be a non-empty JSON Patch array.', 'body');
    return body.map((raw, index) => {
        const operation = isObject(raw)
            ? Object.fromEntries(Object.entries(raw).map(([k, v]) => [k.toLowerCase(), v]))
            : {};
        const { op, path } = operation;
        if (op !== 'add' && op !== 'replace') {
            throw new PatchError('Only the add and replace operations are supported.', `[${index}].op`);
        }
        if (typeof path !== 'string' || !path.startsWith('/'))
            throw new PatchError('path must be a JSON pointer.', `[${index}].path`);
        if (!('value' in operation)) throw new PatchError('value is required.', `[${index}].value`);
        return { op, path, value: operation.value };
    });
}

function segments(path: string): string[] {
    return path
        .slice(1)
        .split('/')
        .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

/** Applies the operations to `document` in place; throws a PatchError naming the path (never the value). */
export function applyPatch(document: Json, operations: PatchOperation[]): void {
    for (const { op, path, value } of operations) {
        const parts = segments(path);
        const top = wireName(parts[0] ?? '');
        if (!top || READ_ONLY_PROPERTIES.has(top)) throw new PatchError('This property cannot be changed.', path);
        let parent: unknown = document;
        for (const part of parts.slice(0, -1)) {
            parent = child(parent, part);
            if (typeof parent !== 'object' || parent === null) throw new PatchError('The path does not exist.', path);
        }
        const last = parts[parts.length - 1]!;
        if (Array.isArray(parent)) {
            if (last === '-' && op === 'add') parent.push(value);
            else {
                const index = Number(last);
                if (
                    !Number.isInteger(index) ||
                    index < 0 ||
                    index > parent.length ||
                    (op === 'replace' && index === parent.length)
                ) {
                    throw new PatchError('The array index is out of range.', path);
                }
                if (op === 'add') parent.splice(index, 0, value);
                else parent[index] = value;
            }
        } else {
            const record = parent as Json;
            const key = wireName(last);
            if (op === 'replace' && !(key in record)) throw new PatchError('The path does not exist.', path);
            record[key] = value;
        }
    }
}

function child(parent: unknown, part: string): unknown {
    if (Array.isArray(parent)) return parent[Number(part)];
    if (isObject(parent)) return parent[wireName(part)];
    return undefined;
}
