/**
 * NCRONTAB schedules as the Azure Functions timer trigger reads them (it uses the NCrontab library, six fields):
 * `{second} {minute} {hour} {day} {month} {day-of-week}`, evaluated in UTC.
 *
 * Each field is `*`, a value, a range `a-b`, a step `*\/n`, `a-b/n` or `a/n` (from `a` to the field's maximum), or a
 * comma-separated list of those. Months and days of the week also take English names, case-insensitive, and any
 * prefix of a name (`Jan`, `January`, `Ju` = June: the first name in calendar order that starts with it), as NCrontab
 * matches them. NCrontab's own quirks are kept so an expression means the same locally as in Azure: a reversed range
 * is swapped (`Fri-Mon` is Monday to Friday, not a wrap-around), a step of 0 counts as 1, day-of-week runs 0 (Sunday)
 * to 6 (7 is refused), and the day of the month and the day of the week must BOTH match (`0 0 0 13 * Fri` is Friday
 * the 13th), unlike Vixie cron's "either". A day that a month does not have (31 in April) is skipped.
 *
 * Being stricter than Azure would reject schedules that deploy fine; the only extra refusals are a schedule that can
 * never occur (`0 0 0 30 Feb *`), which Azure accepts and never runs, and five fields: the extension reads those as
 * classic cron without seconds, but Microsoft documents six, and five usually means a copied cron line that lacks the
 * seconds field.
 */

/** NCrontab's field kinds, in expression order, with their ranges and names. */
const FIELDS = [
    { label: 'second', min: 0, max: 59 },
    { label: 'minute', min: 0, max: 59 },
    { label: 'hour', min: 0, max: 23 },
    { label: 'day', min: 1, max: 31 },
    {
        label: 'month',
        min: 1,
        max: 12,
        names: [
            'January',
            'February',
            'March',
            'April',
            'May',
            'June',
            'July',
            'August',
            'September',
            'October',
            'November',
            'December',
        ],
    },
    {
        label: 'day-of-week',
        min: 0,
        max: 6,
        names: ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'],
    },
] as const;

type FieldSpec = (typeof FIELDS)[number];

/** The Gregorian calendar repeats every 400 years: a schedule with no occurrence in that span has none at all. */
const SEARCH_YEARS = 400;

export class NcrontabError extends Error {
    constructor(message: string) {
        super(message);
        this.name = 'NcrontabError';
    }
}

export interface NcrontabSchedule {
    readonly expression: string;
    /** The first occurrence strictly after `after` (whole seconds, UTC), as NCrontab's `GetNextOccurrence`. */
    next(after: Date): Date;
}

function fieldError(spec: FieldSpec, text: string, why: string): NcrontabError {
    return new NcrontabError(`the ${spec.label} field "${text}" is invalid: ${why}`);
}

function parseValue(spec: FieldSpec, text: string, fieldText: string): number {
    if (/^\d+$/.test(text)) {
        const value = Number(text);
        if (value < spec.min || value > spec.max) {
            throw fieldError(spec, fieldText, `${value} is outside ${spec.min}-${spec.max}`);
        }
        return value;
    }
    if ('names' in spec && text !== '') {
        const index = spec.names.findIndex((name) => name.toLowerCase().startsWith(text.toLowerCase()));
        if (index >= 0) return index + spec.min;
        throw fieldError(spec, fieldText, `"${text}" is not a number or a name (${spec.names.join(', ')})`);
    }
    throw fieldError(spec, fieldText, `"${text}" is not a number between ${spec.min} and ${spec.max}`);
}

/** One list element: `*`, `a`, `a-b`, each optionally `/step`. */
function addElement(spec: FieldSpec, element: string, fieldText: string, into: Set<number>): void {
    const [range = '', step, extra] = element.split('/');
    if (extra !== undefined) throw fieldError(spec, fieldText, 'more than one "/"');
    let interval = 1;
    if (step !== undefined) {
        if (!/^\d+$/.test(step)) throw fieldError(spec, fieldText, `the step "${step}" is not a whole number`);
        interval = Math.max(Number(step), 1);
    }
    let first: number;
    let last: number;
    if (range === '*') {
        [first, last] = [spec.min, spec.max];
    } else if (range.indexOf('-') > 0) {
        const [from = '', to = ''] = range.split(/-(.*)/s);
        [first, last] = [parseValue(spec, from, fieldText), parseValue(spec, to, fieldText)];
        if (first > last) [first, last] = [last, first];
    } else {
        first = parseValue(spec, range, fieldText);
        // `a/n` runs from a to the field's maximum; a plain value is just itself.
        last = step === undefined ? first : spec.max;
    }
    for (let value = first; value <= last; value += interval) into.add(value);
}

