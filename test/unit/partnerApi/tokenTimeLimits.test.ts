/**
 * Token acquisition never waits for ever: a token endpoint that does not answer ends the shared renewal at its time
 * limit (and the next caller starts a new one), and a Key Vault that does not answer counts as unavailable.
 */
import { RefreshTokenProvider, TokenAcquisitionError } from '../../../shared/partnerApi';
import {
    KeyVaultTokenCacheStore,
    type SecretStore,
} from '../../../shared/partnerApi/tokenProviders/keyVaultTokenCache';
import {
    CLIENT_ID,
    FAKE_AUTHORITY_HOST,
    FAKE_CLOUD_DISCOVERY_METADATA,
    FakeTokenEndpoint,
    loopbackNetworkClient,
    TENANT_ID,
} from './fakeTokenEndpoint';

describe('token acquisition time limits', () => {
    it('a renewal that hangs fails as unavailable at renewalTimeoutMs; the next call renews afresh', async () => {
        const endpoint = new FakeTokenEndpoint();
        await endpoint.start();
        let release!: () => void;
        endpoint.gate = new Promise<void>((resolve) => (release = resolve));
        try {
            const tokens = new RefreshTokenProvider({
                tenantId: TENANT_ID,
                clientId: CLIENT_ID,
                clientSecret: 'test-secret',
                refreshToken: 'refresh-from-consent',
                authorityHost: FAKE_AUTHORITY_HOST,
                knownAuthorities: [new URL(FAKE_AUTHORITY_HOST).host],
                cloudDiscoveryMetadata: FAKE_CLOUD_DISCOVERY_METADATA,
                networkClient: loopbackNetworkClient(endpoint),
                renewalTimeoutMs: 300,
            });
            const started = Date.now();
            const error = await tokens.getToken().then(
                () => undefined,
                (e: unknown) => e,
            );
            expect(error).toBeInstanceOf(TokenAcquisitionError);
            expect(error).toMatchObject({ reason: 'unavailable', transient: true, authErrorCode: 'renewalTimeout' });
            expect(Date.now() - started).toBeLessThan(5000);

            endpoint.gate = undefined;
            release();
            await expect(tokens.getToken()).resolves.toMatch(/^access-/);
        } finally {
            release();
            await endpoint.stop();
        }
    });

    it('a Key Vault that does not answer is unavailable after operationTimeoutMs, and never fails the caller', async () => {
        const signals: AbortSignal[] = [];
        const hanging: SecretStore = {
            getSecret: (_name, options) => {
                if (options?.abortSignal) signals.push(options.abortSignal);
                return new Promise(() => undefined);
            },
            setSecret: (_name, _value, options) => {
                if (options?.abortSignal) signals.push(options.abortSignal);
                return new Promise(() => undefined);
            },
            listPropertiesOfSecretVersions: () => ({
                [Symbol.asyncIterator]: () => ({ next: () => new Promise(() => undefined) }),
            }),
            updateSecretProperties: () => new Promise(() => undefined),
        };
        const events: string[] = [];
        const store = new KeyVaultTokenCacheStore(hanging, {
            secretName: 'partner-api-token-cache',
            operationTimeoutMs: 100,
            events: (_level, name) => events.push(name),
        });
        await expect(store.load()).resolves.toBeUndefined();
        await store.save('{"RefreshToken":{}}');
        await expect(store.load()).resolves.toBe('{"RefreshToken":{}}');
        expect(events).toEqual(['partnerApi.tokenCache.unavailable', 'partnerApi.tokenCache.saveFailed']);
        // The SDK call was told to give up too.
        expect(signals.length).toBeGreaterThanOrEqual(2);
        expect(signals.every((signal) => signal.aborted)).toBe(true);
    });
});
