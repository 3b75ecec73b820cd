import {
    BACKGROUND_MAX_WAIT_MS,
    type GateTicket,
    PartnerApiError,
    PartnerApiGate,
    THROTTLED_LOCALLY,
} from '../../../shared/partnerApi';

/** A clock the test moves: `sleep` resolves when `advanceTo` passes its time, in order. */
class FakeClock {
    time = 0;
    private timers: { at: number; resolve: () => void }[] = [];
    readonly now = () => this.time;
    readonly sleep = (ms: number) =>
        new Promise<void>((resolve) => {
            this.timers.push({ at: this.time + ms, resolve });
        });

    async advanceTo(target: number): Promise<void> {
        for (;;) {
            await settle();
            this.timers.sort((a, b) => a.at - b.at);
            const next = this.timers[0];
            if (!next || next.at > target) break;
            this.timers.shift();
            this.time = Math.max(this.time, next.at);
            next.resolve();
        }
        this.time = target;
        await settle();
    }
}

const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

function gate(clock: FakeClock, maxCallsPerSecond?: number) {
    return new PartnerApiGate({ maxCallsPerSecond, now: clock.now, sleep: clock.sleep });
}

const call = (deadline?: number) => ({ operation: 'createReferral' as const, correlationId: 'c-1', deadline });

/** Starts `count` admissions at once; the times each was let through, in order of admission. */
function admitAll(target: PartnerApiGate, clock: FakeClock, count: number) {
    const admitted: number[] = [];
    const tickets: Promise<GateTicket>[] = [];
    for (let i = 0; i < count; i++) {
        tickets.push(
            target.admit(call()).then((ticket) => {
                admitted.push(clock.now());
                return ticket;
            }),
        );
    }
    return { admitted, tickets };
}

describe('PartnerApiGate', () => {
    it('spaces calls at the ceiling: never more than the ceiling in any second', async () => {
        const clock = new FakeClock();
        const limited = gate(clock, 10);
        const { admitted } = admitAll(limited, clock, 35);
        await clock.advanceTo(3_000);
        expect(admitted).toHaveLength(31); // t = 0, 100, ..., 3000
        for (const [index, at] of admitted.entries()) expect(at).toBe(index * 100);
        expect(limited.callsPerSecond).toBe(10);
    });

    it('after a 429 every caller waits until its Retry-After, not just the throttled one', async () => {
        const clock = new FakeClock();
        const limited = gate(clock, 100);
        const first = await limited.admit(call());
        limited.throttled(first, 2_000);
        const { admitted } = admitAll(limited, clock, 3);
        await clock.advanceTo(1_999);
        expect(admitted).toEqual([]);
        await clock.advanceTo(3_000);
        expect(admitted[0]).toBe(2_000);
        expect(admitted).toHaveLength(3);
    });

    it('a 429 without Retry-After pauses every caller for a second', async () => {
        const clock = new FakeClock();
        const unlimited = gate(clock);
        unlimited.throttled(await unlimited.admit(call()), undefined);
        const { admitted } = admitAll(unlimited, clock, 1);
        await clock.advanceTo(999);
        expect(admitted).toEqual([]);
        await clock.advanceTo(1_000);
        expect(admitted).toEqual([1_000]);
    });

    it('halves the rate on a 429 once per round, then adds back a tenth of the ceiling per second', async () => {
        const clock = new FakeClock();
        const limited = gate(clock, 20);
        const early = await limited.admit(call());
        await clock.advanceTo(50);
        const late = await limited.admit(call());
        await clock.advanceTo(100);
        limited.throttled(late, 1_000);
        expect(limited.callsPerSecond).toBe(10);
        // Admitted before the decrease: the same round of throttling, no second cut.
        limited.throttled(early, 1_000);
        expect(limited.callsPerSecond).toBe(10);
        // No increase while paused; then +2/s each second, up to the ceiling.
        await clock.advanceTo(1_100);
        expect(limited.callsPerSecond).toBe(10);
        await clock.advanceTo(3_100);
        expect(limited.callsPerSecond).toBe(14);
        await clock.advanceTo(20_000);
        expect(limited.callsPerSecond).toBe(20);
    });

    it('without a ceiling does not pace until a 429, then starts at half the rate it saw', async () => {
        const clock = new FakeClock();
        const unlimited = gate(clock);
        const { admitted, tickets } = admitAll(unlimited, clock, 40);
        await clock.advanceTo(0);
        expect(admitted).toHaveLength(40);
        expect(admitted.every((at) => at === 0)).toBe(true);
        unlimited.throttled(await tickets[0]!, 1_000);
        expect(unlimited.callsPerSecond).toBe(20);
    });

    it('fails fast, without taking a turn, when the wait would pass the call deadline', async () => {
        const clock = new FakeClock();
        const limited = gate(clock, 1);
        limited.throttled(await limited.admit(call()), 5_000);
        const error = await limited.admit(call(4_000)).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(PartnerApiError);
        expect(error).toMatchObject({
            kind: 'throttled',
            code: THROTTLED_LOCALLY,
            verdict: 'transient',
            retryAfterMs: 5_000,
            outcomeUnknown: false,
        });
        // The refused call reserved nothing: the next caller gets the first turn after the pause.
        const { admitted } = admitAll(limited, clock, 1);
        await clock.advanceTo(5_000);
        expect(admitted).toEqual([5_000]);
    });

    it('lets background work take only the turns nobody else wants, and wait for them a second at most', async () => {
        const clock = new FakeClock();
        const limited = gate(clock, 4);
        const background = { ...call(60_000), background: true };
        // Four calls queue up (turns at 0 to 750 ms): a background call waits for the next turn, 1 s away ...
        const { admitted } = admitAll(limited, clock, 4);
        const waited = limited.admit(background);
        // ... holding nothing: a create that comes after it takes that turn, and the background call the next one.
        const create = limited.admit(call(30_000));
        // Now the next free turn is 1.25 s away: too long for background work.
        const error = await limited.admit(background).catch((e: unknown) => e);
        expect(error).toMatchObject({ kind: 'throttled', code: THROTTLED_LOCALLY, retryAfterMs: 1_250 });
        expect(1_250).toBeGreaterThan(BACKGROUND_MAX_WAIT_MS);
        await clock.advanceTo(1_250);
        expect(admitted).toEqual([0, 250, 500, 750]);
        expect((await create).admittedAt).toBe(1_000);
        expect((await waited).admittedAt).toBe(1_250);
        // Once the queue is empty again, background work goes through at once.
        await clock.advanceTo(1_500);
        expect((await limited.admit(background)).admittedAt).toBe(1_500);
    });

    it('is one gate per tenant key', () => {
        expect(PartnerApiGate.forTenant('https://api t-1')).toBe(PartnerApiGate.forTenant('https://api t-1'));
        expect(PartnerApiGate.forTenant('https://api t-1')).not.toBe(PartnerApiGate.forTenant('https://api t-2'));
    });
});
