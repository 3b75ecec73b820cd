import type { ConfidentialClientApplication } from '@azure/msal-node';

import { msal } from '../../platform/lazyModules';
import { toTokenAcquisitionError } from './authErrors';
import { type AppCredentialOptions, DEFAULT_REFRESH_MARGIN_MS, msalConfiguration } from './refreshToken';
import { TokenAcquisitionError } from './types';

/** Partner Center's own API (webhook registration): its resource, with whatever the app was granted on it. */
export const PARTNER_CENTER_API_SCOPE = 'https://api.partnercenter.microsoft.com/.default';

const APP_ONLY_ACTION =
    'Entra ID refused the app-only sign-in: check PARTNER_API_TENANT_ID and PARTNER_API_CLIENT_ID, and that the app ' +
    'registration may call Partner Center\'s API (docs/partner-api-auth.md, "Webhook registration").';

/**
 * An app-only token (client credentials: the app registration's secret or certificate, no user) for an API that
 * accepts one, such as Partner Center's webhook registration API. The referrals API does not: it needs App+User
 * (RefreshTokenProvider). The token is kept until DEFAULT_REFRESH_MARGIN_MS before it expires.
 */
export class AppOnlyTokenProvider {
    private readonly app: ConfidentialClientApplication;
    private cached: { accessToken: string; expiresAtMs: number } | undefined;

    constructor(
        options: AppCredentialOptions,
        private readonly scopes: string[] = [PARTNER_CENTER_API_SCOPE],
        private readonly now: () => number = Date.now,
    ) {
        this.app = new (msal().ConfidentialClientApplication)(msalConfiguration(options));
    }

    async getToken(): Promise<string> {
        if (this.cached && this.cached.expiresAtMs - DEFAULT_REFRESH_MARGIN_MS > this.now())
            return this.cached.accessToken;
        try {
            const result = await this.app.acquireTokenByClientCredential({ scopes: this.scopes });
            if (!result?.accessToken) throw new Error('The token endpoint answered without an access token.');
            this.cached = { accessToken: result.accessToken, expiresAtMs: result.expiresOn?.getTime() ?? this.now() };
            return result.accessToken;
        } catch (error) {
            const failure = toTokenAcquisitionError(error);
            // The other reasons' actions are about the refresh token, which an app-only sign-in does not use.
            if (failure.reason === 'invalid-client' || failure.reason === 'unavailable') throw failure;
            throw new TokenAcquisitionError(failure.reason, APP_ONLY_ACTION, failure.transient, failure.authErrorCode, {
                cause: error,
            });
        }
    }
}
