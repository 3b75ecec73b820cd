/**
 * `npm run host`: the local Functions host alone, for the app in `dist/` (or `LOCAL_APP_ENTRY`), pointed at the
 * local peers on their default ports unless settings in the environment say otherwise (see localSettings.ts).
 * Start `npm run emulators` first, in another terminal; the host can then be stopped and restarted freely.
 */
import { exitOnHelp } from '../../scripts/usage';
import { startLocalHost } from '../host/localHost';
import { hostSettings } from './localSettings';
import { answerCpuUsage, errorText, onShutdown, reportReady } from './processLifecycle';

const USAGE = [
    'Usage: npm run host',
    '  Starts the local Functions host for the built app (dist/), pointed at the emulators (npm run emulators first).',
].join('\n');

async function main(): Promise<void> {
    const host = await startLocalHost({ env: hostSettings(process.env) });
    console.log(`[host] Functions:`);
    for (const fn of host.functions) console.log(`[host]   ${fn.name}: ${fn.description}`);
    console.log(`[host] Function key (x-functions-key header or ?code=): ${host.functionKey}`);
    onShutdown('host', () => host.close());
    answerCpuUsage();
    reportReady({ url: host.url, functionKey: host.functionKey });
}

exitOnHelp(USAGE);
main().catch((error: unknown) => {
    console.error(`[host] failed to start: ${errorText(error)}`);
    process.exit(1);
});
