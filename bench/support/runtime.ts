/**
 * The local runtime as separate processes, for the reliability suite and the benchmarks: the emulators process
 * (broker, Cosmos DB, simulator) and a host process that can be SIGKILLed and started again on the same port; and,
 * when asked, a second host process beside it (same emulators, same settings, its own port), a competing consumer of
 * every queue that runs the timers too, which can be drained with SIGTERM and started again.
 *
 * Every port is ephemeral (never the defaults another engineer's `npm start` uses). Everything started here is
 * tracked and stopped by `stop()`, also after a failure.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

import { build } from 'esbuild';

import { DEFAULT_LOCAL_FUNCTION_KEY } from '../../local/host/auth';
import { hostSettings, type PeerEndpoints } from '../../local/runtime/localSettings';
import { CPU_USAGE_REQUEST } from '../../local/runtime/processLifecycle';

/** The repository root: the nearest folder above `start` with package.json and host.json. */
export function projectRoot(start: string = __dirname): string {
    for (let dir = start; ; dir = dirname(dir)) {
        if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'host.json'))) return dir;
        if (dirname(dir) === dir) return process.cwd();
    }
}

export interface RuntimeScripts {
    emulators: string;
    host: string;
    /** The app entry the host loads (LOCAL_APP_ENTRY). */
    app: string;
    /** NODE_PATH for bundles whose packages stay external. */
    nodePath?: string;
    /** Removes what was built for this run, if anything. */
    cleanup?: () => void;
}

/** The built commands and app in dist/ (after `npm run build`). */
export function builtScripts(root: string = projectRoot()): RuntimeScripts {
    const scripts = {
        emulators: join(root, 'dist', 'local', 'runtime', 'emulators.js'),
        host: join(root, 'dist', 'local', 'runtime', 'host.js'),
        app: join(root, 'dist', 'index.js'),
    };
    for (const file of Object.values(scripts)) {
        if (!existsSync(file)) throw new Error(`${file} is missing: run npm run build first`);
    }
    return scripts;
}

/**
 * The commands and the app bundled with esbuild into a temporary folder (packages external, found through
 * NODE_PATH): what a Jest test uses, so it needs no `npm run build` and writes nothing into the project.
 */
export async function bundledScripts(root: string = projectRoot()): Promise<RuntimeScripts> {
    const outDir = mkdtempSync(join(tmpdir(), 'cosell-runtime-'));
    const common = {
        bundle: true,
        platform: 'node',
        target: 'node20',
        format: 'cjs',
        packages: 'external',
        logLevel: 'error',
    } as const;
    await build({
        ...common,
        entryPoints: ['emulators', 'host'].map((name) => join(root, 'local', 'runtime', `${name}.ts`)),
        outdir: join(outDir, 'runtime'),
    });
    await build({ ...common, entryPoints: [join(root, 'index.ts')], outdir: join(outDir, 'app') });
    return {
        emulators: join(outDir, 'runtime', 'emulators.js'),
        host: join(outDir, 'runtime', 'host.js'),
        app: join(outDir, 'app', 'index.js'),
        nodePath: join(root, 'node_modules'),
        cleanup: () => rmSync(outDir, { recursive: true, force: true }),
    };
}

/** A free loopback port, so a restarted host can come back on the same address. */
export async function freePort(): Promise<number> {
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(0, '127.0.0.1', () => resolve());
    });
    const address = server.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    await new Promise<void>((resolve) => server.close(() => resolve()));
    return port;
}

const READY_TIMEOUT_MS = 60_000;

function readyMessage<T>(child: ChildProcess, what: string): Promise<T> {
    return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`${what} was not ready within 60 s`)), READY_TIMEOUT_MS);
        child.on('message', (message) => {
            if ((message as { type?: string }).type !== 'ready') return;
            clearTimeout(timer);
            resolve(message as T);
        });
        child.once('exit', (code, signal) => {
            clearTimeout(timer);
            reject(new Error(`${what} exited before it was ready (${signal ?? `code ${code}`})`));
        });
    });
}

function exited(child: ChildProcess): Promise<void> {
    if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
    return new Promise((resolve) => child.once('exit', () => resolve()));
}

export interface RuntimeOptions {
    scripts: RuntimeScripts;
    /** Extra settings of the emulators process (SIM_*, SERVICEBUS_LOCK_DURATION_MS). */
    emulatorsEnv?: Record<string, string>;
    /** Extra app settings of the host process (PARTNER_API_TIMEOUT_MS, RETRY_*, STEP_LEASE_MS, ...). */
    hostEnv?: Record<string, string>;
    /**
     * Receives every line the host processes write (stdout and stderr, whole lines: two hosts never interleave
     * within a line), across restarts; the second host's lines start with {@link SECOND_HOST_PREFIX}.
     */
    onHostOutput?: (text: string) => void;
    /** Extra node options of the host process, e.g. `--cpu-prof`. */
    hostExecArgv?: string[];
}

