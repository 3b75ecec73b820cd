import { type PartnerApiConfig, type PartnerCenterApiConfig } from '../../platform/config';
import { AppOnlyTokenProvider } from './appOnly';
import { createKeyVaultTokenCacheStore } from './keyVaultTokenCache';
import { type AppCredentialOptions, RefreshTokenProvider, type RefreshTokenProviderOptions } from './refreshToken';
import { NoTokenProvider, StaticTokenProvider } from './staticToken';
import { type PartnerApiTokenProvider } from './types';

export { AppOnlyTokenProvider, PARTNER_CENTER_API_SCOPE } from './appOnly';
export { OPERATOR_ACTIONS, toTokenAcquisitionError } from './authErrors';
export {
    certificateCredential,
    DEFAULT_REFRESH_MARGIN_MS,
    DEFAULT_RENEWAL_TIMEOUT_MS,
    PARTNER_API_SCOPE,
    RefreshTokenProvider,
    type RefreshTokenProviderOptions,
} from './refreshToken';
export { NoTokenProvider, StaticTokenProvider } from './staticToken';
export { TimeLimitExceeded, withinTime } from './timeLimit';
export { InMemoryTokenCacheStore, tokenCachePlugin, type TokenCacheStore } from './tokenCacheStore';
export { type PartnerApiTokenProvider, TokenAcquisitionError, type TokenFailureReason } from './types';

/**
 * Seams for the refresh-token mode (loopback in tests). Without a `cacheStore`, the token cache is kept in Key Vault
 * when PARTNER_API_TOKEN_CACHE_VAULT_URL is set (shared/partnerApi/tokenProviders/keyVaultTokenCache.ts), else in memory.
 */
export type TokenProviderOverrides = Pick<
    RefreshTokenProviderOptions,
    'cacheStore' | 'networkClient' | 'knownAuthorities' | 'cloudDiscoveryMetadata' | 'refreshMarginMs' | 'now'
>;

/** The app registration's credentials, as both sign-ins (App+User, app-only) take them. */
function appCredentials(config: PartnerApiConfig | PartnerCenterApiConfig): AppCredentialOptions {
    return {
        tenantId: config.tenantId ?? '',
        clientId: config.clientId ?? '',
        clientSecret: config.clientSecret,
        clientCertificatePem: config.clientCertificatePem,
        authorityHost: config.authorityHost,
    };
}

/** The development modes, the same for both of Partner Center's APIs: a token from PARTNER_API_TOKEN, or none. */
function developmentTokenProvider(auth: 'static' | 'none', staticToken: string | undefined): PartnerApiTokenProvider {
    return auth === 'none' ? new NoTokenProvider() : new StaticTokenProvider(staticToken ?? '');
}

/** The provider named by PARTNER_API_AUTH. The config is already validated (shared/platform/config.ts). */
export function createTokenProvider(
    config: PartnerApiConfig,
    overrides: TokenProviderOverrides = {},
): PartnerApiTokenProvider {
    if (config.auth !== 'refresh-token') return developmentTokenProvider(config.auth, config.staticToken);
    return new RefreshTokenProvider({
        ...appCredentials(config),
        refreshToken: config.refreshToken ?? '',
        ...(config.tokenCache ? { cacheStore: createKeyVaultTokenCacheStore(config.tokenCache) } : {}),
        ...overrides,
    });
}

/**
 * The token for Partner Center's own API (the webhook registration): in production (`refresh-token`) an app-only
 * token from the app registration's credentials, which that API accepts; otherwise as for the Partner API.
 */
export function createPartnerCenterTokenSource(
    config: PartnerCenterApiConfig,
): Pick<PartnerApiTokenProvider, 'getToken'> {
    if (config.auth !== 'refresh-token') return developmentTokenProvider(config.auth, config.staticToken);
    return new AppOnlyTokenProvider(appCredentials(config));
}
