/**
 * `npm start`: the whole local runtime in one command, as two child processes: the emulators (broker, Cosmos DB,
 * Partner API simulator) and the local Functions host. Keeping them apart means the host can crash or be killed
 * while queued messages and stored documents survive in the emulators process.
 *
 * Ctrl-C (SIGINT) or SIGTERM stops the host first (it settles running messages and runs appTerminate hooks), then
 * the emulators. The children run in their own process groups so that Ctrl-C reaches them only through here, once.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { join } from 'node:path';

import { exitOnHelp } from '../../scripts/usage';
import { maskedUrl } from '../../shared/partnerCenter/webhookRegistration';
import { hostSettings, type PeerEndpoints } from './localSettings';
import { errorText } from './processLifecycle';
import { registerLocalWebhook } from './webhookRegistration';

const USAGE = [
    'Usage: npm start',
    '  Builds the app, then runs the emulators and the local Functions host as two child processes. Ctrl-C stops both.',
].join('\n');

const READY_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 30_000;

interface ReadyMessage {
    type: 'ready';
    endpoints?: PeerEndpoints;
    url?: string;
    functionKey?: string;
}

function startChild(script: string, env: NodeJS.ProcessEnv): ChildProcess {
    return fork(join(__dirname, script), [], { env, stdio: ['ignore', 'inherit', 'inherit', 'ipc'], detached: true });
}

function waitForReady(child: ChildProcess, name: string): Promise<ReadyMessage> {
    return new Promise((resolve, reject) => {
        const timer = setTimeout(
            () => fail(new Error(`${name} did not start within ${READY_TIMEOUT_MS / 1000} s`)),
            READY_TIMEOUT_MS,
        );
        const onMessage = (message: unknown) => {
            if ((message as { type?: unknown }).type !== 'ready') return;
            cleanup();
            resolve(message as ReadyMessage);
        };
        const onExit = (code: number | null) => fail(new Error(`${name} exited during start-up (code ${code})`));
        const cleanup = () => {
            clearTimeout(timer);
            child.off('message', onMessage);
            child.off('exit', onExit);
        };
        const fail = (error: Error) => {
            cleanup();
            reject(error);
        };
        child.on('message', onMessage);
        child.once('exit', onExit);
    });
}

async function stopChild(child: ChildProcess | undefined): Promise<void> {
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
    await exited;
    clearTimeout(timer);
}

async function main(): Promise<void> {
    let emulators: ChildProcess | undefined;
    let host: ChildProcess | undefined;
    let stopping = false;
    const stopAll = async (exitCode: number) => {
        if (stopping) return;
        stopping = true;
        await stopChild(host);
        await stopChild(emulators);
        process.exit(exitCode);
    };
    process.on('SIGINT', () => void stopAll(0));
    process.on('SIGTERM', () => void stopAll(0));

    try {
        emulators = startChild('emulators.js', process.env);
        const { endpoints = {} } = await waitForReady(emulators, 'the emulators');
        emulators.on('exit', (code) => {
            if (stopping) return;
            console.error(`[start] the emulators exited (code ${code}); stopping the host.`);
            void stopAll(1);
        });

        host = startChild('host.js', { ...process.env, ...hostSettings(process.env, endpoints) });
        const ready = await waitForReady(host, 'the host');
        host.on('exit', (code, signal) => {
            if (stopping) return;
            console.error(
                `[start] the host exited (${signal ?? `code ${code}`}). The emulators keep running with their data; ` +
                    'start a host again with `npm run host` in another terminal, or press Ctrl-C to stop everything.',
            );
        });
        if (endpoints.partnerApiUrl && ready.url && ready.functionKey) {
            // Where the simulator delivers Microsoft's changes (only a simulator this runtime started).
            const registration = await registerLocalWebhook(endpoints.partnerApiUrl, ready.url, ready.functionKey);
            console.log(
                `[start] Partner Center webhook registered with the simulator: ${maskedUrl(registration.WebhookUrl)}`,
            );
        }
        console.log('');
        console.log(`[start] Local runtime ready: ${ready.url ?? ''}`);
        console.log(`[start] Function key: ${ready.functionKey ?? ''}  (header x-functions-key, or ?code=)`);
        console.log('[start] Press Ctrl-C to stop.');
    } catch (error) {
        console.error(`[start] ${errorText(error)}`);
        await stopAll(1);
    }
}

exitOnHelp(USAGE);
void main();
