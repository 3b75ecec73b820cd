/**
 * A local Partner API (`/v1.0/engagements/referrals`) on node:http, faithful to the documented contract
 * (../shared/reference/partner-api.md §12), with fault injection and an admin endpoint. See README.md here.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { type AddressInfo } from 'node:net';

import { type FaultDecision, FaultInjector, type SimulatorFaults } from './faults';
import { errorAnswer, type Route, type SimulatorAnswer, type SimulatorRequest } from './http';
import { CERTIFICATE_PATH, MicrosoftSide, type WebhookOptions } from './microsoft';
import { tenantOf, TokenBuckets } from './rateLimit';
import { ReferralApi } from './referralApi';
import { checkRequestIdHeaders, RequestIdAnswers } from './requestIds';
import { RequestLog, type RequestLogEntry } from './requestLog';
import { ReferralStore, type StoredReferral } from './store';

export { faultsFromEnv } from './envSettings';
export {
    EXTERNAL_REFERENCE_ID_FILTER_MODES,
    type ExternalReferenceIdFilter,
    FAULT_METHODS,
    type FaultMethod,
    type InjectedFault,
    NO_FAULTS,
    type SimulatorFaults,
} from './faults';
export {
    CERTIFICATE_PATH,
    INVITATION_DAYS,
    type MicrosoftAction,
    MicrosoftSide,
    WEBHOOK_EVENTS,
    type WebhookDelivery,
    type WebhookFaultCounts,
    type WebhookFaults,
    type WebhookOptions,
    type WebhookRegistration,
} from './microsoft';
export { MAX_PAGE_SIZE, REFERRALS_PATH } from './referralApi';
export { MAX_LOG_ENTRIES, type RequestLogEntry } from './requestLog';
export type { StoredReferral } from './store';

export interface PartnerApiSimulatorOptions {
    /** 0 (default) picks a free port. */
    port?: number;
    /** Loopback by default; the simulator is a development tool and has no real authentication. */
    host?: string;
    /** Check the bearer token at all (default true). */
    requireAuth?: boolean;
    /**
     * Let requests without any Authorization header through (default false). The app's PARTNER_API_AUTH=none mode
     * sends no header, so the local runtime turns this on; a malformed or empty bearer token is still a 401.
     */
    acceptMissingToken?: boolean;
    /** Decides whether a bearer token is good (default: any non-empty token). Lets tests provoke 401s. */
    acceptToken?: (token: string) => boolean;
    faults?: Partial<SimulatorFaults>;
    /** Items per list page, at most 100 (the service's documented page size). */
    pageSize?: number;
    organizationId?: string;
    organizationName?: string;
    maxBodyBytes?: number;
    now?: () => number;
    /** Delivery of the webhooks Microsoft's side sends (microsoft.ts). */
    webhooks?: WebhookOptions;
}

export interface SimulatorAdmin {
    /** Merges a change into the current faults (a new `seed` restarts the random sequence) and returns them. */
    setFaults(change: Partial<SimulatorFaults>): SimulatorFaults;
    faults(): SimulatorFaults;
    /** Every referral held, in creation order. */
    referrals(): StoredReferral[];
    /** How many referrals are held, without copying them (a benchmark polls it while thousands are stored). */
    referralCount(): number;
    /** The request log (API requests only, not admin calls). */
    requests(): RequestLogEntry[];
    /**
     * Forgets referrals, the log, held late commits, rate-limit buckets and remembered request ids, and restarts the
     * fault sequence from its seed.
     */
    reset(): void;
}

export interface PartnerApiSimulator {
    url: string;
    port: number;
    admin: SimulatorAdmin;
    /** Microsoft's side: its actions on referrals, the fast clock, webhook registration and deliveries. */
    microsoft: MicrosoftSide;
    close(): Promise<void>;
}

const DEFAULT_ORGANIZATION_ID = '7d23e5ca-19dc-4eaa-aac8-5e6b559f0d1d';
const ADMIN_PREFIX = '/_admin/';
const WEBHOOKS_PREFIX = '/webhooks/v1/';

