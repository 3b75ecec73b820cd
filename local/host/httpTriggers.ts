/**
 * Serves the app's HTTP triggers on `node:http`, as the Functions host does: `/<routePrefix>/<route>` with the
 * registered methods and `authLevel`, a real `HttpRequest` in, the handler's `HttpResponseInit` or `HttpResponse`
 * out. A failed invocation answers 500 without details, as Azure does.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { type AddressInfo } from 'node:net';

import { type Cookie, HttpRequest, HttpResponse } from '@azure/functions';

import { isAuthorized } from './auth';
import { type RegisteredFunction } from './functionsCore';
import { type HostLogger } from './hostLog';
import { type FunctionInvoker, triggerBinding } from './invoker';
import { type CompiledRoute, compileRoute } from './routes';

/** The Functions host's default `maxRequestBodySize` (100 MB). */
const MAX_BODY_BYTES = 100 * 1024 * 1024;

export interface HttpFunctionRoute {
    functionName: string;
    route: CompiledRoute;
    methods: string[];
    authLevel: string;
    registered: RegisteredFunction;
}

export function httpRoutes(functions: Iterable<RegisteredFunction>): HttpFunctionRoute[] {
    const routes: HttpFunctionRoute[] = [];
    for (const registered of functions) {
        const trigger = triggerBinding(registered.metadata);
        if (trigger.type.toLowerCase() !== 'httptrigger') continue;
        const template = typeof trigger.route === 'string' && trigger.route ? trigger.route : registered.metadata.name;
        const methods = Array.isArray(trigger.methods) ? (trigger.methods as string[]).map((m) => m.toUpperCase()) : [];
        routes.push({
            functionName: registered.metadata.name,
            route: compileRoute(template),
            methods,
            authLevel: typeof trigger.authLevel === 'string' ? trigger.authLevel : 'function',
            registered,
        });
    }
    return routes.sort((a, b) => b.route.precedence - a.route.precedence);
}

export interface HttpHostOptions {
    routePrefix: string;
    functionKey: string;
    invoker: FunctionInvoker;
    logger: HostLogger;
}

class RequestTooLargeError extends Error {}

async function readBody(request: IncomingMessage): Promise<Buffer> {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of request) {
        const buffer = chunk as Buffer;
        size += buffer.length;
        if (size > MAX_BODY_BYTES) throw new RequestTooLargeError();
        chunks.push(buffer);
    }
    return Buffer.concat(chunks);
}

function requestHeaders(request: IncomingMessage): Record<string, string> {
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(request.headers)) {
        if (value === undefined) continue;
        headers[name] = Array.isArray(value) ? value.join(', ') : value;
    }
    return headers;
}

function serializeCookie(cookie: Cookie): string {
    const parts = [`${cookie.name}=${encodeURIComponent(cookie.value)}`];
    if (cookie.domain) parts.push(`Domain=${cookie.domain}`);
    if (cookie.path) parts.push(`Path=${cookie.path}`);
    if (cookie.expires !== undefined) parts.push(`Expires=${new Date(cookie.expires).toUTCString()}`);
    if (cookie.maxAge !== undefined) parts.push(`Max-Age=${cookie.maxAge}`);
    if (cookie.secure) parts.push('Secure');
    if (cookie.httpOnly) parts.push('HttpOnly');
    if (cookie.sameSite) parts.push(`SameSite=${cookie.sameSite}`);
    return parts.join('; ');
}

interface ResponseLike {
    status: number;
    headers: Headers;
    cookies?: Cookie[];
    arrayBuffer(): Promise<ArrayBuffer>;
}

function isResponseLike(value: unknown): value is ResponseLike {
    const candidate = value as Partial<ResponseLike> | null;
    return (
        typeof candidate === 'object' &&
        candidate !== null &&
        typeof candidate.arrayBuffer === 'function' &&
        typeof candidate.status === 'number' &&
        candidate.headers instanceof Headers
    );
}

/** The handler's return value as the host reads it: `HttpResponse` as is, an `HttpResponseInit` through one. */
function toResponse(result: unknown): ResponseLike {
    if (isResponseLike(result)) return result;
    if (result === undefined || result === null) return new HttpResponse({ status: 204 });
    if (typeof result !== 'object') {
        throw new TypeError('The HTTP response must be an object with optional body, status, headers and cookies.');
    }
    return new HttpResponse(result);
}

function sendEmpty(response: ServerResponse, status: number, headers: Record<string, string> = {}): void {
    response.writeHead(status, { ...headers, 'content-length': '0' });
    response.end();
}

function sendText(response: ServerResponse, status: number, text: string): void {
    response.writeHead(status, {
        'content-type': 'text/plain; charset=utf-8',
        'content-length': Buffer.byteLength(text),
    });
    response.end(text);
}

export class HttpTriggerHost {
    readonly server: Server;
    private readonly routes: HttpFunctionRoute[];

