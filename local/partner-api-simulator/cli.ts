/**
 * Runs the Partner API simulator standalone:
 *   npm run build && npm run simulator
 * Settings: PARTNER_API_SIMULATOR_PORT (7090), SIM_ACCEPT_MISSING_TOKEN (true), SIM_PAGE_SIZE, SIM_FAULT_METHODS
 * (POST), and one SIM_* variable per fault or behaviour below (README.md lists them).
 */
import {
    type ExternalReferenceIdFilter,
    type FaultMethod,
    type SimulatorFaults,
    startPartnerApiSimulator,
} from './index';

type NumberSetting = {
    [K in keyof SimulatorFaults]: SimulatorFaults[K] extends number ? K : never;
}[keyof SimulatorFaults];
type SwitchSetting = {
    [K in keyof SimulatorFaults]: SimulatorFaults[K] extends boolean ? K : never;
}[keyof SimulatorFaults];

const NUMBER_SETTINGS: Record<NumberSetting, string> = {
    latencyMs: 'SIM_LATENCY_MS',
    rate429: 'SIM_RATE_429',
    retryAfterSeconds: 'SIM_RETRY_AFTER_SECONDS',
    rate5xx: 'SIM_RATE_5XX',
    rateHang: 'SIM_RATE_HANG',
    rateLost: 'SIM_RATE_LOST',
    rateLateCommit: 'SIM_RATE_LATE_COMMIT',
    commitDelayMs: 'SIM_COMMIT_DELAY_MS',
    rateConflict: 'SIM_RATE_CONFLICT',
    rateConcurrentEdit: 'SIM_RATE_CONCURRENT_EDIT',
    seed: 'SIM_SEED',
    listLagMs: 'SIM_LIST_LAG_MS',
    dedupeWindowMs: 'SIM_DEDUPE_WINDOW_MS',
    rateLimitPerSecond: 'SIM_RATE_LIMIT_PER_SECOND',
    rateLimitBurst: 'SIM_RATE_LIMIT_BURST',
};

const SWITCH_SETTINGS: Record<SwitchSetting, string> = {
    lagGetById: 'SIM_LAG_GET_BY_ID',
    filterIgnoresCase: 'SIM_FILTER_IGNORES_CASE',
    validateRequestIds: 'SIM_VALIDATE_REQUEST_IDS',
    dedupeOnRequestId: 'SIM_DEDUPE_ON_REQUEST_ID',
};

function numberSetting(name: string): number | undefined {
    const raw = process.env[name]?.trim();
    if (!raw) return undefined;
    const value = Number(raw);
    if (Number.isNaN(value)) throw new Error(`${name} must be a number`);
    return value;
}

function faultsFromEnv(): Partial<SimulatorFaults> {
    const faults: Partial<SimulatorFaults> = {};
    for (const [key, name] of Object.entries(NUMBER_SETTINGS) as [NumberSetting, string][]) {
        const value = numberSetting(name);
        if (value !== undefined) faults[key] = value;
    }
    for (const [key, name] of Object.entries(SWITCH_SETTINGS) as [SwitchSetting, string][]) {
        const raw = process.env[name]?.trim().toLowerCase();
        if (raw) faults[key] = raw === 'true';
    }
    const filterMode = process.env.SIM_EXTERNAL_REFERENCE_ID_FILTER?.trim();
    if (filterMode) faults.externalReferenceIdFilter = filterMode as ExternalReferenceIdFilter;
    const methods = process.env.SIM_FAULT_METHODS?.trim();
    if (methods) faults.methods = methods.split(',').map((m) => m.trim().toUpperCase()) as FaultMethod[];
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

main().catch((error: unknown) => {
    console.error(`Partner API simulator failed to start: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
});
