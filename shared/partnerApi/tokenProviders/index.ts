import { type PartnerApiConfig, type PartnerCenterApiConfig } from '../../platform/config';
import { AppOnlyTokenProvider } from './appOnly';
import { createKeyVaultTokenCacheStore } from './keyVaultTokenCache';
import { RefreshTokenProvider, type RefreshTokenProviderOptions } from './refreshToken';
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

/** The provider named by PARTNER_API_AUTH. The config is already validated (shared/platform/config.ts). */
export function createTokenProvider(
    config: PartnerApiConfig,
    overrides: TokenProviderOverrides = {},
): PartnerApiTokenProvider {
    switch (config.auth) {
        case 'none':
            return new NoTokenProvider();
        case 'static':
            return new StaticTokenProvider(config.staticToken ?? '');
        case 'refresh-token':
            return new RefreshTokenProvider({
                tenantId: config.tenantId ?? '',
                clientId: config.clientId ?? '',
                clientSecret: config.clientSecret,
                clientCertificatePem: config.clientCertificatePem,
                refreshToken: config.refreshToken ?? '',
                authorityHost: config.authorityHost,
                ...(config.tokenCache ? { cacheStore: createKeyVaultTokenCacheStore(config.tokenCache) } : {}),
                ...overrides,
            });
    }
}

/**
 * The token for Partner Center's own API (the webhook registration): in production (`refresh-token`) an app-only
 * token from the app registration's credentials, which that API accepts; otherwise as for the Partner API.
 */
export function createPartnerCenterTokenSource(
    config: PartnerCenterApiConfig,
): Pick<PartnerApiTokenProvider, 'getToken'> {
    switch (config.auth) {
        case 'none':
            return new NoTokenProvider();
        case 'static':
            return new StaticTokenProvider(config.staticToken ?? '');
        case 'refresh-token':
            return new AppOnlyTokenProvider({
                tenantId: config.tenantId ?? '',
                clientId: config.clientId ?? '',
                clientSecret: config.clientSecret,
                clientCertificatePem: config.clientCertificatePem,
                authorityHost: config.authorityHost,
            });
    }
}
