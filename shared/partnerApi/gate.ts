/**
 * The Partner API throttles per partner tenant with 429 and `Retry-After` (reference/partner-api.md §10). Left to
 * themselves, the queue's messages back off one by one: a thundering herd at the start of a bulk run, then the limit
 * idles while referrals sit out long back-offs, and every 429 costs a whole step cycle (Cosmos reads and writes, a
 * scheduled message). So every call of one tenant passes one gate (`PartnerApiGate.forTenant`, used inside the
 * client):
 *
 * - **Retry-After pauses everyone.** After a 429 no call of that tenant is sent before the answer's `Retry-After`
 *   has passed (1 s when it names none), not just the throttled message's retry.
 * - **An adaptive token bucket.** Calls are spaced at the current rate (one token, no bursts: the service's own
 *   bucket is then never overrun by us alone). The rate adapts AIMD: it halves on a 429 (once per round of calls:
 *   the other calls admitted before the decrease and throttled with it do not halve it again) and grows additively
 *   while calls are answered, up to the ceiling (`PARTNER_API_MAX_CALLS_PER_SECOND` divided by
 *   `PARTNER_API_INSTANCE_COUNT`: each instance keeps its own gate and takes its share, see docs/operations.md).
 *   Without a ceiling the gate does not pace at all until the first 429, which starts it at half the rate it saw.
 * - **Bounded by the caller's deadline.** A wait that would pass the call's deadline is not begun: the call fails at
 *   once as transient with code `throttledLocally` (kind `throttled`) and `retryAfterMs` = the wait, so the step
 *   reschedules itself for when the gate would have let it through, without spending an attempt of its budget on
 *   a call that was never sent.
 * - **Background work goes last.** Each waiting call holds a slot, so the callers with the latest deadlines fill
 *   the queue ahead of the others: under a load, webhook syncs (a minute) and duplicate checks (a lease) crowded
 *   out the creates, whose attempts must end well within their lease (in a fault run with 15 s leases, a create was
 *   refused for most of the hour). A call marked `background` holds no slot while it waits: any other call that
 *   comes meanwhile goes first, and it takes only a turn nobody else wants. It waits at most
 *   BACKGROUND_MAX_WAIT_MS; past that it is refused like a call past its deadline and runs again later.
 *
 * State is per process: in memory, no I/O.
 */
import { PartnerApiError, type PartnerApiOperation } from './errors';
import { partnerCorrelationId } from './requestIds';

/** The pause after a 429 that names no `Retry-After`. */
export const DEFAULT_THROTTLE_PAUSE_MS = 1_000;
/** Multiplicative decrease on a 429. */
export const RATE_DECREASE_FACTOR = 0.5;
/** The rate never falls below this (calls per second): the gate always lets calls probe the limit. */
export const MIN_CALLS_PER_SECOND = 0.5;
/** The error code of a call the gate refused because its wait would pass the call's deadline. */
export const THROTTLED_LOCALLY = 'throttledLocally';
/**
 * The longest wait of a `background` call. It held a slot in the first version of this rule, and each call of a
 * create's attempt (a paged lookup and the create) waited behind the background calls queued before it: at 5 s, a
 * create whose lookup needed 15 pages could not end within a 15 s lease.
 */
export const BACKGROUND_MAX_WAIT_MS = 1_000;

export interface PartnerApiGateOptions {
    /** This instance's ceiling, in calls per second; undefined: no ceiling (no pacing before the first 429). */
    maxCallsPerSecond?: number;
    /** Additive increase, in calls per second gained per second without a 429. Default: a tenth of the ceiling, at least 1. */
    increasePerSecond?: number;
    now?: () => number;
    /** Resolves after `ms` (rejects when `signal` aborts). */
    sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

/** What `admit` hands back, to report the call's answer with. */
export interface GateTicket {
    /** When the call was let through. */
    readonly admittedAt: number;
}

/** The call being admitted, for the error when it cannot be in time. */
export interface GateCall {
    operation: PartnerApiOperation;
    correlationId: string;
    /** Absolute time (ms) the call must be done by; undefined: no deadline. */
    deadline?: number;
    /** Work that can wait: it waits at most BACKGROUND_MAX_WAIT_MS. */
    background?: boolean;
    signal?: AbortSignal;
}

const gates = new Map<string, PartnerApiGate>();

export class PartnerApiGate {
    private readonly ceiling: number;
    private readonly increasePerSecond: number;
    private readonly now: () => number;
    private readonly sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
    /** Calls per second; Infinity until the first 429 when there is no ceiling. */
    private rate: number;
    /** When the rate was last raised (the additive increase is applied lazily, by elapsed time). */
    private rateUpdatedAt: number;
    /** When the rate was last cut: a 429 for a call admitted before it does not cut it again. */
    private decreasedAt = Number.NEGATIVE_INFINITY;
    /** No call is let through before this (a 429's Retry-After). */
    private pausedUntil = Number.NEGATIVE_INFINITY;
    /** The earliest time the next call may be let through at the current rate. */
    private nextSlot = Number.NEGATIVE_INFINITY;
    /** Admissions of the last second, to start the rate from what was sent when there is no ceiling. */
    private readonly recent: number[] = [];

