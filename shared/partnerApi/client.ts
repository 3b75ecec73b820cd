import type { Dispatcher } from 'undici';

import { DEFAULT_PARTNER_API_TIMEOUT_MS } from '../platform/config';
import { undici } from '../platform/lazyModules';
import {
    PartnerApiError,
    type PartnerApiErrorDetails,
    type PartnerApiOperation,
    readApiErrorBody,
    verdictForStatus,
} from './errors';
import { PartnerApiGate } from './gate';
import { buildReferralFilter } from './odataFilter';
import { freshRequestId, isGuid, partnerCorrelationId } from './requestIds';
import { parseRetryAfterMs } from './retryAfter';
import { type PartnerApiTokenProvider, TokenAcquisitionError } from './tokenProviders';
import { TimeLimitExceeded, withinTime } from './tokenProviders/timeLimit';
import {
    type CandidateLookup,
    type CandidateQuery,
    type PartnerApiCallContext,
    type PartnerReferral,
    type ReferralFilter,
    type ReferralListQuery,
    type ReferralPage,
} from './types';

export const REFERRALS_PATH = '/v1.0/engagements/referrals';
/** Stop following nextLinks after this many pages: a lookup by key never needs more, a loop would never end. */
export const DEFAULT_MAX_PAGES = 50;
/** Pages of a candidate lookup (up to 100 referrals each, newest first): far more than one step's window holds. */
export const DEFAULT_LOOKUP_MAX_PAGES = 10;
/** Clocks differ: a referral created by our own earlier attempt may carry a time slightly before we noted the step. */
export const DEFAULT_CLOCK_SKEW_MS = 10 * 60 * 1000;

export interface PartnerApiClientOptions {
    /** E.g. https://api.partner.microsoft.com (no trailing path). */
    baseUrl: string;
    tokenProvider: PartnerApiTokenProvider;
    /** Deadline of one call (connect, send, answer and body), in milliseconds. */
    timeoutMs?: number;
    /** Defaults to a keep-alive agent owned (and closed) by the client. */
    dispatcher?: Dispatcher;
    /** Clock for `Retry-After` dates. */
    now?: () => number;
    /**
     * The tenant's gate (Retry-After pauses, adaptive rate: ./gate.ts), shared by every client of the tenant
     * (`PartnerApiGate.forTenant`). Defaults to a gate of this client's own, without a ceiling.
     */
    gate?: PartnerApiGate;
}

interface HttpAnswer {
    /** The `MS-RequestId` it answers. */
    requestId: string;
    status: number;
    headers: Record<string, string | string[] | undefined>;
    text: string;
}

interface CallSpec {
    operation: PartnerApiOperation;
    method: 'GET' | 'POST' | 'PATCH';
    url: URL;
    body?: string;
    /** `content-type` of the body (default `application/json`). */
    contentType?: string;
    /** Further request headers (a patch's `If-Match` and `Prefer`). */
    headers?: Record<string, string>;
    context: PartnerApiCallContext;
    /** A create's `MS-RequestId` (the same on the repeat after a 401); other calls get a fresh one per request. */
    createRequestId?: string;
    /** The `MS-RequestId` of the last request sent, for the error. */
    sentRequestId?: string;
}

/**
 * The Partner API referral endpoints. One attempt per call (plus one after a 401 with a fresh token): back-off
 * belongs to the queue, which reschedules on a `transient` `PartnerApiError`. Each request is bounded by the
 * client's timeout and by the attempt's deadline (`context.deadline`), the token acquisition included. Every request
 * first passes the tenant's gate (./gate.ts), which may hold it for the rate limit or refuse it (`throttledLocally`)
 * when the wait would pass the deadline.
 */
export class PartnerApiClient {
    private readonly baseUrl: URL;
    private readonly timeoutMs: number;
    private readonly dispatcher: Dispatcher;
    private readonly ownsDispatcher: boolean;
    private readonly now: () => number;
    private readonly gate: PartnerApiGate;

    constructor(private readonly options: PartnerApiClientOptions) {
        this.baseUrl = new URL(options.baseUrl.replace(/\/+$/, '') + '/');
        this.timeoutMs = options.timeoutMs ?? DEFAULT_PARTNER_API_TIMEOUT_MS;
        this.now = options.now ?? Date.now;
        this.gate = options.gate ?? new PartnerApiGate({ now: this.now });
        this.ownsDispatcher = !options.dispatcher;
        // Keep-alive: one TLS handshake per connection rather than per referral.
        this.dispatcher =
            options.dispatcher ??
            new (undici().Agent)({
                keepAliveTimeout: 30_000,
                keepAliveMaxTimeout: 300_000,
                connect: { timeout: this.timeoutMs },
            });
    }

