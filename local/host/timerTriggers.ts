/**
 * Drives the app's timer triggers (`app.timer`) the way the Functions host's timer extension does:
 *
 * - the schedule is NCRONTAB (six fields, see ./ncrontab.ts) or a TimeSpan (`hh:mm:ss`, `d.hh:mm:ss`), `%AppSetting%`
 *   references resolved; an invalid one fails the host's start, naming the function. Everything is in UTC.
 * - one invocation of a timer at a time (the extension holds a singleton lock per timer): the next occurrence is
 *   computed from when an invocation started, so occurrences that pass while it runs collapse into one invocation
 *   right after it ends (a TimeSpan timer whose run outlasts its interval runs again at once, as Azure documents);
 * - `runOnStartup` invokes once as the host starts; `isPastDue` is true when an invocation starts more than
 *   {@link PAST_DUE_TOLERANCE_MS} after its occurrence (a blocked process, a run that overran the next occurrence);
 * - the handler gets the timer object as the worker hands it over, camel-cased:
 *   `{ schedule: { adjustForDST }, scheduleStatus: { last, next, lastUpdated } | null, isPastDue }`. The status is
 *   null when schedule monitoring is off, as in Azure: `useMonitor: false`, or a schedule that fires more than once a
 *   minute. Azure persists the status in Storage to catch up after a restart; this host keeps it in memory, so a
 *   fresh host starts with `last` at .NET's default date (0001-01-01) and never reports a past-due start.
 * - a failed invocation is logged by the invoker and not retried (timers have no retries); the next occurrence runs.
 */
import { type RegisteredFunction } from './functionsCore';
import { parseTimeSpanMs } from './hostJson';
import { type HostLogger } from './hostLog';
import { type FunctionInvoker, triggerBinding } from './invoker';
import { NcrontabError, parseNcrontab } from './ncrontab';
import { resolveAppSettingReferences } from './serviceBusConnection';

type Env = Record<string, string | undefined>;

/** How late an invocation may start before the timer calls it past due. */
export const PAST_DUE_TOLERANCE_MS = 1000;

/** Node's setTimeout holds at most 2^31-1 ms (24.8 days); longer waits are re-armed in steps. */
const MAX_TIMEOUT_MS = 2 ** 31 - 1;

/** What `ScheduleStatus.Last` holds before a first run: .NET's `default(DateTime)`. */
const NEVER = new Date('0001-01-01T00:00:00.000Z');

const MINUTE_MS = 60_000;

/** The time source of the timers; the host uses the real one, tests a fake one. */
export interface TimerClock {
    now(): number;
    setTimeout(callback: () => void, delayMs: number): unknown;
    clearTimeout(handle: unknown): void;
}

