/**
 * The runtime's commands as separate processes, against the fixture app: `start` answers over HTTP, carries a
 * message from an upstream publisher process to the host process, and stops everything on SIGINT; a host started
 * alone picks up messages queued in the emulators process while no host was running.
 *
 * The commands are bundled with esbuild into a temporary directory (packages stay external and resolve through
 * NODE_PATH), so this test needs no `npm run build` and writes nothing into the project.
 */
import { type ChildProcess, execFile, fork, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

import { build } from 'esbuild';

import { DEFAULT_LOCAL_FUNCTION_KEY } from '../../../local/host/auth';
import { hostSettings, type PeerEndpoints } from '../../../local/runtime/localSettings';
import { waitFor } from '../../support/waitFor';

const PROJECT_ROOT = join(__dirname, '..', '..', '..');
// Whole processes start and stop here; a generous limit keeps a slow machine from failing the test.
jest.setTimeout(120_000);
const FIXTURE_QUEUES = 'fixture-inbox,fixture-poison,fixture-busy';
let outDir: string;
const children: ChildProcess[] = [];

/** Every port ephemeral, the fixture app as the entry, its queues added to the broker. */
function runtimeEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
    const env: NodeJS.ProcessEnv = {
        ...process.env,
        NODE_PATH: join(PROJECT_ROOT, 'node_modules'),
        LOCAL_APP_ENTRY: join(outDir, 'fixture', 'index.js'),
        SERVICEBUS_EXTRA_QUEUES: FIXTURE_QUEUES,
        PORT: '0',
        SERVICEBUS_PORT: '0',
        SERVICEBUS_ADMIN_PORT: '0',
        COSMOS_EMULATOR_PORT: '0',
        PARTNER_API_SIMULATOR_PORT: '0',
        ...extra,
    };
    // Settings a developer may have exported must not leak into the test.
    for (const name of ['ServiceBusConnection', 'CosmosDbConnection', 'PARTNER_API_BASE_URL', 'LOCAL_FUNCTION_KEY']) {
        if (!(name in extra)) delete env[name];
    }
    return env;
}

function exited(child: ChildProcess): Promise<number | null> {
    if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
    return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}

function readyMessage<T>(child: ChildProcess): Promise<T> {
    return new Promise((resolve, reject) => {
        child.on('message', (message) => {
            if ((message as { type?: string }).type === 'ready') resolve(message as T);
        });
        child.once('exit', (code) => reject(new Error(`exited before it was ready (code ${code})`)));
    });
}

async function publish(connectionString: string, queue: string, messageId: string, body: unknown): Promise<void> {
    const publisher = `
        const { ServiceBusClient } = require('@azure/service-bus');
        (async () => {
            const client = new ServiceBusClient(process.env.CONNECTION);
            await client.createSender(process.env.QUEUE).sendMessages({ body: JSON.parse(process.env.BODY), messageId: process.env.MESSAGE_ID });
            await client.close();
        })().catch((error) => { console.error(error); process.exit(1); });
    `;
    await promisify(execFile)(process.execPath, ['-e', publisher], {
        cwd: PROJECT_ROOT,
        env: {
            ...process.env,
            CONNECTION: connectionString,
            QUEUE: queue,
            MESSAGE_ID: messageId,
            BODY: JSON.stringify(body),
        },
    });
}

async function deliveredBodies(hostUrl: string): Promise<unknown[]> {
    const response = await fetch(`${hostUrl}/api/probe`);
    const probe = (await response.json()) as { deliveries: { body: unknown }[] };
    return probe.deliveries.map((d) => d.body);
}

beforeAll(async () => {
    outDir = mkdtempSync(join(tmpdir(), 'local-runtime-test-'));
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
        entryPoints: ['start', 'emulators', 'host'].map((name) => join(PROJECT_ROOT, 'local', 'runtime', `${name}.ts`)),
        outdir: join(outDir, 'runtime'),
    });
    await build({
        ...common,
        entryPoints: [join(PROJECT_ROOT, 'test', 'local', 'host', 'fixtures', 'host-app', 'index.ts')],
        outdir: join(outDir, 'fixture'),
    });
});

