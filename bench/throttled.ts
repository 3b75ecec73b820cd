/**
 * Benchmark 5: a bulk run against the Partner API's rate limit. Referrals (half Shared) are published to the queue,
 * then a host is started, with the simulator's token bucket per tenant (`SIM_RATE_LIMIT_PER_SECOND`, 429 with
 * Retry-After from the next free token) and 100 ms latency, and the app's gate set to the same limit
 * (`PARTNER_API_MAX_CALLS_PER_SECOND`); once per limit also without that setting (the gate only pausing on 429s and
 * adapting), as the comparison. Figures: goodput (answered creates per second) as a fraction of the limit, the
 * share of calls answered 429, the finish time against the ideal (calls / limit), and referrals that failed.
 */
import { ServiceBusClient } from '@azure/service-bus';

import { DEFAULT_LOCAL_FUNCTION_KEY } from '../local/host/auth';
import type { RequestLogEntry } from '../local/partner-api-simulator';
import { REFERRALS_QUEUE } from '../shared/platform/names';
import { halfSharedMessages } from './support/queuedReferrals';
import { getJson, LocalRuntime, type RuntimeScripts, sleep } from './support/runtime';
import { round } from './support/stats';

export interface ThrottledRun {
    limitPerSecond: number;
    /** Whether the app was told the limit (PARTNER_API_MAX_CALLS_PER_SECOND) or found it from the 429s alone. */
    ceilingSet: boolean;
    referrals: number;
    /** Answered creates per second over the run / the limit. */
    goodputRatio: number;
    /** Calls answered 429 / all calls. */
    throttledShare: number;
    finishedSeconds: number;
    /** Creates needed / the limit. */
    idealSeconds: number;
    /** Referrals not Submitted (Independent) / Connected (Shared) at the end. */
    failed: number;
}

async function oneRun(
    root: string,
    scripts: RuntimeScripts,
    limitPerSecond: number,
    referrals: number,
    ceilingSet: boolean,
): Promise<ThrottledRun> {
    const runtime = new LocalRuntime({
        scripts,
        emulatorsEnv: { SIM_LATENCY_MS: '100', SIM_RATE_LIMIT_PER_SECOND: String(limitPerSecond) },
        hostEnv: ceilingSet ? { PARTNER_API_MAX_CALLS_PER_SECOND: String(limitPerSecond) } : {},
    });
    const client: { bus?: ServiceBusClient } = {};
    try {
        await runtime.startEmulators();
        client.bus = new ServiceBusClient(runtime.endpoints.serviceBusConnectionString!);
        const sender = client.bus.createSender(REFERRALS_QUEUE);
        const tag = `t${limitPerSecond}${Date.now().toString(36)}`;
        const { messages, keys } = halfSharedMessages(root, tag, referrals);
        for (let i = 0; i < messages.length; i += 100) await sender.sendMessages(messages.slice(i, i + 100));
        await runtime.startHost();

        const expected = referrals + keys.filter((k) => k.shared).length;
        const idealSeconds = expected / limitPerSecond;
        const deadline = Date.now() + 3 * idealSeconds * 1000 + 60_000;
        const sim = runtime.simulatorUrl;
        while ((await getJson<{ count: number }>(`${sim}/_admin/referrals/count`)).count < expected) {
            if (Date.now() > deadline) break;
            await sleep(500);
        }
        const log = (await getJson<{ value: RequestLogEntry[] }>(`${sim}/_admin/requests`)).value;
        const answered = log.filter((e) => e.method === 'POST' && (e.status ?? 0) >= 200 && (e.status ?? 0) < 300);
        const throttled = log.filter((e) => e.status === 429);
        const first = Math.min(...log.map((e) => e.at));
        const last = Math.max(...log.map((e) => e.at + e.latencyMs));
        const finishedSeconds = (last - first) / 1000;
        let failed = 0;
        for (const { key, shared: isShared } of keys) {
            const status = await getJson<{ status: string }>(
                `${runtime.hostUrl}/api/referrals/${key}?code=${DEFAULT_LOCAL_FUNCTION_KEY}`,
            ).catch(() => ({ status: 'unknown' }));
            if (status.status !== (isShared ? 'Connected' : 'Submitted')) failed++;
        }
        return {
            limitPerSecond,
            ceilingSet,
            referrals,
            goodputRatio: round(answered.length / finishedSeconds / limitPerSecond, 3),
            throttledShare: round(throttled.length / log.length, 3),
            finishedSeconds: round(finishedSeconds),
            idealSeconds: round(idealSeconds),
            failed,
        };
    } finally {
        await client.bus?.close().catch(() => undefined);
        await runtime.stop();
    }
}

/**
 * One run per limit with the ceiling set, and one at the middle limit without it. `referralsPerLimit` referrals per
 * call/s of the limit keep each run near the same duration (1,000 referrals at 5 calls/s would take 300 s each).
 */
export async function benchThrottled(
    root: string,
    scripts: RuntimeScripts,
    options: { limits?: number[]; referralsPerLimit?: number } = {},
): Promise<ThrottledRun[]> {
    const limits = options.limits ?? [5, 10, 20];
    const perLimit = options.referralsPerLimit ?? 20;
    const runs: ThrottledRun[] = [];
    for (const limit of limits) runs.push(await oneRun(root, scripts, limit, limit * perLimit, true));
    const middle = limits[Math.floor(limits.length / 2)] ?? 10;
    runs.push(await oneRun(root, scripts, middle, middle * perLimit, false));
    return runs;
}
