/**
 * The simulator's faults and behaviours from `SIM_*` environment variables (README.md lists them): read by the
 * standalone CLI and by `npm run emulators`, so both take the same names.
 */
import { type ExternalReferenceIdFilter, type FaultMethod, type SimulatorFaults } from './faults';

type Env = Record<string, string | undefined>;

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

export function numberSetting(name: string, env: Env = process.env): number | undefined {
    const raw = env[name]?.trim();
    if (!raw) return undefined;
    const value = Number(raw);
    if (Number.isNaN(value)) throw new Error(`${name} must be a number`);
    return value;
}

/** Only the settings present; the rest keep their defaults. Invalid values are caught when the faults are set. */
export function faultsFromEnv(env: Env = process.env): Partial<SimulatorFaults> {
    const faults: Partial<SimulatorFaults> = {};
    for (const [key, name] of Object.entries(NUMBER_SETTINGS) as [NumberSetting, string][]) {
        const value = numberSetting(name, env);
        if (value !== undefined) faults[key] = value;
    }
    for (const [key, name] of Object.entries(SWITCH_SETTINGS) as [SwitchSetting, string][]) {
        const raw = env[name]?.trim().toLowerCase();
        if (raw) faults[key] = raw === 'true';
    }
    const filterMode = env.SIM_EXTERNAL_REFERENCE_ID_FILTER?.trim();
    if (filterMode) faults.externalReferenceIdFilter = filterMode as ExternalReferenceIdFilter;
    const methods = env.SIM_FAULT_METHODS?.trim();
    if (methods) faults.methods = methods.split(',').map((m) => m.trim().toUpperCase()) as FaultMethod[];
    return faults;
}
