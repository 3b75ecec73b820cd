/**
 * Fault injection with a seeded random source, so a run with the same seed and the same request sequence injects
 * the same faults. Each request in scope draws once; the rates are cumulative slices of [0, 1):
 * [429 | 500/503 | hang | lost | no fault].
 */

export const FAULT_METHODS = ['GET', 'POST', 'PUT', 'PATCH'] as const;
export type FaultMethod = (typeof FAULT_METHODS)[number];

export interface SimulatorFaults {
    /** Added before every request in scope is handled. */
    latencyMs: number;
    /** Fraction answered 429 Too Many Requests with `Retry-After: retryAfterSeconds`. */
    rate429: number;
    retryAfterSeconds: number;
    /** Fraction answered with a 5xx, picked evenly from `serverErrorStatuses` (503 carries `Retry-After`). */
    rate5xx: number;
    serverErrorStatuses: number[];
    /** Fraction never answered (the client's timeout must give up). */
    rateHang: number;
    /** Fraction handled (the referral is created) whose answer is then lost: the connection is destroyed. */
    rateLost: number;
    /** Methods the faults apply to. */
    methods: FaultMethod[];
    seed: number;
}

export type InjectedFault = 'none' | 'throttled' | 'serverError' | 'hang' | 'lost';

export interface FaultDecision {
    latencyMs: number;
    fault: InjectedFault;
    /** The status to answer for `throttled` and `serverError`. */
    status?: number;
}

export const NO_FAULTS: SimulatorFaults = {
    latencyMs: 0,
    rate429: 0,
    retryAfterSeconds: 2,
    rate5xx: 0,
    serverErrorStatuses: [500, 503],
    rateHang: 0,
    rateLost: 0,
    methods: ['POST'],
    seed: 1,
};

/** mulberry32: tiny, fast, good enough to spread faults; not for anything secret. */
function seededRandom(seed: number): () => number {
    let state = seed >>> 0;
    return () => {
        state = (state + 0x6d2b79f5) >>> 0;
        let t = state;
        t = Math.imul(t ^ (t >>> 15), t | 1);
        t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
        return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
}

export function validateFaults(faults: SimulatorFaults): void {
    const rates = [faults.rate429, faults.rate5xx, faults.rateHang, faults.rateLost];
    if (rates.some((rate) => !(rate >= 0 && rate <= 1))) throw new RangeError('fault rates must be between 0 and 1');
    if (rates.reduce((a, b) => a + b, 0) > 1 + 1e-9) throw new RangeError('fault rates must add up to at most 1');
    if (!(faults.latencyMs >= 0) || !(faults.retryAfterSeconds >= 0)) {
        throw new RangeError('latencyMs and retryAfterSeconds must be >= 0');
    }
    if (!Array.isArray(faults.methods) || faults.methods.some((m) => !FAULT_METHODS.includes(m))) {
        throw new RangeError(`methods must be a list of ${FAULT_METHODS.join(', ')}`);
    }
    const statuses = faults.serverErrorStatuses;
    if (
        !Array.isArray(statuses) ||
        statuses.length === 0 ||
        statuses.some((s) => !(Number.isInteger(s) && s >= 500 && s <= 599))
    ) {
        throw new RangeError('serverErrorStatuses must be a non-empty list of 5xx statuses');
    }
    if (!Number.isInteger(faults.seed)) throw new RangeError('seed must be an integer');
}

export class FaultInjector {
    private faults: SimulatorFaults;
    private random: () => number;

    constructor(initial: Partial<SimulatorFaults> = {}) {
        this.faults = { ...NO_FAULTS, ...initial };
        validateFaults(this.faults);
        this.random = seededRandom(this.faults.seed);
    }

    current(): SimulatorFaults {
        return {
            ...this.faults,
            methods: [...this.faults.methods],
            serverErrorStatuses: [...this.faults.serverErrorStatuses],
        };
    }

    /** Merges a change; a new seed (or `reseed`) restarts the random sequence. */
    update(change: Partial<SimulatorFaults>): SimulatorFaults {
        const next = { ...this.faults, ...change };
        validateFaults(next);
        this.faults = next;
        if (change.seed !== undefined) this.reseed();
        return this.current();
    }

    reseed(): void {
        this.random = seededRandom(this.faults.seed);
    }

    /** The latency and the fault for one request. Requests out of scope draw nothing (the sequence stays stable). */
    decide(method: string): FaultDecision {
        if (!this.faults.methods.includes(method as FaultMethod)) return { latencyMs: 0, fault: 'none' };
        const { rate429, rate5xx, rateHang, rateLost, latencyMs, serverErrorStatuses } = this.faults;
        const draw = this.random();
        if (draw < rate429) return { latencyMs, fault: 'throttled', status: 429 };
        if (draw < rate429 + rate5xx) {
            const status = serverErrorStatuses[Math.floor(this.random() * serverErrorStatuses.length)]!;
            return { latencyMs, fault: 'serverError', status };
        }
        if (draw < rate429 + rate5xx + rateHang) return { latencyMs, fault: 'hang' };
        if (draw < rate429 + rate5xx + rateHang + rateLost) return { latencyMs, fault: 'lost' };
        return { latencyMs, fault: 'none' };
    }
}
