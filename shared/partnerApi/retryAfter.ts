/**
 * `Retry-After` is either a number of seconds or an HTTP date (RFC 9110 §10.2.3). The Partner API sends it with 429
 * and 503; the queue uses it as the floor of its back-off, so it is returned in milliseconds from `now`.
 */
export function parseRetryAfterMs(value: string | string[] | undefined, now: number = Date.now()): number | undefined {
    const raw = (Array.isArray(value) ? value[0] : value)?.trim();
    if (!raw) return undefined;
    if (/^\d+(\.\d+)?$/.test(raw)) return Math.round(Number(raw) * 1000);
    const date = Date.parse(raw);
    if (Number.isNaN(date)) return undefined;
    return Math.max(0, date - now);
}
