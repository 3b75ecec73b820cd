/**
 * `npm run bench`: the benchmarks (validation, cold start, throttled bulk runs, operation counts, intake, pipeline),
 * each figure a median of several runs and each speed also a ratio against a baseline measured in the same run.
 * Writes bench/results/latest.json and prints a table. See BENCHMARKS.md.
 *
 * BENCH_ONLY=validation,coldStart,throttled,operations,intake,pipeline runs a subset; BENCH_QUICK=1 shortens every
 * benchmark (a smoke run, not for the record).
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, freemem, totalmem } from 'node:os';
import { join } from 'node:path';

import { exitOnHelp } from '../scripts/usage';
import { benchColdStart, benchFirstAccepted, type ColdStartResult, type FirstAcceptedResult } from './coldStart';
import { benchIntake, type IntakeResult } from './intake';
import {
    benchOperations,
    MINIMUM_COSMOS_OPERATIONS,
    type OperationsResult,
    type ReferralOperations,
} from './operations';
import { benchPipeline, type PipelineResult } from './pipeline';
import { builtScripts, projectRoot } from './support/runtime';
import { round } from './support/stats';
import { benchThrottled, type ThrottledRun } from './throttled';
import { benchValidation, type ValidationResult } from './validation';

const USAGE = [
    'Usage: npm run bench',
    '  Runs the benchmarks (validation, cold start, throttled, operations, intake, pipeline) and writes',
    '  bench/results/latest.json.',
    '  BENCH_ONLY=validation,coldStart,throttled,operations,intake,pipeline runs a subset; BENCH_QUICK=1 shortens every',
    '  benchmark.',
].join('\n');

interface BenchResults {
    machine: Record<string, string | number>;
    startedAt: string;
    durationSeconds: number;
    validation?: ValidationResult;
    coldStart?: ColdStartResult;
    firstAccepted?: FirstAcceptedResult;
    throttled?: ThrottledRun[];
    operations?: OperationsResult;
    intake?: IntakeResult;
    pipeline?: PipelineResult;
}

function cpuModel(): string {
    try {
        const line = readFileSync('/proc/cpuinfo', 'utf8')
            .split('\n')
            .find((l) => l.startsWith('model name'));
        return line?.split(':')[1]?.trim() ?? cpus()[0]?.model ?? 'unknown';
    } catch {
        return cpus()[0]?.model ?? 'unknown';
    }
}

function machine(): Record<string, string | number> {
    return {
        nproc: cpus().length,
        cpu: cpuModel(),
        memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
        freeMemoryGiB: Math.round((freemem() / 2 ** 30) * 10) / 10,
        node: process.version,
        platform: `${process.platform} ${process.arch}`,
    };
}

const pass = (ok: boolean) => (ok ? 'met' : 'MISSED');

/** One referral type's round trips: Cosmos DB by operation, Service Bus, Partner API; against the minimum. */
function operationRows(o: ReferralOperations): string[][] {
    const { total, ...byOperation } = o.cosmos;
    const operations = Object.entries(byOperation)
        .map(([operation, count]) => `${operation} ${count}`)
        .join(', ');
    const minimum = MINIMUM_COSMOS_OPERATIONS[o.type];
    const bus = o.serviceBus;
    const api = o.partnerApi;
    return [
        [
            `ops/referral ${o.type}`,
            `Cosmos ${total}: ${operations}; ${o.cosmosRefused} refused; ${o.cosmosRequestCharge} RU`,
            `minimum ${minimum}${o.type === 'Shared' ? ' (4 fused)' : ''}`,
            `${round(total / minimum)}x`,
            `${minimum}`,
            pass(total <= minimum),
        ],
        [
            '',
            `Service Bus send ${bus.send}, receive ${bus.receive}, settle ${bus.settle}` +
                (bus.duplicates ? `, ${bus.duplicates} dropped as duplicates` : ''),
            '',
            '',
            o.type === 'Shared' ? '1/1/1 if fused' : '',
            o.type === 'Shared' ? pass(bus.send <= 1 && bus.receive <= 1 && bus.settle <= 1) : '',
        ],
        [
            '',
            `Partner API ${api.calls} (${api.creates} creates, ${api.lookups} lookups); ${o.notDone} of ${o.referrals} not done`,
            '',
            '',
            o.type === 'Shared' ? '2, 0 not done' : '1, 0 not done',
            pass(api.creates === (o.type === 'Shared' ? 2 : 1) && o.notDone === 0),
        ],
    ];
}

