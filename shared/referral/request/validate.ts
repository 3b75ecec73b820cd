/**
 * Validation of a referral create body, shared by the HTTP intake and the submit worker.
 *
 * Every problem is reported at once as `{ path, message }`. Messages are written here from the problem's type and
 * the schema's own limits, never from joi's rendered text, because joi quotes submitted values in some messages and
 * referrals carry customers' names, emails and phone numbers.
 */
import type Joi from 'joi';

import { isAllowedStatusPair, REFERRAL_STATUSES, REFERRAL_SUBSTATUSES, STATUS_RULES } from './enums';
import { FREE_TEXT, referralSchema, SINGLE_LINE_TEXT } from './schema';
import type { Problem, ReferralRequest } from './types';

export const MAX_NESTING_DEPTH = 32;
/** Far above any documented object (the largest has 15 properties) and far below what makes joi slow. */
export const MAX_PROPERTIES_PER_OBJECT = 200;
/** Every value in the body (properties and array items, nested ones included); the schema's own lists stay lower. */
export const MAX_VALUES = 10_000;
export const MAX_PROPERTY_NAME_LENGTH = 128;
/** At most this many problems, and as many warnings, are listed; the rest are only counted. */
export const MAX_LISTED_PROBLEMS = 50;
/** And the listed ones stay within this many characters of JSON, so an answer stays small whatever the input. */
const LISTED_PROBLEMS_BUDGET = 12_000;
const MAX_LISTED_PATH_LENGTH = 256;
const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);
/** The free-text notes, the only strings that may hold tab and line breaks. */
const FREE_TEXT_PATHS = new Set(['details.notes', 'inviteContext.notes']);

/** Problems and warnings as answered and logged: the first few listed, the count of the rest. */
export interface ListedProblems {
    problems: Problem[];
    /** Present when more problems were found than listed. */
    problemsOmitted?: number;
    warnings: Problem[];
    warningsOmitted?: number;
}

export type ReferralValidation =
    | ({ ok: true; referral: ReferralRequest } & Omit<ListedProblems, 'problems' | 'problemsOmitted'>)
    | ({ ok: false } & ListedProblems);

export function formatPath(path: ReadonlyArray<string | number>): string {
    return path.reduce<string>(
        (text, segment) =>
            typeof segment === 'number' ? `${text}[${segment}]` : text ? `${text}.${segment}` : segment,
        '',
    );
}

/** The first problems that fit the limits, with paths cut short (a caller's property names can be long). */
export function listed(all: readonly Problem[]): { list: Problem[]; omitted?: number } {
    const list: Problem[] = [];
    let size = 0;
    for (const problem of all.slice(0, MAX_LISTED_PROBLEMS)) {
        const path =
            problem.path.length > MAX_LISTED_PATH_LENGTH
                ? `${problem.path.slice(0, MAX_LISTED_PATH_LENGTH - 1)}\u2026`
                : problem.path;
        size += JSON.stringify(path).length + JSON.stringify(problem.message).length + 22;
        if (size > LISTED_PROBLEMS_BUDGET) break;
        list.push({ path, message: problem.message });
    }
    return all.length > list.length ? { list, omitted: all.length - list.length } : { list };
}

function listedProblems(problems: readonly Problem[], warnings: readonly Problem[]): ListedProblems {
    const p = listed(problems);
    const w = listed(warnings);
    return {
        problems: p.list,
        ...(p.omitted && { problemsOmitted: p.omitted }),
        warnings: w.list,
        ...(w.omitted && { warningsOmitted: w.omitted }),
    };
}

/** Whether a string is clean text for where it stands in the referral (notes may hold line breaks). */
function isCleanText(text: string, path: ReadonlyArray<string | number>): boolean {
    const freeText = path.at(-1) === 'notes' && FREE_TEXT_PATHS.has(formatPath(path));
    return (freeText ? FREE_TEXT : SINGLE_LINE_TEXT).test(text);
}

const UNCLEAN_TEXT = 'must not contain control characters, bidi controls or unpaired surrogates';