    /** `POST /v1.0/engagements/referrals`; answers the created referral (with its `id`, `engagementId`, `eTag`). */
    async createReferral(referral: object, context: PartnerApiCallContext): Promise<PartnerReferral> {
        const answer = await this.call({
            operation: 'createReferral',
            method: 'POST',
            url: this.url(REFERRALS_PATH),
            body: JSON.stringify(referral),
            context,
            createRequestId: createRequestIdOf(context),
        });
        return this.readReferral(answer, 'createReferral', context);
    }

    async getReferral(id: string, context: PartnerApiCallContext): Promise<PartnerReferral> {
        const url = this.url(`${REFERRALS_PATH}/${encodeURIComponent(id)}`);
        const answer = await this.call({ operation: 'getReferral', method: 'GET', url, context });
        return this.readReferral(answer, 'getReferral', context);
    }

    /**
     * `PATCH /v1.0/engagements/referrals/{id}` with a JSON Patch array, `If-Match: eTag` (a 412 when Partner Center
     * holds a newer version) and `Prefer: return=representation`: the updated referral, or undefined when the API
     * answered 204 without a body all the same (read it with `getReferral`). JSON Patch is not idempotent and the API
     * has no idempotency key: a patch without an answer is `outcomeUnknown`, for the caller to look up.
     */
    async patchReferral(
        id: string,
        patch: readonly object[],
        eTag: string | null,
        context: PartnerApiCallContext,
    ): Promise<PartnerReferral | undefined> {
        const answer = await this.call({
            operation: 'patchReferral',
            method: 'PATCH',
            url: this.url(`${REFERRALS_PATH}/${encodeURIComponent(id)}`),
            body: JSON.stringify(patch),
            contentType: 'application/json-patch+json',
            headers: { prefer: 'return=representation', ...(eTag ? { 'if-match': eTag } : {}) },
            context,
        });
        if (answer.status === 204 || answer.text.trim() === '') return undefined;
        return this.readReferral(answer, 'patchReferral', context);
    }

    /** One page of the list; follow `nextLink` with `listReferralsNextPage`. */
    async listReferrals(query: ReferralListQuery, context: PartnerApiCallContext): Promise<ReferralPage> {
        const url = this.url(REFERRALS_PATH);
        const filter = buildReferralFilter(query.filter);
        if (filter) url.searchParams.set('$filter', filter);
        if (query.orderBy) url.searchParams.set('$orderby', query.orderBy);
        if (query.top !== undefined) url.searchParams.set('$top', String(query.top));
        return this.listPage(url, context);
    }

    async listReferralsNextPage(nextLink: string, context: PartnerApiCallContext): Promise<ReferralPage> {
        return this.listPage(this.resolveNextLink(nextLink, context), context);
    }

    /** Every matching referral, following `@odata.nextLink` for at most `maxPages` pages. */
    async listAllReferrals(
        query: ReferralListQuery,
        context: PartnerApiCallContext,
        maxPages: number = DEFAULT_MAX_PAGES,
    ): Promise<PartnerReferral[]> {
        const all: PartnerReferral[] = [];
        for await (const page of this.referralPages(query, context, maxPages)) all.push(...page.value);
        return all;
    }

    /**
     * The pages of the list as they come, following `@odata.nextLink` for at most `maxPages` pages: a last page that
     * still has a `nextLink` means the list was not read to its end.
     */
    async *referralPages(
        query: ReferralListQuery,
        context: PartnerApiCallContext,
        maxPages: number = DEFAULT_MAX_PAGES,
    ): AsyncGenerator<ReferralPage> {
        let page = await this.listReferrals(query, context);
        yield page;
        for (let pages = 1; page.nextLink && pages < maxPages; pages++) {
            page = await this.listReferralsNextPage(page.nextLink, context);
            yield page;
        }
    }

