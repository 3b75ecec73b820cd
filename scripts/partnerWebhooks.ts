/**
 * npm run partner:webhooks -- <command>: Partner Center's webhook registration (see docs/operations.md, "Webhook
 * registration").
 *
 *   status                            the registered URL (its key masked) and events
 *   register [--url <url>] [--force]  registers this app's URL for the four referral events; refuses to replace
 *                                     another integration's URL (another host or path) unless --force
 *             --host <host> --code <function key>   instead of --url: https://<host>/api/partner-center/events?code=…
 *                                     (host default: WEBSITE_HOSTNAME, the Functions platform's name for the app)
 *   test [--wait <seconds>]           sends Partner Center's validation event and shows each delivery attempt
 *   --local                           the local runtime: its simulator, its host and function key
 *
 * Settings: PARTNER_CENTER_API_BASE_URL (default https://api.partnercenter.microsoft.com) and the app's credentials
 * (PARTNER_API_AUTH=refresh-token: an app-only token from PARTNER_API_TENANT_ID, PARTNER_API_CLIENT_ID and
 * PARTNER_API_CLIENT_SECRET or PARTNER_API_CLIENT_CERTIFICATE). Exit codes: 0 done, 1 failed, 2 refused or not
 * delivered, 64 usage.
 */
import { localFunctionKey } from '../local/host/auth';
import { LOCAL_PEER_HOST, localPorts, partnerApiUrl } from '../local/runtime/localSettings';
import { createPartnerCenterTokenSource, TokenAcquisitionError } from '../shared/partnerApi/tokenProviders';
import { REFERRAL_EVENTS } from '../shared/partnerCenter/events';
import {
    maskedUrl,
    planRegistration,
    type ValidationEventResult,
    WebhookApiError,
    type WebhookRegistration,
    WebhookRegistrationApi,
    webhookUrl,
} from '../shared/partnerCenter/webhookRegistration';
import { ConfigurationError, isLoopbackHost, loadSection } from '../shared/platform/config';
import { exitOnHelp } from './usage';

export const USAGE = [
    'Usage: npm run partner:webhooks -- status | register [--url <url> | --host <host> --code <key>] [--force] | test [--wait <seconds>] [--local]',
    "  status:   shows Partner Center's webhook registration (URL with its key masked, events).",
    '  register: registers this app for referral-created/-updated and related-referral-created/-updated. Partner',
    "            Center keeps one URL per event: another integration's URL is replaced only with --force.",
    '  test:     sends the validation event to the registered URL and shows its delivery (waits up to 30 s).',
    '  --local:  against the local runtime (npm start): its simulator, host and function key.',
    '  Settings: PARTNER_CENTER_API_BASE_URL, PARTNER_API_AUTH and the app credentials (docs/partner-api-auth.md).',
].join('\n');

export class UsageError extends Error {}

export interface WebhookArguments {
    command: 'status' | 'register' | 'test';
    url?: string;
    host?: string;
    code?: string;
    force: boolean;
    waitSeconds: number;
    local: boolean;
}

const DEFAULT_WAIT_SECONDS = 30;
const MAX_WAIT_SECONDS = 600;

export function parseArguments(argv: readonly string[]): WebhookArguments {
    let command: WebhookArguments['command'] | undefined;
    const args: Omit<WebhookArguments, 'command'> = { force: false, waitSeconds: DEFAULT_WAIT_SECONDS, local: false };
    const value = (index: number, name: string): string => {
        const next = argv[index];
        if (next === undefined || next.startsWith('--')) throw new UsageError(`${name} needs a value`);
        return next;
    };
    for (let i = 0; i < argv.length; i++) {
        const arg = argv[i]!;
        if (arg === 'status' || arg === 'register' || arg === 'test') {
            if (command) throw new UsageError('Give one command: status, register or test');
            command = arg;
        } else if (arg === '--force') args.force = true;
        else if (arg === '--local') args.local = true;
        else if (arg === '--url') args.url = value(++i, '--url');
        else if (arg === '--host') args.host = value(++i, '--host');
        else if (arg === '--code') args.code = value(++i, '--code');
        else if (arg === '--wait') {
            const seconds = Number(value(++i, '--wait'));
            if (!Number.isInteger(seconds) || seconds < 0 || seconds > MAX_WAIT_SECONDS)
                throw new UsageError(`--wait takes whole seconds, 0 to ${MAX_WAIT_SECONDS}`);
            args.waitSeconds = seconds;
        } else throw new UsageError(`Unknown argument "${arg.slice(0, 40)}"`);
    }
    if (!command) throw new UsageError('Give a command: status, register or test');
    if (command !== 'register' && (args.url || args.host || args.code || args.force))
        throw new UsageError('--url, --host, --code and --force go with register');
    if (args.url && (args.host || args.code)) throw new UsageError('Give either --url or --host with --code');
    return { command, ...args };
}