export async function startPartnerApiSimulator(options: PartnerApiSimulatorOptions = {}): Promise<PartnerApiSimulator> {
    const clock = options.now ?? Date.now;
    let baseUrl = '';
    // Microsoft's side moves the clock on (the 14-day expiry), so every reader of the time sees its offset.
    const now = () => clock() + microsoft.clockOffsetMs;
    const store = new ReferralStore(now);
    const microsoft: MicrosoftSide = new MicrosoftSide({
        store,
        now,
        baseUrl: () => baseUrl,
        webhooks: options.webhooks,
    });
    const faults = new FaultInjector(options.faults);
    const log = new RequestLog();
    const buckets = new TokenBuckets(now);
    const answersByRequestId = new RequestIdAnswers();
    /** Requests held by the `lateCommit` fault, to be handled later: cancelled by a reset or close. */
    const lateCommits = new Set<NodeJS.Timeout>();
    const cancelLateCommits = () => {
        for (const timer of lateCommits) clearTimeout(timer);
        lateCommits.clear();
    };
    const api = new ReferralApi({
        store,
        baseUrl: () => baseUrl,
        organizationId: options.organizationId ?? DEFAULT_ORGANIZATION_ID,
        organizationName: options.organizationName ?? 'Contoso Company',
        pageSize: Math.min(options.pageSize ?? 100, 100),
        settings: () => faults.current(),
    });
    const admin: SimulatorAdmin = {
        setFaults: (change) => faults.update(change),
        faults: () => faults.current(),
        referrals: () => structuredClone(store.all()),
        referralCount: () => store.count(),
        requests: () => log.all(),
        reset: () => {
            cancelLateCommits();
            store.clear();
            log.clear();
            buckets.clear();
            answersByRequestId.clear();
            faults.reseed();
            microsoft.reset();
        },
    };
    const apiRoutes = api.routes();
    const adminRoutes = [...adminRouteTable(admin), ...microsoft.adminRoutes()];
    const registrationRoutes = microsoft.registrationRoutes();
    const maxBodyBytes = options.maxBodyBytes ?? 1024 * 1024;
    /** Answers held back on purpose (hung requests, latency): destroyed on close so the server can stop. */
    const timers = new Set<NodeJS.Timeout>();

    const delay = (ms: number) =>
        new Promise<void>((resolve) => {
            const timer = setTimeout(() => {
                timers.delete(timer);
                resolve();
            }, ms);
            timers.add(timer);
        });

    /** Auth, header checks, de-duplication on MS-RequestId, then the resource itself. */
    function process(req: IncomingMessage, method: string, url: URL, raw: RawBody, entry: RequestLogEntry) {
        const settings = faults.current();
        const { requestId, correlationId } = entry;
        const refused =
            authorize(req, options) ??
            (settings.validateRequestIds ? checkRequestIdHeaders({ requestId, correlationId }) : undefined);
        if (refused) return refused;
        const dedupes = settings.dedupeOnRequestId && method === 'POST' && requestId !== undefined;
        const seen = dedupes ? answersByRequestId.find(requestId, now(), settings.dedupeWindowMs) : undefined;
        if (seen) {
            entry.deduplicated = true;
            return seen;
        }
        const answer = dispatch(apiRoutes, method, url, req, raw);
        // A server error is worth retrying under the same id; anything else is the request's answer.
        if (dedupes && answer.status < 500) {
            answersByRequestId.remember(requestId, answer, now(), settings.dedupeWindowMs);
        }
        return answer;
    }

    function answer(res: ServerResponse, entry: RequestLogEntry, result: SimulatorAnswer): void {
        record(entry, result);
        send(res, result);
    }

    async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
        const url = new URL(req.url ?? '/', baseUrl);
        const method = (req.method ?? 'GET').toUpperCase();
        const raw = await readBody(req, maxBodyBytes);

        if (url.pathname.startsWith(ADMIN_PREFIX)) {
            send(res, dispatch(adminRoutes, method, url, req, raw));
            return;
        }
        if (url.pathname === CERTIFICATE_PATH && method === 'GET') {
            res.writeHead(200, { 'content-type': 'application/x-pem-file' }).end(microsoft.certificatePem);
            return;
        }
        // The webhook registration API: another Partner Center API, authenticated but outside the referral faults.
        if (url.pathname.toLowerCase().startsWith(WEBHOOKS_PREFIX)) {
            send(res, authorize(req, options) ?? dispatch(registrationRoutes, method, url, req, raw));
            return;
        }

        const at = now();
        const settings = faults.current();
        const limit = buckets.take(tenantOf(header2(req, 'authorization')), {
            ratePerSecond: settings.rateLimitPerSecond,
            burst: settings.rateLimitBurst,
        });
        // The rate limit is the gateway's: it answers before any fault is drawn.
        const decision: FaultDecision = limit.allowed ? faults.decide(method) : { latencyMs: 0, fault: 'rateLimited' };
        const entry = log.add({
            method,
            path: url.pathname + url.search,
            requestId: header2(req, 'ms-requestid'),
            correlationId: header2(req, 'ms-correlationid'),
            time: new Date(at).toISOString(),
            at,
            fault: decision.fault,
            latencyMs: decision.latencyMs,
        });
        if (!limit.allowed) {
            answer(res, entry, throttled(limit.retryAfterSeconds));
            return;
        }
        if (decision.latencyMs > 0) await delay(decision.latencyMs);

        switch (decision.fault) {
            case 'hang':
                return; // Never answered; the socket is destroyed when the client gives up or the server closes.
            case 'throttled':
                answer(res, entry, throttled(settings.retryAfterSeconds));
                return;
            case 'serverError': {
                const status = decision.status ?? 500;
                const unavailable = status === 503;
                answer(res, entry, {
                    ...errorAnswer(
                        status,
                        unavailable ? 'serviceNotAvailable' : 'generalException',
                        unavailable ? 'The service is temporarily unavailable.' : 'An unexpected error occurred.',
                        'referral',
                    ),
                    ...(unavailable ? { headers: { 'retry-after': String(settings.retryAfterSeconds) } } : {}),
                });
                return;
            }
            case 'conflict':
                answer(
                    res,
                    entry,
                    errorAnswer(409, 'conflict', 'The request conflicts with the referral.', 'referral'),
                );
                return;
            case 'lateCommit': {
                // Held, then handled whether or not the client is still waiting: the create lands after the client
                // gave up. Only a reset or close cancels it.
                const timer = setTimeout(() => {
                    lateCommits.delete(timer);
                    // Outside handle()'s promise: a failure here answers 500 like any other, never escapes the timer.
                    let result: SimulatorAnswer;
                    try {
                        result = process(req, method, url, raw, entry);
                    } catch {
                        result = errorAnswer(500, 'generalException', 'An unexpected error occurred.', 'referral');
                    }
                    record(entry, result);
                    if (res.socket && !res.socket.destroyed) send(res, result);
                }, settings.commitDelayMs);
                lateCommits.add(timer);
                return;
            }
            case 'concurrentEdit':
                if (method === 'PATCH' || method === 'PUT') api.editConcurrently(url.pathname);
                break;
        }

        const result = process(req, method, url, raw, entry);
        if (decision.fault === 'lost') {
            // The work is done (a POST created its referral); the answer never arrives.
            record(entry, result);
            res.socket?.destroy();
            return;
        }
        answer(res, entry, result);
    }

    const server = createServer({ keepAlive: true }, (req, res) => {
        handle(req, res).catch(() => {
            if (!res.headersSent)
                send(res, errorAnswer(500, 'generalException', 'An unexpected error occurred.', 'referral'));
            else res.destroy();
        });
    });

    await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => {
            server.off('error', reject);
            resolve();
        });
    });
    const address = server.address() as AddressInfo;
    const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
    baseUrl = `http://${host}:${address.port}`;

    return {
        url: baseUrl,
        port: address.port,
        admin,
        microsoft,
        close: () =>
            new Promise<void>((resolve) => {
                for (const timer of timers) clearTimeout(timer);
                timers.clear();
                cancelLateCommits();
                microsoft.close();
                server.close(() => resolve());
                // Hung requests and idle keep-alive connections would otherwise hold close() open.
                server.closeAllConnections();
            }),
    };
}