function table(results: BenchResults): string {
    const rows: string[][] = [['benchmark', 'figure', 'baseline', 'ratio', 'aim', '']];
    const v = results.validation;
    if (v) {
        rows.push([
            'validation',
            `${v.validateMicros} µs / validateReferral`,
            `${v.jsonParseMicros} µs / JSON.parse`,
            `${v.ratioToJsonParse}x`,
            '< 50 µs',
            pass(v.validateMicros < 50),
        ]);
    }
    const c = results.coldStart;
    if (c) {
        rows.push([
            'cold start',
            `bundle ${(c.bundleBytes / 1024).toFixed(0)} KiB, load ${c.bundleLoadMs} ms`,
            `unbundled ${c.unbundledFiles} files ${(c.unbundledBytes / 1024).toFixed(0)} KiB, load ${c.unbundledLoadMs} ms`,
            `${c.ratio}x`,
            '< 0.5x',
            pass(c.ratio < 0.5),
        ]);
        rows.push([
            '',
            `bundle load ${c.bundleLoadMs} ms`,
            `minimal one-function bundle ${c.minimalBundleLoadMs} ms`,
            `${c.minimalRatio}x`,
            '<= 4x',
            pass(c.minimalRatio <= 4),
        ]);
    }
    const f = results.firstAccepted;
    if (f && c) {
        rows.push([
            '',
            `host process start -> first 202: ${f.firstAcceptedMs} ms`,
            `minimal bundle load ${c.minimalBundleLoadMs} ms`,
            '',
            '',
            '',
        ]);
    }
    for (const t of results.throttled ?? []) {
        rows.push([
            `throttled ${t.limitPerSecond}/s${t.ceilingSet ? '' : ' (no ceiling set)'}`,
            `${t.referrals} referrals: goodput ${t.goodputRatio}, 429 ${(t.throttledShare * 100).toFixed(1)} %, ` +
                `failed ${t.failed}, ${t.finishedSeconds} s`,
            `limit ${t.limitPerSecond}/s; ideal ${t.idealSeconds} s`,
            `${round(t.finishedSeconds / t.idealSeconds)}x ideal`,
            '>= 0.9, <= 5 %, 0',
            pass(t.goodputRatio >= 0.9 && t.throttledShare <= 0.05 && t.failed === 0),
        ]);
    }
    const o = results.operations;
    if (o) rows.push(...operationRows(o.independent), ...operationRows(o.shared));
    const i = results.intake;
    if (i) {
        rows.push([
            'intake',
            `${i.host.requestsPerSecond} req/s, p50 ${i.host.p50Ms} ms, p99 ${i.host.p99Ms} ms`,
            `bare ${i.bare.requestsPerSecond} req/s, p50 ${i.bare.p50Ms} ms, p99 ${i.bare.p99Ms} ms`,
            `${i.ratio}x`,
            '>= 0.5x',
            pass(i.ratio >= 0.5),
        ]);
        rows.push([
            '',
            `host CPU ${round(i.host.cpuMicrosPerRequest / 1000, 3)} ms per request ` +
                `(${Math.round(i.host.cpuSystemShare * 100)} % kernel)`,
            `bare node:http ${round(i.bare.cpuMicrosPerRequest / 1000, 3)} ms per request`,
            `${i.cpuRatio}x`,
            '<= 1.5 ms',
            pass(i.host.cpuMicrosPerRequest <= 1500),
        ]);
    }
    const p = results.pipeline;
    if (p) {
        rows.push([
            'pipeline',
            `${p.referralsPerSecond} referrals/s`,
            `bound ${p.referralsBound}/s (${p.maxConcurrentCalls} / ${p.latencyMs} ms)`,
            `${p.referralsRatio}x`,
            '>= 0.9x',
            pass(p.referralsRatio >= 0.9),
        ]);
        rows.push([
            '',
            `${p.callsPerSecond} Partner API calls/s`,
            `bound ${p.callsBound}/s`,
            `${p.callsRatio}x`,
            '',
            '',
        ]);
        rows.push([
            '',
            `overhead p50 ${p.overheadP50Ms} ms, p99 ${p.overheadP99Ms} ms`,
            `POST -> Connected - 2 x ${p.latencyMs} ms`,
            '',
            '< 50 ms p50',
            pass(p.overheadP50Ms < 50),
        ]);
        const exact = p.callsPerIndependent.join() === '1' && p.callsPerShared.join() === '2';
        rows.push([
            '',
            `calls/referral: Independent ${p.callsPerIndependent.join('|')}, Shared ${p.callsPerShared.join('|')}`,
            '',
            '',
            '1 and 2',
            pass(exact),
        ]);
    }
    const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
    return rows.map((row) => row.map((cell, column) => cell.padEnd(widths[column]!)).join('  ')).join('\n');
}