export const systemClock: TimerClock = {
    now: () => Date.now(),
    setTimeout: (callback, delayMs) => setTimeout(callback, delayMs),
    clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

export interface TimerSchedule {
    /** The resolved expression, as written. */
    expression: string;
    kind: 'ncrontab' | 'timespan';
    /** Azure's `Schedule.AdjustForDST`: true for NCRONTAB, false for a TimeSpan (irrelevant in UTC). */
    adjustForDST: boolean;
    /** The next occurrence after `after`. */
    next(after: Date): Date;
}

/** The timer object the handler receives. */
export interface TimerInfo {
    schedule: { adjustForDST: boolean };
    scheduleStatus: { last: string; next: string; lastUpdated: string } | null;
    isPastDue: boolean;
}

/** A TimeSpan as the extension's `TimeSpan.TryParse` reads a schedule; hours 24+ are refused (see below). */
function parseTimeSpanSchedule(expression: string): TimerSchedule | undefined {
    const match = /^\s*(?:\d+\.)?(\d{1,2}):(\d{2}):(\d{2})(?:\.\d{1,7})?\s*$/.exec(expression);
    if (!match) return undefined;
    const [, hours, minutes, seconds] = match.map(Number) as [number, number, number, number];
    if (hours > 23) {
        // .NET reads "24:00:00" as 24 days while Azure's docs call it daily: too ambiguous to guess.
        throw new Error(`the TimeSpan "${expression}" has ${hours} hours; write days as "d.hh:mm:ss" (1.00:00:00)`);
    }
    if (minutes > 59 || seconds > 59) throw new Error(`the TimeSpan "${expression}" has minutes or seconds over 59`);
    const intervalMs = parseTimeSpanMs(expression);
    if (intervalMs <= 0) throw new Error(`the TimeSpan "${expression}" is not a positive interval`);
    return {
        expression,
        kind: 'timespan',
        adjustForDST: false,
        next: (after) => new Date(after.getTime() + intervalMs),
    };
}

export function parseTimerSchedule(expression: string): TimerSchedule {
    const timeSpan = parseTimeSpanSchedule(expression);
    if (timeSpan) return timeSpan;
    const cron = parseNcrontab(expression);
    return { expression, kind: 'ncrontab', adjustForDST: true, next: (after) => cron.next(after) };
}

/** The extension's rule: no monitoring for schedules firing more than once a minute, else `useMonitor` or true. */
function monitored(schedule: TimerSchedule, useMonitor: unknown, now: Date): boolean {
    const first = schedule.next(now);
    const subMinute =
        schedule.kind === 'timespan'
            ? first.getTime() - now.getTime() < MINUTE_MS
            : schedule.next(first).getTime() < now.getTime() + MINUTE_MS;
    if (subMinute) return false;
    return typeof useMonitor === 'boolean' ? useMonitor : true;
}

export interface TimerTriggerDefinition {
    functionName: string;
    schedule: TimerSchedule;
    runOnStartup: boolean;
    useMonitor: boolean;
    registered: RegisteredFunction;
}

export function timerTriggers(
    functions: Iterable<RegisteredFunction>,
    env: Env = process.env,
    now: Date = new Date(),
): TimerTriggerDefinition[] {
    const definitions: TimerTriggerDefinition[] = [];
    for (const registered of functions) {
        const trigger = triggerBinding(registered.metadata);
        if (trigger.type.toLowerCase() !== 'timertrigger') continue;
        const name = registered.metadata.name;
        if (typeof trigger.schedule !== 'string' || trigger.schedule.trim() === '') {
            throw new Error(`Function "${name}": the timer trigger has no schedule.`);
        }
        let schedule: TimerSchedule;
        try {
            schedule = parseTimerSchedule(resolveAppSettingReferences(trigger.schedule, env));
        } catch (error) {
            const why = (error instanceof Error ? error.message : String(error)).replace(/\.$/, '');
            const kind = error instanceof NcrontabError ? 'an NCRONTAB expression or a TimeSpan' : 'a valid schedule';
            throw new Error(`Function "${name}": the timer schedule "${trigger.schedule}" is not ${kind}: ${why}.`);
        }
        definitions.push({
            functionName: name,
            schedule,
            runOnStartup: trigger.runOnStartup === true,
            useMonitor: monitored(schedule, trigger.useMonitor, now),
            registered,
        });
    }
    return definitions;
}

export interface TimerTriggerOptions {
    invoker: FunctionInvoker;
    logger: HostLogger;
    clock?: TimerClock;
    env?: Env;
}

interface ScheduleStatus {
    last: Date;
    next: Date;
    lastUpdated: Date;
}

/** One timer's loop: wait for the next occurrence, invoke, compute the next from the invocation's start. */
class RunningTimer {
    private status: ScheduleStatus;
    private handle: unknown;
    private stopped = false;
    /** The invocation under way, if any: never more than one. */
    running: Promise<void> | undefined;

    constructor(
        private readonly definition: TimerTriggerDefinition,
        private readonly invoker: FunctionInvoker,
        private readonly clock: TimerClock,
    ) {
        const now = new Date(clock.now());
        this.status = { last: NEVER, next: definition.schedule.next(now), lastUpdated: now };
    }

    start(): void {
        if (this.definition.runOnStartup) this.invoke(new Date(this.clock.now()));
        else this.arm();
    }

    stop(): void {
        this.stopped = true;
        if (this.handle !== undefined) this.clock.clearTimeout(this.handle);
        this.handle = undefined;
    }

    get functionName(): string {
        return this.definition.functionName;
    }

    get nextOccurrence(): Date {
        return this.status.next;
    }

    private arm(): void {
        if (this.stopped) return;
        const due = this.status.next;
        const delay = Math.min(Math.max(due.getTime() - this.clock.now(), 0), MAX_TIMEOUT_MS);
        this.handle = this.clock.setTimeout(() => {
            this.handle = undefined;
            if (this.stopped) return;
            // A wait longer than setTimeout allows wakes up early: wait on.
            if (this.clock.now() < due.getTime() && delay === MAX_TIMEOUT_MS) this.arm();
            else this.invoke(due);
        }, delay);
    }

    private invoke(occurrence: Date): void {
        const now = this.clock.now();
        // As the extension does: a timer that fires a moment early counts from its occurrence, not from now.
        const startedAt = new Date(Math.max(now, occurrence.getTime()));
        const timer: TimerInfo = {
            schedule: { adjustForDST: this.definition.schedule.adjustForDST },
            scheduleStatus: this.definition.useMonitor
                ? {
                      last: this.status.last.toISOString(),
                      next: this.status.next.toISOString(),
                      lastUpdated: this.status.lastUpdated.toISOString(),
                  }
                : null,
            isPastDue: now - occurrence.getTime() > PAST_DUE_TOLERANCE_MS,
        };
        this.running = this.invoker
            .invoke(this.definition.registered, [timer], undefined)
            // The invoker has logged the failure; a timer is not retried, the next occurrence runs as usual.
            .then(
                () => undefined,
                () => undefined,
            )
            .finally(() => {
                this.running = undefined;
                this.status = {
                    last: startedAt,
                    next: this.definition.schedule.next(startedAt),
                    lastUpdated: startedAt,
                };
                this.arm();
            });
    }
}

export class TimerTriggerHost {
    readonly definitions: TimerTriggerDefinition[];
    private readonly clock: TimerClock;
    private readonly timers: RunningTimer[] = [];

    constructor(
        functions: Iterable<RegisteredFunction>,
        private readonly options: TimerTriggerOptions,
    ) {
        this.clock = options.clock ?? systemClock;
        this.definitions = timerTriggers(functions, options.env, new Date(this.clock.now()));
        const timeZone = (options.env ?? process.env).WEBSITE_TIME_ZONE;
        if (this.definitions.length > 0 && timeZone) {
            options.logger.host(
                'warning',
                `WEBSITE_TIME_ZONE ("${timeZone}") is not supported by the local host: timer schedules run in UTC.`,
            );
        }
    }

    start(): void {
        for (const definition of this.definitions) {
            const timer = new RunningTimer(definition, this.options.invoker, this.clock);
            this.timers.push(timer);
            timer.start();
        }
    }

    /** The next occurrence of a started timer (for the host's function list). */
    nextOccurrence(functionName: string): Date | undefined {
        return this.timers.find((timer) => timer.functionName === functionName)?.nextOccurrence;
    }

    /** Stops every timer, then waits (up to the timeout) for invocations under way. */
    async close(drainTimeoutMs = 30_000): Promise<void> {
        for (const timer of this.timers) timer.stop();
        const running = this.timers.flatMap((timer) => (timer.running ? [timer.running] : []));
        let handle: NodeJS.Timeout | undefined;
        await Promise.race([
            Promise.allSettled(running),
            new Promise<void>((resolve) => (handle = setTimeout(resolve, drainTimeoutMs))),
        ]);
        clearTimeout(handle);
        this.timers.length = 0;
    }
}