function parseField(spec: FieldSpec, text: string): number[] {
    const values = new Set<number>();
    for (const element of text.split(',')) {
        if (element === '') throw fieldError(spec, text, 'an empty list element');
        addElement(spec, element, text, values);
    }
    return [...values].sort((a, b) => a - b);
}

function daysInMonth(year: number, month: number): number {
    return new Date(Date.UTC(year, month, 0)).getUTCDate();
}

/** Values of `sorted` from `from` on. */
function fromValue(sorted: readonly number[], from: number): number[] {
    return sorted.filter((value) => value >= from);
}

class CompiledSchedule implements NcrontabSchedule {
    constructor(
        readonly expression: string,
        private readonly seconds: number[],
        private readonly minutes: number[],
        private readonly hours: number[],
        private readonly days: number[],
        private readonly months: number[],
        private readonly daysOfWeek: ReadonlySet<number>,
    ) {}

    next(after: Date): Date {
        const found = this.firstAtOrAfter(Math.floor(after.getTime() / 1000) * 1000 + 1000);
        if (!found) throw new NcrontabError(`the schedule "${this.expression}" has no occurrence`);
        return found;
    }

    /** Searches field by field, largest first; once a field is past its start value, the smaller ones start over. */
    firstAtOrAfter(startMs: number): Date | undefined {
        const start = new Date(startMs);
        const startYear = start.getUTCFullYear();
        for (let year = startYear; year < startYear + SEARCH_YEARS; year++) {
            const atStart = year === startYear;
            for (const month of atStart ? fromValue(this.months, start.getUTCMonth() + 1) : this.months) {
                const monthAtStart = atStart && month === start.getUTCMonth() + 1;
                const lastDay = daysInMonth(year, month);
                for (const day of monthAtStart ? fromValue(this.days, start.getUTCDate()) : this.days) {
                    if (day > lastDay) break;
                    if (!this.daysOfWeek.has(new Date(Date.UTC(year, month - 1, day)).getUTCDay())) continue;
                    const time = this.firstTimeOfDay(monthAtStart && day === start.getUTCDate() ? start : undefined);
                    if (time) return new Date(Date.UTC(year, month - 1, day, time[0], time[1], time[2]));
                }
            }
        }
        return undefined;
    }

    /** The first [hour, minute, second] of a matching day, at or after `start`'s time when the day is start's. */
    private firstTimeOfDay(start: Date | undefined): [number, number, number] | undefined {
        for (const hour of start ? fromValue(this.hours, start.getUTCHours()) : this.hours) {
            const hourAtStart = start !== undefined && hour === start.getUTCHours();
            for (const minute of hourAtStart ? fromValue(this.minutes, start.getUTCMinutes()) : this.minutes) {
                const minuteAtStart = hourAtStart && minute === start.getUTCMinutes();
                const [second] = minuteAtStart ? fromValue(this.seconds, start.getUTCSeconds()) : this.seconds;
                if (second !== undefined) return [hour, minute, second];
            }
        }
        return undefined;
    }
}

/** Parses a six-field NCRONTAB expression; throws {@link NcrontabError} saying which field is wrong and why. */
export function parseNcrontab(expression: string): NcrontabSchedule {
    // NCrontab splits on spaces only.
    const parts = expression.split(' ').filter((part) => part !== '');
    if (parts.length !== FIELDS.length) {
        const hint = parts.length === 5 ? ' (a five-field cron line lacks {second}: put 0 in front)' : '';
        throw new NcrontabError(
            `"${expression}" has ${parts.length} field(s); NCRONTAB needs 6: ` +
                `{second} {minute} {hour} {day} {month} {day-of-week}${hint}`,
        );
    }
    const [seconds, minutes, hours, days, months, daysOfWeek] = FIELDS.map((spec, i) => parseField(spec, parts[i]!));
    const schedule = new CompiledSchedule(expression, seconds!, minutes!, hours!, days!, months!, new Set(daysOfWeek));
    // Any date works as the probe: the 400-year search covers every calendar combination.
    if (!schedule.firstAtOrAfter(Date.UTC(2000, 0, 1))) {
        throw new NcrontabError(`"${expression}" never occurs (no such day in any month or year)`);
    }
    return schedule;
}
