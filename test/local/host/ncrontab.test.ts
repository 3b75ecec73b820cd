/**
 * NCRONTAB as the Azure Functions timer trigger reads it (the NCrontab library, six fields, UTC): every field form,
 * names, NCrontab's quirks, the day/day-of-week AND, leap years and month ends, and the refusals.
 */
import { NcrontabError, parseNcrontab } from '../../../local/host/ncrontab';

/** The next occurrence after `after`, as an ISO string. */
function next(expression: string, after: string): string {
    return parseNcrontab(expression).next(new Date(after)).toISOString();
}

/** `count` occurrences in a row, starting after `after`. */
function occurrences(expression: string, after: string, count: number): string[] {
    const schedule = parseNcrontab(expression);
    const result: string[] = [];
    let at = new Date(after);
    for (let i = 0; i < count; i++) {
        at = schedule.next(at);
        result.push(at.toISOString());
    }
    return result;
}

describe('field forms', () => {
    it('a specific value', () => {
        expect(next('0 5 * * * *', '2024-03-10T10:04:59Z')).toBe('2024-03-10T10:05:00.000Z');
        expect(next('0 5 * * * *', '2024-03-10T10:05:00Z')).toBe('2024-03-10T11:05:00.000Z');
    });

    it('all values (*), strictly after the base time, whole seconds', () => {
        expect(next('* * * * * *', '2024-03-10T10:00:00.000Z')).toBe('2024-03-10T10:00:01.000Z');
        expect(next('* * * * * *', '2024-03-10T10:00:00.999Z')).toBe('2024-03-10T10:00:01.000Z');
        expect(next('0 * 5 * * *', '2024-03-10T05:59:00Z')).toBe('2024-03-11T05:00:00.000Z');
    });

    it('a range', () => {
        expect(occurrences('5-7 * * * * *', '2024-03-10T10:00:00Z', 4)).toEqual([
            '2024-03-10T10:00:05.000Z',
            '2024-03-10T10:00:06.000Z',
            '2024-03-10T10:00:07.000Z',
            '2024-03-10T10:01:05.000Z',
        ]);
    });

    it('a list', () => {
        expect(occurrences('5,8,10 * * * * *', '2024-03-10T10:00:00Z', 4)).toEqual([
            '2024-03-10T10:00:05.000Z',
            '2024-03-10T10:00:08.000Z',
            '2024-03-10T10:00:10.000Z',
            '2024-03-10T10:01:05.000Z',
        ]);
    });

    it('a step over everything (*/n), as in the Microsoft Learn example', () => {
        expect(next('0 */5 * * * *', '2024-03-10T18:55:00Z')).toBe('2024-03-10T19:00:00.000Z');
        expect(next('0 */5 * * * *', '2024-03-10T18:52:10Z')).toBe('2024-03-10T18:55:00.000Z');
        expect(occurrences('0 0 */2 * * *', '2024-03-10T21:00:00Z', 2)).toEqual([
            '2024-03-10T22:00:00.000Z',
            '2024-03-11T00:00:00.000Z',
        ]);
    });

    it('a step over a range (a-b/n) and from a value to the maximum (a/n)', () => {
        expect(occurrences('0 0 9-17/4 * * *', '2024-03-10T00:00:00Z', 4)).toEqual([
            '2024-03-10T09:00:00.000Z',
            '2024-03-10T13:00:00.000Z',
            '2024-03-10T17:00:00.000Z',
            '2024-03-11T09:00:00.000Z',
        ]);
        expect(occurrences('10/20 * * * * *', '2024-03-10T10:00:00Z', 4)).toEqual([
            '2024-03-10T10:00:10.000Z',
            '2024-03-10T10:00:30.000Z',
            '2024-03-10T10:00:50.000Z',
            '2024-03-10T10:01:10.000Z',
        ]);
    });

    it('lists mixing values, ranges and steps', () => {
        expect(occurrences('0 1,10-12,*/30 0 * * *', '2024-03-10T00:00:00Z', 6)).toEqual([
            '2024-03-10T00:01:00.000Z',
            '2024-03-10T00:10:00.000Z',
            '2024-03-10T00:11:00.000Z',
            '2024-03-10T00:12:00.000Z',
            '2024-03-10T00:30:00.000Z',
            '2024-03-11T00:00:00.000Z',
        ]);
    });

    it('extra spaces between fields', () => {
        expect(next('0  */5 *   * * *', '2024-03-10T18:52:10Z')).toBe('2024-03-10T18:55:00.000Z');
    });

    it('a step of 0 counts as 1, as NCrontab reads it', () => {
        expect(occurrences('*/0 * * * * *', '2024-03-10T10:00:00Z', 3)).toEqual(
            occurrences('* * * * * *', '2024-03-10T10:00:00Z', 3),
        );
    });
});

