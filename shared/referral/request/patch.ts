/**
 * Validation of a referral update: a JSON Patch array as PATCH /api/referrals/{id} and the `referral-updates` queue
 * take it, checked against the referral as the app last knows it, before anything is kept or sent.
 *
 * Every problem is listed at once as `{ path, message }`, bounded like a create's (validate.ts). A problem of an
 * operation has the path `[i].op`, `[i].path` or `[i].value` (the operation's index; the pointer itself is never
 * quoted, it may hold a value); a problem of the patched referral has its create-body path (`details.dealValue`).
 * Well-formed operations are applied even when others are not, so their problems are listed too.
 */
import { isAllowedTransition, REFERRAL_STATUSES, type ReferralStatus, STATUS_RULES } from './enums';
import { applyOperationInPlace, isArrayIndex, type JsonPatch, parsePointer, type PatchOperation } from './jsonPatch';
import { referralSchema } from './schema';
import type { Problem, ReferralRequest } from './types';
import { listed, type ListedProblems, loggablePath, structuralProblems, validateReferral } from './validate';

/** Far more than any real update (a close is two operations), few enough to keep a record small. */
export const MAX_PATCH_OPERATIONS = 100;
const OPERATIONS = new Set(['add', 'replace']);
/**
 * Top-level properties an update may not change: identity, routing and what Partner Center itself maintains. Their
 * children are refused with them (`/target/0/id`).
 */
export const IMMUTABLE_PROPERTIES = new Set([
    'id',
    'engagementId',
    'type',
    'target',
    'externalReferenceId',
    'eTag',
    'createdDateTime',
    'updatedDateTime',
    'expirationDateTime',
]);

export type PatchValidation =
    | { ok: true; patch: JsonPatch; referral: ReferralRequest }
    | ({ ok: false } & Pick<ListedProblems, 'problems' | 'problemsOmitted'>);

interface Description {
    type?: string;
    keys?: Record<string, Description>;
    items?: Description[];
    flags?: { unknown?: boolean };
}

let description: Description | undefined;

/** The create body's shape, described on first use (not at import: joi costs a cold start). */
function contractShape(): Description {
    description ??= referralSchema().describe() as Description;
    return description;
}

/** Whether the pointer's tokens name a place in the create body (any index, `-` last in an array). */
function isContractPath(segments: readonly string[]): boolean {
    let node: Description | undefined = contractShape();
    for (const [position, segment] of segments.entries()) {
        if (!node) return false;
        if (node.type === 'array') {
            const last = position === segments.length - 1;
            if (!isArrayIndex(segment) && !(last && segment === '-')) return false;
            node = node.items?.[0] ?? { type: 'any' };
        } else if (node.type === 'object') {
            // An object without declared keys (`iot`) holds whatever the caller puts in it.
            if (!node.keys) return true;
            node = node.keys[segment];
        } else {
            return node.type === 'any';
        }
    }
    return node !== undefined;
}

function isOperationObject(node: unknown): node is Record<string, unknown> {
    return node !== null && typeof node === 'object' && !Array.isArray(node);
}

/** The operation at `index` if it is well formed, else its problems. */
function checkOperation(node: unknown, index: number): { operation?: PatchOperation; problems: Problem[] } {
    const at = (member: string) => `[${index}].${member}`;
    if (!isOperationObject(node)) return { problems: [{ path: `[${index}]`, message: 'must be an object' }] };
    const problems: Problem[] = [];
    const { op, path } = node;
    if (typeof op !== 'string' || !OPERATIONS.has(op)) {
        problems.push({ path: at('op'), message: 'must be one of: add, replace' });
    }
    const segments = typeof path === 'string' ? parsePointer(path) : undefined;
    if (segments === undefined) {
        problems.push({
            path: at('path'),
            message: 'must be a JSON Pointer (RFC 6901), for example /details/dealValue',
        });
    } else if (segments.length === 0) {
        problems.push({ path: at('path'), message: 'must name a property, not the whole referral' });
    } else if (IMMUTABLE_PROPERTIES.has(segments[0]!)) {
        problems.push({ path: at('path'), message: 'names a property that may not change' });
    } else if (!isContractPath(segments)) {
        problems.push({ path: at('path'), message: 'is not a path of the referral' });
    } else if (segments.at(-1) === '-' && op === 'replace') {
        problems.push({ path: at('path'), message: 'may append with "-" only in an add operation' });
    }
    if (!Object.hasOwn(node, 'value')) problems.push({ path: at('value'), message: 'is required' });
    if (problems.length > 0) return { problems };
    return { operation: { op: op as PatchOperation['op'], path: path as string, value: node.value }, problems };
}

