/**
 * Benchmark 3: the deployable bundle (npm run package -> dist/deploy/index.js) against the unbundled build
 * (dist/index.js): size, and the time to load each in a fresh `node` process under the functions-core stand-in
 * (a tiny preload, as the Functions worker provides `@azure/functions-core`).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { build } from 'esbuild';

import { DEFAULT_LOCAL_FUNCTION_KEY } from '../local/host/auth';
import { DEPLOY_BUNDLE, packageApp } from '../scripts/package';
import { LocalRuntime, type RuntimeScripts, sleep } from './support/runtime';
import { median, round } from './support/stats';

export interface ColdStartResult {
    bundleBytes: number;
    unbundledFiles: number;
    /** Every .js file the unbundled app loads from dist/ and node_modules (what a deployment would ship). */
    unbundledBytes: number;
    bundleLoadMs: number;
    unbundledLoadMs: number;
    /** bundle / unbundled load time. */
    ratio: number;
    bundleProcessMs: number;
    unbundledProcessMs: number;
    /** A one-function `@azure/functions` app bundled the same way: the floor of any bundle's load. */
    minimalBundleLoadMs: number;
    /** bundle / minimal bundle load time. */
    minimalRatio: number;
    runs: number;
}

/** The smallest function app: what every bundle pays at least. */
const MINIMAL_APP = `
import { app } from '@azure/functions';
app.http('ping', { methods: ['GET'], authLevel: 'anonymous', handler: async () => ({ status: 202 }) });
`;

async function minimalBundle(root: string): Promise<string> {
    const source = join(root, 'dist', 'bench-minimal-app.ts');
    const outfile = join(root, 'dist', 'bench-minimal-app', 'index.js');
    writeFileSync(source, MINIMAL_APP);
    await build({ ...DEPLOY_BUNDLE, entryPoints: [source], outfile, logLevel: 'warning' });
    return outfile;
}

/** Loads `entry` with the stand-in installed; prints the require time and what files were loaded. */
const LOADER = `
const { performance } = require('node:perf_hooks');
const Module = require('node:module');
const core = require(process.env.FUNCTIONS_CORE);
core.installFunctionsCore();
const start = performance.now();
require(process.env.ENTRY);
const loadMs = performance.now() - start;
const files = Object.keys(require.cache).filter((f) => f.endsWith('.js') && f !== process.env.FUNCTIONS_CORE);
process.stdout.write(JSON.stringify({ loadMs, files, processMs: performance.now() }));
`;

interface LoadSample {
    loadMs: number;
    processMs: number;
    files: string[];
}

function load(entry: string, functionsCore: string, loader: string): LoadSample {
    const output = execFileSync(process.execPath, [loader], {
        env: { ...process.env, ENTRY: entry, FUNCTIONS_CORE: functionsCore },
        encoding: 'utf8',
    });
    return JSON.parse(output) as LoadSample;
}

export async function benchColdStart(root: string, runs = 7): Promise<ColdStartResult> {
    const { outDir } = await packageApp({ root });
    const bundle = join(outDir, 'index.js');
    const unbundled = join(root, 'dist', 'index.js');
    const functionsCore = join(root, 'dist', 'local', 'host', 'functionsCore.js');
    const minimal = await minimalBundle(root);
    const loader = join(tmpdir(), `cold-start-loader-${process.pid}.js`);
    writeFileSync(loader, LOADER);
    // One untimed load each warms the file system cache, as a deployed instance's disk would be.
    load(bundle, functionsCore, loader);
    load(minimal, functionsCore, loader);
    const first = load(unbundled, functionsCore, loader);
    const bundleRuns: LoadSample[] = [];
    const unbundledRuns: LoadSample[] = [];
    const minimalRuns: LoadSample[] = [];
    for (let run = 0; run < runs; run++) {
        bundleRuns.push(load(bundle, functionsCore, loader));
        unbundledRuns.push(load(unbundled, functionsCore, loader));
        minimalRuns.push(load(minimal, functionsCore, loader));
    }
    const minimalBundleLoadMs = median(minimalRuns.map((r) => r.loadMs));
    const bundleLoadMs = median(bundleRuns.map((r) => r.loadMs));
    const unbundledLoadMs = median(unbundledRuns.map((r) => r.loadMs));
    const unbundledBytes = first.files.reduce((sum, file) => sum + statSync(file).size, 0);
    return {
        bundleBytes: statSync(bundle).size,
        unbundledFiles: first.files.length,
        unbundledBytes,
        bundleLoadMs: round(bundleLoadMs),
        unbundledLoadMs: round(unbundledLoadMs),
        ratio: round(bundleLoadMs / unbundledLoadMs),
        bundleProcessMs: round(median(bundleRuns.map((r) => r.processMs))),
        unbundledProcessMs: round(median(unbundledRuns.map((r) => r.processMs))),
        minimalBundleLoadMs: round(minimalBundleLoadMs),
        minimalRatio: round(bundleLoadMs / minimalBundleLoadMs),
        runs,
    };
}

export interface FirstAcceptedResult {
    /** From forking a host process (the deployable bundle as its app) to the first `202` of a referral POST. */
    firstAcceptedMs: number;
    runs: number;
}

/** Process start to the first 202, against emulators already running: `runs` fresh host processes. */
export async function benchFirstAccepted(
    root: string,
    scripts: RuntimeScripts,
    runs = 5,
): Promise<FirstAcceptedResult> {
    const bundle = join(root, 'dist', 'deploy', 'index.js');
    const body = readFileSync(join(root, 'test', 'fixtures', 'seed-shared-referral.request.json'), 'utf8');
    const runtime = new LocalRuntime({ scripts: { ...scripts, app: bundle } });
    const accepted: number[] = [];
    try {
        await runtime.startEmulators();
        for (let run = 0; run < runs; run++) {
            const started = performance.now();
            const host = runtime.startHost();
            for (;;) {
                const status = await fetch(`${runtime.hostUrl}/api/referrals`, {
                    method: 'POST',
                    headers: {
                        'content-type': 'application/json',
                        'x-functions-key': DEFAULT_LOCAL_FUNCTION_KEY,
                        'idempotency-key': `cold-${Date.now().toString(36)}-${run}`,
                    },
                    body,
                }).then(
                    async (response) => {
                        await response.arrayBuffer();
                        return response.status;
                    },
                    () => 0,
                );
                if (status === 202) break;
                if (performance.now() - started > 60_000) throw new Error('no 202 within 60 s of the host start');
                await sleep(5);
            }
            accepted.push(performance.now() - started);
            await host;
            await runtime.stopHost();
        }
    } finally {
        await runtime.stop();
    }
    return { firstAcceptedMs: round(median(accepted)), runs };
}
