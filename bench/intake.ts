/**
 * Benchmark 1: POST /api/referrals on the local host (its own process, with the emulators in another) against a bare
 * node:http server in its own process that reads the same body, checks the content type, parses it and answers
 * 202. autocannon drives both, alternately, with a unique Idempotency-Key per request and the seed body.
 *
 * The host's queue triggers are switched off (AzureWebJobs.<name>.Disabled) so the pipeline does not compete with the
 * intake for the CPU: this measures the intake alone (validation, the externalReferenceId binding and the record
 * created in Cosmos DB, the Service Bus send).
 *
 * Besides req/s, the CPU time each process spent per answered request (its own `process.cpuUsage()` before and after
 * a run, asked over IPC): on two shared cores the JavaScript Cosmos DB emulator dominates wall time, so req/s mostly
 * measures the emulator; the host's CPU per request is the host's own cost.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import autocannon from 'autocannon';

import { DEFAULT_LOCAL_FUNCTION_KEY } from '../local/host/auth';
import { CPU_USAGE_REQUEST } from '../local/runtime/processLifecycle';
import { cpuMicrosBetween, cpuUsageOf, freePort, LocalRuntime, type RuntimeScripts } from './support/runtime';
import { median, round } from './support/stats';

export interface ThroughputFigures {
    requestsPerSecond: number;
    p50Ms: number;
    p99Ms: number;
    /** CPU time (user + system) of the serving process per answered request. */
    cpuMicrosPerRequest: number;
    /** Of that CPU time, the share spent in the kernel (sockets: loopback TCP to the peers, TLS to Cosmos DB). */
    cpuSystemShare: number;
    non2xx: number;
    errors: number;
}

export interface IntakeResult {
    host: ThroughputFigures;
    bare: ThroughputFigures;
    /** host / bare requests per second. */
    ratio: number;
    /** host / bare CPU time per request. */
    cpuRatio: number;
    runs: number;
    durationSeconds: number;
    connections: number;
}

const BARE_SERVER = `
const http = require('node:http');
const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
        const type = (req.headers['content-type'] || '').split(';')[0].trim().toLowerCase();
        if (type !== 'application/json') { res.writeHead(415).end(); return; }
        let body;
        try { body = JSON.parse(Buffer.concat(chunks).toString('utf8')); } catch { res.writeHead(400).end(); return; }
        const id = req.headers['idempotency-key'] || 'x';
        const answer = JSON.stringify({ id, status: 'Queued', statusUrl: '/api/referrals/' + id, warnings: [], type: body.type });
        res.writeHead(202, { 'content-type': 'application/json', location: '/api/referrals/' + id }).end(answer);
    });
});
process.on('message', (m) => {
    if (m && m.type === '${CPU_USAGE_REQUEST}') process.send({ type: '${CPU_USAGE_REQUEST}', usage: process.cpuUsage() });
});
server.listen(Number(process.env.PORT), '127.0.0.1', () => process.send({ type: 'ready' }));
`;

async function startBare(): Promise<{ url: string; child: ChildProcess }> {
    const port = await freePort();
    const script = join(tmpdir(), `bare-intake-${process.pid}.js`);
    writeFileSync(script, BARE_SERVER);
    const child = fork(script, [], { env: { ...process.env, PORT: String(port) }, stdio: 'ignore' });
    await new Promise<void>((resolve, reject) => {
        child.once('message', () => resolve());
        child.once('exit', (code) => reject(new Error(`the bare server exited (${code})`)));
    });
    return { url: `http://127.0.0.1:${port}`, child };
}

