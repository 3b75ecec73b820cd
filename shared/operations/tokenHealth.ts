/**
 * Health of the Partner API refresh token, as operators see it: when the token cache was last refreshed (the refresh
 * token rotates on every redemption), and when the refresh token expires if nothing uses it (90 days of inactivity
 * for this flow). Kept as tags on the Key Vault secret of the token cache, so `az keyvault secret show` and the portal
 * show it without revealing the secret, and `npm run partner:consent -- status` prints it.
 *
 * Events here carry dates, counts and codes from a closed list: never a token, a secret or a cache.
 */
import type { LogEvent } from '../platform/logging';

/** Refresh tokens of this flow expire after this long unused (Entra ID's inactivity limit). */
export const REFRESH_TOKEN_INACTIVITY_DAYS = 90;
/** From this many days before that, the token is reported as expiring (alert-worthy). */
export const EXPIRY_WARNING_DAYS = 14;

const DAY_MS = 86_400_000;

/** Tag names on the token cache secret. */
export const TAG_REFRESHED_AT = 'refreshedAt';
export const TAG_EXPIRES_IF_UNUSED = 'refreshTokenExpiresIfUnusedAt';

export type TokenState = 'healthy' | 'expiring' | 'expired' | 'unknown';

export interface TokenHealth {
    state: TokenState;
    /** When the refresh token was last redeemed and the cache saved. */
    lastRefreshedAt?: string;
    /** When the refresh token expires if it is not used again before then. */
    refreshTokenExpiresAt?: string;
    daysLeft?: number;
    secretVersion?: string;
}

export function expiresIfUnusedAt(refreshedAtMs: number): number {
    return refreshedAtMs + REFRESH_TOKEN_INACTIVITY_DAYS * DAY_MS;
}

export function tokenHealth(refreshedAtMs: number | undefined, nowMs: number, secretVersion?: string): TokenHealth {
    if (refreshedAtMs === undefined || !Number.isFinite(refreshedAtMs)) return { state: 'unknown', secretVersion };
    const expiresAt = expiresIfUnusedAt(refreshedAtMs);
    const daysLeft = Math.floor((expiresAt - nowMs) / DAY_MS);
    const state: TokenState = expiresAt <= nowMs ? 'expired' : daysLeft < EXPIRY_WARNING_DAYS ? 'expiring' : 'healthy';
    return {
        state,
        lastRefreshedAt: new Date(refreshedAtMs).toISOString(),
        refreshTokenExpiresAt: new Date(expiresAt).toISOString(),
        daysLeft: Math.max(0, daysLeft),
        secretVersion,
    };
}

/** The only fields token events carry. */
export interface TokenEventFields extends Partial<TokenHealth> {
    errorCode?: string;
    httpStatus?: number;
}

export type TokenEventLevel = 'info' | 'warn' | 'error';
export type TokenEventSink = (level: TokenEventLevel, name: LogEvent, fields: TokenEventFields) => void;

/**
 * Token events outside any invocation (the token cache is process-wide): one JSON line on the console, which the
 * Functions host forwards to Application Insights as a trace with its severity. Alert on the event names listed in
 * docs/operations.md.
 */
export const consoleTokenEvents: TokenEventSink = (level, name, fields) => {
    const line = JSON.stringify({ event: name, ...fields });
    /* eslint-disable no-console -- outside an invocation there is no InvocationContext; see above */
    if (level === 'error') console.error(line);
    else if (level === 'warn') console.warn(line);
    else console.info(line);
    /* eslint-enable no-console */
};

/** Reports the health: warn when expiring, error when expired, info otherwise. */
export function reportTokenHealth(sink: TokenEventSink, health: TokenHealth): void {
    const level: TokenEventLevel = health.state === 'expired' ? 'error' : health.state === 'expiring' ? 'warn' : 'info';
    const name =
        health.state === 'expired' || health.state === 'expiring'
            ? 'partnerApi.refreshTokenExpiring'
            : 'partnerApi.tokenHealth';
    sink(level, name, health);
}
