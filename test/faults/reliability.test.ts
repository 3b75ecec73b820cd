/**
 * The reliability suite, reduced (60 referrals, one host SIGKILL, Cosmos DB and Service Bus outages of 4 s), in npm
 * test. The full run is `npm run test:faults` (bench/faults/cli.ts): same code, 2,000 referrals, three kills,
 * outages of 3 minutes.
 */
import { formatSummary, runFaultSuite } from '../../bench/faults/suite';
import { bundledScripts, type RuntimeScripts } from '../../bench/support/runtime';

jest.setTimeout(180_000);

let scripts: RuntimeScripts | undefined;

afterAll(() => scripts?.cleanup?.());

it('60 referrals under seeded faults, a host SIGKILL and dependency outages: none lost, none duplicated, Retry-After honoured', async () => {
    scripts = await bundledScripts();
    const result = await runFaultSuite({
        scripts,
        referrals: 60,
        hostKills: 1,
        leaseMs: 5000,
        lockDurationMs: 5000,
        deadlineMs: 120_000,
        outageMs: 4_000,
    });
    if (!result.ok) console.log(formatSummary(result));
    expect(result.violations).toEqual([]);
    expect(result.checks.length).toBeGreaterThanOrEqual(6);
    expect(result.figures.hostKills).toBe(1);
    expect(result.figures.cosmosOutage503).toBeGreaterThan(0);
    expect(result.figures.serviceBusOutageSendsRefused).toBeGreaterThan(0);
});
