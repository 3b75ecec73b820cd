import { FaultInjector } from '../../../local/partner-api-simulator/faults';
import { FilterSyntaxError, matchesFilter, parseFilter } from '../../../local/partner-api-simulator/odataFilter';

describe('simulator $filter parser', () => {
    const referral = {
        engagementId: '0ee9d55d-aaaa-4bbb-8ccc-000000000001',
        status: 'Active',
        type: 'Shared',
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
        ['externalReferenceId eq null', true],
    ])('%s -> %s', (expression, expected) => {
        expect(matchesFilter(referral, parseFilter(expression))).toBe(expected);
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

    it('refuses rates that add up to more than 1', () => {
        expect(() => new FaultInjector({ rate429: 0.6, rate5xx: 0.6 })).toThrow(RangeError);
    });
});
