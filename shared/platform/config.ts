/**
 * Every setting the app reads, with its meaning and default, in one place.
 *
 * Settings are read and validated once, lazily, on first use: an exception at import time would stop every function
 * in the app (the worker fails to load the entry point), so nothing here runs when a module is imported.
 */
import Joi from 'joi';

/** Where a setting is expected when the app runs in Azure (infra/ must provide every `required` one). */
export type AzurePresence = 'required' | 'optional' | 'local-only';

export interface SettingDefinition {
    name: string;
    meaning: string;
    default?: string;
    azure: AzurePresence;
}

export const SETTINGS = [
    // Service Bus: the Functions connection named "ServiceBusConnection", shared by the triggers and the sender.
    {
        name: 'ServiceBusConnection__fullyQualifiedNamespace',
        meaning: 'Service Bus namespace host (<ns>.servicebus.windows.net), reached with a managed identity.',
        azure: 'required',
    },
    {
        name: 'ServiceBusConnection__clientId',
        meaning: 'Client id of the user-assigned managed identity used for Service Bus.',
        azure: 'required',
    },
    {
        name: 'ServiceBusConnection__credential',
        meaning: 'Set to "managedidentity" so the Functions host uses the identity above.',
        azure: 'required',
    },
    {
        name: 'ServiceBusConnection',
        meaning: 'A connection string instead of identity (emulators and the local dev broker only).',
        azure: 'local-only',
    },
    // Cosmos DB: the connection named "CosmosDbConnection".
    {
        name: 'CosmosDbConnection__accountEndpoint',
        meaning:
            'Cosmos DB account endpoint (https://<account>.documents.azure.com:443/), reached with a managed identity.',
        azure: 'required',
    },
    {
        name: 'CosmosDbConnection__clientId',
        meaning: 'Client id of the user-assigned managed identity used for Cosmos DB.',
        azure: 'required',
    },
    {
        name: 'CosmosDbConnection',
        meaning: 'A connection string (AccountEndpoint=...;AccountKey=...;) for emulators only.',
        azure: 'local-only',
    },
    {
        name: 'COSMOS_DISABLE_TLS_VERIFICATION',
        meaning: 'Accept a self-signed certificate from a Cosmos emulator on loopback (true/false).',
        default: 'false',
        azure: 'local-only',
    },
    // Partner API.
    {
        name: 'PARTNER_API_BASE_URL',
        meaning: 'Base URL of the Partner API.',
        default: 'https://api.partner.microsoft.com',
        azure: 'optional',
    },
    {
        name: 'PARTNER_API_AUTH',
        meaning: 'How to authenticate to the Partner API: refresh-token (production), static, or none (simulator).',
        default: 'refresh-token',
        azure: 'required',
    },
    {
        name: 'PARTNER_API_TIMEOUT_MS',
        meaning: 'Timeout of one Partner API call, in milliseconds.',
        default: '30000',
        azure: 'optional',
    },
    {
        name: 'PARTNER_API_TOKEN',
        meaning: 'Bearer token for PARTNER_API_AUTH=static (local development only).',
        azure: 'local-only',
    },
    {
        name: 'PARTNER_API_TENANT_ID',
        meaning: 'Entra tenant id of the partner (refresh-token mode).',
        azure: 'required',
    },
    {
        name: 'PARTNER_API_CLIENT_ID',
        meaning: 'Application (client) id of the Entra app registration (refresh-token mode).',
        azure: 'required',
    },
    {
        name: 'PARTNER_API_CLIENT_SECRET',
        meaning: 'Client secret of the app registration (refresh-token mode; a Key Vault reference in Azure).',
        azure: 'required',
    },
    {
        name: 'PARTNER_API_CLIENT_CERTIFICATE',
        meaning: 'PEM private key and certificate, instead of a client secret (refresh-token mode).',
        azure: 'optional',
    },
    {
        name: 'PARTNER_API_REFRESH_TOKEN',
        meaning: 'Refresh token from the one-time consent (refresh-token mode; a Key Vault reference in Azure).',
        azure: 'required',
    },
    {
        name: 'PARTNER_API_AUTHORITY_HOST',
        meaning: 'Entra authority host used to redeem the refresh token.',
        default: 'https://login.microsoftonline.com',
        azure: 'optional',
    },
    {
        name: 'PARTNER_API_TOKEN_CACHE_VAULT_URL',
        meaning:
            "Key Vault (https://<vault>.vault.azure.net/) that keeps the refresh-token mode's token cache, so a rotated " +
            'refresh token survives restarts and scale-out. Empty: the cache lives in memory only.',
        azure: 'required',
    },
    {
        name: 'PARTNER_API_TOKEN_CACHE_SECRET_NAME',
        meaning: 'Name of the Key Vault secret that holds the token cache.',
        default: 'partner-api-token-cache',
        azure: 'optional',
    },
    {
        name: 'PARTNER_API_TOKEN_CACHE_CLIENT_ID',
        meaning: 'Client id of the managed identity that reads and writes the token cache in Key Vault.',
        azure: 'required',
    },
    // Pipeline behaviour.
    {
        name: 'SUBMIT_MAX_ATTEMPTS',
        meaning: 'Partner API attempts per step (submit, connect) before the referral is marked Failed.',
        default: '8',
        azure: 'optional',
    },
    {
        name: 'RETRY_BASE_DELAY_MS',
        meaning: 'First back-off delay after a transient Partner API failure; doubles per attempt, with jitter.',
        default: '2000',
        azure: 'optional',
    },
    {
        name: 'RETRY_MAX_DELAY_MS',
        meaning: 'Upper bound of one back-off delay (Retry-After from the Partner API still wins when longer).',
        default: '900000',
        azure: 'optional',
    },
    {
        name: 'STEP_LEASE_MS',
        meaning:
            'How long a delivery holds a submit/connect step before another delivery may take it over (after a crash). ' +
            'Must be longer than two Partner API calls; empty: 2 x PARTNER_API_TIMEOUT_MS + 30000.',
        azure: 'optional',
    },
    // The intake's outbox (shared/referral/outbox.ts).
    {
        name: 'INTAKE_RESEND_AFTER_MS',
        meaning:
            'How long a referral may stay Queued before the sweep sends its message again (the intake may have died ' +
            'before sending, or Service Bus was down).',
        default: '60000',
        azure: 'optional',
    },
    {
        name: 'INTAKE_SWEEP_SCHEDULE',
        meaning: 'When the sweep of Queued referrals runs: an NCRONTAB expression with six fields, in UTC.',
        default: '0 */1 * * * *',
        azure: 'optional',
    },
    // Retention.
    {
        name: 'REFERRAL_TTL_DAYS',
        meaning:
            'Days a referral record (with its customer data) is kept in Cosmos DB after its last change; ' +
            '0 or -1 keeps records forever.',
        default: '365',
        azure: 'optional',
    },
] as const satisfies readonly SettingDefinition[];

