/**
 * Benchmark 3: the deployable bundle (npm run package -> dist/deploy/index.js) against the unbundled build
 * (dist/index.js): size, and the time to load each in a fresh `node` process under the functions-core stand-in
 * (a tiny preload, as the Functions worker provides `@azure/functions-core`).
 */
import { execFileSync } from 'node:child_process';
import { statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { packageApp } from '../scripts/package';
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
    runs: number;
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
    const loader = join(tmpdir(), `cold-start-loader-${process.pid}.js`);
    writeFileSync(loader, LOADER);
    // One untimed load each warms the file system cache, as a deployed instance's disk would be.
    load(bundle, functionsCore, loader);
    const first = load(unbundled, functionsCore, loader);
    const bundleRuns: LoadSample[] = [];
    const unbundledRuns: LoadSample[] = [];
    for (let run = 0; run < runs; run++) {
        bundleRuns.push(load(bundle, functionsCore, loader));
        unbundledRuns.push(load(unbundled, functionsCore, loader));
    }
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
        runs,
    };
}
