/**
 * The reliability suite, reduced (60 referrals and their updates, one host SIGKILL, a second host drained with SIGTERM
 * and started again, Cosmos DB and Service Bus outages
 * of 4 s and the Event Grid topic refusing publishes as long, the Partner API's faults and rate limit on, Microsoft
 * accepting, declining and closing a share of the referrals with their webhooks dropped, duplicated or held back, every
 * change's outcome event counted), in npm test. The full run is `npm run test:faults`
 * (bench/faults/cli.ts): same code, 2,000 referrals, three kills, outages of 3 minutes.
 *
 * The host's log (and the simulator's request log) go to temporary files, named when the run fails (removed when it
 * passes).
 */
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { formatSummary, requestLogFileOf, runFaultSuite } from '../../bench/faults/suite';
import { bundledScripts, type RuntimeScripts } from '../../bench/support/runtime';

jest.setTimeout(180_000);

let scripts: RuntimeScripts | undefined;

afterAll(() => scripts?.cleanup?.());

it('60 referrals and their updates under seeded faults, a rate limit, a host SIGKILL, a second host drained and restarted, and dependency outages: none lost, none duplicated, none adopted wrongly, each update applied once, Retry-After honoured', async () => {
    scripts = await bundledScripts();
    const logFile = join(tmpdir(), `reliability-${process.pid}-${Date.now()}.log`);
    const result = await runFaultSuite({
        scripts,
        referrals: 60,
        hostKills: 1,
        leaseMs: 5000,
        lockDurationMs: 5000,
        deadlineMs: 120_000,
        outageMs: 4_000,
        rateLimitPerSecond: 10,
        logFile,
    });
    if (result.ok) for (const file of [logFile, requestLogFileOf(logFile)]) rmSync(file, { force: true });
    else console.log(formatSummary(result));
    expect({ violations: result.violations, hostLog: result.ok ? undefined : logFile }).toEqual({
        violations: [],
        hostLog: undefined,
    });
    expect(result.checks.length).toBeGreaterThanOrEqual(12);
    expect(result.figures.hostKills).toBe(1);
    // Drained mid-run and at the end, started at the load and again after the drain.
    expect(result.figures.secondHostDrains).toBe(2);
    expect(result.figures.secondHostStarts).toBe(2);
    expect(result.figures.cosmosOutage503).toBeGreaterThan(0);
    expect(result.figures.serviceBusOutageSendsRefused).toBeGreaterThan(0);
    expect(result.figures.updated).toBeGreaterThan(0);
    expect(result.figures.microsoftChanges).toBeGreaterThan(0);
    expect(result.figures.reconciliations).toBeGreaterThan(0);
    expect(result.figures.publishesRefused).toBeGreaterThan(0);
    expect(result.figures.eventIds).toBeGreaterThan(0);
});
