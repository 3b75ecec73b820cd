/**
 * The Partner API throttles per partner tenant with 429 and `Retry-After` (partner-api.md §10). This is a token bucket
 * per tenant: `ratePerSecond` tokens a second, up to `burst` held; a request takes one or is answered 429 with the
 * whole seconds until the next token is free, so a client that waits exactly that long finds one and can use all of
 * the limit.
 */

export interface RateLimitSettings {
    ratePerSecond: number;
    /** 0: one second's worth, at least 1. */
    burst: number;
}

export type RateLimitDecision = { allowed: true } | { allowed: false; retryAfterSeconds: number };

interface Bucket {
    tokens: number;
    at: number;
}

export class TokenBuckets {
    private readonly buckets = new Map<string, Bucket>();
    private settingsKey = '';

    constructor(private readonly now: () => number) {}

    take(tenant: string, settings: RateLimitSettings): RateLimitDecision {
        const { ratePerSecond } = settings;
        if (ratePerSecond <= 0) return { allowed: true };
        const capacity = settings.burst > 0 ? settings.burst : Math.max(1, ratePerSecond);
        // New settings start every bucket full again, as a fresh limit would.
        const key = `${ratePerSecond}/${capacity}`;
        if (key !== this.settingsKey) {
            this.buckets.clear();
            this.settingsKey = key;
        }
        const now = this.now();
        const bucket = this.buckets.get(tenant) ?? { tokens: capacity, at: now };
        bucket.tokens = Math.min(capacity, bucket.tokens + ((now - bucket.at) / 1000) * ratePerSecond);
        bucket.at = now;
        this.buckets.set(tenant, bucket);
        if (bucket.tokens >= 1) {
            bucket.tokens -= 1;
            return { allowed: true };
        }
        const secondsToNextToken = (1 - bucket.tokens) / ratePerSecond;
        return { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil(secondsToNextToken - 1e-9)) };
    }

    clear(): void {
        this.buckets.clear();
    }
}

/**
 * The tenant a request counts against: the `tid` claim of a JWT bearer token (as Partner Center's tokens carry), else
 * one shared tenant (opaque test tokens, the app's PARTNER_API_AUTH=none mode).
 */
export function tenantOf(authorization: string | undefined): string {
    const token = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '')?.[1];
    const payload = token?.split('.')[1];
    if (payload) {
        try {
            const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as unknown;
            if (typeof claims === 'object' && claims !== null && 'tid' in claims && typeof claims.tid === 'string') {
                return claims.tid.toLowerCase();
            }
        } catch {
            // Not a JWT: the shared tenant.
        }
    }
    return '*';
}