/**
 * Walks the parsed JSON once, before joi or anything recursive sees it, for what the schema cannot guard: nesting,
 * size, prototype-polluting and unclean property names, unclean strings and non-finite numbers (`1e309` parses to
 * Infinity) anywhere, unknown properties included. Iterative, so no input can exhaust the stack; it stops at the
 * first excess of size instead of counting on. `isClean` decides on strings: a JSON Patch's values are checked where
 * they land, in the patched referral, so its own walk accepts every string.
 */
export function structuralProblems(
    root: object,
    isClean: (text: string, path: ReadonlyArray<string | number>) => boolean = isCleanText,
): Problem[] {
    const problems: Problem[] = [];
    const stack: Array<{ node: unknown; path: Array<string | number> }> = [{ node: root, path: [] }];
    let values = 0;
    while (stack.length > 0) {
        const { node, path } = stack.pop()!;
        if (typeof node === 'string') {
            if (!isClean(node, path)) problems.push({ path: formatPath(path), message: UNCLEAN_TEXT });
            continue;
        }
        if (typeof node === 'number') {
            if (!Number.isFinite(node)) problems.push({ path: formatPath(path), message: 'must be a finite number' });
            continue;
        }
        if (node === null || typeof node !== 'object') continue;
        if (path.length > MAX_NESTING_DEPTH) {
            problems.push({ path: formatPath(path), message: `nests deeper than ${MAX_NESTING_DEPTH} levels` });
            continue;
        }
        const keys = Array.isArray(node) ? node.map((_, index) => index) : Object.keys(node);
        if (!Array.isArray(node) && keys.length > MAX_PROPERTIES_PER_OBJECT) {
            problems.push({
                path: formatPath(path),
                message: `must not have more than ${MAX_PROPERTIES_PER_OBJECT} properties`,
            });
            continue;
        }
        values += keys.length;
        if (values > MAX_VALUES) {
            return [{ path: '', message: `must not hold more than ${MAX_VALUES} values in all` }];
        }
        // Pushed in reverse so problems come out in document order.
        for (const key of keys.reverse()) {
            if (typeof key === 'string') {
                if (FORBIDDEN_KEYS.has(key)) {
                    problems.push({ path: formatPath([...path, key]), message: 'is a forbidden property name' });
                    continue;
                }
                // The name itself is the problem, so the path stops at its object rather than quoting it.
                if (key.length > MAX_PROPERTY_NAME_LENGTH || !SINGLE_LINE_TEXT.test(key)) {
                    problems.push({
                        path: formatPath(path),
                        message: `has a property name that is longer than ${MAX_PROPERTY_NAME_LENGTH} characters or not clean text`,
                    });
                    continue;
                }
            }
            stack.push({ node: (node as Record<string | number, unknown>)[key], path: [...path, key] });
        }
    }
    return problems;
}

let documentedNamesCache: Map<string, string> | undefined;

/**
 * Every property name the schema documents, for "did you mean" hints (the Partner API ignores name case). Read from
 * the schema's `describe()` on first use, not at import (cold start).
 */
function documentedNames(): Map<string, string> {
    documentedNamesCache ??= collectDocumentedNames();
    return documentedNamesCache;
}

function collectDocumentedNames(): Map<string, string> {
    const names = new Map<string, string>();
    const collect = (description: Record<string, unknown>): void => {
        const keys = description.keys as Record<string, Record<string, unknown>> | undefined;
        for (const [name, child] of Object.entries(keys ?? {})) {
            names.set(name.toLowerCase(), name);
            collect(child);
        }
        for (const item of (description.items as Array<Record<string, unknown>> | undefined) ?? []) collect(item);
    };
    collect(referralSchema().describe());
    return names;
}

/**
 * A problem path fit for logs: documented property names and array indexes stay, any other name (chosen by the
 * caller, so it could be free text) becomes `*`.
 */
export function loggablePath(path: string): string {
    return path
        .split('.')
        .map((segment) => {
            const name = segment.replace(/\[\d+\]/g, '');
            const indexes = segment.slice(name.length);
            return documentedNames().get(name.toLowerCase()) === name ? `${name}${indexes}` : `*${indexes}`;
        })
        .join('.');
}

