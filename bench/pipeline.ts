/**
 * Benchmark 2: 2,000 referrals (half Shared) through the local runtime with the simulator answering after 100 ms.
 *
 * - Throughput: the messages are published to the queue first, then a host is started; the window is the first to
 *   the last Partner API call the simulator saw. Referrals/s is set against the bound of the submit trigger,
 *   maxConcurrentCalls / latency; Partner API calls/s against both triggers' bound, 2 x maxConcurrentCalls / latency.
 * - Latency: then, on the idle runtime, Shared referrals are POSTed one at a time; POST to Connected (the record's
 *   history) minus the two Partner API calls (2 x latency) is the pipeline's own overhead.
 * - Calls per referral: POSTs with the referral's submit and connect MS-RequestIds (createRequestId) in the
 *   simulator's log: exactly 1 (Independent) and 2 (Shared). Completion is polled with the simulator's referral
 *   count, not by copying every referral it holds.
 */
import { join } from 'node:path';

import { ServiceBusClient } from '@azure/service-bus';

import { DEFAULT_LOCAL_FUNCTION_KEY } from '../local/host/auth';
import { readHostJson, toHostSettings } from '../local/host/hostJson';
import type { RequestLogEntry } from '../local/partner-api-simulator';
import { createRequestId } from '../shared/partnerApi/requestIds';
import { REFERRALS_QUEUE } from '../shared/platform/names';
import { halfSharedMessages, seedBodies } from './support/queuedReferrals';
import { getJson, LocalRuntime, postReferral, type RuntimeScripts, sleep } from './support/runtime';
import { median, percentile, round } from './support/stats';

export interface PipelineRun {
    windowSeconds: number;
    referralsPerSecond: number;
    callsPerSecond: number;
    overheadP50Ms: number;
    overheadP99Ms: number;
    callsPerIndependent: number[];
    callsPerShared: number[];
}

export interface PipelineResult {
    referrals: number;
    latencyMs: number;
    maxConcurrentCalls: number;
    /** maxConcurrentCalls / latency: the most referrals/s the submit trigger can start. */
    referralsBound: number;
    /** Both triggers: 2 x maxConcurrentCalls / latency. */
    callsBound: number;
    referralsPerSecond: number;
    referralsRatio: number;
    callsPerSecond: number;
    callsRatio: number;
    /** End to end POST -> Connected of a Shared referral minus 2 x latency, p50 and p99 of the samples. */
    overheadP50Ms: number;
    overheadP99Ms: number;
    /** Distinct numbers of Partner API POSTs seen per Independent / Shared referral (must be [1] and [2]). */
    callsPerIndependent: number[];
    callsPerShared: number[];
    runs: number;
    latencySamples: number;
}

