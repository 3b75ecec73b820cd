import { Agent, type Dispatcher, request } from 'undici';

import { DEFAULT_PARTNER_API_TIMEOUT_MS } from '../platform/config';
import {
    PartnerApiError,
    type PartnerApiErrorDetails,
    type PartnerApiOperation,
    readApiErrorBody,
    verdictForStatus,
} from './errors';
import { buildReferralFilter } from './odataFilter';
import { parseRetryAfterMs } from './retryAfter';
import { type PartnerApiTokenProvider, TokenAcquisitionError } from './tokenProviders';
import { type PartnerApiCallContext, type PartnerReferral, type ReferralListQuery, type ReferralPage } from './types';

export const REFERRALS_PATH = '/v1.0/engagements/referrals';
/** Stop following nextLinks after this many pages: a lookup by key never needs more, a loop would never end. */
export const DEFAULT_MAX_PAGES = 50;

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
}

interface HttpAnswer {
    status: number;
    headers: Record<string, string | string[] | undefined>;
    text: string;
}

interface CallSpec {
    operation: PartnerApiOperation;
    method: 'GET' | 'POST';
    url: URL;
    body?: string;
    context: PartnerApiCallContext;
}

/**
 * The Partner API referral endpoints. One attempt per call (plus one after a 401 with a fresh token): back-off
 * belongs to the queue, which reschedules on a `transient` `PartnerApiError`.
 */
export class PartnerApiClient {
    private readonly baseUrl: URL;
    private readonly timeoutMs: number;
    private readonly dispatcher: Dispatcher;
    private readonly ownsDispatcher: boolean;
    private readonly now: () => number;

    constructor(private readonly options: PartnerApiClientOptions) {
        this.baseUrl = new URL(options.baseUrl.replace(/\/+$/, '') + '/');
        this.timeoutMs = options.timeoutMs ?? DEFAULT_PARTNER_API_TIMEOUT_MS;
        this.now = options.now ?? Date.now;
        this.ownsDispatcher = !options.dispatcher;
        // Keep-alive: one TLS handshake per connection rather than per referral.
        this.dispatcher =
            options.dispatcher ??
            new Agent({ keepAliveTimeout: 30_000, keepAliveMaxTimeout: 300_000, connect: { timeout: this.timeoutMs } });
    }

    /** `POST /v1.0/engagements/referrals`; answers the created referral (with its `id`, `engagementId`, `eTag`). */
    async createReferral(referral: object, context: PartnerApiCallContext): Promise<PartnerReferral> {
        const answer = await this.call({
            operation: 'createReferral',
            method: 'POST',
            url: this.url(REFERRALS_PATH),
            body: JSON.stringify(referral),
            context,
        });
        return this.readReferral(answer, 'createReferral', context);
    }

    async getReferral(id: string, context: PartnerApiCallContext): Promise<PartnerReferral> {
        const url = this.url(`${REFERRALS_PATH}/${encodeURIComponent(id)}`);
        const answer = await this.call({ operation: 'getReferral', method: 'GET', url, context });
        return this.readReferral(answer, 'getReferral', context);
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
        let page = await this.listReferrals(query, context);
        const all = [...page.value];
        for (let pages = 1; page.nextLink && pages < maxPages; pages++) {
            page = await this.listReferralsNextPage(page.nextLink, context);
            all.push(...page.value);
        }
        return all;
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
                requestId: context.requestId,
                correlationId: context.correlationId,
            });
        }
        link.protocol = this.baseUrl.protocol;
        link.port = this.baseUrl.port;
        return link;
    }

    private async listPage(url: URL, context: PartnerApiCallContext): Promise<ReferralPage> {
        const answer = await this.call({ operation: 'listReferrals', method: 'GET', url, context });
        const body = parseJsonObject(answer.text);
        if (!body || !Array.isArray(body.value)) throw this.invalidResponse('listReferrals', context, answer.status);
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
        if (!body || typeof body.id !== 'string') throw this.invalidResponse(operation, context, answer.status);
        return body as PartnerReferral;
    }

    private invalidResponse(operation: PartnerApiOperation, context: PartnerApiCallContext, status: number) {
        // A 2xx we cannot read: for a create the referral probably exists, so look it up before creating again.
        return new PartnerApiError({
            kind: 'invalidResponse',
            verdict: 'transient',
            operation,
            status,
            outcomeUnknown: operation === 'createReferral',
            requestId: context.requestId,
            correlationId: context.correlationId,
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

    private async token(spec: CallSpec): Promise<string | undefined> {
        try {
            return await this.options.tokenProvider.getToken();
        } catch (error) {
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
        const headers: Record<string, string> = {
            accept: 'application/json',
            'ms-requestid': spec.context.requestId,
            'ms-correlationid': spec.context.correlationId,
        };
        if (token) headers.authorization = `Bearer ${token}`;
        if (spec.body !== undefined) headers['content-type'] = 'application/json';

        const deadline = new AbortController();
        const timer = setTimeout(() => deadline.abort(), this.timeoutMs);
        const signal = spec.context.signal ? AbortSignal.any([deadline.signal, spec.context.signal]) : deadline.signal;
        try {
            const response = await request(spec.url, {
                method: spec.method,
                headers,
                body: spec.body,
                dispatcher: this.dispatcher,
                signal,
            });
            // Always read the body: it releases the connection back to the keep-alive pool.
            const text = await response.body.text();
            return { status: response.statusCode, headers: response.headers, text };
        } catch (error) {
            throw this.transportError(spec, error, deadline.signal.aborted);
        } finally {
            clearTimeout(timer);
        }
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
            outcomeUnknown: spec.method === 'POST' && !neverSent,
            cause: error,
        });
    }

    private httpError(spec: CallSpec, answer: HttpAnswer): PartnerApiError {
        const apiError = readApiErrorBody(answer.text);
        const details: PartnerApiErrorDetails = {
            ...this.identity(spec),
            kind: 'http',
            verdict: verdictForStatus(answer.status),
            status: answer.status,
            code: apiError.code,
            apiMessage: apiError.message,
            target: apiError.target,
            innerErrorCode: apiError.innerErrorCode,
            retryAfterMs: parseRetryAfterMs(answer.headers['retry-after'], this.now()),
            // A 5xx on a create may come after the referral was stored (e.g. a gateway timeout).
            outcomeUnknown: spec.method === 'POST' && answer.status >= 500,
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
            requestId: spec.context.requestId,
            correlationId: spec.context.correlationId,
        };
    }
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
