/**
 * Outages of a local peer (the Cosmos DB emulator, the Service Bus dev broker), switched at run time by tests and the
 * reliability suite: a seeded fraction of operations refused (bursts are the switch turned on for a while), and an
 * outage in which every operation is refused until a given time. The same seed and the same sequence of operations
 * refuse the same ones.
 */

import type { IncomingMessage, ServerResponse } from 'node:http';

/** mulberry32: tiny, fast, good enough to spread faults; not for anything secret. */
export function seededRandom(seed: number): () => number {
    let state = seed >>> 0;
    return () => {
        state = (state + 0x6d2b79f5) >>> 0;
        let t = state;
        t = Math.imul(t ^ (t >>> 15), t | 1);
        t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
        return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
}

/** A change as an admin endpoint takes it: `outageMs` starts an outage of that length now (0 ends one). */
export type FaultChange<F> = Partial<F> & { outageMs?: number };

/** Keeps a peer's faults, validates changes and draws. `F` holds rates (0..1) and numbers; `seed` restarts draws. */
export class FaultSwitch<F extends { seed: number; outageUntil: number }> {
    private faults: F;
    private random: () => number;
    /** How many of each kind were injected since the peer started (a reset keeps them). */
    private readonly injected: Record<string, number> = {};

    constructor(
        private readonly none: F,
        private readonly validate: (faults: F) => void,
    ) {
        this.faults = { ...none };
        this.random = seededRandom(none.seed);
    }

    current(): F {
        return { ...this.faults };
    }

    update(change: FaultChange<F>): F {
        const { outageMs, ...rest } = change;
        const next = { ...this.faults, ...rest };
        if (outageMs !== undefined) {
            if (!(Number.isFinite(outageMs) && outageMs >= 0)) throw new RangeError('outageMs must be 0 or more');
            next.outageUntil = Date.now() + outageMs;
        }
        this.validate(next);
        this.faults = next;
        if (change.seed !== undefined) this.random = seededRandom(next.seed);
        return this.current();
    }

    reset(): F {
        this.faults = { ...this.none };
        this.random = seededRandom(this.none.seed);
        return this.current();
    }

    /** Counts one injected fault of `kind`. */
    note(kind: string): void {
        this.injected[kind] = (this.injected[kind] ?? 0) + 1;
    }

    counts(): Record<string, number> {
        return { ...this.injected };
    }

    /** Whether the peer is in an outage now. */
    inOutage(): boolean {
        return Date.now() < this.faults.outageUntil;
    }

    /** One draw: true for a fraction `rate` of the calls. */
    chance(rate: number): boolean {
        return rate > 0 && this.random() < rate;
    }
}

export function checkRate(name: string, value: unknown): void {
    if (typeof value !== 'number' || !(value >= 0 && value <= 1)) throw new RangeError(`${name} must be from 0 to 1`);
}

export function checkNonNegative(name: string, value: unknown): void {
    if (typeof value !== 'number' || !(Number.isFinite(value) && value >= 0)) {
        throw new RangeError(`${name} must be a number, 0 or more`);
    }
}

export function checkSeed(value: unknown): void {
    if (!Number.isInteger(value)) throw new RangeError('seed must be an integer');
}

function readBody(request: IncomingMessage): Promise<string> {
    return new Promise((resolve, reject) => {
        let text = '';
        request.setEncoding('utf8');
        request.on('data', (chunk: string) => (text += chunk));
        request.on('end', () => resolve(text));
        request.on('error', reject);
    });
}

/**
 * A peer's admin endpoint for its faults: GET answers them with the counts injected so far (`injected`), PUT applies
 * a change (JSON) and answers the result.
 */
export async function serveFaults<F extends { seed: number; outageUntil: number }>(
    faults: FaultSwitch<F>,
    request: IncomingMessage,
    response: ServerResponse,
): Promise<void> {
    const send = (status: number, body: unknown): void => {
        response.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
        response.end(JSON.stringify(body));
    };
    if (request.method === 'GET') return send(200, { ...faults.current(), injected: faults.counts() });
    if (request.method !== 'PUT') {
        response.setHeader('allow', 'GET, PUT');
        return send(405, { error: 'Only GET and PUT are supported.' });
    }
    try {
        send(200, faults.update(JSON.parse(await readBody(request)) as FaultChange<F>));
    } catch (error) {
        send(400, { error: error instanceof Error ? error.message : String(error) });
    }
}
