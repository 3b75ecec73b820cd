/**
 * HTTP answers in the app's one error format: RFC 9457 problem details (`application/problem+json`) with, for
 * invalid input, an `errors` list of `{ path, message }`. No answer ever echoes a submitted value.
 */
import type { HttpResponseInit } from '@azure/functions';

import type { Problem } from '../referral/request/types';

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

export interface ProblemDetails {
    type: string;
    title: string;
    status: number;
    detail?: string;
    errors?: Problem[];
    /** How many more problems were found than `errors` lists. */
    errorsOmitted?: number;
}

const TITLES: Record<number, string> = {
    400: 'Bad Request',
    401: 'Unauthorized',
    404: 'Not Found',
    409: 'Conflict',
    413: 'Content Too Large',
    415: 'Unsupported Media Type',
    500: 'Internal Server Error',
    503: 'Service Unavailable',
};

export function problem(
    status: number,
    detail: string,
    options: { errors?: Problem[]; errorsOmitted?: number; headers?: Record<string, string> } = {},
): HttpResponseInit {
    const body: ProblemDetails = { type: 'about:blank', title: TITLES[status] ?? 'Error', status, detail };
    if (options.errors) body.errors = options.errors;
    if (options.errorsOmitted) body.errorsOmitted = options.errorsOmitted;
    return {
        status,
        headers: { 'content-type': PROBLEM_CONTENT_TYPE, ...options.headers },
        body: JSON.stringify(body),
    };
}

export function json(status: number, body: unknown, headers: Record<string, string> = {}): HttpResponseInit {
    return { status, headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) };
}