afterEach(async () => {
    for (const child of children.splice(0)) {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
        await exited(child);
    }
});

afterAll(() => {
    if (outDir) rmSync(outDir, { recursive: true, force: true });
});

it('start: serves the app, carries an upstream message to the host process, and stops everything on SIGINT', async () => {
    const start = spawn(process.execPath, [join(outDir, 'runtime', 'start.js')], {
        cwd: PROJECT_ROOT,
        env: runtimeEnv(),
        stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(start);
    let output = '';
    start.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    start.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));

    const url = await waitFor(
        'the runtime to be ready',
        () => {
            if (start.exitCode !== null) throw new Error(`start exited early:\n${output}`);
            return /Local runtime ready: (http:\/\/\S+)/.exec(output)?.[1];
        },
        30_000,
    );
    expect(output).toContain(`Function key: ${DEFAULT_LOCAL_FUNCTION_KEY}`);
    expect((await fetch(url)).status).toBe(200);
    expect((await fetch(`${url}/api/items/1`)).status).toBe(401);
    expect((await fetch(`${url}/api/items/1?code=${DEFAULT_LOCAL_FUNCTION_KEY}`)).status).toBe(200);

    const amqpPort = /amqp:\/\/127\.0\.0\.1:(\d+)/.exec(output)?.[1];
    expect(amqpPort).toBeDefined();
    const connectionString = hostSettings({ SERVICEBUS_PORT: amqpPort }).ServiceBusConnection!;
    await publish(connectionString, 'fixture-inbox', 'upstream-start-1', { from: 'upstream' });
    await waitFor('the delivery', async () => (await deliveredBodies(url)).length > 0, 30_000);
    expect(await deliveredBodies(url)).toEqual([{ from: 'upstream' }]);

    start.kill('SIGINT');
    expect(await exited(start)).toBe(0);
    expect(output).toContain('[host] Host stopped.');
    expect(output).toMatch(/\[emulators\] SIGTERM: stopping/);
    await expect(fetch(url)).rejects.toThrow();
});

it('a host restarted alone picks up messages queued in the emulators process while it was down', async () => {
    const emulators = fork(join(outDir, 'runtime', 'emulators.js'), [], {
        cwd: PROJECT_ROOT,
        env: runtimeEnv(),
        stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    });
    children.push(emulators);
    const { endpoints } = await readyMessage<{ endpoints: PeerEndpoints }>(emulators);
    const connectionString = endpoints.serviceBusConnectionString!;

    const startHost = async () => {
        const host = fork(join(outDir, 'runtime', 'host.js'), [], {
            cwd: PROJECT_ROOT,
            env: { ...runtimeEnv(), ...hostSettings(runtimeEnv(), endpoints) },
            stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
        });
        children.push(host);
        const { url } = await readyMessage<{ url: string }>(host);
        return { host, url };
    };

    // Queued before any host runs.
    await publish(connectionString, 'fixture-inbox', 'while-down-1', { n: 1 });
    const first = await startHost();
    await waitFor('the first delivery', async () => (await deliveredBodies(first.url)).length === 1, 30_000);
    first.host.kill('SIGTERM');
    expect(await exited(first.host)).toBe(0);

    // Queued while the host is stopped; a new host process gets it.
    await publish(connectionString, 'fixture-inbox', 'while-down-2', { n: 2 });
    const second = await startHost();
    await waitFor('the second delivery', async () => (await deliveredBodies(second.url)).length === 1, 30_000);
    expect(await deliveredBodies(second.url)).toEqual([{ n: 2 }]);

    second.host.kill('SIGTERM');
    emulators.kill('SIGTERM');
    expect(await exited(second.host)).toBe(0);
    expect(await exited(emulators)).toBe(0);
});