    constructor(
        functions: Iterable<RegisteredFunction>,
        private readonly options: HttpHostOptions,
    ) {
        this.routes = httpRoutes(functions);
        this.server = createServer((request, response) => {
            this.handle(request, response).catch(() => {
                if (!response.headersSent) sendText(response, 500, 'Internal Server Error');
                else response.destroy();
            });
        });
        // Keep-alive sockets would hold close() open; the host closes idle ones itself on stop.
        this.server.keepAliveTimeout = 5000;
    }

    get functionRoutes(): readonly HttpFunctionRoute[] {
        return this.routes;
    }

    async listen(port: number, hostname: string): Promise<number> {
        await new Promise<void>((resolve, reject) => {
            this.server.once('error', reject);
            this.server.listen(port, hostname, () => {
                this.server.off('error', reject);
                resolve();
            });
        });
        return (this.server.address() as AddressInfo).port;
    }

    async close(): Promise<void> {
        const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
        this.server.closeIdleConnections();
        // Requests still running get a short grace period, then their sockets are cut.
        const timer = setTimeout(() => this.server.closeAllConnections(), 5000);
        await closed;
        clearTimeout(timer);
    }

    private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
        const method = (request.method ?? 'GET').toUpperCase();
        const url = new URL(request.url ?? '/', `http://${request.headers.host ?? 'localhost'}`);
        const path = decodePathSafely(url.pathname);
        if (path === '/' && (method === 'GET' || method === 'HEAD')) {
            // The Functions host answers its root with a landing page; handy as a liveness check.
            sendText(response, 200, 'Local Functions host is running.\n');
            return;
        }
        const prefix = this.options.routePrefix ? `/${this.options.routePrefix}` : '';
        if (
            prefix &&
            path.toLowerCase() !== prefix.toLowerCase() &&
            !path.toLowerCase().startsWith(`${prefix.toLowerCase()}/`)
        ) {
            sendEmpty(response, 404);
            return;
        }
        const routePath = url.pathname.slice(prefix.length);
        const candidates: { route: HttpFunctionRoute; params: Record<string, string> }[] = [];
        for (const route of this.routes) {
            const params = route.route.match(routePath);
            if (params) candidates.push({ route, params });
        }
        if (candidates.length === 0) {
            sendEmpty(response, 404);
            return;
        }
        const chosen = candidates.find((c) => c.route.methods.length === 0 || c.route.methods.includes(method));
        if (!chosen) {
            const allowed = [...new Set(candidates.flatMap((c) => c.route.methods))].join(', ');
            sendEmpty(response, 405, { allow: allowed });
            return;
        }
        const headerKey = request.headers['x-functions-key'];
        const key = Array.isArray(headerKey) ? headerKey[0] : headerKey;
        if (!isAuthorized(chosen.route.authLevel, key, url.searchParams.get('code'), this.options.functionKey)) {
            sendEmpty(response, 401);
            return;
        }
        let body: Buffer;
        try {
            body = await readBody(request);
        } catch (error) {
            if (error instanceof RequestTooLargeError) sendEmpty(response, 413);
            else response.destroy();
            return;
        }
        await this.invoke(chosen.route, chosen.params, method, url, request, body, response);
    }

    private async invoke(
        route: HttpFunctionRoute,
        params: Record<string, string>,
        method: string,
        url: URL,
        request: IncomingMessage,
        body: Buffer,
        response: ServerResponse,
    ): Promise<void> {
        const httpRequest = new HttpRequest({
            method,
            url: url.toString(),
            body: { bytes: body },
            headers: requestHeaders(request),
            params,
        });
        let result: ResponseLike | undefined;
        try {
            // The response is built inside the invocation so a return value the host cannot read counts as a failure.
            await this.options.invoker.invoke(route.registered, [httpRequest], undefined, (value) => {
                result = toResponse(value);
                return `, Status=${result.status}`;
            });
        } catch {
            // Details are in the host log line; the caller gets nothing that could leak internals.
            sendText(response, 500, 'Internal Server Error');
            return;
        }
        if (!result) throw new Error('unreachable: a successful invocation always describes its result');
        const bytes = Buffer.from(await result.arrayBuffer());
        const headers: Record<string, string | string[]> = {};
        result.headers.forEach((value, name) => {
            if (name !== 'set-cookie') headers[name] = value;
        });
        const cookies = [...result.headers.getSetCookie(), ...(result.cookies ?? []).map(serializeCookie)];
        if (cookies.length > 0) headers['set-cookie'] = cookies;
        if (method !== 'HEAD' && ![204, 304].includes(result.status)) headers['content-length'] = String(bytes.length);
        response.writeHead(result.status, headers);
        response.end(method === 'HEAD' ? undefined : bytes);
    }
}

function decodePathSafely(pathname: string): string {
    try {
        return decodeURIComponent(pathname);
    } catch {
        return pathname;
    }
}