    constructor(options: PartnerApiGateOptions = {}) {
        this.ceiling = options.maxCallsPerSecond ?? Number.POSITIVE_INFINITY;
        if (!(this.ceiling > 0)) throw new RangeError('maxCallsPerSecond must be positive');
        this.increasePerSecond =
            options.increasePerSecond ?? (Number.isFinite(this.ceiling) ? Math.max(1, this.ceiling / 10) : 1);
        this.now = options.now ?? Date.now;
        this.sleep = options.sleep ?? sleepFor;
        this.rate = this.ceiling;
        this.rateUpdatedAt = this.now();
    }

    /**
     * The gate of one partner tenant in this process (`key`: the API's base URL and tenant), created on first use
     * with `options`. Every client of the tenant shares it.
     */
    static forTenant(key: string, options: PartnerApiGateOptions = {}): PartnerApiGate {
        let gate = gates.get(key);
        if (!gate) {
            gate = new PartnerApiGate(options);
            gates.set(key, gate);
        }
        return gate;
    }

    /** The current rate in calls per second (Infinity: not pacing). */
    get callsPerSecond(): number {
        this.increase(this.now());
        return this.rate;
    }

    /**
     * Waits for the call's turn: after any pause, one token of the bucket. Fails at once with `throttledLocally`
     * when the turn would come after the call's deadline.
     */
    async admit(call: GateCall): Promise<GateTicket> {
        for (;;) {
            const now = this.now();
            this.increase(now);
            const slot = Math.max(now, this.pausedUntil, Number.isFinite(this.rate) ? this.nextSlot : now);
            const waitMs = slot - now;
            if (call.deadline !== undefined && slot >= call.deadline) throw throttledLocally(call, waitMs);
            if (call.background && waitMs > BACKGROUND_MAX_WAIT_MS) throw throttledLocally(call, waitMs);
            if (waitMs <= 0) {
                if (Number.isFinite(this.rate)) this.nextSlot = now + 1000 / this.rate;
                this.noteAdmission(now);
                return { admittedAt: now };
            }
            // Reserve the slot, so the callers waiting together are spaced out rather than all woken at once; a
            // pause that begins meanwhile (another call's 429) is seen when the loop checks again. Background work
            // reserves nothing: it looks again at its turn, and a call that came meanwhile has taken it.
            if (Number.isFinite(this.rate) && slot >= this.pausedUntil && !call.background) {
                this.nextSlot = slot + 1000 / this.rate;
                await this.sleep(waitMs, call.signal);
                if (this.pausedUntil <= slot) {
                    this.noteAdmission(this.now());
                    return { admittedAt: this.now() };
                }
                continue;
            }
            await this.sleep(waitMs, call.signal);
        }
    }

    /** The call was answered 429: pause every call until `retryAfterMs` from now, and cut the rate (once a round). */
    throttled(ticket: GateTicket, retryAfterMs: number | undefined): void {
        const now = this.now();
        this.pausedUntil = Math.max(this.pausedUntil, now + (retryAfterMs ?? DEFAULT_THROTTLE_PAUSE_MS));
        if (ticket.admittedAt < this.decreasedAt) return;
        this.increase(now);
        const from = Number.isFinite(this.rate) ? this.rate : Math.max(this.recentRate(now), MIN_CALLS_PER_SECOND);
        this.rate = Math.max(MIN_CALLS_PER_SECOND, Math.min(this.ceiling, from * RATE_DECREASE_FACTOR));
        this.decreasedAt = now;
        this.rateUpdatedAt = this.pausedUntil;
    }

    /** Additive increase for the time since the last change, never during a pause, up to the ceiling. */
    private increase(now: number): void {
        if (!Number.isFinite(this.rate) || now <= this.rateUpdatedAt) return;
        this.rate = Math.min(this.ceiling, this.rate + (this.increasePerSecond * (now - this.rateUpdatedAt)) / 1000);
        this.rateUpdatedAt = now;
    }

    private noteAdmission(now: number): void {
        if (Number.isFinite(this.rate)) return;
        this.recent.push(now);
        while (this.recent.length > 0 && (this.recent[0] ?? now) <= now - 1000) this.recent.shift();
    }

    private recentRate(now: number): number {
        return this.recent.filter((at) => at > now - 1000).length;
    }
}

function throttledLocally(call: GateCall, waitMs: number): PartnerApiError {
    return new PartnerApiError({
        kind: 'throttled',
        verdict: 'transient',
        operation: call.operation,
        code: THROTTLED_LOCALLY,
        apiMessage: 'The call would wait for the tenant’s rate limit longer than it may; it was not sent.',
        retryAfterMs: Math.ceil(waitMs),
        correlationId: partnerCorrelationId(call.correlationId),
    });
}

function sleepFor(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
        if (signal?.aborted) return reject(signal.reason as Error);
        const timer = setTimeout(() => {
            signal?.removeEventListener('abort', onAbort);
            resolve();
        }, ms);
        const onAbort = () => {
            clearTimeout(timer);
            reject(signal?.reason as Error);
        };
        signal?.addEventListener('abort', onAbort, { once: true });
    });
}
