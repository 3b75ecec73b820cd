/**
 * Whether an error means that a service the app depends on (Cosmos DB, Service Bus, the network on the way to them)
 * is unavailable for now, so the same request may well succeed later: the caller gets 503 with Retry-After rather
 * than 500. Anything else (a bug, a bad setting, a refused credential) is not an outage.
 */
import { ErrorResponse } from '@azure/cosmos';
import { MessagingError, ServiceBusError } from '@azure/service-bus';

/** Cosmos DB answers meaning "try again later": timeout, throttled, write conflict in flight (and any 5xx). */
const COSMOS_TRANSIENT_STATUS = new Set([408, 429, 449]);
/** Node's codes for a peer that cannot be reached or went away mid-request. */
const NETWORK_ERROR_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'ENOTFOUND', 'EAI_AGAIN']);
const TIMEOUT_ERROR_NAMES = new Set(['AbortError', 'TimeoutError']);
/** How far down `cause` chains to look: SDKs wrap the socket error once or twice. */
const MAX_CAUSE_DEPTH = 4;

function isOutageItself(error: unknown): boolean {
    // The Service Bus SDK gives up on a send with an AggregateError of its tries' errors.
    if (error instanceof AggregateError) return error.errors.length > 0 && error.errors.every(isDependencyOutage);
    if (
        error instanceof ErrorResponse &&
        (error.code === undefined || COSMOS_TRANSIENT_STATUS.has(Number(error.code)) || Number(error.code) >= 500)
    ) {
        return true;
    }
    if (error instanceof ServiceBusError || error instanceof MessagingError) return true;
    // By shape, not class: a DOMException from AbortSignal.timeout() is not always `instanceof Error`.
    if (typeof error !== 'object' || error === null) return false;
    const { code, name } = error as { code?: unknown; name?: unknown };
    return (
        (typeof code === 'string' && NETWORK_ERROR_CODES.has(code)) ||
        (typeof name === 'string' && TIMEOUT_ERROR_NAMES.has(name))
    );
}

/** The error and the errors it wraps, outermost first. */
function* causeChain(error: unknown): Generator<unknown> {
    let current = error;
    for (let depth = 0; depth <= MAX_CAUSE_DEPTH && current !== undefined; depth++) {
        yield current;
        current = typeof current === 'object' && current !== null ? (current as { cause?: unknown }).cause : undefined;
    }
}

export function isDependencyOutage(error: unknown): boolean {
    for (const cause of causeChain(error)) if (isOutageItself(cause)) return true;
    return false;
}

/** How long Cosmos DB asked us to wait (a 429's `x-ms-retry-after-ms`, as the SDK reads it), if it did. */
export function outageRetryAfterMs(error: unknown): number | undefined {
    for (const cause of causeChain(error)) {
        if (!(cause instanceof ErrorResponse)) continue;
        const header = Number(cause.headers?.['x-ms-retry-after-ms']);
        const ms = cause.retryAfterInMs ?? cause.retryAfterInMilliseconds ?? (header >= 0 ? header : undefined);
        if (typeof ms === 'number' && Number.isFinite(ms) && ms >= 0) return ms;
    }
    return undefined;
}