/** The URL to register: --url, or the function's route on --host (or WEBSITE_HOSTNAME) with --code. */
export function registrationUrl(args: WebhookArguments, env: Record<string, string | undefined>): string {
    let address = args.url;
    if (!address) {
        const host = args.host ?? env.WEBSITE_HOSTNAME?.trim();
        if (!host || !args.code)
            throw new UsageError('register needs --url, or --code with --host (or WEBSITE_HOSTNAME)');
        address = webhookUrl(/^https?:\/\//i.test(host) ? host : `https://${host}`, args.code);
    }
    let url: URL;
    try {
        url = new URL(address);
    } catch {
        throw new UsageError('--url is not a URL');
    }
    // Partner Center delivers to https endpoints; plain http only reaches the local runtime.
    if (url.protocol !== 'https:' && !(url.protocol === 'http:' && isLoopbackHost(url.hostname)))
        throw new UsageError('The webhook URL must be https (http only on loopback)');
    if (!url.searchParams.get('code'))
        throw new UsageError('The webhook URL needs the function key as ?code= (the function is authLevel function)');
    return address;
}

export interface Output {
    out: (line: string) => void;
    /** Waits between reads of the validation event's delivery. */
    sleep: (ms: number) => Promise<void>;
    now: () => number;
}

type Api = Pick<WebhookRegistrationApi, 'read' | 'register' | 'sendValidationEvent' | 'validationEvent'>;

const MAX_LINES = 10;
const POLL_INTERVAL_MS = 2_000;

function describeRegistration(registration: WebhookRegistration): string[] {
    const missing = REFERRAL_EVENTS.filter((event) => !registration.WebhookEvents.includes(event));
    const events = registration.WebhookEvents.slice(0, MAX_LINES);
    const more = registration.WebhookEvents.length - events.length;
    return [
        `  URL:         ${maskedUrl(registration.WebhookUrl)}`,
        `  Events:      ${events.join(', ')}${more > 0 ? ` and ${more} more` : ''}`,
        ...(registration.SubscriberId ? [`  Subscriber:  ${registration.SubscriberId.slice(0, 64)}`] : []),
        ...(missing.length > 0 ? [`  Not registered for: ${missing.join(', ')}`] : []),
    ];
}

/** A delivery attempt Partner Center reports as answered 2xx (its codes are HTTP status names, e.g. "OK"). */
function succeeded(responseCode: string | undefined): boolean {
    return /^(OK|Created|Accepted|NoContent|2\d\d)$/i.test(responseCode ?? '');
}

function finished(result: ValidationEventResult): boolean {
    if (result.results.some((attempt) => succeeded(attempt.responseCode))) return true;
    return result.results.length > 0 && !!result.status && !/pending|progress|queued|running/i.test(result.status);
}

async function status(api: Api, io: Output): Promise<number> {
    const registration = await api.read();
    if (!registration) {
        io.out('No webhook is registered: Partner Center sends this tenant no referral events.');
        io.out('Register this app with: npm run partner:webhooks -- register --url <function URL with ?code=>');
        return 0;
    }
    io.out("Partner Center's webhook registration:");
    for (const line of describeRegistration(registration)) io.out(line);
    return 0;
}

async function register(api: Api, url: string, force: boolean, io: Output): Promise<number> {
    const current = await api.read();
    const plan = planRegistration(current, url, force);
    switch (plan.action) {
        case 'unchanged':
            io.out(`Already registered: ${maskedUrl(url)} for every referral event. Nothing changed.`);
            return 0;
        case 'refuse':
            io.out(`Refused: another URL is registered: ${plan.replaces}`);
            io.out('Partner Center keeps one URL per event, so registering would replace it, and that integration');
            io.out('(e.g. a CRM connector or a Power Automate flow) would stop receiving events without warning.');
            io.out('Run again with --force to replace it.');
            return 2;
        default: {
            const registered = await api.register(url, current !== undefined);
            if (plan.action === 'replace') io.out(`Replaced ${plan.replaces} (--force):`);
            else io.out(plan.action === 'create' ? 'Registered:' : 'Updated the registration:');
            for (const line of describeRegistration(registered)) io.out(line);
            return 0;
        }
    }
}

async function test(api: Api, waitSeconds: number, io: Output): Promise<number> {
    const registration = await api.read();
    if (!registration) {
        io.out('No webhook is registered: register one first (npm run partner:webhooks -- register).');
        return 2;
    }
    const correlationId = await api.sendValidationEvent();
    io.out(`Validation event sent to ${maskedUrl(registration.WebhookUrl)} (correlationId ${correlationId}).`);
    const deadline = io.now() + waitSeconds * 1000;
    let result = await api.validationEvent(correlationId);
    while (!finished(result) && io.now() < deadline) {
        await io.sleep(POLL_INTERVAL_MS);
        result = await api.validationEvent(correlationId);
    }
    const attempts = result.results.slice(-MAX_LINES);
    for (const attempt of attempts) {
        const detail = [attempt.responseMessage, attempt.systemError].filter(Boolean).join('; ');
        io.out(`  ${attempt.dateTimeUtc ?? '?'}  ${attempt.responseCode || 'no answer'}${detail ? `  ${detail}` : ''}`);
    }
    if (result.results.some((attempt) => succeeded(attempt.responseCode))) {
        io.out('Delivered: the app answered the validation event.');
        return 0;
    }
    io.out(
        result.results.length === 0
            ? `No delivery reported within ${waitSeconds} s (status ${result.status ?? 'unknown'}); look again later.`
            : `Not delivered (status ${result.status ?? 'unknown'}): check the URL, its key and the app's logs.`,
    );
    return 2;
}

export async function runWebhookCommand(
    args: WebhookArguments,
    api: Api,
    io: Output,
    env: Record<string, string | undefined> = process.env,
): Promise<number> {
    switch (args.command) {
        case 'status':
            return status(api, io);
        case 'register':
            return register(api, registrationUrl(args, env), args.force, io);
        case 'test':
            return test(api, args.waitSeconds, io);
    }
}

/** With --local: the local runtime's simulator and host on their configured ports, where not set already. */
export function localDefaults(args: WebhookArguments, env: Record<string, string | undefined>): WebhookArguments {
    const ports = localPorts(env);
    env.PARTNER_CENTER_API_BASE_URL ||= partnerApiUrl(ports.partnerApiSimulator);
    env.PARTNER_API_AUTH ||= 'none';
    if (args.command !== 'register' || args.url || args.host) return args;
    return { ...args, url: webhookUrl(`http://${LOCAL_PEER_HOST}:${ports.host}`, args.code ?? localFunctionKey(env)) };
}

/** The process's console and clock. */
const CONSOLE: Output & { err: (line: string) => void } = {
    out: (line) => console.log(line),
    err: (line) => console.error(line),
    sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
    now: Date.now,
};

/** The whole command: arguments, settings, token, calls; answers the exit code. */
export async function main(
    argv: readonly string[],
    env: Record<string, string | undefined> = process.env,
    io: Output & { err: (line: string) => void } = CONSOLE,
): Promise<number> {
    try {
        let args = parseArguments(argv);
        if (args.local) args = localDefaults(args, env);
        const config = loadSection('partnerCenterApi', env);
        const api = new WebhookRegistrationApi({
            baseUrl: config.baseUrl,
            tokens: createPartnerCenterTokenSource(config),
            timeoutMs: config.timeoutMs,
        });
        return await runWebhookCommand(args, api, io, env);
    } catch (error) {
        if (error instanceof UsageError) {
            io.err(`${error.message}\n${USAGE}`);
            return 64;
        }
        // Configuration problems, token failures and refused calls carry what to do; nothing else is expected.
        const explained =
            error instanceof ConfigurationError ||
            error instanceof TokenAcquisitionError ||
            error instanceof WebhookApiError;
        if (!explained) throw error;
        io.err(error.message);
        return 1;
    }
}

if (require.main === module) {
    exitOnHelp(USAGE);
    main(process.argv.slice(2)).then(
        (code) => (process.exitCode = code),
        (error: unknown) => {
            console.error(error instanceof Error ? error.message : error);
            process.exitCode = 1;
        },
    );
}
