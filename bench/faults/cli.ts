/**
 * `npm run test:faults`: the full reliability suite against the built runtime (dist/), then a summary table.
 * Exits non-zero when any invariant is violated.
 *
 * Settings (environment): FAULTS_REFERRALS (default 2000), FAULTS_HOST_KILLS (default 3),
 * FAULTS_SECOND_HOST (a second host beside the first, drained with SIGTERM and started again mid-run; default 1,
 * 0 = one host only), FAULTS_SEED,
 * FAULTS_LEASE_MS (STEP_LEASE_MS of the host; default 15000, "default" = the app's own default),
 * FAULTS_LOCK_MS (broker lock duration; default 10000, "default" = 60000 as in Azure), FAULTS_DEADLINE_S (3600),
 * FAULTS_OUTAGE_S (how long each of the Cosmos DB and Service Bus outages, and the Event Grid topic's refusal of
 * publishes, lasts; default 180, 0 = none),
 * FAULTS_RATE_LIMIT (the Partner API simulator's token bucket, calls per second; default 10, 0 = none),
 * FAULTS_LOG_FILE (a file the host's log is written to, to investigate a violation; default: none).
 */
import { exitOnHelp } from '../../scripts/usage';
import { builtScripts } from '../support/runtime';
import { formatSummary, runFaultSuite } from './suite';

const USAGE = [
    'Usage: npm run test:faults',
    '  Runs the reliability suite against the built runtime and prints its invariants; exits 1 when one is violated.',
    '  Settings: FAULTS_REFERRALS, FAULTS_HOST_KILLS, FAULTS_SECOND_HOST (0: one host only), FAULTS_SEED,',
    '  FAULTS_LEASE_MS, FAULTS_LOCK_MS, FAULTS_DEADLINE_S, FAULTS_OUTAGE_S, FAULTS_RATE_LIMIT, FAULTS_LOG_FILE.',
].join('\n');

function numberFrom(name: string, fallback: number | undefined): number | undefined {
    const raw = process.env[name]?.trim();
    if (!raw) return fallback;
    if (raw === 'default') return undefined;
    const value = Number(raw);
    if (!Number.isFinite(value) || value < 0) throw new Error(`${name} must be a number`);
    return value;
}

async function main(): Promise<void> {
    const result = await runFaultSuite({
        scripts: builtScripts(),
        referrals: numberFrom('FAULTS_REFERRALS', 2000)!,
        hostKills: numberFrom('FAULTS_HOST_KILLS', 3)!,
        secondHost: numberFrom('FAULTS_SECOND_HOST', 1) !== 0,
        seed: numberFrom('FAULTS_SEED', 20_251),
        // Short, so a SIGKILLed host's steps are taken over soon, yet room for a wait at the rate-limit gate: a call
        // waits there only until the attempt's deadline (the lease's end less a margin) and is otherwise rescheduled.
        // With 5 s nearly every call met that deadline (44,488 refusals in one run, each a claim, a write and a
        // scheduled message); the app's own default is 2 x PARTNER_API_TIMEOUT_MS + 30 s.
        leaseMs: numberFrom('FAULTS_LEASE_MS', 15_000),
        lockDurationMs: numberFrom('FAULTS_LOCK_MS', 10_000),
        deadlineMs: numberFrom('FAULTS_DEADLINE_S', 3600)! * 1000,
        outageMs: numberFrom('FAULTS_OUTAGE_S', 180)! * 1000,
        rateLimitPerSecond: numberFrom('FAULTS_RATE_LIMIT', 10),
        logFile: process.env.FAULTS_LOG_FILE?.trim() || undefined,
        progress: (line) => console.log(`[faults] ${line}`),
    });
    console.log('');
    console.log(formatSummary(result));
    process.exitCode = result.ok ? 0 : 1;
}

exitOnHelp(USAGE);
main().catch((error: unknown) => {
    console.error(error);
    process.exitCode = 1;
});