async function main(): Promise<void> {
    const root = projectRoot();
    const only = new Set(
        (process.env.BENCH_ONLY ?? 'validation,coldStart,throttled,operations,intake,pipeline').split(','),
    );
    const quick = process.env.BENCH_QUICK === '1';
    const started = Date.now();
    const results: BenchResults = { machine: machine(), startedAt: new Date().toISOString(), durationSeconds: 0 };
    const say = (line: string) => console.log(`[bench] ${line}`);
    if (only.has('validation')) {
        say('validation ...');
        results.validation = benchValidation(root, quick ? 3 : 7, quick ? 1000 : 5000);
    }
    if (only.has('coldStart')) {
        say('cold start (npm run package, then fresh node processes) ...');
        results.coldStart = await benchColdStart(root, quick ? 3 : 7);
    }
    const scripts = ['intake', 'pipeline', 'throttled', 'operations', 'coldStart'].some((name) => only.has(name))
        ? builtScripts(root)
        : undefined;
    if (only.has('coldStart') && scripts) {
        say('cold start: host process start to the first 202 ...');
        results.firstAccepted = await benchFirstAccepted(root, scripts, quick ? 2 : 5);
    }
    if (only.has('throttled') && scripts) {
        say('throttled bulk runs (simulator token bucket at 5, 10, 20 calls/s; latency 100 ms) ...');
        results.throttled = await benchThrottled(root, scripts, { referralsPerLimit: quick ? 5 : 20 });
    }
    if (only.has('operations') && scripts) {
        say('operations per referral (Cosmos DB, Service Bus, Partner API counted at the local peers) ...');
        results.operations = await benchOperations(root, scripts, { referrals: quick ? 5 : 20 });
    }
    if (only.has('intake') && scripts) {
        say('intake (autocannon: local host vs a bare node:http server) ...');
        results.intake = await benchIntake(root, scripts, { runs: 3, durationSeconds: quick ? 2 : 5 });
    }
    if (only.has('pipeline') && scripts) {
        say('pipeline (2,000 referrals, simulator latency 100 ms) ...');
        results.pipeline = await benchPipeline(root, scripts, {
            referrals: quick ? 200 : 2000,
            runs: quick ? 1 : 3,
            latencySamples: quick ? 5 : 20,
        });
    }
    results.durationSeconds = Math.round((Date.now() - started) / 100) / 10;
    const outDir = join(root, 'bench', 'results');
    mkdirSync(outDir, { recursive: true });
    writeFileSync(join(outDir, 'latest.json'), `${JSON.stringify(results, null, 4)}\n`);
    console.log('');
    console.log(table(results));
    console.log('');
    console.log(
        `machine: ${results.machine.nproc} x ${results.machine.cpu}, ${results.machine.memoryGiB} GiB, node ` +
            `${results.machine.node}; ${results.durationSeconds} s; written to bench/results/latest.json`,
    );
}

exitOnHelp(USAGE);
main().catch((error: unknown) => {
    console.error(error);
    process.exitCode = 1;
});
