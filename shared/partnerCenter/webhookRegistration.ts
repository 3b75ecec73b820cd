/**
 * Partner Center's webhook registration API (partner-center-lifecycle.md, Webhooks), for the operator command
 * `npm run partner:webhooks` and the local runtime: read the registration, set this app's URL for the four referral
 * events, send the validation event and read its delivery back.
 *
 * Partner Center keeps one URL per event for a tenant: registering silently replaces any other integration's URL
 * (Microsoft's own Power Automate connector, a CRM connector). `planRegistration` is where that is decided: a URL
 * that is not this app's (another host or path) is replaced only when the operator says so (`force`).
 *
 * The registered URL carries the function key (`?code=`): `maskedUrl` is the only form in which a URL is shown.
 */
import { REFERRAL_EVENTS } from './events';

/** The webhook function's route (functions/receivePartnerCenterEvent.ts), under the host's `/api` prefix. */
export const WEBHOOK_ROUTE = 'partner-center/events';
export const REGISTRATION_PATH = '/webhooks/v1/registration';

/** The URL Partner Center is given: the function's route with its key, which `authLevel: 'function'` needs. */
export function webhookUrl(origin: string, functionKey: string): string {
    return `${origin.replace(/\/+$/, '')}/api/${WEBHOOK_ROUTE}?code=${encodeURIComponent(functionKey)}`;
}

export interface WebhookRegistration {
    SubscriberId?: string;
    WebhookUrl: string;
    WebhookEvents: string[];
    SignatureTokenToMsSignatureHeader?: boolean;
}

/** One delivery attempt of a validation event, as Partner Center reports it. */
export interface ValidationAttempt {
    responseCode?: string;
    responseMessage?: string;
    systemError?: string;
    dateTimeUtc?: string;
}

export interface ValidationEventResult {
    correlationId: string;
    status?: string;
    results: ValidationAttempt[];
}

const SHOWN_KEY_CHARACTERS = 4;

/** The URL with its `code` cut to its first characters: enough to tell two keys apart, not to call the function. */
export function maskedUrl(address: string): string {
    let url: URL;
    try {
        url = new URL(address);
    } catch {
        return '(not a URL)';
    }
    const code = url.searchParams.get('code');
    if (code !== null) url.searchParams.set('code', `${code.slice(0, SHOWN_KEY_CHARACTERS)}***`);
    return url.toString();
}

/** Host and path only: how another integration's URL is named (its query may hold its own secret). */
export function hostAndPath(address: string): string {
    try {
        const url = new URL(address);
        return `${url.host}${url.pathname}`;
    } catch {
        return '(not a URL)';
    }
}

function sameEndpoint(a: string, b: string): boolean {
    try {
        const [x, y] = [new URL(a), new URL(b)];
        return x.origin === y.origin && x.pathname.replace(/\/+$/, '') === y.pathname.replace(/\/+$/, '');
    } catch {
        return false;
    }
}

export type RegistrationPlan =
    /** Nothing registered yet. */
    | { action: 'create' }
    /** This URL, for every referral event, already. */
    | { action: 'unchanged' }
    /** This app's endpoint, with another key or fewer events. */
    | { action: 'update' }
    /** Another integration's URL, which `force` allows replacing. */
    | { action: 'replace'; replaces: string }
    | { action: 'refuse'; replaces: string };

export function planRegistration(
    current: WebhookRegistration | undefined,
    url: string,
    force: boolean,
): RegistrationPlan {
    if (!current) return { action: 'create' };
    if (!sameEndpoint(current.WebhookUrl, url)) {
        const replaces = hostAndPath(current.WebhookUrl);
        return force ? { action: 'replace', replaces } : { action: 'refuse', replaces };
    }
    const events = new Set(current.WebhookEvents);
    const allEvents = REFERRAL_EVENTS.every((event) => events.has(event));
    return current.WebhookUrl === url && allEvents ? { action: 'unchanged' } : { action: 'update' };
}

/** Where a bearer token comes from (AppOnlyTokenProvider, StaticTokenProvider, NoTokenProvider): none, no header. */
export interface TokenSource {
    getToken(): Promise<string | undefined>;
}

export interface WebhookRegistrationApiOptions {
    /** PARTNER_CENTER_API_BASE_URL. */
    baseUrl: string;
    tokens: TokenSource;
    timeoutMs: number;
}

const MAX_DETAIL_LENGTH = 200;
const PERMISSION_GUIDE = 'See docs/partner-api-auth.md ("Webhook registration").';

/** A refused or failed call: its status, Partner Center's error code, and what to do. */
export class WebhookApiError extends Error {
    override readonly name = 'WebhookApiError';

    constructor(
        readonly status: number,
        readonly code: string | undefined,
        message: string,
    ) {
        super(message);
    }
}

function errorMessage(method: string, path: string, status: number, code: string | undefined, retryAfter?: string) {
    const call = `${method} ${path} answered ${status}${code ? ` (${code})` : ''}`;
    switch (status) {
        case 401:
            return (
                `${call}: Partner Center did not accept the token. The call needs a token for ` +
                "https://api.partnercenter.microsoft.com (not the referrals API's https://api.partner.microsoft.com). " +
                PERMISSION_GUIDE
            );
        case 403:
            return (
                `${call}: the app is signed in but may not manage webhooks: its registration needs access to ` +
                "Partner Center's API (Microsoft Partner Center) for this tenant. " +
                PERMISSION_GUIDE
            );
        case 429:
            return `${call}: throttled (the validation event is limited to 2 a minute); try again${retryAfter ? ` after ${retryAfter} s` : ' later'}.`;
        default:
            return status >= 500 ? `${call}: Partner Center failed; try again later.` : `${call}.`;
    }
}