export interface RunningHost {
    url: string;
    pid: number;
}

/** Settings a developer may have exported that would point the runtime elsewhere, or at default ports. */
const LEAKING_SETTINGS = [
    'ServiceBusConnection',
    'ServiceBusConnection__fullyQualifiedNamespace',
    'CosmosDbConnection',
    'CosmosDbConnection__accountEndpoint',
    'PARTNER_API_BASE_URL',
    'PARTNER_API_AUTH',
    'EVENT_GRID_TOPIC_ENDPOINT',
    'EVENT_GRID_TOPIC_KEY',
    'LOCAL_FUNCTION_KEY',
    'PORT',
    'SERVICEBUS_PORT',
    'SERVICEBUS_ADMIN_PORT',
    'COSMOS_EMULATOR_PORT',
    'PARTNER_API_SIMULATOR_PORT',
    'EVENT_GRID_TOPIC_PORT',
    'LOCAL_APP_ENTRY',
];

/** What starts each line of the second host's output in `onHostOutput`. */
export const SECOND_HOST_PREFIX = '[host 2] ';

/** How a SIGTERMed process ended: its exit code, or `forced` when it was SIGKILLed after 10 s. */
export type StopOutcome = { exitCode: number | null; forced: boolean };

/** Calls `sink` with whole lines of `stream` (a last line without a newline when the stream ends). */
export function forwardLines(stream: NodeJS.ReadableStream | null, prefix: string, sink: (text: string) => void): void {
    let pending = '';
    stream?.on('data', (chunk: Buffer) => {
        const text = pending + chunk.toString();
        const end = text.lastIndexOf('\n') + 1;
        pending = text.slice(end);
        if (end > 0) sink(prefix ? text.slice(0, end).replace(/^(?=.)/gm, prefix) : text.slice(0, end));
    });
    stream?.on('end', () => {
        if (pending) sink(`${prefix}${pending}\n`);
        pending = '';
    });
}

export class LocalRuntime {
    endpoints: PeerEndpoints = {};
    brokerAdminUrl = '';
    hostPort = 0;
    secondHostPort = 0;
    private emulators: ChildProcess | undefined;
    private host: ChildProcess | undefined;
    private secondHost: ChildProcess | undefined;
    private readonly children = new Set<ChildProcess>();
    /** pids of every process this runtime started, for the report. */
    readonly startedPids: number[] = [];

    constructor(private readonly options: RuntimeOptions) {}

    private baseEnv(): NodeJS.ProcessEnv {
        const env: NodeJS.ProcessEnv = { ...process.env };
        for (const name of LEAKING_SETTINGS) delete env[name];
        for (const name of Object.keys(env)) if (name.startsWith('SIM_')) delete env[name];
        if (this.options.scripts.nodePath) env.NODE_PATH = this.options.scripts.nodePath;
        return env;
    }