async function cannon(
    url: string,
    cpuUsage: () => Promise<NodeJS.CpuUsage>,
    run: { body: string; tag: string; connections: number; duration: number },
): Promise<ThroughputFigures> {
    const { body, tag, connections, duration } = run;
    let counter = 0;
    const cpuBefore = await cpuUsage();
    const result = await autocannon({
        url,
        connections,
        duration,
        requests: [
            {
                method: 'POST',
                path: '/api/referrals',
                headers: { 'content-type': 'application/json', 'x-functions-key': DEFAULT_LOCAL_FUNCTION_KEY },
                body,
                setupRequest: (request) => ({
                    ...request,
                    headers: { ...request.headers, 'idempotency-key': `${tag}-${counter++}` },
                }),
            },
        ],
    });
    const cpuAfter = await cpuUsage();
    const cpuMicros = cpuMicrosBetween(cpuBefore, cpuAfter);
    return {
        requestsPerSecond: result.requests.average,
        p50Ms: result.latency.p50,
        p99Ms: result.latency.p99,
        cpuMicrosPerRequest: cpuMicros / Math.max(1, result.requests.total),
        cpuSystemShare: (cpuAfter.system - cpuBefore.system) / Math.max(1, cpuMicros),
        non2xx: result.non2xx,
        errors: result.errors + result.timeouts,
    };
}

function medianFigures(samples: ThroughputFigures[]): ThroughputFigures {
    return {
        requestsPerSecond: round(median(samples.map((s) => s.requestsPerSecond))),
        p50Ms: round(median(samples.map((s) => s.p50Ms))),
        p99Ms: round(median(samples.map((s) => s.p99Ms))),
        cpuMicrosPerRequest: round(median(samples.map((s) => s.cpuMicrosPerRequest))),
        cpuSystemShare: round(median(samples.map((s) => s.cpuSystemShare))),
        non2xx: samples.reduce((n, s) => n + s.non2xx, 0),
        errors: samples.reduce((n, s) => n + s.errors, 0),
    };
}

export async function benchIntake(
    root: string,
    scripts: RuntimeScripts,
    options: { runs?: number; durationSeconds?: number; connections?: number; hostExecArgv?: string[] } = {},
): Promise<IntakeResult> {
    const runs = options.runs ?? 3;
    const duration = options.durationSeconds ?? 5;
    const connections = options.connections ?? 16;
    const body = readFileSync(join(root, 'test', 'fixtures', 'seed-shared-referral.request.json'), 'utf8');
    const runtime = new LocalRuntime({
        scripts,
        hostEnv: { 'AzureWebJobs.submitReferral.Disabled': 'true', 'AzureWebJobs.connectReferral.Disabled': 'true' },
        hostExecArgv: options.hostExecArgv,
    });
    let bare: { url: string; child: ChildProcess } | undefined;
    try {
        await runtime.startEmulators();
        await runtime.startHost();
        bare = await startBare();
        const tag = `bench${Date.now().toString(36)}`;
        const { url: bareUrl, child: bareChild } = bare;
        const onHost = (run: string, seconds: number) =>
            cannon(runtime.hostUrl, () => runtime.hostCpuUsage(), {
                body,
                tag: `${tag}-${run}`,
                connections,
                duration: seconds,
            });
        const onBare = (run: string, seconds: number) =>
            cannon(bareUrl, () => cpuUsageOf(bareChild), {
                body,
                tag: `${tag}-${run}`,
                connections,
                duration: seconds,
            });
        // Warm-up: JIT, connections, Cosmos DB and Service Bus links.
        await onHost('warm', 2);
        await onBare('warm', 1);
        const host: ThroughputFigures[] = [];
        const bareRuns: ThroughputFigures[] = [];
        for (let run = 0; run < runs; run++) {
            bareRuns.push(await onBare(`b${run}`, duration));
            host.push(await onHost(`h${run}`, duration));
        }
        const hostFigures = medianFigures(host);
        const bareFigures = medianFigures(bareRuns);
        return {
            host: hostFigures,
            bare: bareFigures,
            ratio: round(hostFigures.requestsPerSecond / bareFigures.requestsPerSecond, 3),
            cpuRatio: round(hostFigures.cpuMicrosPerRequest / bareFigures.cpuMicrosPerRequest, 1),
            runs,
            durationSeconds: duration,
            connections,
        };
    } finally {
        bare?.child.kill('SIGTERM');
        await runtime.stop();
    }
}
