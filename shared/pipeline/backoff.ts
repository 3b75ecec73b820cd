import type { RetryConfig } from '../platform/config';

/**
 * How long to wait before attempt `attempt + 1` of a step: exponential back-off with "equal jitter" (half fixed,
 * half random, so retries spread out but never come back at once), never shorter than the API's Retry-After.
 */
export function retryDelayMs(
    attempt: number,
    retryAfterMs: number | undefined,
    config: RetryConfig,
    random: () => number = Math.random,
): number {
    const exponential = Math.min(config.maxDelayMs, config.baseDelayMs * 2 ** Math.max(0, attempt - 1));
    const jittered = exponential / 2 + random() * (exponential / 2);
    return Math.ceil(Math.max(retryAfterMs ?? 0, jittered));
}