export function loggablePaths(problems: readonly Problem[]): string[] {
    return problems.map((problem) => loggablePath(problem.path));
}

function describeProblem(detail: Joi.ValidationErrorItem): string {
    const context = detail.context ?? {};
    const key = typeof context.key === 'string' ? context.key : '';
    const limit = typeof context.limit === 'number' ? context.limit : undefined;
    switch (detail.type) {
        case 'any.required':
            return 'is required';
        case 'any.only': {
            if (key === 'country') return 'must be an ISO 3166-1 alpha-2 country code, for example US';
            if (key === 'currency') return 'must be an ISO 4217 currency code, for example USD';
            const valids = ((context.valids as unknown[] | undefined) ?? []).filter((v) => typeof v === 'string' && v);
            return `must be one of: ${valids.join(', ')}`;
        }
        case 'object.base':
            return 'must be an object';
        case 'array.base':
            return 'must be an array';
        case 'string.base':
            return 'must be a string';
        case 'number.base':
            return 'must be a number';
        case 'boolean.base':
            return 'must be true or false';
        case 'string.empty':
        case 'string.min':
            return 'must not be empty';
        case 'string.max':
            return `must be at most ${limit} characters long`;
        case 'string.email':
            return 'must be a valid email address';
        case 'string.isoDate':
            return 'must be an ISO 8601 date and time, for example 2026-11-30T00:00:00Z';
        case 'string.guid':
            return 'must be a GUID';
        case 'number.min':
            return `must be greater than or equal to ${limit}`;
        case 'string.pattern.base':
            return UNCLEAN_TEXT;
        case 'number.infinity':
        case 'number.unsafe':
            return 'must be a finite number';
        case 'array.max':
            return `must have at most ${limit} items`;
        case 'object.unknown': {
            const suggestion = documentedNames().get(key.toLowerCase());
            return suggestion && suggestion !== key
                ? `is not a documented property name; did you mean "${suggestion}"? It is passed through unchanged`
                : 'is not a documented property; it is passed through unchanged';
        }
        default:
            return `is not valid (${detail.type})`;
    }
}

function statusPairProblems(body: Record<string, unknown>): Problem[] {
    const { status, substatus } = body;
    const isStatus = (v: unknown): v is (typeof REFERRAL_STATUSES)[number] =>
        typeof v === 'string' && (REFERRAL_STATUSES as readonly string[]).includes(v);
    const isSubstatus = (v: unknown): v is (typeof REFERRAL_SUBSTATUSES)[number] =>
        typeof v === 'string' && (REFERRAL_SUBSTATUSES as readonly string[]).includes(v);
    if (!isStatus(status) || !isSubstatus(substatus) || isAllowedStatusPair(status, substatus)) return [];
    return [
        {
            path: 'substatus',
            message: `is not allowed with status ${status}; allowed: ${STATUS_RULES[status].substatuses.join(', ')}`,
        },
    ];
}

export function validateReferral(body: unknown): ReferralValidation {
    if (body === null || typeof body !== 'object' || Array.isArray(body)) {
        return { ok: false, problems: [{ path: '', message: 'must be a JSON object' }], warnings: [] };
    }
    const structural = structuralProblems(body);
    if (structural.length > 0) return { ok: false, ...listedProblems(structural, []) };

    const { error } = referralSchema().validate(body, { abortEarly: false, convert: false, allowUnknown: false });
    const problems: Problem[] = [];
    const warnings: Problem[] = [];
    for (const detail of error?.details ?? []) {
        const problem = { path: formatPath(detail.path), message: describeProblem(detail) };
        (detail.type === 'object.unknown' ? warnings : problems).push(problem);
    }
    problems.push(...statusPairProblems(body as Record<string, unknown>));
    const answer = listedProblems(problems, warnings);
    if (problems.length > 0) return { ok: false, ...answer };
    // The body itself goes on, unchanged: unknown properties included (convert: false means joi altered nothing).
    const { warnings: listedWarnings, warningsOmitted } = answer;
    return {
        ok: true,
        referral: body as ReferralRequest,
        warnings: listedWarnings,
        ...(warningsOmitted && { warningsOmitted }),
    };
}
