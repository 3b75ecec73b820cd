/**
 * The consent: device code sign-in with the real msal PublicClientApplication against the loopback token endpoint
 * (its device-authorization answer given by a thin network-client wrapper), then the refresh token and a fresh token
 * cache stored through the real SecretClient in the loopback Key Vault stand-in.
 */
import type { INetworkModule } from '@azure/msal-node';

import { readTokenHealth, signInWithDeviceCode, storeConsent } from '../../../shared/operations/consent';
import { TAG_REFRESHED_AT } from '../../../shared/operations/tokenHealth';
import {
    CLIENT_ID,
    FAKE_AUTHORITY_HOST,
    FAKE_CLOUD_DISCOVERY_METADATA,
    FakeTokenEndpoint,
    loopbackNetworkClient,
    TENANT_ID,
} from '../../unit/partnerApi/fakeTokenEndpoint';
import { KeyVaultStandIn } from './keyVaultStandIn';

let vault: KeyVaultStandIn;
let endpoint: FakeTokenEndpoint;

beforeAll(async () => {
    vault = new KeyVaultStandIn();
    endpoint = new FakeTokenEndpoint();
    await Promise.all([vault.start(), endpoint.start()]);
});

afterAll(async () => {
    await Promise.all([vault?.stop(), endpoint?.stop()]);
});

/** The token endpoint's network client, plus the device authorization endpoint the fake does not serve. */
function withDeviceCode(network: INetworkModule): INetworkModule {
    return {
        sendGetRequestAsync: (url, options) => network.sendGetRequestAsync(url, options),
        sendPostRequestAsync: <T>(url: string, options?: Parameters<INetworkModule['sendPostRequestAsync']>[1]) => {
            if (!url.startsWith(`${FAKE_AUTHORITY_HOST}/${TENANT_ID}/oauth2/v2.0/devicecode`)) {
                return network.sendPostRequestAsync<T>(url, options);
            }
            return Promise.resolve({
                status: 200,
                headers: {},
                body: {
                    device_code: 'device-code-1',
                    user_code: 'ABCD-EFGH',
                    verification_uri: 'https://microsoft.com/devicelogin',
                    expires_in: 900,
                    interval: 1,
                    message: 'To sign in, open https://microsoft.com/devicelogin and enter the code ABCD-EFGH.',
                } as T,
            });
        },
    };
}

const seams = () => ({
    knownAuthorities: [new URL(FAKE_AUTHORITY_HOST).host],
    cloudDiscoveryMetadata: FAKE_CLOUD_DISCOVERY_METADATA,
    networkClient: withDeviceCode(loopbackNetworkClient(endpoint)),
});

it('signs in with a device code and stores the refresh token and a fresh token cache in Key Vault', async () => {
    const messages: string[] = [];
    const { refreshToken } = await signInWithDeviceCode({
        tenantId: TENANT_ID,
        clientId: CLIENT_ID,
        authorityHost: FAKE_AUTHORITY_HOST,
        onDeviceCode: (message) => messages.push(message),
        ...seams(),
    });
    expect(messages).toEqual([expect.stringContaining('ABCD-EFGH')]);
    const signIn = endpoint.grants.at(-1)!;
    expect(signIn).toMatchObject({ grantType: 'device_code', hasClientSecret: false });
    expect(refreshToken).toMatch(/^refresh-rotated-\d+$/);

    // The app already had an older cache: the consent replaces it.
    vault.put('partner-api-token-cache', '{"old":true}', { [TAG_REFRESHED_AT]: '2026-01-01T00:00:00.000Z' });
    const events: string[] = [];
    const health = await storeConsent({
        refreshToken,
        tenantId: TENANT_ID,
        clientId: CLIENT_ID,
        clientSecret: 'test-secret',
        authorityHost: FAKE_AUTHORITY_HOST,
        secrets: vault.client(),
        events: (_level, name) => events.push(name),
        ...seams(),
    });

    // Redeemed once by the app's confidential client: the token works before anything is replaced.
    const redemption = endpoint.grants.at(-1)!;
    expect(redemption).toMatchObject({ grantType: 'refresh_token', refreshToken, hasClientSecret: true });
    expect(vault.latest('partner-api-refresh-token')!.value).toBe(refreshToken);
    const cache = vault.latest('partner-api-token-cache')!;
    expect(cache.value).not.toContain('"old"');
    expect(cache.value).toContain(`refresh-rotated-${endpoint.grants.length}`);
    expect(health).toMatchObject({ state: 'healthy', daysLeft: 89, secretVersion: cache.version });
    expect(await readTokenHealth(vault.client())).toEqual(health);
    expect(events).toContain('partnerApi.tokenCache.saved');
});

it('reports no stored token cache as unknown', async () => {
    vault.secrets.clear();
    expect(await readTokenHealth(vault.client())).toEqual({ state: 'unknown', secretVersion: undefined });
});
