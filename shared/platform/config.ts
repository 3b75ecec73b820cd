/**
 * Every setting the app reads, each declared once: its name (the key of its declaration), meaning, where Azure must
 * provide it, default and parser. The SETTINGS table (README, the infra/ contract tests) and the type of each config
 * section are derived from these declarations, so a setting's meaning, parsing and type cannot drift apart.
 *
 * Settings are read and validated once, lazily, on first use: an exception at import time would stop every function
 * in the app (the worker fails to load the entry point), so nothing here reads the environment when it is imported.
 */
import type { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';

import { readCertificates } from '../partnerCenter/certificates';
import { joi } from './lazyModules';

/** Where a setting is expected when the app runs in Azure (infra/ must provide every `required` one). */
export type AzurePresence = 'required' | 'optional' | 'local-only';

/** A parser turns the (trimmed, non-empty) text of a setting into its value, or into a problem naming the setting. */
type Parsed<T> = { ok: true; value: T } | { ok: false; problem: string };
type Parser<T> = (raw: string, name: string) => Parsed<T>;

interface Declaration<T, D extends string | undefined> {
    readonly meaning: string;
    readonly azure: AzurePresence;
    /** As it would be written in the environment; parsed like a set value. */
    readonly default: D;
    readonly parse: Parser<T>;
}

// NoInfer: T and D come from the declaration itself, not from the section it is written in (which would make a
// setting without a parser `unknown` instead of `string`).
function setting<T = string, D extends string | undefined = undefined>(declaration: {
    meaning: string;
    azure: AzurePresence;
    default?: D;
    parse?: Parser<T>;
}): Declaration<NoInfer<T>, NoInfer<D>> {
    const text: Parser<string> = (raw) => ({ ok: true, value: raw });
    return {
        meaning: declaration.meaning,
        azure: declaration.azure,
        default: declaration.default as D,
        parse: declaration.parse ?? (text as unknown as Parser<T>),
    };
}

// Parsers.

const ok = <T>(value: T): Parsed<T> => ({ ok: true, value });
const fails = (problem: string): Parsed<never> => ({ ok: false, problem });

const positiveInteger: Parser<number> = (raw, name) => {
    const value = Number(raw);
    return Number.isSafeInteger(value) && value >= 1 ? ok(value) : fails(`${name} must be a positive integer`);
};

const positiveNumber: Parser<number> = (raw, name) => {
    const value = Number(raw);
    return Number.isFinite(value) && value > 0 ? ok(value) : fails(`${name} must be a positive number`);
};

const flag: Parser<boolean> = (raw) => ok(raw === 'true');

const withoutTrailingSlashes: Parser<string> = (raw) => ok(raw.replace(/\/+$/, ''));

function oneOf<const V extends string>(values: readonly V[]): Parser<V> {
    return (raw, name) =>
        (values as readonly string[]).includes(raw)
            ? ok(raw as V)
            : fails(`${name} must be one of ${values.join(', ')}`);
}

/** A URL with one of `schemes`; `base` also drops trailing slashes (paths are appended to it). */
function url(schemes: ['http', 'https'] | ['https'], options: { base?: boolean } = {}): Parser<string> {
    return (raw, name) => {
        const value = options.base ? raw.replace(/\/+$/, '') : raw;
        return joi().string().uri({ scheme: schemes }).validate(value).error
            ? fails(`${name} must be an ${schemes.length > 1 ? 'http(s)' : 'https'} URL`)
            : ok(value);
    };
}

const keyVaultSecretName: Parser<string> = (raw, name) =>
    /^[0-9A-Za-z-]{1,127}$/.test(raw) ? ok(raw) : fails(`${name} must be 1-127 letters, digits and dashes`);

/** Cosmos DB refuses a `ttl` above 2^31 - 1 seconds (about 68 years). */
const MAX_TTL_DAYS = Math.floor(2_147_483_647 / 86_400);

/** Whole days, or 0 / -1 for ever. */
const ttlDays: Parser<number> = (raw, name) => {
    const days = Number(raw);
    return /^-?\d+$/.test(raw) && days >= -1 && days <= MAX_TTL_DAYS
        ? ok(days)
        : fails(`${name} must be a whole number of days from 1 to ${MAX_TTL_DAYS}, or 0 or -1 for ever`);
};

/** Host names, comma-separated, compared in lower case. */
const hostNames: Parser<string[]> = (raw, name) => {
    const hosts = raw
        .split(',')
        .map((host) => host.trim().toLowerCase())
        .filter((host) => host !== '');
    return hosts.length > 0 && hosts.every((host) => /^[a-z0-9.-]{1,253}$|^\[[0-9a-f:.]+\]$/.test(host))
        ? ok(hosts)
        : fails(`${name} must be host names, comma-separated`);
};

/** A PEM file of certificates, read once when the section is first used. */
const pemCertificatesFile: Parser<X509Certificate[]> = (raw, name) => {
    let data: Buffer;
    try {
        data = readFileSync(raw);
    } catch {
        return fails(`${name} must name a readable PEM file`);
    }
    try {
        return data.includes('-----BEGIN CERTIFICATE-----')
            ? ok(readCertificates(data))
            : fails(`${name} holds no PEM certificate`);
    } catch {
        return fails(`${name} holds a certificate that cannot be read`);
    }
};

// Declarations used by more than one section.

export const DEFAULT_PARTNER_API_TIMEOUT_MS = 30_000;

/** Where Partner Center's documented sample certificate URL points (partner-center-lifecycle.md, Webhooks). */
export const DEFAULT_WEBHOOK_CERT_HOST = '3psostorageacct.blob.core.windows.net';

/** Partner Center's own API (webhook registration): another resource than the Partner API's referrals. */
export const DEFAULT_PARTNER_CENTER_API_BASE_URL = 'https://api.partnercenter.microsoft.com';

const PARTNER_API_TIMEOUT_MS = setting({
    meaning: 'Timeout of one Partner API call, in milliseconds.',
    default: String(DEFAULT_PARTNER_API_TIMEOUT_MS),
    azure: 'optional',
    parse: positiveInteger,
});

/**
 * The Partner API's credentials: read by the referrals' client (partnerApi below) and by the webhook registration
 * command (partnerCenterApi), whose API takes the same app's tokens.
 */
const PARTNER_API_CREDENTIALS = {
    PARTNER_API_AUTH: setting({
        meaning: 'How to authenticate to the Partner API: refresh-token (production), static, or none (simulator).',
        default: 'refresh-token',
        azure: 'required',
        parse: oneOf(['refresh-token', 'static', 'none']),
    }),
    PARTNER_API_TOKEN: setting({
        meaning: 'Bearer token for PARTNER_API_AUTH=static (local development only).',
        azure: 'local-only',
    }),
    PARTNER_API_TENANT_ID: setting({
        meaning: 'Entra tenant id of the partner (refresh-token mode).',
        azure: 'required',
    }),
    PARTNER_API_CLIENT_ID: setting({
        meaning: 'Application (client) id of the Entra app registration (refresh-token mode).',
        azure: 'required',
    }),
    PARTNER_API_CLIENT_SECRET: setting({
        meaning: 'Client secret of the app registration (refresh-token mode; a Key Vault reference in Azure).',
        azure: 'required',
    }),
    PARTNER_API_CLIENT_CERTIFICATE: setting({
        meaning: 'PEM private key and certificate, instead of a client secret (refresh-token mode).',
        azure: 'optional',
    }),
    PARTNER_API_AUTHORITY_HOST: setting({
        meaning: 'Entra authority host used to redeem the refresh token.',
        default: 'https://login.microsoftonline.com',
        azure: 'optional',
        parse: withoutTrailingSlashes,
    }),
};

/** The credentials' values under the names both sections' configs give them. */
function credentialsOf(v: Values<typeof PARTNER_API_CREDENTIALS>) {
    return {
        auth: v.PARTNER_API_AUTH,
        staticToken: v.PARTNER_API_TOKEN,
        tenantId: v.PARTNER_API_TENANT_ID,
        clientId: v.PARTNER_API_CLIENT_ID,
        clientSecret: v.PARTNER_API_CLIENT_SECRET,
        clientCertificatePem: v.PARTNER_API_CLIENT_CERTIFICATE,
        authorityHost: v.PARTNER_API_AUTHORITY_HOST,
    };
}

/** The lease when STEP_LEASE_MS is not set: one attempt is a lookup and a create, plus room for Cosmos DB writes. */
export function defaultLeaseMs(timeoutMs: number): number {
    return 2 * timeoutMs + 30_000;
}

/** A URL's `hostname` that names this machine: emulators and local test peers only. */
export function isLoopbackHost(hostname: string): boolean {
    return hostname === 'localhost' || hostname === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(hostname);
}

function isLoopbackUrl(address: string): boolean {
    try {
        return isLoopbackHost(new URL(address).hostname);
    } catch {
        return false;
    }
}

/** Parses `AccountEndpoint=...;AccountKey=...;` as the Cosmos emulators print it. */
function parseCosmosConnectionString(connectionString: string): { endpoint?: string; key?: string } {
    const parts = new Map<string, string>();
    for (const part of connectionString.split(';')) {
        const index = part.indexOf('=');
        if (index > 0) parts.set(part.slice(0, index).trim().toLowerCase(), part.slice(index + 1).trim());
    }
    return { endpoint: parts.get('accountendpoint'), key: parts.get('accountkey') };
}

type Declarations = Record<string, Declaration<unknown, string | undefined>>;

/** The parsed values of a section's settings: a setting without a default may be absent. */
type Values<S extends Declarations> = {
    [K in keyof S]: S[K] extends Declaration<infer T, infer D> ? (D extends string ? T : T | undefined) : never;
};

/**
 * A section: settings read together, and how their values become the section's config (the rules that span several
 * settings). Each section is parsed on its own, so a function only fails on the settings it really uses.
 */
function section<S extends Declarations, C>(settings: S, assemble: (values: Values<S>, problems: string[]) => C) {
    return { settings, assemble };
}

type ServiceBusConnectionConfig =
    | { kind: 'connectionString'; connectionString: string }
    | { kind: 'identity'; fullyQualifiedNamespace: string; clientId?: string };

type CosmosConnectionConfig =
    | { kind: 'key'; endpoint: string; key: string; disableTlsVerification: boolean }
    | { kind: 'identity'; endpoint: string; clientId?: string };

const SECTIONS = {
    // Service Bus: the Functions connection named "ServiceBusConnection", shared by the triggers and the sender.
    serviceBus: section(
        {
            ServiceBusConnection__fullyQualifiedNamespace: setting({
                meaning: 'Service Bus namespace host (<ns>.servicebus.windows.net), reached with a managed identity.',
                azure: 'required',
            }),
            ServiceBusConnection__clientId: setting({
                meaning: 'Client id of the user-assigned managed identity used for Service Bus.',
                azure: 'required',
            }),
            // Read by the Functions host only.
            ServiceBusConnection__credential: setting({
                meaning: 'Set to "managedidentity" so the Functions host uses the identity above.',
                azure: 'required',
            }),
            ServiceBusConnection: setting({
                meaning: 'A connection string instead of identity (emulators and the local dev broker only).',
                azure: 'local-only',
            }),
        },
        (v, problems): ServiceBusConnectionConfig => {
            const namespace = v.ServiceBusConnection__fullyQualifiedNamespace;
            if (namespace) {
                return {
                    kind: 'identity',
                    fullyQualifiedNamespace: namespace,
                    clientId: v.ServiceBusConnection__clientId,
                };
            }
            if (v.ServiceBusConnection) return { kind: 'connectionString', connectionString: v.ServiceBusConnection };
            problems.push(
                'set ServiceBusConnection__fullyQualifiedNamespace (Azure) or ServiceBusConnection (emulator)',
            );
            return { kind: 'connectionString', connectionString: '' };
        },
    ),
    // Cosmos DB: the connection named "CosmosDbConnection".
    cosmos: section(
        {
            CosmosDbConnection__accountEndpoint: setting({
                meaning:
                    'Cosmos DB account endpoint (https://<account>.documents.azure.com:443/), reached with a managed identity.',
                azure: 'required',
            }),
            CosmosDbConnection__clientId: setting({
                meaning: 'Client id of the user-assigned managed identity used for Cosmos DB.',
                azure: 'required',
            }),
            CosmosDbConnection: setting({
                meaning: 'A connection string (AccountEndpoint=...;AccountKey=...;) for emulators only.',
                azure: 'local-only',
            }),
            COSMOS_DISABLE_TLS_VERIFICATION: setting({
                meaning: 'Accept a self-signed certificate from a Cosmos emulator on loopback (true/false).',
                default: 'false',
                azure: 'local-only',
                parse: flag,
            }),
        },
        (v, problems): CosmosConnectionConfig => {
            const endpoint = v.CosmosDbConnection__accountEndpoint;
            if (endpoint) return { kind: 'identity', endpoint, clientId: v.CosmosDbConnection__clientId };
            if (!v.CosmosDbConnection) {
                problems.push('set CosmosDbConnection__accountEndpoint (Azure) or CosmosDbConnection (emulator)');
                return { kind: 'identity', endpoint: '' };
            }
            const parsed = parseCosmosConnectionString(v.CosmosDbConnection);
            if (!parsed.endpoint || !parsed.key) {
                problems.push('CosmosDbConnection must have the form AccountEndpoint=...;AccountKey=...;');
            }
            const disableTlsVerification = v.COSMOS_DISABLE_TLS_VERIFICATION;
            if (disableTlsVerification && parsed.endpoint && !isLoopbackUrl(parsed.endpoint)) {
                problems.push('COSMOS_DISABLE_TLS_VERIFICATION is only allowed for an emulator on loopback');
            }
            return { kind: 'key', endpoint: parsed.endpoint ?? '', key: parsed.key ?? '', disableTlsVerification };
        },
    ),
    partnerApi: section(
        {
            PARTNER_API_BASE_URL: setting({
                meaning: 'Base URL of the Partner API.',
                default: 'https://api.partner.microsoft.com',
                azure: 'optional',
                parse: url(['http', 'https'], { base: true }),
            }),
            ...PARTNER_API_CREDENTIALS,
            PARTNER_API_TIMEOUT_MS,
            PARTNER_API_MAX_CALLS_PER_SECOND: setting({
                meaning:
                    'The most Partner API calls per second the app makes for the partner tenant, over all instances ' +
                    "(the tenant's limit). Empty: no ceiling; calls are paced only after a 429.",
                azure: 'optional',
                parse: positiveNumber,
            }),
            PARTNER_API_INSTANCE_COUNT: setting({
                meaning:
                    'How many instances share PARTNER_API_MAX_CALLS_PER_SECOND: each paces its calls at its share ' +
                    "(set it to the function app's maximum instance count).",
                default: '1',
                azure: 'optional',
                parse: positiveInteger,
            }),
            PARTNER_API_REFRESH_TOKEN: setting({
                meaning:
                    'Refresh token from the one-time consent (refresh-token mode; a Key Vault reference in Azure).',
                azure: 'required',
            }),
            PARTNER_API_TOKEN_CACHE_VAULT_URL: setting({
                meaning:
                    "Key Vault (https://<vault>.vault.azure.net/) that keeps the refresh-token mode's token cache, so a " +
                    'rotated refresh token survives restarts and scale-out. Empty: the cache lives in memory only.',
                azure: 'required',
                parse: url(['https']),
            }),
            PARTNER_API_TOKEN_CACHE_SECRET_NAME: setting({
                meaning: 'Name of the Key Vault secret that holds the token cache.',
                default: 'partner-api-token-cache',
                azure: 'optional',
                parse: keyVaultSecretName,
            }),
            PARTNER_API_TOKEN_CACHE_CLIENT_ID: setting({
                meaning: 'Client id of the managed identity that reads and writes the token cache in Key Vault.',
                azure: 'required',
            }),
        },
        (v, problems) => {
            const auth = v.PARTNER_API_AUTH;
            const vaultUrl = v.PARTNER_API_TOKEN_CACHE_VAULT_URL;
            const config = {
                baseUrl: v.PARTNER_API_BASE_URL,
                ...credentialsOf(v),
                timeoutMs: v.PARTNER_API_TIMEOUT_MS,
                /** This instance's share of the tenant's limit (calls per second), if one is set. */
                maxCallsPerSecond:
                    v.PARTNER_API_MAX_CALLS_PER_SECOND === undefined
                        ? undefined
                        : v.PARTNER_API_MAX_CALLS_PER_SECOND / v.PARTNER_API_INSTANCE_COUNT,
                refreshToken: v.PARTNER_API_REFRESH_TOKEN,
                /** Where the refresh-token mode keeps its token cache; absent: in memory only. */
                tokenCache: vaultUrl
                    ? {
                          vaultUrl,
                          secretName: v.PARTNER_API_TOKEN_CACHE_SECRET_NAME,
                          /** The managed identity's client id (Azure); absent: the developer's own credentials. */
                          clientId: v.PARTNER_API_TOKEN_CACHE_CLIENT_ID,
                      }
                    : undefined,
            };
            if (auth === 'static' && !config.staticToken)
                problems.push('PARTNER_API_AUTH=static needs PARTNER_API_TOKEN');
            if (auth === 'refresh-token') {
                for (const name of [
                    'PARTNER_API_TENANT_ID',
                    'PARTNER_API_CLIENT_ID',
                    'PARTNER_API_REFRESH_TOKEN',
                ] as const) {
                    if (!v[name]) problems.push(`PARTNER_API_AUTH=refresh-token needs ${name}`);
                }
                if (!config.clientSecret && !config.clientCertificatePem) {
                    problems.push(
                        'PARTNER_API_AUTH=refresh-token needs PARTNER_API_CLIENT_SECRET or PARTNER_API_CLIENT_CERTIFICATE',
                    );
                }
            }
            if (auth === 'none' && !isLoopbackUrl(config.baseUrl)) {
                problems.push('PARTNER_API_AUTH=none is only allowed for a simulator on loopback');
            }
            return config;
        },
    ),
    retry: section(
        {
            SUBMIT_RETRY_WINDOW_HOURS: setting({
                meaning:
                    'How long a step (submit, connect) keeps retrying transient Partner API failures, counted from ' +
                    'when the step started, before the referral is marked Failed; time held for an auth failure ' +
                    'does not count. Hours (a fraction is allowed).',
                default: '24',
                azure: 'optional',
                parse: positiveNumber,
            }),
            RETRY_BASE_DELAY_MS: setting({
                meaning:
                    'First back-off delay after a transient Partner API failure; doubles per attempt, with jitter.',
                default: '2000',
                azure: 'optional',
                parse: positiveInteger,
            }),
            RETRY_MAX_DELAY_MS: setting({
                meaning:
                    'Upper bound of one back-off delay; a longer Retry-After from the Partner API wins, up to 1 hour.',
                default: '900000',
                azure: 'optional',
                parse: positiveInteger,
            }),
        },
        (v) => ({
            /** How long a step retries transient failures, from when it started (plus any time held for auth). */
            windowMs: Math.round(v.SUBMIT_RETRY_WINDOW_HOURS * 3_600_000),
            baseDelayMs: v.RETRY_BASE_DELAY_MS,
            maxDelayMs: v.RETRY_MAX_DELAY_MS,
        }),
    ),
    lease: section(
        {
            PARTNER_API_TIMEOUT_MS,
            STEP_LEASE_MS: setting({
                meaning:
                    'How long a delivery holds a submit/connect step before another delivery may take it over (after ' +
                    'a crash). Must be longer than two Partner API calls; empty: 2 x PARTNER_API_TIMEOUT_MS + 30000.',
                azure: 'optional',
                parse: positiveInteger,
            }),
        },
        (v, problems) => {
            const timeoutMs = v.PARTNER_API_TIMEOUT_MS;
            const leaseMs = v.STEP_LEASE_MS ?? defaultLeaseMs(timeoutMs);
            // A shorter lease could run out while the holder still waits for the Partner API, and a second delivery
            // would then call it alongside.
            if (leaseMs <= 2 * timeoutMs) {
                problems.push('STEP_LEASE_MS must be longer than two Partner API calls (2 x PARTNER_API_TIMEOUT_MS)');
            }
            /** How long a claim holds a step: longer than the worst case of one attempt (lookup + create). */
            return { leaseMs };
        },
    ),
    // How long an uncertain create is given to show up before the step creates again (shared/pipeline/step.ts).
    settling: section(
        {
            PARTNER_API_SETTLE_MS: setting({
                meaning:
                    'After a create whose outcome is unknown, how long (from when it was given up on) a lookup ' +
                    'must wait before its "not there" is believed and the referral created again: covers creates ' +
                    'that commit after the client gave up and lists that lag behind creates.',
                default: '120000',
                azure: 'optional',
                parse: positiveInteger,
            }),
            DUPLICATE_CHECK_DELAY_MS: setting({
                meaning:
                    'How long after a referral is done (Submitted, or Connected for a Shared one) the duplicate check ' +
                    'lists its externalReferenceId and engagement once more, to report a copy that slipped through. ' +
                    'Must be longer than PARTNER_API_SETTLE_MS.',
                default: '900000',
                azure: 'optional',
                parse: positiveInteger,
            }),
        },
        (v, problems) => {
            // Earlier, a late create or a lagging list could still hide a copy that the check would then never see.
            if (v.DUPLICATE_CHECK_DELAY_MS <= v.PARTNER_API_SETTLE_MS) {
                problems.push('DUPLICATE_CHECK_DELAY_MS must be longer than PARTNER_API_SETTLE_MS');
            }
            return {
                /** A negative lookup proves nothing until this long after the uncertain create was given up on. */
                settleMs: v.PARTNER_API_SETTLE_MS,
                /** The later duplicate check runs this long after the referral is done. */
                duplicateCheckDelayMs: v.DUPLICATE_CHECK_DELAY_MS,
            };
        },
    ),
    // The intake's outbox (shared/referral/outbox.ts).
    outbox: section(
        {
            INTAKE_RESEND_AFTER_MS: setting({
                meaning:
                    'How long a referral may stay Queued before the sweep sends its message again (the intake may ' +
                    'have died before sending, or Service Bus was down).',
                default: '60000',
                azure: 'optional',
                parse: positiveInteger,
            }),
            INTAKE_SWEEP_SCHEDULE: setting({
                meaning: 'When the sweep of Queued referrals runs: an NCRONTAB expression with six fields, in UTC.',
                default: '0 */1 * * * *',
                azure: 'optional',
            }),
        },
        (v) => ({
            /** How long a record may stay Queued before its message is sent again. */
            resendAfterMs: v.INTAKE_RESEND_AFTER_MS,
        }),
    ),
    // Outcome events to Event Grid (shared/referral/eventOutbox.ts, shared/platform/eventGrid.ts).
    events: section(
        {
            EVENT_GRID_TOPIC_ENDPOINT: setting({
                meaning:
                    "The Event Grid topic's endpoint (https://<topic>.<region>-1.eventgrid.azure.net/api/events) the " +
                    'outcome events are published to, in the CloudEvents 1.0 schema. Empty: no events are published.',
                azure: 'optional',
                parse: url(['http', 'https']),
            }),
            EVENT_GRID_CLIENT_ID: setting({
                meaning:
                    'Client id of the user-assigned managed identity that publishes events (it holds EventGrid Data ' +
                    'Sender on the topic).',
                azure: 'optional',
            }),
            EVENT_GRID_TOPIC_KEY: setting({
                meaning: "A topic access key instead of the identity (emulators and the local topic's tests only).",
                azure: 'local-only',
            }),
            EVENT_SOURCE: setting({
                meaning: "The events' CloudEvents `source`: names this app instance to consumers.",
                default: '/cosell-referrals',
                azure: 'optional',
            }),
            EVENT_RESEND_AFTER_MS: setting({
                meaning:
                    "How long a change's events may stay unpublished (the worker died, or Event Grid was down) " +
                    'before the sweep publishes them.',
                default: '60000',
                azure: 'optional',
                parse: positiveInteger,
            }),
            EVENT_SWEEP_SCHEDULE: setting({
                meaning: 'When the sweep of unpublished events runs: an NCRONTAB expression with six fields, in UTC.',
                default: '30 */1 * * * *',
                azure: 'optional',
            }),
        },
        (v, problems) => {
            const endpoint = v.EVENT_GRID_TOPIC_ENDPOINT;
            if (endpoint && !endpoint.startsWith('https:') && !isLoopbackUrl(endpoint)) {
                problems.push('EVENT_GRID_TOPIC_ENDPOINT must be https, except for a local topic on loopback');
            }
            if (v.EVENT_GRID_TOPIC_KEY && endpoint && !isLoopbackUrl(endpoint)) {
                problems.push(
                    'EVENT_GRID_TOPIC_KEY is only allowed for a local topic on loopback (Azure: the identity)',
                );
            }
            return {
                /** Absent: events are off (nothing is recorded or published). */
                topic: endpoint
                    ? { endpoint, key: v.EVENT_GRID_TOPIC_KEY, clientId: v.EVENT_GRID_CLIENT_ID }
                    : undefined,
                source: v.EVENT_SOURCE,
                resendAfterMs: v.EVENT_RESEND_AFTER_MS,
            };
        },
    ),
    // Partner Center's webhooks (shared/partnerCenter/webhookVerification.ts).
    partnerCenterWebhooks: section(
        {
            PARTNER_CENTER_WEBHOOK_CERT_HOSTS: setting({
                meaning:
                    'Hosts the certificate of a Partner Center webhook (X-MS-Certificate-Url) may be downloaded from, ' +
                    'comma-separated; https only, except on loopback (local tests).',
                default: DEFAULT_WEBHOOK_CERT_HOST,
                azure: 'optional',
                parse: hostNames,
            }),
            PARTNER_CENTER_WEBHOOK_TRUSTED_ROOTS: setting({
                meaning:
                    "A PEM file of the root certificates a webhook's certificate must chain to. Empty: the " +
                    "platform's trusted roots (Node's tls.rootCertificates).",
                azure: 'optional',
                parse: pemCertificatesFile,
            }),
        },
        (v) => ({
            certificateHosts: v.PARTNER_CENTER_WEBHOOK_CERT_HOSTS,
            /** Absent: the platform's trusted roots. */
            trustedRoots: v.PARTNER_CENTER_WEBHOOK_TRUSTED_ROOTS,
        }),
    ),
    // Partner Center's own API, for the webhook registration command (npm run partner:webhooks). It takes a token
    // for its own resource and accepts app-only ones, so the refresh-token mode's app credentials sign in as the app.
    partnerCenterApi: section(
        {
            PARTNER_CENTER_API_BASE_URL: setting({
                meaning:
                    "Base URL of Partner Center's API, where npm run partner:webhooks reads and sets the webhook " +
                    'registration (the local simulator: its URL).',
                default: DEFAULT_PARTNER_CENTER_API_BASE_URL,
                azure: 'optional',
                parse: url(['http', 'https'], { base: true }),
            }),
            ...PARTNER_API_CREDENTIALS,
            PARTNER_API_TIMEOUT_MS,
        },
        (v, problems) => {
            const config = {
                baseUrl: v.PARTNER_CENTER_API_BASE_URL,
                ...credentialsOf(v),
                timeoutMs: v.PARTNER_API_TIMEOUT_MS,
            };
            if (config.auth === 'static' && !config.staticToken)
                problems.push('PARTNER_API_AUTH=static needs PARTNER_API_TOKEN');
            if (config.auth === 'refresh-token') {
                // App-only: the app's own credentials, no refresh token.
                if (!config.tenantId) problems.push('the app-only sign-in needs PARTNER_API_TENANT_ID');
                if (!config.clientId) problems.push('the app-only sign-in needs PARTNER_API_CLIENT_ID');
                if (!config.clientSecret && !config.clientCertificatePem)
                    problems.push(
                        'the app-only sign-in needs PARTNER_API_CLIENT_SECRET or PARTNER_API_CLIENT_CERTIFICATE',
                    );
            }
            if (config.auth === 'none' && !isLoopbackUrl(config.baseUrl))
                problems.push('PARTNER_API_AUTH=none is only allowed for a simulator on loopback');
            return config;
        },
    ),
    // The reconciliation of Partner Center's changes (shared/partnerCenter/reconciliation.ts).
    partnerCenterReconciliation: section(
        {
            PARTNER_CENTER_RECONCILE_SCHEDULE: setting({
                meaning:
                    'When the reconciliation lists the referrals Partner Center changed since its watermark and ' +
                    'applies what the webhooks missed: an NCRONTAB expression with six fields, in UTC.',
                default: '0 */15 * * * *',
                azure: 'optional',
            }),
            PARTNER_CENTER_RECONCILE_LEASE_MS: setting({
                meaning:
                    'How long a reconciliation run holds its lease: a run stops listing at four fifths of it, and a ' +
                    'host that died mid-run keeps other runs off until it ends.',
                default: '600000',
                azure: 'optional',
                parse: positiveInteger,
            }),
        },
        (v) => ({ leaseMs: v.PARTNER_CENTER_RECONCILE_LEASE_MS }),
    ),
    retention: section(
        {
            REFERRAL_TTL_DAYS: setting({
                meaning:
                    'Days a referral record (with its customer data) is kept in Cosmos DB after its last change; ' +
                    '0 or -1 keeps records forever.',
                default: '365',
                azure: 'optional',
                parse: ttlDays,
            }),
        },
        (v) => ({
            /** The Cosmos DB per-item `ttl` written on every record: seconds, or -1 to keep the record forever. */
            ttlSeconds: v.REFERRAL_TTL_DAYS > 0 ? v.REFERRAL_TTL_DAYS * 86_400 : -1,
        }),
    ),
};

type Section = keyof typeof SECTIONS;

export type AppConfig = { [K in Section]: ReturnType<(typeof SECTIONS)[K]['assemble']> };
export type PartnerApiConfig = AppConfig['partnerApi'];
export type PartnerApiAuthMode = PartnerApiConfig['auth'];
export type TokenCacheVaultConfig = NonNullable<PartnerApiConfig['tokenCache']>;
export type RetryConfig = AppConfig['retry'];
export type WebhookConfig = AppConfig['partnerCenterWebhooks'];
export type PartnerCenterApiConfig = AppConfig['partnerCenterApi'];
export type EventsConfig = AppConfig['events'];

export type SettingName = { [K in Section]: keyof (typeof SECTIONS)[K]['settings'] & string }[Section];

export interface SettingDefinition {
    name: SettingName;
    meaning: string;
    default?: string;
    azure: AzurePresence;
}

/** Every setting once (a setting read by two sections is listed once), in declaration order. */
export const SETTINGS: readonly SettingDefinition[] = [
    ...new Map(
        Object.values(SECTIONS).flatMap(({ settings }) =>
            Object.entries(settings as Declarations).map(
                ([name, { meaning, azure, default: fallback }]): [string, SettingDefinition] => [
                    name,
                    {
                        name: name as SettingName,
                        meaning,
                        azure,
                        ...(fallback === undefined ? {} : { default: fallback }),
                    },
                ],
            ),
        ),
    ).values(),
];

export class ConfigurationError extends Error {
    constructor(readonly problems: string[]) {
        super(`Invalid configuration: ${problems.join('; ')}`);
        this.name = 'ConfigurationError';
    }
}

type Env = Record<string, string | undefined>;

/**
 * Reads and checks one section: every setting is parsed (an empty value counts as unset), and only when each one is
 * valid are the rules across settings applied, so every problem of a single setting is reported at once.
 */
export function loadSection<K extends Section>(section: K, env: Env = process.env): AppConfig[K] {
    const { settings, assemble } = SECTIONS[section];
    const problems: string[] = [];
    const values: Record<string, unknown> = {};
    for (const [name, declaration] of Object.entries(settings as Declarations)) {
        const raw = env[name]?.trim() || declaration.default;
        if (raw === undefined) continue;
        const parsed = declaration.parse(raw, name);
        if (parsed.ok) values[name] = parsed.value;
        else problems.push(parsed.problem);
    }
    if (problems.length > 0) throw new ConfigurationError(problems);
    const config = (assemble as (values: unknown, problems: string[]) => AppConfig[K])(values, problems);
    if (problems.length > 0) throw new ConfigurationError(problems);
    return config;
}

/**
 * A setting the Functions host needs when it indexes the app (a timer's schedule), so read at import time: its value
 * or its default, never a throw. The host itself refuses an invalid schedule, naming the function.
 */
export function settingAtIndexing(name: SettingName, env: Env = process.env): string | undefined {
    const declaration = (Object.values(SECTIONS) as Array<{ settings: Declarations }>)
        .map(({ settings }) => settings[name])
        .find((found) => found !== undefined);
    return env[name]?.trim() || declaration?.default;
}

const cache = new Map<Section, unknown>();

/** The validated settings of one section, read from the environment on first use and then kept. */
export function getConfig<K extends Section>(section: K): AppConfig[K] {
    if (!cache.has(section)) cache.set(section, loadSection(section));
    return cache.get(section) as AppConfig[K];
}