export type SettingName = (typeof SETTINGS)[number]['name'];

export type PartnerApiAuthMode = 'refresh-token' | 'static' | 'none';

export type ServiceBusConnectionConfig =
    | { kind: 'connectionString'; connectionString: string }
    | { kind: 'identity'; fullyQualifiedNamespace: string; clientId?: string };

export type CosmosConnectionConfig =
    | { kind: 'key'; endpoint: string; key: string; disableTlsVerification: boolean }
    | { kind: 'identity'; endpoint: string; clientId?: string };

export interface PartnerApiConfig {
    baseUrl: string;
    auth: PartnerApiAuthMode;
    timeoutMs: number;
    staticToken?: string;
    tenantId?: string;
    clientId?: string;
    clientSecret?: string;
    clientCertificatePem?: string;
    refreshToken?: string;
    authorityHost: string;
    /** Where the refresh-token mode keeps its token cache; absent: in memory only. */
    tokenCache?: TokenCacheVaultConfig;
}

export interface TokenCacheVaultConfig {
    vaultUrl: string;
    secretName: string;
    /** The managed identity's client id (Azure); absent: the developer's own credentials. */
    clientId?: string;
}

export interface RetentionConfig {
    /** The Cosmos DB per-item `ttl` written on every record: seconds, or -1 to keep the record forever. */
    ttlSeconds: number;
}