function codeOf(body: unknown): string | undefined {
    const error = (body as { error?: { code?: unknown }; code?: unknown } | undefined) ?? {};
    const code = typeof error.error?.code === 'string' ? error.error.code : error.code;
    return typeof code === 'string' ? code.slice(0, MAX_DETAIL_LENGTH) : undefined;
}

function asRegistration(body: unknown): WebhookRegistration {
    const fields = (body ?? {}) as Record<string, unknown>;
    if (typeof fields.WebhookUrl !== 'string' || !Array.isArray(fields.WebhookEvents))
        throw new WebhookApiError(200, undefined, 'The registration Partner Center answered has no WebhookUrl.');
    return {
        ...(typeof fields.SubscriberId === 'string' ? { SubscriberId: fields.SubscriberId } : {}),
        WebhookUrl: fields.WebhookUrl,
        WebhookEvents: fields.WebhookEvents.filter((event): event is string => typeof event === 'string'),
        ...(typeof fields.SignatureTokenToMsSignatureHeader === 'boolean'
            ? { SignatureTokenToMsSignatureHeader: fields.SignatureTokenToMsSignatureHeader }
            : {}),
    };
}

const text = (value: unknown): string | undefined =>
    typeof value === 'string' ? value.slice(0, MAX_DETAIL_LENGTH) : undefined;

export class WebhookRegistrationApi {
    constructor(private readonly options: WebhookRegistrationApiOptions) {}

    /** The tenant's registration; undefined when none (Partner Center answers 404). */
    async read(): Promise<WebhookRegistration | undefined> {
        const { status, body } = await this.call('GET', REGISTRATION_PATH, undefined, [404]);
        return status === 404 ? undefined : asRegistration(body);
    }

    /** Registers `url` for the referral events: PUT over an existing registration, POST when there is none. */
    async register(url: string, existing: boolean): Promise<WebhookRegistration> {
        const { body } = await this.call(existing ? 'PUT' : 'POST', REGISTRATION_PATH, {
            WebhookUrl: url,
            WebhookEvents: [...REFERRAL_EVENTS],
        });
        return asRegistration(body);
    }

    /** Asks Partner Center to send its validation (test) event to the registered URL; answers its correlation id. */
    async sendValidationEvent(): Promise<string> {
        const { body } = await this.call('POST', `${REGISTRATION_PATH}/validationEvents`);
        // Documented as a string; some samples wrap it in { correlationId }.
        const correlationId =
            typeof body === 'string' ? body : text((body as { correlationId?: unknown } | undefined)?.correlationId);
        if (!correlationId) throw new WebhookApiError(200, undefined, 'Partner Center answered no correlationId.');
        return correlationId;
    }

    /** The delivery attempts of a validation event so far. */
    async validationEvent(correlationId: string): Promise<ValidationEventResult> {
        const path = `${REGISTRATION_PATH}/validationEvents/${encodeURIComponent(correlationId)}`;
        const { body } = await this.call('GET', path);
        const fields = (body ?? {}) as Record<string, unknown>;
        const results = Array.isArray(fields.results) ? fields.results : [];
        return {
            correlationId,
            status: text(fields.status),
            results: results.map((result) => {
                const attempt = (result ?? {}) as Record<string, unknown>;
                return {
                    responseCode: text(attempt.responseCode),
                    responseMessage: text(attempt.responseMessage),
                    systemError: text(attempt.systemError),
                    dateTimeUtc: text(attempt.dateTimeUtc),
                };
            }),
        };
    }

    private async call(
        method: string,
        path: string,
        body?: unknown,
        expected: number[] = [],
    ): Promise<{ status: number; body: unknown }> {
        const token = await this.options.tokens.getToken();
        let response: Response;
        try {
            response = await fetch(`${this.options.baseUrl}${path}`, {
                method,
                headers: {
                    accept: 'application/json',
                    ...(token ? { authorization: `Bearer ${token}` } : {}),
                    ...(body === undefined ? {} : { 'content-type': 'application/json' }),
                },
                ...(body === undefined ? {} : { body: JSON.stringify(body) }),
                redirect: 'error',
                signal: AbortSignal.timeout(this.options.timeoutMs),
            });
        } catch (error) {
            const reason = error instanceof Error ? error.name : 'Error';
            throw new WebhookApiError(
                0,
                undefined,
                `${method} ${path} failed (${reason}): Partner Center not reached.`,
            );
        }
        const raw = await response.text();
        let parsed: unknown;
        try {
            parsed = raw === '' ? undefined : JSON.parse(raw);
        } catch {
            parsed = undefined;
        }
        if (!response.ok && !expected.includes(response.status)) {
            const retryAfter = response.headers.get('retry-after')?.slice(0, 20);
            const code = codeOf(parsed);
            throw new WebhookApiError(
                response.status,
                code,
                errorMessage(method, path, response.status, code, retryAfter),
            );
        }
        return { status: response.status, body: parsed };
    }
}