    async startEmulators(): Promise<void> {
        const adminPort = await freePort();
        const env = {
            ...this.baseEnv(),
            SERVICEBUS_PORT: '0',
            SERVICEBUS_ADMIN_PORT: String(adminPort),
            COSMOS_EMULATOR_PORT: '0',
            PARTNER_API_SIMULATOR_PORT: '0',
            EVENT_GRID_TOPIC_PORT: '0',
            ...this.options.emulatorsEnv,
        };
        const child = fork(this.options.scripts.emulators, [], { env, stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
        this.track(child);
        child.stderr?.on('data', (chunk: Buffer) => process.stderr.write(`[emulators] ${chunk.toString()}`));
        this.emulators = child;
        const ready = await readyMessage<{ endpoints: PeerEndpoints }>(child, 'the emulators');
        this.endpoints = ready.endpoints;
        this.brokerAdminUrl = `http://127.0.0.1:${adminPort}`;
    }

    get simulatorUrl(): string {
        return this.endpoints.partnerApiUrl ?? '';
    }

    async startHost(): Promise<RunningHost> {
        this.hostPort ||= await freePort();
        const child = this.forkHost(this.hostPort, '');
        this.host = child;
        return this.hostReady(child, 'the host');
    }

    /**
     * A second host beside the first: the same emulators and settings on its own port (kept across restarts), its
     * output to the same sink. Its HTTP triggers answer too, but the point is its queue and timer triggers.
     */
    async startSecondHost(): Promise<RunningHost> {
        if (this.secondHost) throw new Error('The second host is already running.');
        this.secondHostPort ||= await freePort();
        const child = this.forkHost(this.secondHostPort, SECOND_HOST_PREFIX);
        this.secondHost = child;
        try {
            return await this.hostReady(child, 'the second host');
        } catch (error) {
            // Not running, so a retry may start it again.
            this.secondHost = undefined;
            await this.stopChild(child);
            throw error;
        }
    }

    /** SIGTERM to the second host (it settles its messages and runs appTerminate), SIGKILL after 10 s. */
    async drainSecondHost(): Promise<StopOutcome | undefined> {
        const host = this.secondHost;
        this.secondHost = undefined;
        return host && this.stopChild(host);
    }

    get secondHostUrl(): string {
        return `http://127.0.0.1:${this.secondHostPort}`;
    }

    get secondHostRunning(): boolean {
        return this.secondHost !== undefined;
    }

    private forkHost(port: number, outputPrefix: string): ChildProcess {
        const base = { ...this.baseEnv(), LOCAL_APP_ENTRY: this.options.scripts.app, PORT: String(port) };
        const env = { ...base, ...hostSettings(base, this.endpoints), ...this.options.hostEnv };
        const child = fork(this.options.scripts.host, [], {
            env,
            stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
            execArgv: this.options.hostExecArgv ?? [],
        });
        this.track(child);
        const sink = this.options.onHostOutput ?? (() => undefined);
        forwardLines(child.stdout, outputPrefix, sink);
        forwardLines(child.stderr, outputPrefix, sink);
        return child;
    }

    private async hostReady(child: ChildProcess, what: string): Promise<RunningHost> {
        const ready = await readyMessage<{ url: string }>(child, what);
        return { url: ready.url, pid: child.pid! };
    }

    /** The host process's CPU time so far (its own `process.cpuUsage()`, asked over IPC). */
    hostCpuUsage(): Promise<NodeJS.CpuUsage> {
        if (!this.host) return Promise.reject(new Error('No host is running.'));
        return cpuUsageOf(this.host);
    }

    get hostUrl(): string {
        return `http://127.0.0.1:${this.hostPort}`;
    }

    /** SIGKILL: no settlement, no appTerminate; locks and leases stay behind as after a crash. */
    async killHost(): Promise<void> {
        const host = this.host;
        this.host = undefined;
        if (!host) return;
        host.kill('SIGKILL');
        await exited(host);
    }

    /** SIGTERM: the host settles its messages and runs appTerminate. */
    async stopHost(): Promise<void> {
        const host = this.host;
        this.host = undefined;
        if (host) await this.stopChild(host);
    }

    async stop(): Promise<void> {
        const children = [...this.children];
        await Promise.all(children.map((child) => this.stopChild(child)));
        this.host = undefined;
        this.secondHost = undefined;
        this.emulators = undefined;
    }

    private track(child: ChildProcess): void {
        this.children.add(child);
        if (child.pid) this.startedPids.push(child.pid);
        child.once('exit', () => this.children.delete(child));
    }

    private async stopChild(child: ChildProcess): Promise<StopOutcome> {
        if (child.exitCode !== null || child.signalCode !== null) return { exitCode: child.exitCode, forced: false };
        child.kill('SIGTERM');
        let forced = false;
        const timer = setTimeout(() => {
            forced = true;
            child.kill('SIGKILL');
        }, 10_000);
        await exited(child);
        clearTimeout(timer);
        return { exitCode: child.exitCode, forced };
    }
}

/** CPU time (µs) of a child that answers `{ type: 'cpuUsage' }` (processLifecycle.ts answerCpuUsage). */
export function cpuUsageOf(child: ChildProcess): Promise<NodeJS.CpuUsage> {
    return new Promise((resolve, reject) => {
        const timer = setTimeout(() => done(new Error('no CPU usage answer within 10 s')), 10_000);
        const listener = (message: { type?: unknown; usage?: NodeJS.CpuUsage }) => {
            if (message?.type === CPU_USAGE_REQUEST && message.usage) done(undefined, message.usage);
        };
        const done = (error?: Error, usage?: NodeJS.CpuUsage) => {
            clearTimeout(timer);
            child.off('message', listener);
            if (error) reject(error);
            else resolve(usage!);
        };
        child.on('message', listener);
        child.send({ type: CPU_USAGE_REQUEST });
    });
}

/** Total CPU µs (user + system) between two `process.cpuUsage()` readings. */
export function cpuMicrosBetween(before: NodeJS.CpuUsage, after: NodeJS.CpuUsage): number {
    return after.user - before.user + (after.system - before.system);
}

/** POSTs `body` to the host's intake under Idempotency-Key `key`; anything but 202 is an error. */
export async function postReferral(hostUrl: string, key: string, body: object): Promise<void> {
    const response = await fetch(`${hostUrl}/api/referrals`, {
        method: 'POST',
        headers: {
            'content-type': 'application/json',
            'x-functions-key': DEFAULT_LOCAL_FUNCTION_KEY,
            'idempotency-key': key,
        },
        body: JSON.stringify(body),
    });
    await response.arrayBuffer();
    if (response.status !== 202) throw new Error(`POST answered ${response.status}`);
}

export async function getJson<T>(url: string): Promise<T> {
    const response = await fetch(url);
    if (!response.ok) throw new Error(`GET ${url}: ${response.status}`);
    return (await response.json()) as T;
}

export async function putJson(url: string, body: unknown): Promise<void> {
    const response = await fetch(url, {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
    });
    if (!response.ok) throw new Error(`PUT ${url}: ${response.status}`);
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