    /**
     * The referrals a create since `query.since` may have made, for the caller to judge (never adopt on the server's
     * word). First the `externalReferenceId` (or `engagementId`) filter, newest first; if the service refuses that
     * filter (400), the documented query instead: `$orderby=createdDateTime desc`, `$filter` on `type` only. Either
     * way pages are followed until they are older than the window, at most `maxPages`; a window not read to its end
     * fails rather than answering "not there". Every failure is `transient`: a lookup never proves a referral wrong.
     */
    async findCandidates(query: CandidateQuery, context: PartnerApiCallContext): Promise<CandidateLookup> {
        const keyFilter: ReferralFilter =
            'engagementId' in query
                ? { engagementId: query.engagementId, type: query.type }
                : { externalReferenceId: query.externalReferenceId, type: query.type };
        try {
            try {
                return { strategy: 'filter', candidates: await this.listWindow(keyFilter, query, context) };
            } catch (error) {
                if (!(error instanceof PartnerApiError) || error.kind !== 'http' || error.status !== 400) throw error;
            }
            return { strategy: 'recent', candidates: await this.listWindow({ type: query.type }, query, context) };
        } catch (error) {
            throw error instanceof PartnerApiError ? error.asTransient() : error;
        }
    }

    /** Closes the keep-alive connections (only those of an agent the client created itself). */
    async close(): Promise<void> {
        if (this.ownsDispatcher) await this.dispatcher.close();
    }

