/**
 * Faults of the local Cosmos DB emulator, drawn per request before the server sees it (a refused request changes
 * nothing): a fraction throttled (429 with `x-ms-retry-after-ms`, as Cosmos DB throttles), a fraction unavailable
 * (503), and an outage in which every request gets 503. Switched at run time through `/_admin/faults` on the
 * emulator's own address (GET, PUT; a path no Cosmos DB request uses).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { request } from 'node:https';

import {
    checkNonNegative,
    checkRate,
    checkSeed,
    type FaultChange,
    FaultSwitch,
    serveFaults,
} from '../faults/dependencyFaults';

export const COSMOS_FAULTS_PATH = '/_admin/faults';

export interface CosmosFaults {
    /** Fraction answered 429 with `x-ms-retry-after-ms: retryAfterMs`. */
    rate429: number;
    retryAfterMs: number;
    /** Fraction answered 503 Service Unavailable. */
    rate503: number;
    /** Until when (epoch ms) every request is answered 503; PUT `outageMs` to start one. */
    outageUntil: number;
    seed: number;
}

export const NO_COSMOS_FAULTS: CosmosFaults = { rate429: 0, retryAfterMs: 100, rate503: 0, outageUntil: 0, seed: 1 };

function validate(faults: CosmosFaults): void {
    checkRate('rate429', faults.rate429);
    checkRate('rate503', faults.rate503);
    if (faults.rate429 + faults.rate503 > 1) throw new RangeError('rate429 + rate503 must not exceed 1');
    checkNonNegative('retryAfterMs', faults.retryAfterMs);
    checkNonNegative('outageUntil', faults.outageUntil);
    checkSeed(faults.seed);
}

export function cosmosFaultSwitch(): FaultSwitch<CosmosFaults> {
    return new FaultSwitch(NO_COSMOS_FAULTS, validate);
}

function answer(response: ServerResponse, status: number, body: unknown, headers: Record<string, string>): void {
    response.writeHead(status, { 'content-type': 'application/json', ...headers });
    response.end(JSON.stringify(body));
}

/**
 * Answers the request if it is for the admin endpoint or draws a fault; returns false when the server should
 * handle it.
 */
export function interceptCosmosRequest(
    faults: FaultSwitch<CosmosFaults>,
    request: IncomingMessage,
    response: ServerResponse,
): boolean {
    if ((request.url ?? '').split('?')[0] === COSMOS_FAULTS_PATH) {
        void serveFaults(faults, request, response);
        return true;
    }
    const { rate429, retryAfterMs, rate503 } = faults.current();
    const unavailable = faults.inOutage() ? 'outage503' : faults.chance(rate503) ? '503' : undefined;
    if (unavailable) {
        faults.note(unavailable);
        answer(response, 503, { code: 'ServiceUnavailable', message: 'Injected by the local emulator.' }, {});
        return true;
    }
    if (faults.chance(rate429)) {
        faults.note('429');
        answer(
            response,
            429,
            { code: 'TooManyRequests', message: 'Injected by the local emulator.' },
            { 'x-ms-retry-after-ms': String(retryAfterMs), 'x-ms-substatus': '3200' },
        );
        return true;
    }
    return false;
}

/** What `/_admin/faults` answers a GET with: the faults, and how many of each kind were injected. */
export type CosmosFaultReport = CosmosFaults & { injected: Record<string, number> };

/** A call to an admin `path` of the emulator at `endpoint` (another process's; self-signed TLS, loopback only). */
export function emulatorAdmin<T>(endpoint: string, path: string, method: 'GET' | 'PUT', body?: unknown): Promise<T> {
    const url = new URL(path, endpoint);
    if (!['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname)) throw new Error('Loopback emulators only.');
    return new Promise((resolve, reject) => {
        const call = request(
            url,
            { method, rejectUnauthorized: false, headers: { 'content-type': 'application/json' } },
            (response) => {
                let text = '';
                response.setEncoding('utf8');
                response.on('data', (chunk: string) => (text += chunk));
                response.on('end', () =>
                    response.statusCode === 200
                        ? resolve(JSON.parse(text) as T)
                        : reject(new Error(`${method} ${url.pathname}: ${response.statusCode} ${text}`)),
                );
            },
        );
        call.on('error', reject);
        call.end(body === undefined ? undefined : JSON.stringify(body));
    });
}

/** Changes the faults of the emulator at `endpoint`. */
export function setCosmosFaults(endpoint: string, change: FaultChange<CosmosFaults>): Promise<CosmosFaults> {
    return emulatorAdmin(endpoint, COSMOS_FAULTS_PATH, 'PUT', change);
}

/** The faults of the emulator at `endpoint`, with the counts injected so far. */
export function readCosmosFaults(endpoint: string): Promise<CosmosFaultReport> {
    return emulatorAdmin(endpoint, COSMOS_FAULTS_PATH, 'GET');
}
