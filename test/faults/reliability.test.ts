/**
 * The reliability suite, reduced (60 referrals, one host SIGKILL), in npm test. The full run is
 * `npm run test:faults` (bench/faults/cli.ts): same code, 2,000 referrals, three kills.
 */
import { formatSummary, runFaultSuite } from '../../bench/faults/suite';
import { bundledScripts, type RuntimeScripts } from '../../bench/support/runtime';

jest.setTimeout(180_000);

let scripts: RuntimeScripts | undefined;

afterAll(() => scripts?.cleanup?.());

it('60 referrals under seeded faults and a host SIGKILL: none lost, none duplicated, Retry-After honoured', async () => {
    scripts = await bundledScripts();
    const result = await runFaultSuite({
        scripts,
        referrals: 60,
        hostKills: 1,
        leaseMs: 5000,
        lockDurationMs: 5000,
        deadlineMs: 120_000,
    });
    if (!result.ok) console.log(formatSummary(result));
    expect(result.violations).toEqual([]);
    expect(result.checks.length).toBeGreaterThanOrEqual(6);
    expect(result.figures.hostKills).toBe(1);
});
