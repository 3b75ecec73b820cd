import { createPrivateKey, X509Certificate } from 'node:crypto';

import type {
    AccountInfo,
    AuthenticationResult,
    ConfidentialClientApplication,
    Configuration,
    INetworkModule,
} from '@azure/msal-node';

import { msal } from '../../platform/lazyModules';
import { OPERATOR_ACTIONS, toTokenAcquisitionError } from './authErrors';
import { TimeLimitExceeded, withinTime } from './timeLimit';
import { InMemoryTokenCacheStore, tokenCachePlugin, type TokenCacheStore } from './tokenCacheStore';
import { type PartnerApiTokenProvider, TokenAcquisitionError } from './types';

/** `.default` asks for the delegated permissions the app was consented for on the Partner API resource. */
export const PARTNER_API_SCOPE = 'https://api.partner.microsoft.com/.default';

/** Renew this long before expiry, so a token never expires in the middle of a call (or of msal's clock skew). */
export const DEFAULT_REFRESH_MARGIN_MS = 5 * 60 * 1000;

/** A renewal (token cache read, token endpoint, cache write) that has not ended by then is given up. */
export const DEFAULT_RENEWAL_TIMEOUT_MS = 30_000;

export interface RefreshTokenProviderOptions {
    tenantId: string;
    clientId: string;
    clientSecret?: string;
    /** PEM with the private key and the certificate, instead of a client secret. */
    clientCertificatePem?: string;
    /** The refresh token from the one-time consent; used when the token cache holds no account yet. */
    refreshToken: string;
    /** E.g. https://login.microsoftonline.com. */
    authorityHost: string;
    scopes?: string[];
    refreshMarginMs?: number;
    /**
     * Time limit of one renewal. msal takes no abort signal, so a token endpoint (or cache store) that never answers
     * would otherwise hold every caller, now and later, on the one shared renewal.
     */
    renewalTimeoutMs?: number;
    /** Keeps msal's cache (and so the rotated refresh token) across restarts. In memory by default. */
    cacheStore?: TokenCacheStore;
    /** msal's HTTP seam: tests route the authority to a loopback server through it. */
    networkClient?: INetworkModule;
    /** Hosts msal trusts without instance discovery (needed for any authority that is not a public Entra cloud). */
    knownAuthorities?: string[];
    /**
     * Instance discovery answer for such an authority (JSON string, as msal takes it). msal matches cached refresh
     * tokens to the authority through its aliases; without this, a custom authority never finds its own tokens.
     */
    cloudDiscoveryMetadata?: string;
    now?: () => number;
}

interface CachedToken {
    accessToken: string;
    expiresAtMs: number;
}

/**
 * PARTNER_API_AUTH=refresh-token: the secure application model. An msal confidential client redeems the refresh token
 * of a one-time, MFA-backed consent for Partner API access tokens. Tokens are kept until `refreshMarginMs` before they
 * expire; concurrent callers share one renewal, which has a time limit; the rotated refresh token stays in msal's
 * cache (see `cacheStore`).
 */
export class RefreshTokenProvider implements PartnerApiTokenProvider {
    readonly mode = 'refresh-token' as const;
    private readonly app: ConfidentialClientApplication;
    private readonly scopes: string[];
    private readonly refreshMarginMs: number;
    private readonly now: () => number;
    private cached: CachedToken | undefined;
    private renewal: Promise<string> | undefined;
    /** Set by `invalidate`: msal's own cache may still hold the rejected token, so the next renewal bypasses it. */
    private bypassMsalCache = false;

    constructor(private readonly options: RefreshTokenProviderOptions) {
        this.scopes = options.scopes ?? [PARTNER_API_SCOPE];
        this.refreshMarginMs = options.refreshMarginMs ?? DEFAULT_REFRESH_MARGIN_MS;
        this.now = options.now ?? Date.now;
        this.app = new (msal().ConfidentialClientApplication)(msalConfiguration(options));
    }

    getToken(): Promise<string> {
        if (this.cached && this.isFresh(this.cached.expiresAtMs)) return Promise.resolve(this.cached.accessToken);
        this.renewal ??= this.renewWithinTime().finally(() => {
            this.renewal = undefined;
        });
        return this.renewal;
    }

    invalidate(): void {
        this.cached = undefined;
        this.bypassMsalCache = true;
    }

    private isFresh(expiresAtMs: number): boolean {
        return expiresAtMs - this.refreshMarginMs > this.now();
    }

    private async renewWithinTime(): Promise<string> {
        const limitMs = this.options.renewalTimeoutMs ?? DEFAULT_RENEWAL_TIMEOUT_MS;
        try {
            return await withinTime(limitMs, () => this.renew());
        } catch (error) {
            if (!(error instanceof TimeLimitExceeded)) throw error;
            throw new TokenAcquisitionError('unavailable', OPERATOR_ACTIONS.unavailable, true, 'renewalTimeout', {
                cause: error,
            });
        }
    }

