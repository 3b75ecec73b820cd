/**
 * The local host drives the timer fixture app's `app.timer` triggers as Azure's timer extension does: on NCRONTAB and
 * TimeSpan schedules in UTC, with the Timer object, `runOnStartup`, `isPastDue`, one invocation of a timer at a time,
 * failures logged, invalid schedules refused at start and no timer left behind on close. A fake clock drives time
 * (no test waits real minutes); one test uses the real clock to show the wiring.
 */
import { join } from 'node:path';

import { registry } from '../../../local/host/functionsCore';
import { type LocalHost, startLocalHost } from '../../../local/host/localHost';
import { parseTimerSchedule, type TimerClock } from '../../../local/host/timerTriggers';
import { resetTimerProbe, runsOf, timerProbe } from './fixtures/timer-app/probe';

const ENTRY = join(__dirname, 'fixtures', 'timer-app', 'index.ts');
const FIXTURE_TIMERS = ['everyFiveMinutes', 'onStartup', 'everySecond', 'interval', 'slow', 'failing'];
const NEVER = '0001-01-01T00:00:00.000Z';

/** A clock the test moves by hand: timeouts fire in time order as it advances, each followed by the work it starts. */
class FakeClock implements TimerClock {
    private readonly pending = new Map<number, { at: number; callback: () => void }>();
    private lastId = 0;

    constructor(private time: number) {}

    now(): number {
        return this.time;
    }

    setTimeout(callback: () => void, delayMs: number): unknown {
        this.lastId += 1;
        this.pending.set(this.lastId, { at: this.time + delayMs, callback });
        return this.lastId;
    }

    clearTimeout(handle: unknown): void {
        this.pending.delete(handle as number);
    }

    get pendingCount(): number {
        return this.pending.size;
    }

    /** Moves time forward to `iso`, firing every timeout due on the way at its due time. */
    async advanceTo(iso: string): Promise<void> {
        const target = new Date(iso).getTime();
        for (;;) {
            await settle();
            const due = [...this.pending.entries()]
                .filter(([, entry]) => entry.at <= target)
                .sort(([, a], [, b]) => a.at - b.at)[0];
            if (!due) break;
            this.pending.delete(due[0]);
            this.time = Math.max(this.time, due[1].at);
            due[1].callback();
        }
        this.time = target;
    }

    /** Moves time forward without firing anything: the process was blocked. Then fires what is overdue. */
    async blockUntil(iso: string): Promise<void> {
        this.time = new Date(iso).getTime();
        await this.advanceTo(iso);
    }
}

/** Lets invocations started by a timeout run to their end (they only wait on promises, never on the real clock). */
async function settle(): Promise<void> {
    for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve));
}

const lines: string[] = [];
let host: LocalHost | undefined;

async function startWith(
    enabled: string[],
    options: { clock?: TimerClock; env?: Record<string, string> } = {},
): Promise<LocalHost> {
    const disabled = Object.fromEntries(
        FIXTURE_TIMERS.map((name) => [`AzureWebJobs.${name}.Disabled`, String(!enabled.includes(name))]),
    );
    host = await startLocalHost({
        entry: ENTRY,
        port: 0,
        env: { FIVE_MINUTE_SCHEDULE: '0 */5 * * * *', ...disabled, ...options.env },
        timerClock: options.clock,
        logSink: (_level, line) => lines.push(line),
    });
    return host;
}

beforeEach(() => {
    resetTimerProbe();
    lines.length = 0;
    delete process.env.WEBSITE_TIME_ZONE;
});

afterEach(async () => {
    for (const release of timerProbe.releaseSlow) release();
    await host?.close();
    host = undefined;
});

it('registers app.timer as a timerTrigger binding and lists it with its next occurrence', async () => {
    const clock = new FakeClock(Date.parse('2024-03-10T10:02:30Z'));
    const started = await startWith(['everyFiveMinutes'], { clock });
    const binding = Object.values(registry.functions.get('everyFiveMinutes')!.metadata.bindings)[0];
    expect(binding).toMatchObject({ type: 'timerTrigger', direction: 'in', schedule: '%FIVE_MINUTE_SCHEDULE%' });
    expect(started.functions).toContainEqual({
        name: 'everyFiveMinutes',
        trigger: 'timerTrigger',
        description: 'schedule 0 */5 * * * * (UTC), next 2024-03-10T10:05:00.000Z',
    });
    expect(lines.some((line) => line.includes('does not drive'))).toBe(false);
});

