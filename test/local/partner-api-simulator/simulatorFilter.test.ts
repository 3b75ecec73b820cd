import { faultsFromEnv } from '../../../local/partner-api-simulator/envSettings';
import { FaultInjector } from '../../../local/partner-api-simulator/faults';
import {
    filterNames,
    FilterSyntaxError,
    matchesFilter,
    parseFilter,
    withoutProperty,
} from '../../../local/partner-api-simulator/odataFilter';

describe('simulator $filter parser', () => {
    const referral = {
        engagementId: '0ee9d55d-aaaa-4bbb-8ccc-000000000001',
        status: 'Active',
        type: 'Shared',
        externalReferenceId: 'Order-1',
        updatedDateTime: '2025-03-01T12:00:00.1234567Z',
        customerProfile: { address: { country: 'US' } },
    };

    it.each([
        ["engagementId eq '0ee9d55d-aaaa-4bbb-8ccc-000000000001'", true],
        ['engagementId eq 0EE9D55D-AAAA-4BBB-8CCC-000000000001', true],
        ["status eq 'Active' and type eq 'Independent'", false],
        ["(status eq 'Closed') or type eq 'Shared'", true],
        ["not (type eq 'Shared')", false],
        ["customerProfile/address/country eq 'US'", true],
        ["CustomerProfile/Address/Country ne 'US'", false],
        ["externalReferenceId eq 'Order-1'", true],
        ["externalReferenceId eq 'order-1'", false],
        ["status eq 'ACTIVE' and type eq 'shared'", true],
        ['updatedDateTime ge 2025-03-01T12:00:00.1234567Z', true],
        ['updatedDateTime gt 2025-03-01T12:00:00.1234567Z', false],
        ["updatedDateTime gt '2025-03-01T12:00:00.123Z'", true],
        ['updatedDateTime lt 2025-03-01T13:00:00+01:00', false],
        ['updatedDateTime le 2025-03-01T13:00:01+01:00', true],
        ['createdDateTime ge 2025-01-01T00:00:00Z', false],
        ['customerProfile/name eq null', true],
    ])('%s -> %s', (expression, expected) => {
        expect(matchesFilter(referral, parseFilter(expression))).toBe(expected);
    });

    it('ignores case in every string comparison when asked', () => {
        expect(matchesFilter(referral, parseFilter("externalReferenceId eq 'ORDER-1'"), { ignoreCase: true })).toBe(
            true,
        );
    });

    it.each([
        ["externalReferenceId eq 'x' and type eq 'Shared'", "type eq 'Shared'"],
        ["externalReferenceId eq 'x' or type eq 'Shared'", undefined],
        ["not (externalReferenceId eq 'x') and status eq 'Active'", "status eq 'Active'"],
        ["type eq 'Shared'", "type eq 'Shared'"],
    ])('without externalReferenceId, %s is %s', (expression, remaining) => {
        const filter = parseFilter(expression);
        expect(withoutProperty(filter, 'externalReferenceId')).toEqual(remaining && parseFilter(remaining));
        expect(filterNames(filter, 'externalReferenceId')).toBe(remaining !== expression);
    });

    it.each(["team/any(t:t/email eq 'x')", "status gt 'A'", "status eq 'unterminated", 'status eq'])(
        'rejects %s',
        (e) => {
            expect(() => parseFilter(e)).toThrow(FilterSyntaxError);
        },
    );
});

describe('simulator fault injector', () => {
    it('draws the same sequence for the same seed, and only for methods in scope', () => {
        const sequence = (seed: number) => {
            const faults = new FaultInjector({ rate429: 0.25, rate5xx: 0.25, rateHang: 0.25, seed });
            return Array.from({ length: 20 }, (_, i) => faults.decide(i % 2 ? 'GET' : 'POST').fault);
        };
        expect(sequence(7)).toEqual(sequence(7));
        expect(sequence(7).filter((_, i) => i % 2 === 1)).toEqual(Array(10).fill('none'));
    });

    it('keeps the older faults of a seed where they were when newer slices are added', () => {
        const draw = (extra: object) => {
            const faults = new FaultInjector({ rate429: 0.2, rate5xx: 0.2, rateLost: 0.1, seed: 3, ...extra });
            return Array.from({ length: 40 }, () => faults.decide('POST').fault);
        };
        const older = draw({});
        const newer = draw({ rateLateCommit: 0.1, rateConflict: 0.1, rateConcurrentEdit: 0.1 });
        expect(newer.filter((_, i) => older[i] !== 'none')).toEqual(older.filter((f) => f !== 'none'));
        expect(newer.filter((f, i) => older[i] === 'none' && f !== 'none').length).toBeGreaterThan(0);
    });

    it('refuses rates that add up to more than 1', () => {
        expect(() => new FaultInjector({ rate429: 0.6, rate5xx: 0.6 })).toThrow(RangeError);
    });
});

describe('simulator settings from the environment', () => {
    it('reads numbers, switches, the filter mode and the methods; leaves the rest to the defaults', () => {
        const faults = faultsFromEnv({
            SIM_RATE_LATE_COMMIT: '0.1',
            SIM_COMMIT_DELAY_MS: '8000',
            SIM_RATE_LIMIT_PER_SECOND: '10',
            SIM_DEDUPE_ON_REQUEST_ID: 'true',
            SIM_FILTER_IGNORES_CASE: 'false',
            SIM_EXTERNAL_REFERENCE_ID_FILTER: 'ignore',
            SIM_FAULT_METHODS: 'post, patch',
        });
        expect(faults).toEqual({
            rateLateCommit: 0.1,
            commitDelayMs: 8000,
            rateLimitPerSecond: 10,
            dedupeOnRequestId: true,
            filterIgnoresCase: false,
            externalReferenceIdFilter: 'ignore',
            methods: ['POST', 'PATCH'],
        });
        expect(() => faultsFromEnv({ SIM_LIST_LAG_MS: 'soon' })).toThrow('SIM_LIST_LAG_MS must be a number');
    });
});
