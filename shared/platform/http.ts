/**
 * HTTP answers in the app's one error format: RFC 9457 problem details (`application/problem+json`) with, for
 * invalid input, an `errors` list of `{ path, message }`. No answer ever echoes a submitted value.
 *
 * `httpHandler` wraps every HTTP function, so nothing a handler throws reaches the Functions host (whose bare 500
 * would break this contract): an outage of Cosmos DB or Service Bus is a 503 with Retry-After, anything else a 500
 * that tells the caller only a correlation id to quote. One log line says which, with the error's name and code:
 * never its message, which may quote customer data.
 */
import { randomUUID } from 'node:crypto';

import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';

import { isValidKey } from '../messaging/messages';
import type { Problem } from '../referral/request/types';
import { isDependencyOutage } from './dependencyOutage';
import { errorFields, type EventLogger, invocationLogger } from './logging';

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

export interface ProblemDetails {
    type: string;
    title: string;
    status: number;
    detail?: string;
    errors?: Problem[];
    /** How many more problems were found than `errors` lists. */
    errorsOmitted?: number;
    /** Of a 500: what the caller quotes when reporting it (also the `x-correlation-id` header). */
    correlationId?: string;
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
    options: {
        errors?: Problem[];
        errorsOmitted?: number;
        headers?: Record<string, string>;
        correlationId?: string;
    } = {},
): HttpResponseInit {
    const body: ProblemDetails = { type: 'about:blank', title: TITLES[status] ?? 'Error', status, detail };
    if (options.errors) body.errors = options.errors;
    if (options.errorsOmitted) body.errorsOmitted = options.errorsOmitted;
    if (options.correlationId) body.correlationId = options.correlationId;
    return {
        status,
        headers: { 'content-type': PROBLEM_CONTENT_TYPE, ...options.headers },
        body: JSON.stringify(body),
    };
}

export function json(status: number, body: unknown, headers: Record<string, string> = {}): HttpResponseInit {
    return { status, headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) };
}

/** Seconds a caller is asked to wait after a 503: long enough for a throttle or a failover to pass. */
export const RETRY_AFTER_SECONDS = 5;

/** The caller's `x-correlation-id` when it is a valid key, else a new one. */
export function correlationIdOf(request: HttpRequest): string {
    const supplied = request.headers.get('x-correlation-id');
    return supplied !== null && isValidKey(supplied) ? supplied : randomUUID();
}

type Checked<T> = ({ ok: true } & T) | { ok: false; response: HttpResponseInit };

/** The caller's `Idempotency-Key` (null when absent), or the 400 for one that is not a usable key. */
export function idempotencyKeyOf(request: HttpRequest): Checked<{ key: string | null }> {
    const key = request.headers.get('idempotency-key');
    if (key === null || isValidKey(key)) return { ok: true, key };
    return {
        ok: false,
        response: problem(400, 'The Idempotency-Key header is not valid.', {
            errors: [
                { path: 'headers.Idempotency-Key', message: 'must be 1 to 128 characters of A-Z a-z 0-9 . _ : -' },
            ],
        }),
    };
}

/** What a JSON body may be: its size, its media types (any JSON one when not listed), and the answers otherwise. */
export interface JsonBodyRules {
    maxBytes: number;
    mediaTypes?: readonly string[];
    /** The 415 answer's detail. */
    unsupportedMediaType: string;
    /** The 413 answer's detail. */
    tooLarge: string;
}

function isAcceptedMediaType(contentType: string | null, mediaTypes: readonly string[] | undefined): boolean {
    if (!contentType) return false;
    const mediaType = contentType.split(';')[0]!.trim().toLowerCase();
    if (mediaTypes) return mediaTypes.includes(mediaType);
    return mediaType === 'application/json' || /^application\/[a-z0-9.+-]+\+json$/.test(mediaType);
}

/** The body's bytes, or the 413 answer when there are more than `maxBytes` (read no further than that). */
export async function readBoundedBody(
    request: HttpRequest,
    maxBytes: number,
    tooLarge: string,
): Promise<Checked<{ bytes: Uint8Array }>> {
    const refuse = () => ({ ok: false as const, response: problem(413, tooLarge) });
    if (Number(request.headers.get('content-length')) > maxBytes) return refuse();
    const bytes = new Uint8Array(await request.arrayBuffer());
    return bytes.byteLength > maxBytes ? refuse() : { ok: true, bytes };
}

