/** Calls a running Partner API simulator over real HTTP (undici), as the app's client would. */
import { request } from 'undici';

export const REFERRALS = '/v1.0/engagements/referrals';

export interface Answer {
    status: number;
    headers: Record<string, string | string[] | undefined>;
    body: any;
    text: string;
}

export interface CallOptions {
    headers?: Record<string, string>;
    /** Give up (abort the request) after this long, as a client's deadline does. */
    timeoutMs?: number;
}

/** `path` is the path and query; a body is sent as JSON with a bearer token unless headers override them. */
export async function callSimulator(
    baseUrl: string,
    method: string,
    path: string,
    body?: unknown,
    options: CallOptions = {},
): Promise<Answer> {
    const response = await request(baseUrl + path, {
        method: method as 'GET',
        headers: {
            authorization: 'Bearer any-token',
            ...(body === undefined ? {} : { 'content-type': 'application/json' }),
            ...options.headers,
        },
        body: body === undefined ? undefined : JSON.stringify(body),
        ...(options.timeoutMs === undefined ? {} : { signal: AbortSignal.timeout(options.timeoutMs) }),
    });
    const text = await response.body.text();
    return {
        status: response.statusCode,
        headers: response.headers,
        text,
        body: text ? JSON.parse(text) : undefined,
    };
}