function isStatus(value: unknown): value is ReferralStatus {
    return typeof value === 'string' && (REFERRAL_STATUSES as readonly string[]).includes(value);
}

/** The status move the patched referral makes from `from`, when the table forbids it. */
function transitionProblems(from: ReferralStatus | null, to: unknown): Problem[] {
    if (from === 'Closed') return [{ path: 'status', message: 'is Closed: nothing may change after Closed' }];
    if (from === null || !isStatus(to) || isAllowedTransition(from, to)) return [];
    return [{ path: 'status', message: `cannot move from ${from}; allowed: ${STATUS_RULES[from].next.join(', ')}` }];
}

/** `alsoOmitted`: problems the patched referral's own validation found but did not list. */
function failure(problems: readonly Problem[], alsoOmitted = 0): PatchValidation {
    const { list, omitted = 0 } = listed(problems);
    const problemsOmitted = omitted + alsoOmitted;
    return { ok: false, problems: list, ...(problemsOmitted > 0 && { problemsOmitted }) };
}

/**
 * Checks `body` as an update of `latest` (the referral as the app last knows it) whose status is `latestStatus`
 * (null when not known yet); when valid, the patch as applied (operations reduced to op, path, value) and the
 * referral it makes.
 */
export function validatePatch(
    body: unknown,
    latest: ReferralRequest,
    latestStatus: ReferralStatus | null,
): PatchValidation {
    if (!Array.isArray(body)) return failure([{ path: '', message: 'must be a JSON Patch array of operations' }]);
    if (body.length === 0) return failure([{ path: '', message: 'must hold at least one operation' }]);
    if (body.length > MAX_PATCH_OPERATIONS) {
        return failure([{ path: '', message: `must not hold more than ${MAX_PATCH_OPERATIONS} operations` }]);
    }
    // Strings are judged where they land, in the patched referral (a note may hold line breaks, a name may not).
    const structural = structuralProblems(body, () => true);
    if (structural.length > 0) return failure(structural);

    const problems: Problem[] = [];
    const patch: JsonPatch = [];
    const patched = structuredClone(latest) as unknown;
    for (const [index, node] of body.entries()) {
        const checked = checkOperation(node, index);
        problems.push(...checked.problems);
        if (!checked.operation) continue;
        const message = applyOperationInPlace(patched, checked.operation);
        if (message) problems.push({ path: `[${index}].path`, message });
        else patch.push(checked.operation);
    }
    const validation = validateReferral(patched);
    if (!validation.ok) problems.push(...validation.problems);
    problems.push(...transitionProblems(latestStatus, (patched as { status?: unknown }).status));
    if (!validation.ok) return failure(problems, validation.problemsOmitted);
    if (problems.length > 0) return failure(problems);
    return { ok: true, patch, referral: validation.referral };
}

/** Problem paths fit for logs: an operation's (`[2].path`, ours) as it is, a referral's through `loggablePath`. */
export function loggableUpdatePaths(problems: readonly Problem[]): string[] {
    return problems.map(({ path }) => (/^\[\d+\](\.(op|path|value))?$/.test(path) ? path : loggablePath(path)));
}