describe('names of months and days', () => {
    it('takes English names and abbreviations, case-insensitive (Microsoft Learn: "0 30 9 * Jan Mon")', () => {
        // 2024-01-01 is a Monday; the Mondays of January 2024 are 1, 8, 15, 22, 29.
        expect(next('0 30 9 * Jan Mon', '2024-01-01T09:30:00Z')).toBe('2024-01-08T09:30:00.000Z');
        expect(next('0 30 9 * Jan Mon', '2024-01-29T09:30:00Z')).toBe('2025-01-06T09:30:00.000Z');
        const numeric = occurrences('0 30 9 * 1 1', '2024-01-01T00:00:00Z', 6);
        expect(occurrences('0 30 9 * JANUARY monday', '2024-01-01T00:00:00Z', 6)).toEqual(numeric);
        expect(occurrences('0 30 9 * jan MON', '2024-01-01T00:00:00Z', 6)).toEqual(numeric);
    });

    it('takes any prefix of a name: the first name in calendar order that starts with it', () => {
        expect(next('0 0 0 1 Ju *', '2024-01-01T00:00:00Z')).toBe('2024-06-01T00:00:00.000Z');
        expect(next('0 0 0 1 Ma *', '2024-01-01T00:00:00Z')).toBe('2024-03-01T00:00:00.000Z');
        expect(next('0 0 0 * * T', '2024-03-10T00:00:00Z')).toBe('2024-03-12T00:00:00.000Z');
    });

    it('uses names in ranges; a reversed range is swapped, not wrapped (NCrontab)', () => {
        // 2024-03-08 is a Friday.
        expect(next('0 0 12 * * Mon-Fri', '2024-03-08T12:00:00Z')).toBe('2024-03-11T12:00:00.000Z');
        expect(occurrences('0 0 12 * * Fri-Mon', '2024-03-08T00:00:00Z', 6)).toEqual(
            occurrences('0 0 12 * * 1-5', '2024-03-08T00:00:00Z', 6),
        );
    });

    it('counts the day of the week from 0 = Sunday', () => {
        expect(next('0 0 0 * * 0', '2024-03-08T00:00:00Z')).toBe('2024-03-10T00:00:00.000Z');
        expect(next('0 0 0 * * Sun', '2024-03-08T00:00:00Z')).toBe('2024-03-10T00:00:00.000Z');
        expect(next('0 0 0 * * 6', '2024-03-08T00:00:00Z')).toBe('2024-03-09T00:00:00.000Z');
    });
});

describe('day of the month and day of the week', () => {
    it('must both match (NCrontab), unlike Vixie cron: Friday the 13th', () => {
        expect(occurrences('0 0 0 13 * Fri', '2024-01-01T00:00:00Z', 3)).toEqual([
            '2024-09-13T00:00:00.000Z',
            '2024-12-13T00:00:00.000Z',
            '2025-06-13T00:00:00.000Z',
        ]);
    });

    it('a day-of-week restriction with * days matches every such weekday', () => {
        expect(occurrences('0 0 8 * * Mon,Wed', '2024-03-10T00:00:00Z', 3)).toEqual([
            '2024-03-11T08:00:00.000Z',
            '2024-03-13T08:00:00.000Z',
            '2024-03-18T08:00:00.000Z',
        ]);
    });
});