it('invokes at each occurrence with the Timer object and its schedule status, and logs each invocation', async () => {
    const clock = new FakeClock(Date.parse('2024-03-10T10:02:30Z'));
    await startWith(['everyFiveMinutes'], { clock });
    await clock.advanceTo('2024-03-10T10:04:59Z');
    expect(runsOf('everyFiveMinutes')).toHaveLength(0);

    await clock.advanceTo('2024-03-10T10:10:00Z');
    expect(runsOf('everyFiveMinutes')).toEqual([
        {
            functionName: 'everyFiveMinutes',
            triggerType: 'timerTrigger',
            timer: {
                schedule: { adjustForDST: true },
                scheduleStatus: {
                    last: NEVER,
                    next: '2024-03-10T10:05:00.000Z',
                    lastUpdated: '2024-03-10T10:02:30.000Z',
                },
                isPastDue: false,
            },
        },
        {
            functionName: 'everyFiveMinutes',
            triggerType: 'timerTrigger',
            timer: {
                schedule: { adjustForDST: true },
                scheduleStatus: {
                    last: '2024-03-10T10:05:00.000Z',
                    next: '2024-03-10T10:10:00.000Z',
                    lastUpdated: '2024-03-10T10:05:00.000Z',
                },
                isPastDue: false,
            },
        },
    ]);
    const executed = lines.filter((line) => line.includes("Executed 'Functions.everyFiveMinutes'"));
    expect(executed).toHaveLength(2);
    expect(executed[0]).toMatch(/\(Succeeded, Id=[0-9a-f-]{36}, Duration=\d+ms\)$/);
});

it('marks an invocation that starts late isPastDue, and runs occurrences missed while blocked only once', async () => {
    const clock = new FakeClock(Date.parse('2024-03-10T10:02:30Z'));
    await startWith(['everyFiveMinutes'], { clock });
    // Blocked from before 10:05 until 10:17:10: the 10:05, 10:10 and 10:15 occurrences pass unnoticed.
    await clock.blockUntil('2024-03-10T10:17:10Z');
    expect(runsOf('everyFiveMinutes').map((run) => run.timer.isPastDue)).toEqual([true]);

    // The next one counts from the late start, and is on time.
    await clock.advanceTo('2024-03-10T10:20:00Z');
    const runs = runsOf('everyFiveMinutes');
    expect(runs.map((run) => run.timer.isPastDue)).toEqual([true, false]);
    expect(runs[1]!.timer.scheduleStatus).toEqual({
        last: '2024-03-10T10:17:10.000Z',
        next: '2024-03-10T10:20:00.000Z',
        lastUpdated: '2024-03-10T10:17:10.000Z',
    });
});

it('tolerates a small delay without calling the invocation past due', async () => {
    const clock = new FakeClock(Date.parse('2024-03-10T10:02:30Z'));
    await startWith(['everyFiveMinutes'], { clock });
    await clock.blockUntil('2024-03-10T10:05:00.900Z');
    expect(runsOf('everyFiveMinutes').map((run) => run.timer.isPastDue)).toEqual([false]);
});

it('runOnStartup invokes once as the host starts, then only on the schedule', async () => {
    const clock = new FakeClock(Date.parse('2024-03-10T10:02:30Z'));
    await startWith(['onStartup'], { clock });
    await settle();
    expect(runsOf('onStartup').map((run) => run.timer)).toEqual([
        {
            schedule: { adjustForDST: true },
            scheduleStatus: { last: NEVER, next: '2025-01-01T00:00:00.000Z', lastUpdated: '2024-03-10T10:02:30.000Z' },
            isPastDue: false,
        },
    ]);
    await clock.advanceTo('2024-12-31T23:59:59Z');
    expect(runsOf('onStartup')).toHaveLength(1);
    // Further than setTimeout can wait at once (24.8 days): the timer waits in steps and still fires on time.
    await clock.advanceTo('2025-01-01T00:00:00Z');
    expect(runsOf('onStartup').map((run) => run.timer.isPastDue)).toEqual([false, false]);
});

it('never overlaps two invocations of one timer: occurrences during a run become one run right after it', async () => {
    const clock = new FakeClock(Date.parse('2024-03-10T10:00:30Z'));
    await startWith(['slow'], { clock });
    await clock.advanceTo('2024-03-10T10:01:00Z');
    expect(runsOf('slow')).toHaveLength(1);

    // The run is still going at 10:02, 10:03 and 10:04.
    await clock.advanceTo('2024-03-10T10:04:30Z');
    expect(runsOf('slow')).toHaveLength(1);
    expect(timerProbe.slowMaxInFlight).toBe(1);

    timerProbe.releaseSlow.shift()!();
    await clock.advanceTo('2024-03-10T10:04:30Z');
    const runs = runsOf('slow');
    expect(runs).toHaveLength(2);
    expect(runs[1]!.timer.isPastDue).toBe(true);
    expect(runs[1]!.timer.scheduleStatus?.next).toBe('2024-03-10T10:02:00.000Z');

    timerProbe.releaseSlow.shift()!();
    await clock.advanceTo('2024-03-10T10:05:00Z');
    expect(runsOf('slow').map((run) => run.timer.isPastDue)).toEqual([false, true, false]);
    expect(timerProbe.slowMaxInFlight).toBe(1);
});