export interface RetryConfig {
    maxAttempts: number;
    baseDelayMs: number;
    maxDelayMs: number;
}

export interface LeaseConfig {
    /** How long a claim holds a step: longer than the worst case of one attempt (lookup + create). */
    leaseMs: number;
}

export interface OutboxConfig {
    /** How long a record may stay Queued before its message is sent again. */
    resendAfterMs: number;
}

export interface AppConfig {
    serviceBus: ServiceBusConnectionConfig;
    cosmos: CosmosConnectionConfig;
    partnerApi: PartnerApiConfig;
    retry: RetryConfig;
    lease: LeaseConfig;
    retention: RetentionConfig;
    outbox: OutboxConfig;
}

export class ConfigurationError extends Error {
    constructor(readonly problems: string[]) {
        super(`Invalid configuration: ${problems.join('; ')}`);
        this.name = 'ConfigurationError';
    }
}

type Env = Record<string, string | undefined>;

function setting(env: Env, name: SettingName): string | undefined {
    const value = env[name]?.trim();
    if (value) return value;
    const definition: SettingDefinition | undefined = SETTINGS.find((s) => s.name === name);
    return definition?.default;
}

function parseInteger(env: Env, name: SettingName, problems: string[]): number {
    const raw = setting(env, name);
    const value = Number(raw);
    if (!raw || !Number.isSafeInteger(value) || value < 1) {
        problems.push(`${name} must be a positive integer`);
        return 0;
    }
    return value;
}

function parseServiceBus(env: Env, problems: string[]): ServiceBusConnectionConfig {
    const connectionString = setting(env, 'ServiceBusConnection');
    const namespace = setting(env, 'ServiceBusConnection__fullyQualifiedNamespace');
    if (namespace) {
        return {
            kind: 'identity',
            fullyQualifiedNamespace: namespace,
            clientId: setting(env, 'ServiceBusConnection__clientId'),
        };
    }
    if (connectionString) return { kind: 'connectionString', connectionString };
    problems.push('set ServiceBusConnection__fullyQualifiedNamespace (Azure) or ServiceBusConnection (emulator)');
    return { kind: 'connectionString', connectionString: '' };
}

/** Parses `AccountEndpoint=...;AccountKey=...;` as the Cosmos emulators print it. */
export function parseCosmosConnectionString(connectionString: string): { endpoint?: string; key?: string } {
    const parts = new Map<string, string>();
    for (const part of connectionString.split(';')) {
        const index = part.indexOf('=');
        if (index > 0) parts.set(part.slice(0, index).trim().toLowerCase(), part.slice(index + 1).trim());
    }
    return { endpoint: parts.get('accountendpoint'), key: parts.get('accountkey') };
}

function parseCosmos(env: Env, problems: string[]): CosmosConnectionConfig {
    const endpoint = setting(env, 'CosmosDbConnection__accountEndpoint');
    if (endpoint) return { kind: 'identity', endpoint, clientId: setting(env, 'CosmosDbConnection__clientId') };
    const connectionString = setting(env, 'CosmosDbConnection');
    if (connectionString) {
        const parsed = parseCosmosConnectionString(connectionString);
        if (!parsed.endpoint || !parsed.key) {
            problems.push('CosmosDbConnection must have the form AccountEndpoint=...;AccountKey=...;');
        }
        const disableTlsVerification = setting(env, 'COSMOS_DISABLE_TLS_VERIFICATION') === 'true';
        if (disableTlsVerification && parsed.endpoint && !isLoopbackUrl(parsed.endpoint)) {
            problems.push('COSMOS_DISABLE_TLS_VERIFICATION is only allowed for an emulator on loopback');
        }
        return { kind: 'key', endpoint: parsed.endpoint ?? '', key: parsed.key ?? '', disableTlsVerification };
    }
    problems.push('set CosmosDbConnection__accountEndpoint (Azure) or CosmosDbConnection (emulator)');
    return { kind: 'identity', endpoint: '' };
}