describe('calendar edges', () => {
    it('February 29 only in leap years (2100 is not one)', () => {
        expect(next('0 0 0 29 2 *', '2024-03-01T00:00:00Z')).toBe('2028-02-29T00:00:00.000Z');
        expect(next('0 0 0 29 2 *', '2096-03-01T00:00:00Z')).toBe('2104-02-29T00:00:00.000Z');
        expect(next('0 0 0 * 2 *', '2024-02-28T00:00:00Z')).toBe('2024-02-29T00:00:00.000Z');
        expect(next('0 0 0 * 2 *', '2023-02-28T00:00:00Z')).toBe('2024-02-01T00:00:00.000Z');
    });

    it('February 29 on a Monday: once in 28 years', () => {
        expect(next('0 0 0 29 Feb Mon', '2016-03-01T00:00:00Z')).toBe('2044-02-29T00:00:00.000Z');
    });

    it('skips months without the day: 31 and 30', () => {
        expect(occurrences('0 0 0 31 * *', '2024-01-31T00:00:00Z', 3)).toEqual([
            '2024-03-31T00:00:00.000Z',
            '2024-05-31T00:00:00.000Z',
            '2024-07-31T00:00:00.000Z',
        ]);
        expect(next('0 0 0 30 * *', '2023-01-30T00:00:00Z')).toBe('2023-03-30T00:00:00.000Z');
        // NCrontab's own example: 15 and 31 from 1 January 2000.
        expect(occurrences('0 0 0 15,31 * *', '2000-01-01T00:00:00Z', 7).map((iso) => iso.slice(0, 10))).toEqual([
            '2000-01-15',
            '2000-01-31',
            '2000-02-15',
            '2000-03-15',
            '2000-03-31',
            '2000-04-15',
            '2000-05-15',
        ]);
    });

    it('rolls over minutes, hours, days, months and years', () => {
        expect(next('0 0 0 1 * *', '2024-01-31T12:00:00Z')).toBe('2024-02-01T00:00:00.000Z');
        expect(next('0 0 0 1 1 *', '2024-12-31T23:59:59.999Z')).toBe('2025-01-01T00:00:00.000Z');
        expect(next('59 59 23 31 12 *', '2024-12-31T23:59:59Z')).toBe('2025-12-31T23:59:59.000Z');
        expect(next('30 * * * * *', '2024-02-29T23:59:30Z')).toBe('2024-03-01T00:00:30.000Z');
    });
});

describe('against a brute-force search, second by second', () => {
    const cases: [string, (d: Date) => boolean][] = [
        [
            '*/15 10-12 * * * 1-5',
            (d) =>
                d.getUTCSeconds() % 15 === 0 &&
                d.getUTCMinutes() >= 10 &&
                d.getUTCMinutes() <= 12 &&
                d.getUTCDay() >= 1 &&
                d.getUTCDay() <= 5,
        ],
        ['0 0 */6 * * *', (d) => d.getUTCSeconds() === 0 && d.getUTCMinutes() === 0 && d.getUTCHours() % 6 === 0],
        [
            '30 59 23 28-31 * *',
            (d) =>
                d.getUTCSeconds() === 30 && d.getUTCMinutes() === 59 && d.getUTCHours() === 23 && d.getUTCDate() >= 28,
        ],
    ];

    it.each(cases)('%s', (expression, matches) => {
        const schedule = parseNcrontab(expression);
        // Two days around the end of February in a leap year, from an odd start time.
        let at = new Date('2024-02-27T22:13:07.250Z');
        const end = new Date('2024-03-01T02:00:00Z').getTime();
        while (at.getTime() < end) {
            let expected = Math.floor(at.getTime() / 1000) * 1000 + 1000;
            while (!matches(new Date(expected))) expected += 1000;
            const found = schedule.next(at);
            expect(found.toISOString()).toBe(new Date(expected).toISOString());
            at = found;
        }
    });
});

describe('refusals, naming the field and the reason', () => {
    it.each([
        ['0 */5 * * *', /has 5 field\(s\); NCRONTAB needs 6.*put 0 in front/],
        ['0 0 0 * * * *', /has 7 field\(s\)/],
        ['', /has 0 field\(s\)/],
        ['60 * * * * *', /second field "60".*outside 0-59/],
        ['* 60 * * * *', /minute field "60".*outside 0-59/],
        ['* * 24 * * *', /hour field "24".*outside 0-23/],
        ['* * * 0 * *', /day field "0".*outside 1-31/],
        ['* * * 32 * *', /day field "32".*outside 1-31/],
        ['* * * * 13 *', /month field "13".*outside 1-12/],
        ['* * * * * 7', /day-of-week field "7".*outside 0-6/],
        ['* * * * Foo *', /month field "Foo".*not a number or a name/],
        ['* * * * * Mon1', /day-of-week field "Mon1"/],
        ['* x * * * *', /minute field "x".*not a number/],
        ['*/x * * * * *', /second field "\*\/x".*step "x"/],
        ['1// * * * * *', /more than one "\/"/],
        ['1,,2 * * * * *', /empty list element/],
        ['1, * * * * *', /empty list element/],
        ['-1 * * * * *', /second field "-1"/],
        ['1- * * * * *', /second field "1-"/],
        ['1-2-3 * * * * *', /second field "1-2-3"/],
        ['0 0 0 30 Feb *', /never occurs/],
        ['0 0 0 31 4,6,9,11 *', /never occurs/],
    ])('%j', (expression, message) => {
        expect(() => parseNcrontab(expression)).toThrow(NcrontabError);
        expect(() => parseNcrontab(expression)).toThrow(message);
    });
});