function record(entry: RequestLogEntry, result: SimulatorAnswer): void {
    entry.status = result.status;
    entry.referralId = result.referralId;
    const retryAfter = result.headers?.['retry-after'];
    if (retryAfter !== undefined) entry.retryAfterSeconds = Number(retryAfter);
}

function throttled(retryAfterSeconds: number): SimulatorAnswer {
    return {
        ...errorAnswer(429, 'tooManyRequests', 'Rate limit is exceeded. Try again later.', 'referral'),
        headers: { 'retry-after': String(retryAfterSeconds) },
    };
}

function header2(req: IncomingMessage, name: string): string | undefined {
    const value = req.headers[name];
    return Array.isArray(value) ? value[0] : value;
}

type RawBody = { text: string } | { tooLarge: true };

function readBody(req: IncomingMessage, limit: number): Promise<RawBody> {
    return new Promise((resolve, reject) => {
        const chunks: Buffer[] = [];
        let size = 0;
        let tooLarge = false;
        req.on('data', (chunk: Buffer) => {
            size += chunk.length;
            if (size > limit) tooLarge = true;
            else chunks.push(chunk);
        });
        req.on('end', () => resolve(tooLarge ? { tooLarge: true } : { text: Buffer.concat(chunks).toString('utf8') }));
        req.on('error', reject);
    });
}