export function isLoopbackUrl(url: string): boolean {
    try {
        const host = new URL(url).hostname;
        return host === 'localhost' || host === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(host);
    } catch {
        return false;
    }
}

function parsePartnerApi(env: Env, problems: string[]): PartnerApiConfig {
    const auth = setting(env, 'PARTNER_API_AUTH') as PartnerApiAuthMode;
    if (!['refresh-token', 'static', 'none'].includes(auth)) {
        problems.push('PARTNER_API_AUTH must be one of refresh-token, static, none');
    }
    const baseUrl = setting(env, 'PARTNER_API_BASE_URL')!.replace(/\/+$/, '');
    if (
        Joi.string()
            .uri({ scheme: ['http', 'https'] })
            .validate(baseUrl).error
    ) {
        problems.push('PARTNER_API_BASE_URL must be an http(s) URL');
    }
    const config: PartnerApiConfig = {
        baseUrl,
        auth,
        timeoutMs: parseInteger(env, 'PARTNER_API_TIMEOUT_MS', problems),
        staticToken: setting(env, 'PARTNER_API_TOKEN'),
        tenantId: setting(env, 'PARTNER_API_TENANT_ID'),
        clientId: setting(env, 'PARTNER_API_CLIENT_ID'),
        clientSecret: setting(env, 'PARTNER_API_CLIENT_SECRET'),
        clientCertificatePem: setting(env, 'PARTNER_API_CLIENT_CERTIFICATE'),
        refreshToken: setting(env, 'PARTNER_API_REFRESH_TOKEN'),
        authorityHost: setting(env, 'PARTNER_API_AUTHORITY_HOST')!.replace(/\/+$/, ''),
    };
    const vaultUrl = setting(env, 'PARTNER_API_TOKEN_CACHE_VAULT_URL');
    if (vaultUrl) {
        if (
            Joi.string()
                .uri({ scheme: ['https'] })
                .validate(vaultUrl).error
        ) {
            problems.push('PARTNER_API_TOKEN_CACHE_VAULT_URL must be an https URL');
        }
        const secretName = setting(env, 'PARTNER_API_TOKEN_CACHE_SECRET_NAME')!;
        if (!/^[0-9A-Za-z-]{1,127}$/.test(secretName)) {
            problems.push('PARTNER_API_TOKEN_CACHE_SECRET_NAME must be 1-127 letters, digits and dashes');
        }
        config.tokenCache = { vaultUrl, secretName, clientId: setting(env, 'PARTNER_API_TOKEN_CACHE_CLIENT_ID') };
    }
    if (auth === 'static' && !config.staticToken) problems.push('PARTNER_API_AUTH=static needs PARTNER_API_TOKEN');
    if (auth === 'refresh-token') {
        for (const name of ['PARTNER_API_TENANT_ID', 'PARTNER_API_CLIENT_ID', 'PARTNER_API_REFRESH_TOKEN'] as const) {
            if (!setting(env, name)) problems.push(`PARTNER_API_AUTH=refresh-token needs ${name}`);
        }
        if (!config.clientSecret && !config.clientCertificatePem) {
            problems.push(
                'PARTNER_API_AUTH=refresh-token needs PARTNER_API_CLIENT_SECRET or PARTNER_API_CLIENT_CERTIFICATE',
            );
        }
    }
    if (auth === 'none' && !isLoopbackUrl(baseUrl)) {
        problems.push('PARTNER_API_AUTH=none is only allowed for a simulator on loopback');
    }
    return config;
}

