import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import {
    InMemoryTokenCacheStore,
    PARTNER_API_SCOPE,
    RefreshTokenProvider,
    type RefreshTokenProviderOptions,
    TokenAcquisitionError,
} from '../../../shared/partnerApi';
import {
    CLIENT_ID,
    FAKE_AUTHORITY_HOST,
    FAKE_CLOUD_DISCOVERY_METADATA,
    FakeTokenEndpoint,
    loopbackNetworkClient,
    TENANT_ID,
} from './fakeTokenEndpoint';

const CONFIGURED_REFRESH_TOKEN = 'refresh-from-consent';

describe('RefreshTokenProvider (msal-node against a loopback token endpoint)', () => {
    let endpoint: FakeTokenEndpoint;

    beforeEach(async () => {
        endpoint = new FakeTokenEndpoint();
        await endpoint.start();
    });

    afterEach(async () => {
        await endpoint.stop();
    });

    function provider(overrides: Partial<RefreshTokenProviderOptions> = {}): RefreshTokenProvider {
        return new RefreshTokenProvider({
            tenantId: TENANT_ID,
            clientId: CLIENT_ID,
            clientSecret: 'test-secret',
            refreshToken: CONFIGURED_REFRESH_TOKEN,
            authorityHost: FAKE_AUTHORITY_HOST,
            knownAuthorities: [new URL(FAKE_AUTHORITY_HOST).host],
            cloudDiscoveryMetadata: FAKE_CLOUD_DISCOVERY_METADATA,
            networkClient: loopbackNetworkClient(endpoint),
            ...overrides,
        });
    }

    it('redeems the configured refresh token for the Partner API scope with the client secret', async () => {
        const tokens = provider();
        await expect(tokens.getToken()).resolves.toBe('access-1');
        expect(endpoint.grants).toHaveLength(1);
        expect(endpoint.grants[0]).toMatchObject({
            grantType: 'refresh_token',
            refreshToken: CONFIGURED_REFRESH_TOKEN,
            clientId: CLIENT_ID,
            hasClientSecret: true,
        });
        expect(endpoint.grants[0]!.scope?.split(' ')).toContain(PARTNER_API_SCOPE);
    });

    it('keeps the access token until shortly before it expires', async () => {
        // Only Date is faked: msal and the provider both read the clock through it; sockets and timers stay real.
        jest.useFakeTimers({
            doNotFake: ['nextTick', 'setImmediate', 'clearImmediate', 'setTimeout', 'clearTimeout', 'setInterval',
                'clearInterval', 'queueMicrotask', 'hrtime', 'performance'], // prettier-ignore
        });
        try {
            const start = Date.now();
            const tokens = provider({ refreshMarginMs: 5 * 60_000 });
            await expect(tokens.getToken()).resolves.toBe('access-1');
            jest.setSystemTime(start + 30 * 60_000); // half an hour into a one-hour token: still cached
            await expect(tokens.getToken()).resolves.toBe('access-1');
            expect(endpoint.tokenRequests).toBe(1);
            jest.setSystemTime(start + 56 * 60_000); // four minutes before expiry: inside the margin, renewed
            await expect(tokens.getToken()).resolves.toBe('access-2');
            expect(endpoint.tokenRequests).toBe(2);
            // The renewal used the rotated refresh token from msal's cache, not the configured one.
            expect(endpoint.grants[1]!.refreshToken).toBe('refresh-rotated-1');
        } finally {
            jest.useRealTimers();
        }
    });

    it('shares one renewal among concurrent callers', async () => {
        const tokens = provider();
        let release!: () => void;
        endpoint.gate = new Promise((resolve) => (release = resolve));
        const callers = Array.from({ length: 10 }, () => tokens.getToken());
        // Let every caller reach the provider before the token endpoint answers.
        await new Promise((resolve) => setImmediate(resolve));
        release();
        const results = await Promise.all(callers);
        expect(new Set(results)).toEqual(new Set(['access-1']));
        expect(endpoint.tokenRequests).toBe(1);
    });

    it('gets a new token after invalidate (the API answered 401)', async () => {
        const tokens = provider();
        await expect(tokens.getToken()).resolves.toBe('access-1');
        tokens.invalidate();
        await expect(tokens.getToken()).resolves.toBe('access-2');
        expect(endpoint.tokenRequests).toBe(2);
    });

    it('turns the MFA-missing answer into one actionable error', async () => {
        endpoint.script.push({
            status: 400,
            error: 'interaction_required',
            description:
                'AADSTS50076: Due to a configuration change made by your administrator, or because you moved to a new location, you must use multi-factor authentication to access the resource.',
            errorCodes: [50076],
            suberror: 'basic_action',
        });
        const error = await provider()
            .getToken()
            .catch((e: unknown) => e);
        expect(error).toBeInstanceOf(TokenAcquisitionError);
        const tokenError = error as TokenAcquisitionError;
        expect(tokenError.reason).toBe('mfa-required');
        expect(tokenError.transient).toBe(false);
        expect(tokenError.message).toMatch(/multi-factor/);
        expect(tokenError.message).toMatch(/consent again/);
        expect(tokenError.message).toMatch(/PARTNER_API_REFRESH_TOKEN/);
        expect(tokenError.message).not.toContain(CONFIGURED_REFRESH_TOKEN);
    });

    it('recognises the Partner API MFA code 900421 as well', async () => {
        endpoint.script.push({
            status: 400,
            error: 'interaction_required',
            description: 'AADSTS900421: The token is missing the multi-factor authentication claim.',
            errorCodes: [900421],
        });
        const error = (await provider()
            .getToken()
            .catch((e: unknown) => e)) as TokenAcquisitionError;
        expect(error.reason).toBe('mfa-required');
    });

    it('turns an expired refresh token into one actionable error', async () => {
        endpoint.script.push({
            status: 400,
            error: 'invalid_grant',
            description:
                'AADSTS700082: The refresh token has expired due to inactivity. The token was issued on 2024-01-01 and was inactive for 90.00:00:00.',
            errorCodes: [700082],
        });
        const error = (await provider()
            .getToken()
            .catch((e: unknown) => e)) as TokenAcquisitionError;
        expect(error).toBeInstanceOf(TokenAcquisitionError);
        expect(error.reason).toBe('refresh-token-expired');
        expect(error.transient).toBe(false);
        expect(error.authErrorCode).toBe('invalid_grant/AADSTS700082');
        expect(error.message).toMatch(/expired or was revoked/);
        expect(error.message).toMatch(/device code/);
    });

    it('treats an unreachable token endpoint as transient', async () => {
        await endpoint.stop();
        const error = (await provider()
            .getToken()
            .catch((e: unknown) => e)) as TokenAcquisitionError;
        expect(error).toBeInstanceOf(TokenAcquisitionError);
        expect(error.transient).toBe(true);
    });

    it('saves msal cache to the injected store, so a restart resumes with the rotated refresh token', async () => {
        const store = new InMemoryTokenCacheStore();
        await provider({ cacheStore: store }).getToken();
        const saved = await store.load();
        expect(saved).toContain('refresh-rotated-1');

        // A new process with the same store renews with the rotated refresh token, not the (stale) configured one.
        const restarted = provider({ cacheStore: store, refreshToken: 'a-stale-configured-token' });
        await expect(restarted.getToken()).resolves.toBe('access-2');
        expect(endpoint.tokenRequests).toBe(2);
        expect(endpoint.grants[1]!.refreshToken).toBe('refresh-rotated-1');
        await expect(store.load()).resolves.toContain('refresh-rotated-2');
    });

    const hasOpenssl = (() => {
        try {
            execFileSync('openssl', ['version'], { stdio: 'ignore' });
            return true;
        } catch {
            return false;
        }
    })();

    (hasOpenssl ? it : it.skip)(
        'authenticates the app with a certificate (client assertion) instead of a secret',
        async () => {
            const dir = mkdtempSync(join(tmpdir(), 'partner-api-cert-'));
            try {
                execFileSync(
                    'openssl',
                    ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=test', '-days', '1',
                    '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')], // prettier-ignore
                    { stdio: 'ignore' },
                );
                const pem = readFileSync(join(dir, 'key.pem'), 'utf8') + readFileSync(join(dir, 'cert.pem'), 'utf8');
                const tokens = provider({ clientSecret: undefined, clientCertificatePem: pem });
                await expect(tokens.getToken()).resolves.toBe('access-1');
                expect(endpoint.grants[0]).toMatchObject({ hasClientAssertion: true, hasClientSecret: false });
            } finally {
                rmSync(dir, { recursive: true, force: true });
            }
        },
    );
});
