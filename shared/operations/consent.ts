/**
 * The one-time consent of the refresh-token mode (docs/partner-api-auth.md): a Partner Center user with the Referrals
 * Admin role signs in once with the device code flow (any browser, with MFA), and the refresh token it yields is
 * stored where the app reads it:
 *
 * - Key Vault secret `partner-api-refresh-token` (the PARTNER_API_REFRESH_TOKEN Key Vault reference), and
 * - a fresh token cache in `partner-api-token-cache`, redeemed once with the app's own credentials, so running
 *   instances adopt the new refresh token at their next sync of the cache, without a restart;
 *
 * or, for local use, only returned, for the operator to put in PARTNER_API_REFRESH_TOKEN themselves.
 * Nothing here logs a token; the caller decides what to print.
 */
import { type Configuration, type INetworkModule, PublicClientApplication } from '@azure/msal-node';

import { KeyVaultTokenCacheStore, type SecretStore } from '../partnerApi/tokenProviders/keyVaultTokenCache';
import { RefreshTokenProvider } from '../partnerApi/tokenProviders/refreshToken';
import { InMemoryTokenCacheStore } from '../partnerApi/tokenProviders/tokenCacheStore';
import { TAG_REFRESHED_AT, type TokenEventSink, type TokenHealth, tokenHealth } from './tokenHealth';

/** Delegated permission on the Partner API; msal adds offline_access (the refresh token) and openid/profile. */
export const CONSENT_SCOPES = ['https://api.partner.microsoft.com/user_impersonation'];
export const REFRESH_TOKEN_SECRET = 'partner-api-refresh-token';
export const TOKEN_CACHE_SECRET = 'partner-api-token-cache';

export interface ConsentOptions {
    tenantId: string;
    clientId: string;
    authorityHost: string;
    /** Shown to the operator: where to go and which code to enter. */
    onDeviceCode: (message: string) => void;
    /** msal seams (tests reach a loopback authority through them). */
    networkClient?: INetworkModule;
    knownAuthorities?: string[];
    cloudDiscoveryMetadata?: string;
}

function msalAuthority(options: Pick<ConsentOptions, 'authorityHost' | 'tenantId'>): string {
    return `${options.authorityHost.replace(/\/+$/, '')}/${options.tenantId}`;
}

/** Signs the operator in with the device code flow and answers the refresh token of that sign-in. */
export async function signInWithDeviceCode(options: ConsentOptions): Promise<{ refreshToken: string; user?: string }> {
    const configuration: Configuration = {
        auth: {
            clientId: options.clientId,
            authority: msalAuthority(options),
            ...(options.knownAuthorities ? { knownAuthorities: options.knownAuthorities } : {}),
            ...(options.cloudDiscoveryMetadata ? { cloudDiscoveryMetadata: options.cloudDiscoveryMetadata } : {}),
        },
        system: {
            ...(options.networkClient ? { networkClient: options.networkClient } : {}),
            loggerOptions: { piiLoggingEnabled: false },
        },
    };
    const app = new PublicClientApplication(configuration);
    const result = await app.acquireTokenByDeviceCode({
        scopes: CONSENT_SCOPES,
        deviceCodeCallback: (response) => options.onDeviceCode(response.message),
    });
    // msal keeps refresh tokens out of its results; its serialized cache holds the one of this sign-in.
    const cache = JSON.parse(app.getTokenCache().serialize()) as { RefreshToken?: Record<string, { secret?: string }> };
    const refreshToken = Object.values(cache.RefreshToken ?? {})[0]?.secret;
    if (!refreshToken) throw new Error('The sign-in answered without a refresh token (is offline_access allowed?).');
    return { refreshToken, user: result?.account?.username };
}

export interface StoreConsentOptions {
    refreshToken: string;
    tenantId: string;
    clientId: string;
    clientSecret?: string;
    clientCertificatePem?: string;
    authorityHost: string;
    secrets: SecretStore;
    refreshTokenSecretName?: string;
    tokenCacheSecretName?: string;
    networkClient?: INetworkModule;
    knownAuthorities?: string[];
    cloudDiscoveryMetadata?: string;
    events?: TokenEventSink;
    now?: () => number;
}

/**
 * Stores a refresh token from the consent in Key Vault, and a token cache built from it alone (redeemed once with the
 * app's credentials, which also proves the token works for the Partner API scope before anything is replaced).
 */
export async function storeConsent(options: StoreConsentOptions): Promise<TokenHealth> {
    const fresh = new InMemoryTokenCacheStore();
    const provider = new RefreshTokenProvider({
        tenantId: options.tenantId,
        clientId: options.clientId,
        clientSecret: options.clientSecret,
        clientCertificatePem: options.clientCertificatePem,
        refreshToken: options.refreshToken,
        authorityHost: options.authorityHost,
        cacheStore: fresh,
        networkClient: options.networkClient,
        knownAuthorities: options.knownAuthorities,
        cloudDiscoveryMetadata: options.cloudDiscoveryMetadata,
    });
    await provider.getToken();
    const serialized = await fresh.load();
    if (!serialized) throw new Error('The redemption left no token cache.');

    await options.secrets.setSecret(options.refreshTokenSecretName ?? REFRESH_TOKEN_SECRET, options.refreshToken);
    const failures: string[] = [];
    const store = new KeyVaultTokenCacheStore(options.secrets, {
        secretName: options.tokenCacheSecretName ?? TOKEN_CACHE_SECRET,
        now: options.now,
        events: (level, name, fields) => {
            if (level === 'error') failures.push(fields.errorCode ?? name);
            options.events?.(level, name, fields);
        },
    });
    await store.save(serialized);
    if (failures.length > 0)
        throw new Error(`The token cache could not be written to Key Vault (${failures.join(', ')}).`);
    return readTokenHealth(options.secrets, options.tokenCacheSecretName ?? TOKEN_CACHE_SECRET, options.now?.());
}

/** The health of the stored token cache, from its tags only (the value is read by the SDK, never shown). */
export async function readTokenHealth(
    secrets: SecretStore,
    secretName: string = TOKEN_CACHE_SECRET,
    nowMs: number = Date.now(),
): Promise<TokenHealth> {
    try {
        const secret = await secrets.getSecret(secretName);
        const refreshedAt = Date.parse(secret.properties.tags?.[TAG_REFRESHED_AT] ?? '');
        return tokenHealth(Number.isFinite(refreshedAt) ? refreshedAt : undefined, nowMs, secret.properties.version);
    } catch (error) {
        if ((error as { statusCode?: unknown }).statusCode === 404) return tokenHealth(undefined, nowMs);
        throw error;
    }
}