function parseRetry(env: Env, problems: string[]): RetryConfig {
    return {
        maxAttempts: parseInteger(env, 'SUBMIT_MAX_ATTEMPTS', problems),
        baseDelayMs: parseInteger(env, 'RETRY_BASE_DELAY_MS', problems),
        maxDelayMs: parseInteger(env, 'RETRY_MAX_DELAY_MS', problems),
    };
}

/** The lease when STEP_LEASE_MS is not set: one attempt is a lookup and a create, plus room for Cosmos DB writes. */
export function defaultLeaseMs(timeoutMs: number): number {
    return 2 * timeoutMs + 30_000;
}

function parseLease(env: Env, problems: string[]): LeaseConfig {
    const timeoutMs = parseInteger(env, 'PARTNER_API_TIMEOUT_MS', problems);
    if (setting(env, 'STEP_LEASE_MS') === undefined) return { leaseMs: defaultLeaseMs(timeoutMs) };
    const leaseMs = parseInteger(env, 'STEP_LEASE_MS', problems);
    // A shorter lease could run out while the holder still waits for the Partner API, and a second delivery would
    // then call it alongside.
    if (leaseMs > 0 && timeoutMs > 0 && leaseMs <= 2 * timeoutMs) {
        problems.push('STEP_LEASE_MS must be longer than two Partner API calls (2 x PARTNER_API_TIMEOUT_MS)');
    }
    return { leaseMs };
}

/** Cosmos DB refuses a `ttl` above 2^31 - 1 seconds (about 68 years). */
const MAX_TTL_DAYS = Math.floor(2_147_483_647 / 86_400);

function parseRetention(env: Env, problems: string[]): RetentionConfig {
    const raw = setting(env, 'REFERRAL_TTL_DAYS')!;
    const days = Number(raw);
    if (!/^-?\d+$/.test(raw) || days < -1 || days > MAX_TTL_DAYS) {
        problems.push(
            `REFERRAL_TTL_DAYS must be a whole number of days from 1 to ${MAX_TTL_DAYS}, or 0 or -1 for ever`,
        );
        return { ttlSeconds: -1 };
    }
    return { ttlSeconds: days > 0 ? days * 86_400 : -1 };
}

function parseOutbox(env: Env, problems: string[]): OutboxConfig {
    return { resendAfterMs: parseInteger(env, 'INTAKE_RESEND_AFTER_MS', problems) };
}

/**
 * A setting the Functions host needs when it indexes the app (a timer's schedule), so read at import time: its value
 * or its default, never a throw. The host itself refuses an invalid schedule, naming the function.
 */
export function settingAtIndexing(name: SettingName, env: Env = process.env): string | undefined {
    return setting(env, name);
}

/** Each section is parsed on its own, so a function only fails on the settings it really uses. */
type Section = keyof AppConfig;
const parsers: { [K in Section]: (env: Env, problems: string[]) => AppConfig[K] } = {
    serviceBus: parseServiceBus,
    cosmos: parseCosmos,
    partnerApi: parsePartnerApi,
    retry: parseRetry,
    lease: parseLease,
    retention: parseRetention,
    outbox: parseOutbox,
};

const cache = new Map<Section, unknown>();

export function loadSection<K extends Section>(section: K, env: Env = process.env): AppConfig[K] {
    const problems: string[] = [];
    const value = parsers[section](env, problems);
    if (problems.length > 0) throw new ConfigurationError(problems);
    return value;
}

/** The validated settings of one section, read from the environment on first use and then kept. */
export function getConfig<K extends Section>(section: K): AppConfig[K] {
    if (!cache.has(section)) cache.set(section, loadSection(section));
    return cache.get(section) as AppConfig[K];
}

/** Forget what was read, so the next `getConfig` reads the environment again (tests, the local host). */
export function resetConfig(): void {
    cache.clear();
}
