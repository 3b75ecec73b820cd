import type { RetryConfig } from '../platform/config';

/**
 * The longest Retry-After honoured as given. A longer one (`Retry-After: 86400`) would park the referral for a day
 * on one answer: we retry at the cap instead, and the step logs it. The Partner API asks again if it still means it.
 */
export const RETRY_AFTER_CAP_MS = 60 * 60 * 1000;

/**
 * How long to wait before attempt `attempt + 1` of a step: exponential back-off with "equal jitter" (half fixed,
 * half random, so retries spread out but never come back at once), capped at `maxDelayMs`, never shorter than the
 * API's Retry-After (itself capped at RETRY_AFTER_CAP_MS).
 */
export function retryDelayMs(
    attempt: number,
    retryAfterMs: number | undefined,
    config: Pick<RetryConfig, 'baseDelayMs' | 'maxDelayMs'>,
    random: () => number = Math.random,
): number {
    const exponential = Math.min(config.maxDelayMs, config.baseDelayMs * 2 ** Math.max(0, attempt - 1));
    const jittered = exponential / 2 + random() * (exponential / 2);
    return Math.ceil(Math.max(Math.min(retryAfterMs ?? 0, RETRY_AFTER_CAP_MS), jittered));
}
