/** The request and answer shapes the route handlers work with, and the documented error body. */
import { type IncomingHttpHeaders } from 'node:http';

export interface SimulatorRequest {
    method: string;
    url: URL;
    headers: IncomingHttpHeaders;
    /** Parsed JSON body; `undefined` when there was none. */
    body: unknown;
    /** Named groups of the route pattern (e.g. `id`). */
    params: Record<string, string>;
}

export interface SimulatorAnswer {
    status: number;
    body?: unknown;
    headers?: Record<string, string>;
    /** For the request log: the referral the request created or touched. */
    referralId?: string;
}

export type RouteHandler = (request: SimulatorRequest) => SimulatorAnswer;

export interface Route {
    method: string;
    pattern: RegExp;
    handler: RouteHandler;
}

/** `{ "error": { "code", "message", "target" } }`; messages name fields and rules, never submitted values. */
export function errorAnswer(status: number, code: string, message: string, target: string): SimulatorAnswer {
    return { status, body: { error: { code, message, target } } };
}

export function header(request: SimulatorRequest, name: string): string | undefined {
    const value = request.headers[name.toLowerCase()];
    return Array.isArray(value) ? value[0] : value;
}
