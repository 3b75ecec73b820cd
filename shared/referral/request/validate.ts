/**
 * Validation of a referral create body, shared by the HTTP intake and the submit worker.
 *
 * Every problem is reported at once as `{ path, message }`. Messages are written here from the problem's type and
 * the schema's own limits, never from joi's rendered text, because joi quotes submitted values in some messages and
 * referrals carry customers' names, emails and phone numbers.
 */
import type Joi from 'joi';

import { isAllowedStatusPair, REFERRAL_STATUSES, REFERRAL_SUBSTATUSES, STATUS_RULES } from './enums';
import { referralSchema } from './schema';
import type { Problem, ReferralRequest } from './types';

export const MAX_NESTING_DEPTH = 32;
const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

export type ReferralValidation =
    | { ok: true; referral: ReferralRequest; warnings: Problem[] }
    | { ok: false; problems: Problem[]; warnings: Problem[] };

export function formatPath(path: ReadonlyArray<string | number>): string {
    return path.reduce<string>(
        (text, segment) =>
            typeof segment === 'number' ? `${text}[${segment}]` : text ? `${text}.${segment}` : segment,
        '',
    );
}

/** Walks the parsed JSON once for what joi does not guard: prototype-polluting keys and absurd nesting. */
function structuralProblems(value: unknown): Problem[] {
    const problems: Problem[] = [];
    const visit = (node: unknown, path: Array<string | number>, depth: number): void => {
        if (node === null || typeof node !== 'object') return;
        if (depth > MAX_NESTING_DEPTH) {
            problems.push({ path: formatPath(path), message: `nests deeper than ${MAX_NESTING_DEPTH} levels` });
            return;
        }
        if (Array.isArray(node)) {
            node.forEach((item, index) => visit(item, [...path, index], depth + 1));
            return;
        }
        for (const key of Object.keys(node)) {
            if (FORBIDDEN_KEYS.has(key)) {
                problems.push({ path: formatPath([...path, key]), message: 'is a forbidden property name' });
                continue;
            }
            visit((node as Record<string, unknown>)[key], [...path, key], depth + 1);
        }
    };
    visit(value, [], 0);
    return problems;
}

/** Every property name the schema documents, for "did you mean" hints (the Partner API ignores name case). */
const documentedNames = (() => {
    const names = new Map<string, string>();
    const collect = (description: Record<string, unknown>): void => {
        const keys = description.keys as Record<string, Record<string, unknown>> | undefined;
        for (const [name, child] of Object.entries(keys ?? {})) {
            names.set(name.toLowerCase(), name);
            collect(child);
        }
        for (const item of (description.items as Array<Record<string, unknown>> | undefined) ?? []) collect(item);
    };
    collect(referralSchema.describe());
    return names;
})();

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
            return documentedNames.get(name.toLowerCase()) === name ? `${name}${indexes}` : `*${indexes}`;
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
        case 'number.infinity':
        case 'number.unsafe':
            return 'must be a finite number';
        case 'array.max':
            return `must have at most ${limit} items`;
        case 'object.unknown': {
            const suggestion = documentedNames.get(key.toLowerCase());
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
    if (structural.length > 0) return { ok: false, problems: structural, warnings: [] };

    const { error } = referralSchema.validate(body, { abortEarly: false, convert: false, allowUnknown: false });
    const problems: Problem[] = [];
    const warnings: Problem[] = [];
    for (const detail of error?.details ?? []) {
        const problem = { path: formatPath(detail.path), message: describeProblem(detail) };
        (detail.type === 'object.unknown' ? warnings : problems).push(problem);
    }
    problems.push(...statusPairProblems(body as Record<string, unknown>));
    if (problems.length > 0) return { ok: false, problems, warnings };
    // The body itself goes on, unchanged: unknown properties included (convert: false means joi altered nothing).
    return { ok: true, referral: body as ReferralRequest, warnings };
}