async function oneRun(
    root: string,
    scripts: RuntimeScripts,
    referrals: number,
    latencyMs: number,
    latencySamples: number,
    run: number,
    hostExecArgv?: string[],
): Promise<PipelineRun> {
    const { shared } = seedBodies(root);
    const runtime = new LocalRuntime({
        scripts,
        emulatorsEnv: { SIM_LATENCY_MS: String(latencyMs) },
        hostExecArgv,
    });
    const client: { bus?: ServiceBusClient } = {};
    try {
        await runtime.startEmulators();
        const sim = runtime.simulatorUrl;
        client.bus = new ServiceBusClient(runtime.endpoints.serviceBusConnectionString!);
        const sender = client.bus.createSender(REFERRALS_QUEUE);
        const tag = `p${run}${Date.now().toString(36)}`;
        const published = halfSharedMessages(root, tag, referrals);
        const { messages } = published;
        const keysOf = (isShared: boolean) =>
            new Set(published.keys.filter((k) => k.shared === isShared).map((k) => k.key));
        const keys = { shared: keysOf(true), independent: keysOf(false) };
        for (let i = 0; i < messages.length; i += 100) await sender.sendMessages(messages.slice(i, i + 100));
        await runtime.startHost();

        // Throughput: until the simulator holds every referral (2 per Shared).
        const expected = referrals + keys.shared.size;
        const deadline = Date.now() + 300_000;
        let held = 0;
        while (held < expected) {
            if (Date.now() > deadline) throw new Error(`only ${held} of ${expected} referrals after 300 s`);
            await sleep(250);
            held = (await getJson<{ count: number }>(`${sim}/_admin/referrals/count`)).count;
        }
        const log = (await getJson<{ value: RequestLogEntry[] }>(`${sim}/_admin/requests`)).value;
        const posts = log.filter((e) => e.method === 'POST');
        const first = Math.min(...posts.map((e) => e.at));
        const last = Math.max(...posts.map((e) => e.at + e.latencyMs));
        const windowSeconds = (last - first) / 1000;
        const perRequestId = new Map<string, number>();
        for (const post of posts) {
            perRequestId.set(post.requestId ?? '', (perRequestId.get(post.requestId ?? '') ?? 0) + 1);
        }
        // A create's MS-RequestId is a GUID per referral key and step: a referral's calls are its submit's and connect's.
        const callsOf = (key: string) =>
            (perRequestId.get(createRequestId(key, 'submit')) ?? 0) +
            (perRequestId.get(createRequestId(key, 'connect')) ?? 0);
        const distinct = (set: Set<string>) => [...new Set([...set].map(callsOf))].sort();

        // Latency of single Shared referrals on the idle runtime.
        const overheads: number[] = [];
        for (let i = 0; i < latencySamples; i++) {
            const key = `${tag}-lat-${i}`;
            const started = Date.now();
            await postReferral(runtime.hostUrl, key, shared);
            for (;;) {
                await sleep(20);
                const status = await getJson<{ status: string; history: { status: string; at: string }[] }>(
                    `${runtime.hostUrl}/api/referrals/${key}?code=${DEFAULT_LOCAL_FUNCTION_KEY}`,
                );
                const connected = status.history.find((h) => h.status === 'Connected');
                if (connected) {
                    overheads.push(Date.parse(connected.at) - started - 2 * latencyMs);
                    break;
                }
                if (Date.now() - started > 30_000) throw new Error(`${key} not Connected within 30 s`);
            }
        }
        return {
            windowSeconds,
            referralsPerSecond: referrals / windowSeconds,
            callsPerSecond: posts.length / windowSeconds,
            overheadP50Ms: median(overheads),
            overheadP99Ms: percentile(overheads, 99),
            callsPerIndependent: distinct(keys.independent),
            callsPerShared: distinct(keys.shared),
        };
    } finally {
        await client.bus?.close().catch(() => undefined);
        await runtime.stop();
    }
}

export async function benchPipeline(
    root: string,
    scripts: RuntimeScripts,
    options: {
        referrals?: number;
        latencyMs?: number;
        runs?: number;
        latencySamples?: number;
        hostExecArgv?: string[];
    } = {},
): Promise<PipelineResult> {
    const referrals = options.referrals ?? 2000;
    const latencyMs = options.latencyMs ?? 100;
    const runs = options.runs ?? 3;
    const latencySamples = options.latencySamples ?? 20;
    const { maxConcurrentCalls } = toHostSettings(readHostJson(join(root, 'host.json'))).serviceBus;
    const results: PipelineRun[] = [];
    for (let run = 0; run < runs; run++) {
        results.push(await oneRun(root, scripts, referrals, latencyMs, latencySamples, run, options.hostExecArgv));
    }
    const referralsBound = maxConcurrentCalls / (latencyMs / 1000);
    const callsBound = 2 * referralsBound;
    const referralsPerSecond = median(results.map((r) => r.referralsPerSecond));
    const callsPerSecond = median(results.map((r) => r.callsPerSecond));
    return {
        referrals,
        latencyMs,
        maxConcurrentCalls,
        referralsBound,
        callsBound,
        referralsPerSecond: round(referralsPerSecond),
        referralsRatio: round(referralsPerSecond / referralsBound, 3),
        callsPerSecond: round(callsPerSecond),
        callsRatio: round(callsPerSecond / callsBound, 3),
        overheadP50Ms: round(median(results.map((r) => r.overheadP50Ms))),
        overheadP99Ms: round(median(results.map((r) => r.overheadP99Ms))),
        callsPerIndependent: [...new Set(results.flatMap((r) => r.callsPerIndependent))],
        callsPerShared: [...new Set(results.flatMap((r) => r.callsPerShared))],
        runs,
        latencySamples,
    };
}
