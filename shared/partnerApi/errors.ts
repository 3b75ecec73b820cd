/**
 * The one error type of the Partner API client. Whatever went wrong (an HTTP answer, a timeout, a reset connection,
 * a token that could not be obtained) arrives as a `PartnerApiError` with a verdict the worker can act on:
 * `transient` -> reschedule (no earlier than `retryAfterMs`), `permanent` -> record as Rejected.
 *
 * The message never contains submitted values: only the operation, the status and the API's own error code and
 * message (which the API documents as not localized and at most 1024 characters; truncated here all the same).
 */

export type PartnerApiVerdict = 'transient' | 'permanent';

/**
 * Where the failure happened: an HTTP answer, our timeout or the attempt's deadline (`code` `timeout` /
 * `deadlineExceeded`), the connection, the token, an unreadable (or incomplete) answer, or the tenant's gate
 * (`throttled`, code `throttledLocally`: never sent, because waiting for the rate limit would pass the deadline; not
 * a failed attempt, see ./gate.ts).
 */
export type PartnerApiErrorKind = 'http' | 'timeout' | 'network' | 'auth' | 'invalidResponse' | 'throttled';

export type PartnerApiOperation = 'createReferral' | 'getReferral' | 'listReferrals' | 'patchReferral';

export interface PartnerApiErrorDetails {
    kind: PartnerApiErrorKind;
    verdict: PartnerApiVerdict;
    operation: PartnerApiOperation;
    status?: number;
    code?: string;
    apiMessage?: string;
    target?: string;
    innerErrorCode?: string;
    retryAfterMs?: number;
    outcomeUnknown?: boolean;
    conflict?: boolean;
    requestId?: string;
    correlationId?: string;
    cause?: unknown;
    /** Extra guidance for an operator (auth failures). */
    action?: string;
}

export const MAX_API_MESSAGE_LENGTH = 1024;

export function truncateApiMessage(message: string): string {
    return message.length > MAX_API_MESSAGE_LENGTH ? `${message.slice(0, MAX_API_MESSAGE_LENGTH - 1)}…` : message;
}

export class PartnerApiError extends Error {
    override readonly name = 'PartnerApiError';
    readonly kind: PartnerApiErrorKind;
    readonly verdict: PartnerApiVerdict;
    readonly operation: PartnerApiOperation;
    /** HTTP status, when the API answered. */
    readonly status?: number;
    /** The API's `error.code` (e.g. `invalidRequest`), or a reason of our own for auth failures. */
    readonly code?: string;
    /** The API's `error.message`, truncated to 1024 characters. */
    readonly apiMessage?: string;
    readonly target?: string;
    readonly innerErrorCode?: string;
    /** From `Retry-After` (seconds or HTTP date), in milliseconds. */
    readonly retryAfterMs?: number;
    /**
     * True when a create (or a patch) may have reached the API although no answer came back (timeout, reset after
     * sending): look the referral up before sending it again.
     */
    readonly outcomeUnknown: boolean;
    /**
     * A 409 on a create: the service says it holds a conflicting referral, maybe the one an earlier attempt created.
     * Transient with `outcomeUnknown`, so the step looks the referral up instead of Rejecting.
     */
    readonly conflict: boolean;
    readonly requestId?: string;
    readonly correlationId?: string;
    readonly action?: string;

    constructor(details: PartnerApiErrorDetails) {
        super(describe(details), details.cause === undefined ? undefined : { cause: details.cause });
        this.kind = details.kind;
        this.verdict = details.verdict;
        this.operation = details.operation;
        this.status = details.status;
        this.code = details.code;
        this.apiMessage = details.apiMessage === undefined ? undefined : truncateApiMessage(details.apiMessage);
        this.target = details.target;
        this.innerErrorCode = details.innerErrorCode;
        this.retryAfterMs = details.retryAfterMs;
        this.outcomeUnknown = details.outcomeUnknown ?? false;
        this.conflict = details.conflict ?? false;
        this.requestId = details.requestId;
        this.correlationId = details.correlationId;
        this.action = details.action;
    }

    get transient(): boolean {
        return this.verdict === 'transient';
    }

    /** The same failure as a transient one (a lookup that failed says nothing about the referral: retry). */
    asTransient(): PartnerApiError {
        if (this.transient) return this;
        return new PartnerApiError({ ...this.details(), verdict: 'transient', cause: this });
    }

    private details(): PartnerApiErrorDetails {
        return {
            kind: this.kind,
            verdict: this.verdict,
            operation: this.operation,
            status: this.status,
            code: this.code,
            apiMessage: this.apiMessage,
            target: this.target,
            innerErrorCode: this.innerErrorCode,
            retryAfterMs: this.retryAfterMs,
            outcomeUnknown: this.outcomeUnknown,
            conflict: this.conflict,
            requestId: this.requestId,
            correlationId: this.correlationId,
            action: this.action,
        };
    }
}

function describe(details: PartnerApiErrorDetails): string {
    const parts = [`Partner API ${details.operation} failed (${details.verdict})`];
    if (details.status !== undefined) parts.push(`HTTP ${details.status}`);
    else parts.push(details.kind);
    if (details.code) parts.push(details.code);
    let message = parts.join(': ');
    if (details.apiMessage) message += ` - ${truncateApiMessage(details.apiMessage)}`;
    if (details.action) message += ` ${details.action}`;
    return message;
}

/** 408, 429 and every 5xx may succeed later; every other 4xx will not, whatever the number of attempts. */
export function verdictForStatus(status: number): PartnerApiVerdict {
    return status === 408 || status === 429 || status >= 500 ? 'transient' : 'permanent';
}

/** The documented error body `{ "error": { "code", "message", "target", "innerError" } }`, read defensively. */
export interface ApiErrorBody {
    code?: string;
    message?: string;
    target?: string;
    innerErrorCode?: string;
}

export function readApiErrorBody(text: string): ApiErrorBody {
    let parsed: unknown;
    try {
        parsed = JSON.parse(text);
    } catch {
        return {};
    }
    const error = isRecord(parsed) && isRecord(parsed.error) ? parsed.error : undefined;
    if (!error) return {};
    const inner = isRecord(error.innerError) ? error.innerError : undefined;
    return {
        code: stringOrUndefined(error.code),
        message: stringOrUndefined(error.message),
        target: stringOrUndefined(error.target),
        innerErrorCode: stringOrUndefined(inner?.code),
    };
}

function isRecord(value: unknown): value is Record<string, unknown> {
    return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function stringOrUndefined(value: unknown): string | undefined {
    return typeof value === 'string' ? value : undefined;
}
