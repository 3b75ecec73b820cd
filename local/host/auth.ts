/**
 * Function keys, as the Functions host checks them: `authLevel` `anonymous` needs nothing; `function` and `admin`
 * need a key in the `x-functions-key` header or the `code` query parameter. The local host has one key for both
 * levels (Azure has per-function keys and a master key for `admin`).
 */
import { timingSafeEqual } from 'node:crypto';

/** The key used when `LOCAL_FUNCTION_KEY` is not set. Development only: it is printed and documented. */
export const DEFAULT_LOCAL_FUNCTION_KEY = 'local-dev-function-key';

export function localFunctionKey(env: Record<string, string | undefined> = process.env): string {
    return env.LOCAL_FUNCTION_KEY?.trim() || DEFAULT_LOCAL_FUNCTION_KEY;
}

function sameKey(given: string, expected: string): boolean {
    const a = Buffer.from(given);
    const b = Buffer.from(expected);
    return a.length === b.length && timingSafeEqual(a, b);
}

export function isAuthorized(
    authLevel: unknown,
    headerKey: string | undefined,
    queryKey: string | null | undefined,
    expectedKey: string,
): boolean {
    const level = typeof authLevel === 'string' ? authLevel.toLowerCase() : 'function';
    if (level === 'anonymous') return true;
    return [headerKey, queryKey].some((key) => typeof key === 'string' && key.length > 0 && sameKey(key, expectedKey));
}