/** The bytes read as UTF-8 JSON, or the 400 answer; nothing of the body is ever quoted. */
export function parseJsonBytes(bytes: Uint8Array): Checked<{ body: unknown }> {
    const refuse = (detail: string) => ({ ok: false as const, response: problem(400, detail) });
    let text: string;
    try {
        text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    } catch {
        return refuse('The body is not valid UTF-8.');
    }
    try {
        // The parser's own message quotes the input, so it is never passed on.
        return { ok: true, body: JSON.parse(text) as unknown };
    } catch {
        return refuse('The body is not valid JSON.');
    }
}

/** The parsed JSON body, or the 415, 413 or 400 answer; nothing of the body is ever quoted. */
export async function readJsonBody(request: HttpRequest, rules: JsonBodyRules): Promise<Checked<{ body: unknown }>> {
    if (!isAcceptedMediaType(request.headers.get('content-type'), rules.mediaTypes)) {
        return { ok: false, response: problem(415, rules.unsupportedMediaType) };
    }
    const read = await readBoundedBody(request, rules.maxBytes, rules.tooLarge);
    return read.ok ? parseJsonBytes(read.bytes) : read;
}

/** A request that creates something exactly once: its Idempotency-Key (null when absent) and correlation id. */
export interface IdempotentRequest {
    key: string | null;
    body: unknown;
    correlationId: string;
}

/** The key, the parsed JSON body and the correlation id of an idempotent request, or the 400, 413 or 415 answer. */
export async function readIdempotentRequest(
    request: HttpRequest,
    rules: JsonBodyRules,
): Promise<Checked<IdempotentRequest>> {
    const idempotencyKey = idempotencyKeyOf(request);
    if (!idempotencyKey.ok) return idempotencyKey;
    const parsed = await readJsonBody(request, rules);
    if (!parsed.ok) return parsed;
    return { ok: true, key: idempotencyKey.key, body: parsed.body, correlationId: correlationIdOf(request) };
}

/** The 503 of a request that may be sent again as it was, after RETRY_AFTER_SECONDS. */
export function retryLater(detail: string): HttpResponseInit {
    return problem(503, detail, { headers: { 'retry-after': String(RETRY_AFTER_SECONDS) } });
}

function failureAnswer(error: unknown, correlationId: string, log: EventLogger): HttpResponseInit {
    const fields = { correlationId, ...errorFields(error) };
    const headers = { 'x-correlation-id': correlationId };
    if (isDependencyOutage(error)) {
        log.event('error', 'http.dependencyUnavailable', { ...fields, httpStatus: 503 });
        return problem(
            503,
            'A service this API depends on is unavailable right now. Retry after Retry-After seconds.',
            {
                headers: { ...headers, 'retry-after': String(RETRY_AFTER_SECONDS) },
            },
        );
    }
    log.event('error', 'http.failed', { ...fields, httpStatus: 500 });
    return problem(500, 'The request could not be completed. Quote the correlationId when you report it.', {
        headers,
        correlationId,
    });
}

/**
 * The one seam of every HTTP function: the handler's own answers pass unchanged, whatever it throws becomes a
 * problem+json answer (see the module comment). Extra parameters (the dependencies tests pass) are passed through.
 */
export function httpHandler<Rest extends unknown[]>(
    handler: (request: HttpRequest, context: InvocationContext, ...rest: Rest) => Promise<HttpResponseInit>,
): (request: HttpRequest, context: InvocationContext, ...rest: Rest) => Promise<HttpResponseInit> {
    return async (request, context, ...rest) => {
        try {
            return await handler(request, context, ...rest);
        } catch (error) {
            return failureAnswer(error, correlationIdOf(request), invocationLogger(context));
        }
    };
}

/**
 * The HTTP function of a use case that answers a request with its collaborators and a logger: `dependencies()` in
 * production, or those a test passes.
 */
export function useCaseHandler<Dependencies>(
    useCase: (request: HttpRequest, deps: Dependencies, log: EventLogger) => Promise<HttpResponseInit>,
    dependencies: () => Dependencies,
): (request: HttpRequest, context: InvocationContext, deps?: Dependencies) => Promise<HttpResponseInit> {
    return httpHandler((request, context, deps: Dependencies = dependencies()) =>
        useCase(request, deps, invocationLogger(context)),
    );
}
