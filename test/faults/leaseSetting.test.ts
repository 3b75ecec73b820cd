/** STEP_LEASE_MS: the claim lease of a step, a setting so a crashed worker's steps are taken over sooner. */
import { ConfigurationError, defaultLeaseMs, loadSection, SETTINGS } from '../../shared/platform/config';

it('defaults to two Partner API calls plus 30 s, derived from PARTNER_API_TIMEOUT_MS', () => {
    expect(loadSection('lease', {})).toEqual({ leaseMs: 2 * 30_000 + 30_000 });
    expect(loadSection('lease', { PARTNER_API_TIMEOUT_MS: '2000' })).toEqual({ leaseMs: defaultLeaseMs(2000) });
    expect(SETTINGS.find((s) => s.name === 'STEP_LEASE_MS')).toMatchObject({ azure: 'optional' });
});

it('takes STEP_LEASE_MS when it is longer than two Partner API calls', () => {
    expect(loadSection('lease', { PARTNER_API_TIMEOUT_MS: '2000', STEP_LEASE_MS: '5000' })).toEqual({ leaseMs: 5000 });
});

it('refuses a lease that one attempt could outlive, and nonsense', () => {
    expect(() => loadSection('lease', { PARTNER_API_TIMEOUT_MS: '2000', STEP_LEASE_MS: '4000' })).toThrow(
        ConfigurationError,
    );
    expect(() => loadSection('lease', { STEP_LEASE_MS: 'soon' })).toThrow(/STEP_LEASE_MS must be a positive integer/);
});
