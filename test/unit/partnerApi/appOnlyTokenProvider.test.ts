/**
 * The app-only token of `npm run partner:webhooks` (msal-node against a loopback token endpoint): a client
 * credentials grant for Partner Center's own API, kept while valid, and failures that say what to check without
 * pointing at the refresh token an app-only sign-in never uses.
 */
import { AppOnlyTokenProvider, PARTNER_CENTER_API_SCOPE } from '../../../shared/partnerApi/tokenProviders';
import {
    CLIENT_ID,
    FAKE_AUTHORITY_HOST,
    FAKE_CLOUD_DISCOVERY_METADATA,
    FakeTokenEndpoint,
    loopbackNetworkClient,
    TENANT_ID,
} from './fakeTokenEndpoint';

describe('AppOnlyTokenProvider', () => {
    let endpoint: FakeTokenEndpoint;

    beforeEach(async () => {
        endpoint = new FakeTokenEndpoint();
        await endpoint.start();
    });

    afterEach(() => endpoint.stop());

    const provider = () =>
        new AppOnlyTokenProvider({
            tenantId: TENANT_ID,
            clientId: CLIENT_ID,
            clientSecret: 'test-secret',
            authorityHost: FAKE_AUTHORITY_HOST,
            knownAuthorities: [new URL(FAKE_AUTHORITY_HOST).host],
            cloudDiscoveryMetadata: FAKE_CLOUD_DISCOVERY_METADATA,
            networkClient: loopbackNetworkClient(endpoint),
        });

    it("asks for Partner Center's API with the app's own credentials, once while the token is valid", async () => {
        const tokens = provider();
        const first = await tokens.getToken();
        expect(first).toEqual(expect.any(String));
        await expect(tokens.getToken()).resolves.toBe(first);
        expect(endpoint.grants).toHaveLength(1);
        expect(endpoint.grants[0]).toMatchObject({
            grantType: 'client_credentials',
            clientId: CLIENT_ID,
            hasClientSecret: true,
        });
        expect(endpoint.grants[0]!.scope?.split(' ')).toContain(PARTNER_CENTER_API_SCOPE);
        expect(endpoint.grants[0]!.refreshToken).toBeUndefined();
    });

    it('names the app credentials when Entra ID refuses the secret', async () => {
        endpoint.script.push({
            status: 401,
            error: 'invalid_client',
            description: 'AADSTS7000215: Invalid client secret provided.',
            errorCodes: [7000215],
        });
        await expect(provider().getToken()).rejects.toMatchObject({
            reason: 'invalid-client',
            message: expect.stringContaining('PARTNER_API_CLIENT_SECRET'),
        });
    });

    it('points at the app registration, not at a refresh token, for any other refusal', async () => {
        endpoint.script.push({
            status: 400,
            error: 'invalid_grant',
            description: 'AADSTS65001: The user or administrator has not consented.',
            errorCodes: [65001],
        });
        const failure = provider().getToken();
        await expect(failure).rejects.toMatchObject({
            message: expect.stringContaining('docs/partner-api-auth.md, "Webhook registration"'),
        });
        await expect(failure).rejects.not.toMatchObject({ message: expect.stringContaining('refresh token') });
    });
});
