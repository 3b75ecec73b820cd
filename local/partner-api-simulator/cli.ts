/**
 * Runs the Partner API simulator standalone:
 *   npm run simulator   (builds first; `-- --help` prints the usage)
 * Settings: PARTNER_API_SIMULATOR_PORT (7090), SIM_LATENCY_MS, SIM_RATE_429, SIM_RETRY_AFTER_SECONDS, SIM_RATE_5XX,
 * SIM_RATE_HANG, SIM_RATE_LOST, SIM_FAULT_METHODS (POST), SIM_SEED, SIM_ACCEPT_MISSING_TOKEN (true), SIM_PAGE_SIZE.
 */
import { exitOnHelp } from '../../scripts/usage';
import { type FaultMethod, type SimulatorFaults, startPartnerApiSimulator } from './index';

const USAGE = [
    'Usage: npm run simulator',
    '  Runs the Partner API simulator alone. Settings: PARTNER_API_SIMULATOR_PORT (7090), SIM_LATENCY_MS, SIM_RATE_429,',
    '  SIM_RETRY_AFTER_SECONDS, SIM_RATE_5XX, SIM_RATE_HANG, SIM_RATE_LOST, SIM_FAULT_METHODS, SIM_SEED,',
    '  SIM_ACCEPT_MISSING_TOKEN, SIM_PAGE_SIZE.',
].join('\n');

function numberSetting(name: string): number | undefined {
    const raw = process.env[name]?.trim();
    if (!raw) return undefined;
    const value = Number(raw);
    if (Number.isNaN(value)) throw new Error(`${name} must be a number`);
    return value;
}

function faultsFromEnv(): Partial<SimulatorFaults> {
    const faults: Partial<SimulatorFaults> = {};
    const set = <K extends keyof SimulatorFaults>(key: K, value: SimulatorFaults[K] | undefined) => {
        if (value !== undefined) faults[key] = value;
    };
    set('latencyMs', numberSetting('SIM_LATENCY_MS'));
    set('rate429', numberSetting('SIM_RATE_429'));
    set('retryAfterSeconds', numberSetting('SIM_RETRY_AFTER_SECONDS'));
    set('rate5xx', numberSetting('SIM_RATE_5XX'));
    set('rateHang', numberSetting('SIM_RATE_HANG'));
    set('rateLost', numberSetting('SIM_RATE_LOST'));
    set('seed', numberSetting('SIM_SEED'));
    const methods = process.env.SIM_FAULT_METHODS?.trim();
    if (methods) set('methods', methods.split(',').map((m) => m.trim().toUpperCase()) as FaultMethod[]);
    return faults;
}

async function main(): Promise<void> {
    const simulator = await startPartnerApiSimulator({
        port: numberSetting('PARTNER_API_SIMULATOR_PORT') ?? 7090,
        // The app's PARTNER_API_AUTH=none sends no Authorization header; standalone runs serve that mode by default.
        acceptMissingToken: (process.env.SIM_ACCEPT_MISSING_TOKEN ?? 'true').toLowerCase() !== 'false',
        faults: faultsFromEnv(),
        pageSize: numberSetting('SIM_PAGE_SIZE'),
    });
    console.log(
        `Partner API simulator on ${simulator.url} (admin: ${simulator.url}/_admin/referrals, /requests, /faults)`,
    );
    console.log(`Faults: ${JSON.stringify(simulator.admin.faults())}`);
    const stop = () => {
        simulator.close().then(
            () => process.exit(0),
            () => process.exit(1),
        );
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
}

exitOnHelp(USAGE);
main().catch((error: unknown) => {
    console.error(`Partner API simulator failed to start: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
});
