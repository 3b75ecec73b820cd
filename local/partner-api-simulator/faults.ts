/**
 * Fault injection with a seeded random source, so a run with the same seed and the same request sequence injects
 * the same faults. Each request in scope draws once; the rates are cumulative slices of [0, 1):
 * [429 | 500/503 | hang | lost | late commit | 409 | concurrent edit | no fault]. New slices go at the end, so a seed
 * keeps drawing the same faults for the older rates.
 *
 * The same settings also carry the behaviours of real services that are not random draws (a list that lags behind
 * writes, a refused or ignored `externalReferenceId` filter, header checks, de-duplication on `MS-RequestId`, a
 * token-bucket rate limit): one place, one admin endpoint, all off by default.
 */

import { seededRandom } from '../faults/dependencyFaults';

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
    /** Fraction held for `commitDelayMs` and only then handled (a POST creates its referral), client there or not. */
    rateLateCommit: number;
    commitDelayMs: number;
    /** Fraction answered 409 `conflict` without being handled. */
    rateConflict: number;
    /** Fraction of PATCH/PUT on an existing referral preceded by someone else's edit (new eTag): If-Match gets 412. */
    rateConcurrentEdit: number;
    /** Methods the faults apply to. */
    methods: FaultMethod[];
    seed: number;
    /** A write shows in list answers only this long after it was made (the previous version until then). */
    listLagMs: number;
    /** GET by id lags as the list does (else it reads the latest write). */
    lagGetById: boolean;
    /** `supported`: filters as any property; `refuse`: 400 on a `$filter` naming it; `ignore`: as if not named. */
    externalReferenceIdFilter: ExternalReferenceIdFilter;
    /** Every string comparison in `$filter` ignores case (GUIDs and enum values always do). */
    filterIgnoresCase: boolean;
    /** 400 when `MS-RequestId` or `MS-CorrelationId` is present and not a GUID. */
    validateRequestIds: boolean;
    /** A POST repeating an `MS-RequestId` seen within `dedupeWindowMs` gets the first one's answer, creating nothing. */
    dedupeOnRequestId: boolean;
    dedupeWindowMs: number;
    /** Token bucket per tenant, every API request: 0 is no limit. Over it: 429 with the seconds until a token is free. */
    rateLimitPerSecond: number;
    /** Bucket size (the burst allowed); 0 means one second's worth (at least 1). */
    rateLimitBurst: number;
}

export const EXTERNAL_REFERENCE_ID_FILTER_MODES = ['supported', 'refuse', 'ignore'] as const;
export type ExternalReferenceIdFilter = (typeof EXTERNAL_REFERENCE_ID_FILTER_MODES)[number];

export type InjectedFault =
    | 'none'
    | 'throttled'
    | 'serverError'
    | 'hang'
    | 'lost'
    | 'lateCommit'
    | 'conflict'
    | 'concurrentEdit'
    | 'rateLimited';

export interface FaultDecision {
    latencyMs: number;
    fault: InjectedFault;
    /** The status to answer for `throttled`, `serverError` and `conflict`. */
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
    rateLateCommit: 0,
    commitDelayMs: 8000,
    rateConflict: 0,
    rateConcurrentEdit: 0,
    methods: ['POST'],
    seed: 1,
    listLagMs: 0,
    lagGetById: false,
    externalReferenceIdFilter: 'supported',
    filterIgnoresCase: false,
    validateRequestIds: false,
    dedupeOnRequestId: false,
    dedupeWindowMs: 600_000,
    rateLimitPerSecond: 0,
    rateLimitBurst: 0,
};

/** The draw's slices, in order: the cumulative order is part of the seed's contract. */
function slices(faults: SimulatorFaults): [Exclude<InjectedFault, 'none' | 'rateLimited'>, number][] {
    return [
        ['throttled', faults.rate429],
        ['serverError', faults.rate5xx],
        ['hang', faults.rateHang],
        ['lost', faults.rateLost],
        ['lateCommit', faults.rateLateCommit],
        ['conflict', faults.rateConflict],
        ['concurrentEdit', faults.rateConcurrentEdit],
    ];
}

const DURATIONS = [
    'latencyMs',
    'retryAfterSeconds',
    'commitDelayMs',
    'listLagMs',
    'dedupeWindowMs',
    'rateLimitPerSecond',
    'rateLimitBurst',
] as const;
const SWITCHES = ['lagGetById', 'filterIgnoresCase', 'validateRequestIds', 'dedupeOnRequestId'] as const;

export function validateFaults(faults: SimulatorFaults): void {
    const rates = slices(faults).map(([, rate]) => rate);
    if (rates.some((rate) => !(rate >= 0 && rate <= 1))) throw new RangeError('fault rates must be between 0 and 1');
    if (rates.reduce((a, b) => a + b, 0) > 1 + 1e-9) throw new RangeError('fault rates must add up to at most 1');
    for (const name of DURATIONS) {
        const value = faults[name];
        if (typeof value !== 'number' || !(value >= 0 && value < Infinity))
            throw new RangeError(`${name} must be >= 0`);
    }
    for (const name of SWITCHES) {
        if (typeof faults[name] !== 'boolean') throw new RangeError(`${name} must be true or false`);
    }
    if (!EXTERNAL_REFERENCE_ID_FILTER_MODES.includes(faults.externalReferenceIdFilter)) {
        throw new RangeError(
            `externalReferenceIdFilter must be one of ${EXTERNAL_REFERENCE_ID_FILTER_MODES.join(', ')}`,
        );
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
        const { latencyMs, serverErrorStatuses } = this.faults;
        const draw = this.random();
        let bound = 0;
        for (const [fault, rate] of slices(this.faults)) {
            bound += rate;
            if (draw >= bound) continue;
            if (fault === 'throttled') return { latencyMs, fault, status: 429 };
            if (fault === 'conflict') return { latencyMs, fault, status: 409 };
            if (fault === 'serverError') {
                const status = serverErrorStatuses[Math.floor(this.random() * serverErrorStatuses.length)]!;
                return { latencyMs, fault, status };
            }
            return { latencyMs, fault };
        }
        return { latencyMs, fault: 'none' };
    }
}