    private async renew(): Promise<string> {
        try {
            const result = (await this.fromTokenCache()) ?? (await this.fromConfiguredRefreshToken());
            if (!result?.accessToken) {
                throw new TokenAcquisitionError(
                    'unexpected',
                    'The token endpoint answered without an access token.',
                    true,
                );
            }
            this.bypassMsalCache = false;
            this.cached = {
                accessToken: result.accessToken,
                expiresAtMs: result.expiresOn?.getTime() ?? this.now() + this.refreshMarginMs,
            };
            return result.accessToken;
        } catch (error) {
            throw toTokenAcquisitionError(error);
        }
    }

    /** The account of an earlier redemption (this process, or a cache store): msal renews with the newest refresh token. */
    private async fromTokenCache(): Promise<AuthenticationResult | undefined> {
        const [account] = await this.app.getTokenCache().getAllAccounts();
        if (!account) return undefined;
        try {
            let result = await this.silent(account, this.bypassMsalCache);
            // msal renews 5 minutes before expiry by default; with a larger margin its cached token may be "stale" here.
            if (!this.isFresh(result.expiresOn?.getTime() ?? 0)) result = await this.silent(account, true);
            return result;
        } catch (error) {
            // The cached refresh token is dead; the configured one may be newer (an operator re-ran the consent).
            if (error instanceof msal().InteractionRequiredAuthError || isInvalidGrant(error)) return undefined;
            throw error;
        }
    }

    private silent(account: AccountInfo, forceRefresh: boolean): Promise<AuthenticationResult> {
        return this.app.acquireTokenSilent({ account, scopes: this.scopes, forceRefresh });
    }

    private async fromConfiguredRefreshToken(): Promise<AuthenticationResult | undefined> {
        // forceCache: keep the account and the rotated refresh token even though the cache had no account before.
        const result = await this.app.acquireTokenByRefreshToken({
            refreshToken: this.options.refreshToken,
            scopes: this.scopes,
            forceCache: true,
        });
        return result ?? undefined;
    }
}

function isInvalidGrant(error: unknown): boolean {
    return (
        typeof error === 'object' && error !== null && (error as { errorCode?: unknown }).errorCode === 'invalid_grant'
    );
}

/** What msal needs to sign in as the app registration (its credentials, and the seams tests use). */
export type AppCredentialOptions = Pick<
    RefreshTokenProviderOptions,
    | 'tenantId'
    | 'clientId'
    | 'clientSecret'
    | 'clientCertificatePem'
    | 'authorityHost'
    | 'cacheStore'
    | 'networkClient'
    | 'knownAuthorities'
    | 'cloudDiscoveryMetadata'
>;

/** The confidential client's configuration: the app registration's secret or certificate, the tenant's authority. */
export function msalConfiguration(options: AppCredentialOptions): Configuration {
    const { clientSecret, clientCertificatePem } = options;
    if (!clientSecret && !clientCertificatePem)
        throw new Error('signing in as the app needs a client secret or certificate');
    return {
        auth: {
            clientId: options.clientId,
            authority: `${options.authorityHost.replace(/\/+$/, '')}/${options.tenantId}`,
            ...(clientSecret ? { clientSecret } : { clientCertificate: certificateCredential(clientCertificatePem!) }),
            ...(options.knownAuthorities ? { knownAuthorities: options.knownAuthorities } : {}),
            ...(options.cloudDiscoveryMetadata ? { cloudDiscoveryMetadata: options.cloudDiscoveryMetadata } : {}),
        },
        cache: { cachePlugin: tokenCachePlugin(options.cacheStore ?? new InMemoryTokenCacheStore()) },
        system: {
            ...(options.networkClient ? { networkClient: options.networkClient } : {}),
            loggerOptions: { piiLoggingEnabled: false },
        },
    };
}

/** msal wants the SHA-256 thumbprint, a PKCS#8 key and (for subject name/issuer auth) the certificate chain. */
export function certificateCredential(pem: string): { thumbprintSha256: string; privateKey: string; x5c: string } {
    const certificates = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g);
    const key =
        /-----BEGIN (?:RSA |EC |ENCRYPTED )?PRIVATE KEY-----[\s\S]+?-----END (?:RSA |EC |ENCRYPTED )?PRIVATE KEY-----/.exec(
            pem,
        );
    if (!certificates?.[0] || !key) {
        throw new Error('PARTNER_API_CLIENT_CERTIFICATE must hold a PEM private key and a PEM certificate');
    }
    const thumbprintSha256 = new X509Certificate(certificates[0]).fingerprint256.replace(/:/g, '').toLowerCase();
    const privateKey = createPrivateKey(key[0]).export({ format: 'pem', type: 'pkcs8' }).toString();
    return { thumbprintSha256, privateKey, x5c: certificates.join('\n') };
}