    private url(path: string): URL {
        return new URL(path.replace(/^\//, ''), this.baseUrl);
    }

    /**
     * The docs' own nextLink example is `http://…/v1.0/referrals?$skiptoken=…`: treat it as opaque, but only ever
     * send the bearer token to the configured origin (same host, configured scheme and port).
     */
    private resolveNextLink(nextLink: string, context: PartnerApiCallContext): URL {
        const link = new URL(nextLink, this.baseUrl);
        if (link.hostname !== this.baseUrl.hostname) {
            throw new PartnerApiError({
                kind: 'invalidResponse',
                verdict: 'permanent',
                operation: 'listReferrals',
                code: 'foreignNextLink',
                apiMessage: 'The API answered a nextLink to another host; it is not followed.',
                correlationId: partnerCorrelationId(context.correlationId),
            });
        }
        link.protocol = this.baseUrl.protocol;
        link.port = this.baseUrl.port;
        return link;
    }

    /** Newest first, down to `since - clockSkewMs`: the referrals created in the window (or without a date). */
    private async listWindow(
        filter: ReferralFilter,
        query: CandidateQuery,
        context: PartnerApiCallContext,
    ): Promise<PartnerReferral[]> {
        const cutoff = toMillis(query.since) - (query.clockSkewMs ?? DEFAULT_CLOCK_SKEW_MS);
        const maxPages = query.maxPages ?? DEFAULT_LOOKUP_MAX_PAGES;
        const inWindow: PartnerReferral[] = [];
        // Only a list that really is newest first may end the scan early: check the order rather than trust it.
        let newestFirst = true;
        let previous = Number.POSITIVE_INFINITY;
        let page = await this.listReferrals({ filter, orderBy: 'createdDateTime desc' }, context);
        for (let pages = 1; ; pages++) {
            let reachedOlder = false;
            for (const referral of page.value) {
                const created = Date.parse(referral.createdDateTime ?? '');
                if (Number.isNaN(created) || created >= cutoff) inWindow.push(referral);
                if (Number.isNaN(created)) continue;
                if (created > previous) newestFirst = false;
                previous = created;
                if (created < cutoff) reachedOlder = true;
            }
            if (!page.nextLink || (reachedOlder && newestFirst)) return inWindow;
            if (pages >= maxPages) {
                throw new PartnerApiError({
                    kind: 'invalidResponse',
                    verdict: 'transient',
                    operation: 'listReferrals',
                    code: 'lookupIncomplete',
                    apiMessage: `The lookup window did not end within ${maxPages} pages.`,
                    correlationId: partnerCorrelationId(context.correlationId),
                });
            }
            page = await this.listReferralsNextPage(page.nextLink, context);
        }
    }

    private async listPage(url: URL, context: PartnerApiCallContext): Promise<ReferralPage> {
        const answer = await this.call({ operation: 'listReferrals', method: 'GET', url, context });
        const body = parseJsonObject(answer.text);
        if (!body || !Array.isArray(body.value)) throw this.invalidResponse('listReferrals', context, answer);
        const nextLink = body['@odata.nextLink'];
        const count = body['@odata.count'];
        return {
            value: body.value as PartnerReferral[],
            ...(typeof nextLink === 'string' && nextLink ? { nextLink } : {}),
            ...(typeof count === 'number' ? { count } : {}),
        };
    }

    private readReferral(answer: HttpAnswer, operation: PartnerApiOperation, context: PartnerApiCallContext) {
        const body = parseJsonObject(answer.text);
        if (!body || typeof body.id !== 'string') throw this.invalidResponse(operation, context, answer);
        return body as PartnerReferral;
    }

    private invalidResponse(operation: PartnerApiOperation, context: PartnerApiCallContext, answer: HttpAnswer) {
        // A 2xx we cannot read: the create or patch probably happened, so look it up before sending it again.
        return new PartnerApiError({
            kind: 'invalidResponse',
            verdict: 'transient',
            operation,
            status: answer.status,
            outcomeUnknown: operation === 'createReferral' || operation === 'patchReferral',
            requestId: answer.requestId,
            correlationId: partnerCorrelationId(context.correlationId),
        });
    }

    /** Sends once; on 401 drops the token and sends once more. Any non-2xx becomes a `PartnerApiError`. */
    private async call(spec: CallSpec): Promise<HttpAnswer> {
        let answer = await this.send(spec, await this.token(spec));
        if (answer.status === 401) {
            this.options.tokenProvider.invalidate();
            answer = await this.send(spec, await this.token(spec));
        }
        if (answer.status >= 200 && answer.status < 300) return answer;
        throw this.httpError(spec, answer);
    }

    /** Milliseconds left before the attempt's deadline (Infinity without one). */
    private remainingMs(spec: CallSpec): number {
        const { deadline } = spec.context;
        return deadline === undefined ? Number.POSITIVE_INFINITY : toMillis(deadline) - this.now();
    }

    /**
     * The token, within the attempt's deadline. A provider that hangs (an identity platform or Key Vault that does
     * not answer) is left behind, its own time limits end it, and the call fails now.
     */
    private async token(spec: CallSpec): Promise<string | undefined> {
        const remaining = this.remainingMs(spec);
        if (remaining <= 0) throw this.deadlineError(spec, false);
        try {
            return await withinTime(remaining, () => this.options.tokenProvider.getToken());
        } catch (error) {
            if (error instanceof TimeLimitExceeded) throw this.deadlineError(spec, false, error);
            const tokenError = error instanceof TokenAcquisitionError ? error : undefined;
            throw new PartnerApiError({
                ...this.identity(spec),
                kind: 'auth',
                verdict: tokenError && !tokenError.transient ? 'permanent' : 'transient',
                code: tokenError?.reason ?? 'tokenUnavailable',
                action: tokenError?.action,
                cause: error,
            });
        }
    }

    private async send(spec: CallSpec, token: string | undefined): Promise<HttpAnswer> {
        const { deadline, signal: callerSignal } = spec.context;
        const ticket = await this.gate
            .admit({
                operation: spec.operation,
                correlationId: spec.context.correlationId,
                deadline: deadline === undefined ? undefined : toMillis(deadline),
                background: spec.context.background,
                signal: callerSignal,
            })
            .catch((error: unknown) => {
                if (error instanceof PartnerApiError) throw error;
                // The caller gave up while the call waited at the gate: nothing was sent.
                throw new PartnerApiError({
                    ...this.identity(spec),
                    kind: 'timeout',
                    verdict: 'transient',
                    code: 'aborted',
                    cause: error,
                });
            });
        const answer = await this.request(spec, token);
        if (answer.status === 429) this.gate.throttled(ticket, this.retryAfterMs(answer));
        return answer;
    }

    private retryAfterMs(answer: HttpAnswer): number | undefined {
        return parseRetryAfterMs(answer.headers['retry-after'], this.now());
    }

    private async request(spec: CallSpec, token: string | undefined): Promise<HttpAnswer> {
        const remaining = this.remainingMs(spec);
        if (remaining <= 0) throw this.deadlineError(spec, false);
        const requestId = spec.createRequestId ?? freshRequestId();
        spec.sentRequestId = requestId;
        const headers: Record<string, string> = {
            accept: 'application/json',
            'ms-requestid': requestId,
            'ms-correlationid': partnerCorrelationId(spec.context.correlationId),
        };
        if (token) headers.authorization = `Bearer ${token}`;
        if (spec.body !== undefined) headers['content-type'] = spec.contentType ?? 'application/json';
        Object.assign(headers, spec.headers);

        // Whichever ends first: this call's own timeout, or the attempt's deadline.
        const byDeadline = remaining < this.timeoutMs;
        const timeout = new AbortController();
        const timer = setTimeout(() => timeout.abort(), Math.min(remaining, this.timeoutMs));
        const signal = spec.context.signal ? AbortSignal.any([timeout.signal, spec.context.signal]) : timeout.signal;
        try {
            const response = await undici().request(spec.url, {
                method: spec.method,
                headers,
                body: spec.body,
                dispatcher: this.dispatcher,
                signal,
            });
            // Always read the body: it releases the connection back to the keep-alive pool.
            const text = await response.body.text();
            return { requestId, status: response.statusCode, headers: response.headers, text };
        } catch (error) {
            if (timeout.signal.aborted && byDeadline) throw this.deadlineError(spec, true, error);
            throw this.transportError(spec, error, timeout.signal.aborted);
        } finally {
            clearTimeout(timer);
        }
    }

    /** The attempt's deadline passed: before anything was sent (`sent` false), or while a request was under way. */
    private deadlineError(spec: CallSpec, sent: boolean, cause?: unknown): PartnerApiError {
        return new PartnerApiError({
            ...this.identity(spec),
            kind: 'timeout',
            verdict: 'transient',
            code: 'deadlineExceeded',
            outcomeUnknown: sent && changesState(spec),
            cause,
        });
    }

    private transportError(spec: CallSpec, error: unknown, timedOut: boolean): PartnerApiError {
        const code = (error as { code?: unknown } | undefined)?.code;
        const callerAborted = !timedOut && spec.context.signal?.aborted === true;
        // ECONNREFUSED: nothing was sent, so a create cannot have happened. Anything else may have reached the API.
        const neverSent = code === 'ECONNREFUSED' || code === 'UND_ERR_CONNECT_TIMEOUT';
        return new PartnerApiError({
            ...this.identity(spec),
            kind: timedOut || callerAborted ? 'timeout' : 'network',
            verdict: 'transient',
            code: timedOut ? 'timeout' : callerAborted ? 'aborted' : typeof code === 'string' ? code : 'networkError',
            outcomeUnknown: changesState(spec) && !neverSent,
            cause: error,
        });
    }

    private httpError(spec: CallSpec, answer: HttpAnswer): PartnerApiError {
        const apiError = readApiErrorBody(answer.text);
        // A 409 on a create may name the very referral an earlier attempt created: look it up, never Reject on it.
        const conflict = spec.operation === 'createReferral' && answer.status === 409;
        const details: PartnerApiErrorDetails = {
            ...this.identity(spec),
            kind: 'http',
            verdict: conflict ? 'transient' : verdictForStatus(answer.status),
            status: answer.status,
            code: apiError.code,
            apiMessage: apiError.message,
            target: apiError.target,
            innerErrorCode: apiError.innerErrorCode,
            retryAfterMs: this.retryAfterMs(answer),
            // A 5xx on a create or a patch may come after the change was stored (e.g. a gateway timeout).
            outcomeUnknown: changesState(spec) && (answer.status >= 500 || conflict),
            conflict,
        };
        if (answer.status === 401 && /900421/.test(answer.text)) {
            details.code = apiError.code ?? 'mfaRequired';
            details.action =
                'The Partner API requires an MFA-backed token (error 900421): run the consent again with MFA and ' +
                'store the new refresh token (docs/partner-api-auth.md).';
        }
        return new PartnerApiError(details);
    }

    private identity(spec: CallSpec) {
        return {
            operation: spec.operation,
            requestId: spec.sentRequestId ?? spec.createRequestId,
            correlationId: partnerCorrelationId(spec.context.correlationId),
        };
    }
}

/** A create or a patch: neither is idempotent, so one without an answer may or may not have happened. */
function changesState(spec: CallSpec): boolean {
    return spec.method === 'POST' || spec.method === 'PATCH';
}

function toMillis(time: Date | number): number {
    return typeof time === 'number' ? time : time.getTime();
}

/** A create's `MS-RequestId`: the caller's `createRequestId` (a GUID), else (no identity to keep) a fresh one. */
function createRequestIdOf(context: PartnerApiCallContext): string {
    const given = context.createRequestId;
    if (given === undefined) return freshRequestId();
    if (!isGuid(given)) throw new TypeError('createRequestId must be a GUID: use createRequestId(key, step).');
    return given;
}

function parseJsonObject(text: string): Record<string, unknown> | undefined {
    try {
        const value: unknown = JSON.parse(text);
        return typeof value === 'object' && value !== null && !Array.isArray(value)
            ? (value as Record<string, unknown>)
            : undefined;
    } catch {
        return undefined;
    }
}