function authorize(req: IncomingMessage, options: PartnerApiSimulatorOptions): SimulatorAnswer | undefined {
    if (options.requireAuth === false) return undefined;
    const value = header2(req, 'authorization');
    if (value === undefined && options.acceptMissingToken) return undefined;
    const token = /^Bearer\s+(\S+)\s*$/i.exec(value ?? '')?.[1];
    if (token && (options.acceptToken?.(token) ?? true)) return undefined;
    return {
        ...errorAnswer(
            401,
            'unauthenticated',
            'The caller needs to authenticate with the partner API service.',
            'Authorization',
        ),
        headers: { 'www-authenticate': 'Bearer' },
    };
}

function dispatch(routes: Route[], method: string, url: URL, req: IncomingMessage, raw: RawBody): SimulatorAnswer {
    const matching = routes.filter((route) => route.pattern.test(url.pathname));
    if (matching.length === 0) return errorAnswer(404, 'itemNotFound', 'The resource does not exist.', 'path');
    const route = matching.find((r) => r.method === method);
    if (!route) return errorAnswer(405, 'invalidRequest', 'The method is not allowed on this resource.', 'method');
    if ('tooLarge' in raw) return errorAnswer(413, 'invalidRequest', 'The body is too large.', 'body');
    let body: unknown;
    if (raw.text.trim() !== '') {
        const contentType = header2(req, 'content-type') ?? '';
        if (!/json/i.test(contentType))
            return errorAnswer(415, 'invalidRequest', 'The body must be application/json.', 'Content-Type');
        try {
            body = JSON.parse(raw.text);
        } catch {
            return errorAnswer(400, 'invalidRequest', 'The body is not valid JSON.', 'body');
        }
    }
    const request: SimulatorRequest = {
        method,
        url,
        headers: req.headers,
        body,
        params: route.pattern.exec(url.pathname)?.groups ?? {},
    };
    return route.handler(request);
}

function send(res: ServerResponse, answer: SimulatorAnswer): void {
    const headers: Record<string, string> = { ...answer.headers };
    if (answer.body === undefined) {
        res.writeHead(answer.status, headers).end();
        return;
    }
    const text = JSON.stringify(answer.body);
    headers['content-type'] = 'application/json; charset=utf-8';
    headers['content-length'] = String(Buffer.byteLength(text));
    res.writeHead(answer.status, headers).end(text);
}

/** `/_admin/faults` (GET, PUT), `/_admin/referrals` (GET), `/_admin/requests` (GET), `/_admin/reset` (POST). */
function adminRouteTable(admin: SimulatorAdmin): Route[] {
    return [
        { method: 'GET', pattern: /^\/_admin\/faults\/?$/, handler: () => ({ status: 200, body: admin.faults() }) },
        {
            method: 'PUT',
            pattern: /^\/_admin\/faults\/?$/,
            handler: (request) => {
                try {
                    return { status: 200, body: admin.setFaults(request.body ?? {}) };
                } catch (error) {
                    const message = error instanceof RangeError ? error.message : 'Invalid faults.';
                    return errorAnswer(400, 'invalidRequest', message, 'faults');
                }
            },
        },
        {
            method: 'GET',
            pattern: /^\/_admin\/referrals\/?$/,
            handler: () => ({ status: 200, body: { value: admin.referrals() } }),
        },
        {
            // How many referrals are held, without copying them all (a benchmark polls it).
            method: 'GET',
            pattern: /^\/_admin\/referrals\/count\/?$/,
            handler: () => ({ status: 200, body: { count: admin.referralCount() } }),
        },
        {
            method: 'GET',
            pattern: /^\/_admin\/requests\/?$/,
            handler: () => ({ status: 200, body: { value: admin.requests() } }),
        },
        {
            method: 'POST',
            pattern: /^\/_admin\/reset\/?$/,
            handler: () => {
                admin.reset();
                return { status: 204 };
            },
        },
    ];
}