it('logs a failed invocation like other triggers and keeps the schedule (timers are not retried)', async () => {
    const clock = new FakeClock(Date.parse('2024-03-10T10:30:00Z'));
    await startWith(['failing'], { clock });
    await clock.advanceTo('2024-03-10T12:00:00Z');
    expect(runsOf('failing')).toHaveLength(2);
    const failed = lines.filter((line) => line.includes("Executed 'Functions.failing'"));
    expect(failed).toHaveLength(2);
    expect(failed[0]).toMatch(/\(Failed, Id=[0-9a-f-]{36}, Duration=\d+ms, Error=Error\)$/);
    // As in Azure, the worker hands the error's message to the host's log: once per failed run.
    expect(lines.filter((line) => line.includes('always fails'))).toHaveLength(2);
});

it('passes no schedule status for a schedule firing more than once a minute, even with useMonitor', async () => {
    const clock = new FakeClock(Date.parse('2024-03-10T10:00:00Z'));
    await startWith(['everySecond'], { clock });
    await clock.advanceTo('2024-03-10T10:00:03Z');
    expect(runsOf('everySecond').map((run) => run.timer)).toEqual(
        Array(3).fill({ schedule: { adjustForDST: true }, scheduleStatus: null, isPastDue: false }),
    );
});

it('runs a TimeSpan schedule at that interval from the start', async () => {
    const clock = new FakeClock(Date.parse('2024-03-10T10:02:30Z'));
    await startWith(['interval'], { clock });
    await clock.advanceTo('2024-03-10T10:12:30Z');
    const runs = runsOf('interval');
    expect(runs.map((run) => run.timer.scheduleStatus?.next)).toEqual([
        '2024-03-10T10:07:30.000Z',
        '2024-03-10T10:12:30.000Z',
    ]);
    expect(runs[0]!.timer.schedule.adjustForDST).toBe(false);
});

it('stops every timer on close and waits for the invocation under way', async () => {
    const clock = new FakeClock(Date.parse('2024-03-10T10:00:30Z'));
    const started = await startWith(['slow', 'everyFiveMinutes'], { clock });
    await clock.advanceTo('2024-03-10T10:01:00Z');
    expect(clock.pendingCount).toBe(1);

    let closed = false;
    const closing = started.close().then(() => (closed = true));
    await settle();
    expect(closed).toBe(false);
    timerProbe.releaseSlow.shift()!();
    await closing;
    expect(clock.pendingCount).toBe(0);
    await clock.advanceTo('2024-03-10T11:00:00Z');
    expect(runsOf('slow')).toHaveLength(1);
    expect(runsOf('everyFiveMinutes')).toHaveLength(0);
});

it('refuses an invalid schedule at start, naming the function', async () => {
    await expect(startWith(['everyFiveMinutes'], { env: { FIVE_MINUTE_SCHEDULE: '0 0 25 * * *' } })).rejects.toThrow(
        'Function "everyFiveMinutes": the timer schedule "%FIVE_MINUTE_SCHEDULE%" is not an NCRONTAB expression or ' +
            'a TimeSpan: the hour field "25" is invalid: 25 is outside 0-23.',
    );
    await expect(startWith(['everyFiveMinutes'], { env: { FIVE_MINUTE_SCHEDULE: '0 */5 * * *' } })).rejects.toThrow(
        /"everyFiveMinutes".*NCRONTAB needs 6/,
    );
    await expect(startWith(['everyFiveMinutes'], { env: { FIVE_MINUTE_SCHEDULE: '24:00:00' } })).rejects.toThrow(
        /"everyFiveMinutes".*write days as "d\.hh:mm:ss"/,
    );
});

it('says that WEBSITE_TIME_ZONE is not supported: schedules run in UTC', async () => {
    await startWith(['everyFiveMinutes'], {
        clock: new FakeClock(Date.parse('2024-03-10T10:00:00Z')),
        env: { WEBSITE_TIME_ZONE: 'Eastern Standard Time' },
    });
    expect(lines).toContain(
        '[host] WEBSITE_TIME_ZONE ("Eastern Standard Time") is not supported by the local host: timer schedules run in UTC.',
    );
});

it('runs on the real clock by default', async () => {
    await startWith(['everySecond']);
    const deadline = Date.now() + 10_000;
    while (runsOf('everySecond').length < 2 && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(runsOf('everySecond').length).toBeGreaterThanOrEqual(2);
});

describe('TimeSpan schedules', () => {
    const after = new Date('2024-03-10T10:00:00Z');

    it.each([
        ['00:05:00', '2024-03-10T10:05:00.000Z'],
        ['01:00:00', '2024-03-10T11:00:00.000Z'],
        ['1.00:00:00', '2024-03-11T10:00:00.000Z'],
        ['00:00:30.5', '2024-03-10T10:00:30.500Z'],
    ])('%s', (expression, expected) => {
        const schedule = parseTimerSchedule(expression);
        expect(schedule.kind).toBe('timespan');
        expect(schedule.next(after).toISOString()).toBe(expected);
    });

    it.each([
        ['24:00:00', /write days as "d\.hh:mm:ss"/],
        ['00:61:00', /minutes or seconds over 59/],
        ['00:00:00', /not a positive interval/],
    ])('refuses %s', (expression, message) => {
        expect(() => parseTimerSchedule(expression)).toThrow(message);
    });
});
