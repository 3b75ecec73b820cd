/**
 * The refresh-token mode's token cache in Key Vault, through the real SecretClient against a loopback stand-in of
 * Key Vault's REST API, and the real msal-node provider against a loopback token endpoint: the rotated refresh token
 * survives a restart, other instances' newer caches are never overwritten by older ones, and Key Vault trouble never
 * fails a token request.
 */
import { TAG_EXPIRES_IF_UNUSED, TAG_REFRESHED_AT, type TokenEventFields } from '../../../shared/operations/tokenHealth';
import { RefreshTokenProvider } from '../../../shared/partnerApi';
import {
    type KeyVaultTokenCacheOptions,
    KeyVaultTokenCacheStore,
    MAX_VERSIONS_DISABLED,
} from '../../../shared/partnerApi/tokenProviders/keyVaultTokenCache';
import {
    CLIENT_ID,
    FAKE_AUTHORITY_HOST,
    FAKE_CLOUD_DISCOVERY_METADATA,
    FakeTokenEndpoint,
    loopbackNetworkClient,
    TENANT_ID,
} from '../../unit/partnerApi/fakeTokenEndpoint';
import { KeyVaultStandIn } from './keyVaultStandIn';

const SECRET = 'partner-api-token-cache';
const DAY = 86_400_000;

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

beforeEach(() => {
    vault.secrets.clear();
    vault.afterSet = undefined;
    vault.failWith = undefined;
    vault.failMethod = undefined;
    vault.requests.length = 0;
});

function store(overrides: Partial<KeyVaultTokenCacheOptions> = {}) {
    const events: Array<{ level: string; name: string; fields: TokenEventFields }> = [];
    const cacheStore = new KeyVaultTokenCacheStore(vault.client(), {
        secretName: SECRET,
        events: (level, name, fields) => events.push({ level, name, fields }),
        ...overrides,
    });
    return { cacheStore, events };
}

const cache = (marker: string) => JSON.stringify({ Account: {}, RefreshToken: { marker } });

describe('KeyVaultTokenCacheStore', () => {
    it('writes the cache through to Key Vault with its refresh time, and a new instance loads it', async () => {
        const t0 = Date.parse('2026-11-21T10:00:00Z');
        const { cacheStore: first, events } = store({ now: () => t0 });
        expect(await first.load()).toBeUndefined();
        await first.save(cache('A'));

        const stored = vault.latest(SECRET)!;
        expect(stored.value).toBe(cache('A'));
        expect(stored.tags).toEqual({
            [TAG_REFRESHED_AT]: '2026-11-21T10:00:00.000Z',
            [TAG_EXPIRES_IF_UNUSED]: new Date(t0 + 90 * DAY).toISOString(),
        });
        expect(events.map((e) => e.name)).toContain('partnerApi.tokenCache.saved');
        // Every request went through Key Vault's bearer challenge first, then with the token.
        expect(vault.requests[0]).toMatchObject({ authorized: false });
        expect(vault.requests.slice(1).every((r) => r.authorized)).toBe(true);

        const { cacheStore: restarted } = store({ now: () => t0 + 60_000 });
        expect(await restarted.load()).toBe(cache('A'));
    });

    it('answers msal from its local copy: Key Vault is read once per sync interval, not on every access', async () => {
        vault.put(SECRET, cache('A'), { [TAG_REFRESHED_AT]: new Date().toISOString() });
        let now = Date.now();
        const { cacheStore } = store({ now: () => now, syncIntervalMs: 60_000 });
        const gets = () => vault.requests.filter((r) => r.method === 'GET' && r.authorized).length;
        for (let i = 0; i < 5; i++) expect(await cacheStore.load()).toBe(cache('A'));
        expect(gets()).toBe(1);

        // Another instance rotates the token: seen at the next sync.
        vault.put(SECRET, cache('B'), { [TAG_REFRESHED_AT]: new Date(now + 1000).toISOString() });
        expect(await cacheStore.load()).toBe(cache('A'));
        now += 60_000;
        expect(await cacheStore.load()).toBe(cache('B'));
        expect(gets()).toBe(2);
    });

    it('never replaces a newer cache with an older one: it keeps the newer one instead', async () => {
        const t0 = Date.now();
        // Instance B redeemed at t0 + 5 s and saved; instance A's own redemption was at t0 (a slow save).
        vault.put(SECRET, cache('B'), { [TAG_REFRESHED_AT]: new Date(t0 + 5000).toISOString() });
        const { cacheStore: a, events } = store({ now: () => t0 });
        await a.save(cache('A'));

        expect(vault.secrets.get(SECRET)).toHaveLength(1);
        expect(vault.latest(SECRET)!.value).toBe(cache('B'));
        expect(await a.load()).toBe(cache('B'));
        expect(events.map((e) => e.name)).toContain('partnerApi.tokenCache.newerKept');
    });

    it('puts its newer cache back when an older one lands right after it (Key Vault has no conditional write)', async () => {
        const t0 = Date.now();
        const { cacheStore } = store({ now: () => t0 });
        let slipped = false;
        vault.afterSet = (name) => {
            if (slipped) return;
            slipped = true;
            // A slower instance, which read before our write, writes its older cache after it.
            vault.put(name, cache('old'), { [TAG_REFRESHED_AT]: new Date(t0 - 60_000).toISOString() });
        };
        await cacheStore.save(cache('new'));
        expect(vault.secrets.get(SECRET)!.map((v) => v.value)).toEqual([cache('new'), cache('old'), cache('new')]);
        expect(vault.latest(SECRET)!.value).toBe(cache('new'));
        // Only the re-written latest version stays readable.
        expect(vault.secrets.get(SECRET)!.map((v) => v.enabled)).toEqual([false, false, true]);
    });

    it('disables the older versions once a new one is saved: earlier refresh tokens are no longer readable', async () => {
        const t0 = Date.now();
        const placeholder = vault.put(SECRET, 'set by provisioning');
        const consent = vault.put(SECRET, cache('consent'), { [TAG_REFRESHED_AT]: new Date(t0 - DAY).toISOString() });
        const { cacheStore, events } = store({ now: () => t0 });
        await cacheStore.save(cache('A'));

        const enabled = vault.secrets.get(SECRET)!.filter((v) => v.enabled);
        expect(enabled.map((v) => v.value)).toEqual([cache('A')]);
        const client = vault.client();
        for (const old of [placeholder, consent]) {
            await expect(client.getSecret(SECRET, { version: old.version })).rejects.toMatchObject({ statusCode: 403 });
        }
        expect((await client.getSecret(SECRET)).value).toBe(cache('A'));
        expect(events).toContainEqual({
            level: 'info',
            name: 'partnerApi.tokenCache.oldVersionsDisabled',
            fields: { secretVersion: vault.latest(SECRET)!.version },
        });
        // A restarted instance still reads the cache.
        expect(await store({ now: () => t0 + 1000 }).cacheStore.load()).toBe(cache('A'));
    });

    it('never disables a newer version another instance saved meanwhile, nor the latest one', async () => {
        const t0 = Date.now();
        vault.put(SECRET, cache('older'), { [TAG_REFRESHED_AT]: new Date(t0 - 60_000).toISOString() });
        const { cacheStore } = store({ now: () => t0 });
        let slipped = false;
        vault.afterSet = (name) => {
            if (slipped) return;
            slipped = true;
            vault.put(name, cache('newer'), { [TAG_REFRESHED_AT]: new Date(t0 + 5000).toISOString() });
        };
        await cacheStore.save(cache('mine'));

        const state = vault.secrets.get(SECRET)!.map((v) => [v.value, v.enabled]);
        expect(state).toEqual([
            [cache('older'), false],
            [cache('mine'), true],
            [cache('newer'), true],
        ]);
        expect(await cacheStore.load()).toBe(cache('newer'));
    });

    it('disables a bounded number of versions per save, across pages, and the backlog drains over rotations', async () => {
        let now = Date.now();
        for (let i = 0; i < 60; i++)
            vault.put(SECRET, cache(`v${i}`), { [TAG_REFRESHED_AT]: new Date(now - DAY + i).toISOString() });
        const { cacheStore } = store({ now: () => now });
        const enabledCount = () => vault.secrets.get(SECRET)!.filter((v) => v.enabled).length;

        await cacheStore.save(cache('A'));
        expect(enabledCount()).toBe(61 - MAX_VERSIONS_DISABLED);
        now += 1000;
        await cacheStore.save(cache('B'));
        now += 1000;
        await cacheStore.save(cache('C'));
        expect(enabledCount()).toBe(1);
        expect(vault.latest(SECRET)!).toMatchObject({ value: cache('C'), enabled: true });
        // Listing followed Key Vault's nextLink past the first page.
        expect(vault.requests.some((r) => r.method === 'GET' && /\/versions$/.test(r.path))).toBe(true);
    });

    it('a refused disable never fails the save: the new cache is in place, and the failure is an event', async () => {
        vault.put(SECRET, cache('consent'), { [TAG_REFRESHED_AT]: new Date(Date.now() - DAY).toISOString() });
        vault.failMethod = { method: 'PATCH', status: 403 };
        const { cacheStore, events } = store();
        await expect(cacheStore.save(cache('A'))).resolves.toBeUndefined();

        expect(vault.latest(SECRET)!.value).toBe(cache('A'));
        expect(vault.secrets.get(SECRET)!.every((v) => v.enabled)).toBe(true);
        expect(events.map((e) => e.name)).toEqual(
            expect.arrayContaining(['partnerApi.tokenCache.saved', 'partnerApi.tokenCache.disableFailed']),
        );
        expect(events.find((e) => e.name === 'partnerApi.tokenCache.disableFailed')).toMatchObject({
            level: 'warn',
            fields: { httpStatus: 403 },
        });
        expect(events.map((e) => e.name)).not.toContain('partnerApi.tokenCache.saveFailed');
    });

    it('keeps working from memory when Key Vault refuses or is unreachable, and says so', async () => {
        vault.failWith = 403;
        const { cacheStore, events } = store();
        await expect(cacheStore.load()).resolves.toBeUndefined();
        await expect(cacheStore.save(cache('A'))).resolves.toBeUndefined();
        expect(await cacheStore.load()).toBe(cache('A'));
        expect(events).toEqual(
            expect.arrayContaining([
                {
                    level: 'warn',
                    name: 'partnerApi.tokenCache.unavailable',
                    fields: expect.objectContaining({ httpStatus: 403 }),
                },
                {
                    level: 'error',
                    name: 'partnerApi.tokenCache.saveFailed',
                    fields: expect.objectContaining({ httpStatus: 403 }),
                },
            ]),
        );
        // No token, secret or cache in any event.
        expect(JSON.stringify(events)).not.toMatch(/marker|test-token|"A"/);
    });

    it('reports a refresh token that expires soon if unused as an alert-worthy event', async () => {
        const now = Date.now();
        vault.put(SECRET, cache('A'), { [TAG_REFRESHED_AT]: new Date(now - 80 * DAY).toISOString() });
        const { cacheStore, events } = store({ now: () => now });
        await cacheStore.load();
        expect(events).toContainEqual({
            level: 'warn',
            name: 'partnerApi.refreshTokenExpiring',
            fields: expect.objectContaining({ state: 'expiring', daysLeft: 10 }),
        });
    });
});

describe('RefreshTokenProvider with the Key Vault cache', () => {
    const provider = (refreshToken: string, cacheStore: KeyVaultTokenCacheStore) =>
        new RefreshTokenProvider({
            tenantId: TENANT_ID,
            clientId: CLIENT_ID,
            clientSecret: 'test-secret',
            refreshToken,
            authorityHost: FAKE_AUTHORITY_HOST,
            knownAuthorities: [new URL(FAKE_AUTHORITY_HOST).host],
            cloudDiscoveryMetadata: FAKE_CLOUD_DISCOVERY_METADATA,
            networkClient: loopbackNetworkClient(endpoint),
            cacheStore,
        });

    it('after a restart, renews with the rotated refresh token kept in Key Vault, not the configured one', async () => {
        const first = provider('refresh-from-consent', store().cacheStore);
        const token = await first.getToken();
        const rotated = `refresh-rotated-${token.split('-')[1]}`;
        expect(vault.latest(SECRET)!.value).toContain(rotated);
        expect(vault.latest(SECRET)!.value).not.toContain('refresh-from-consent');

        // A new process: its configured token is the old one (a Key Vault reference to the consent's secret).
        const restarted = provider('refresh-from-consent', store().cacheStore);
        restarted.invalidate(); // skip the cached access token: force a redemption
        const before = endpoint.grants.length;
        await restarted.getToken();
        expect(endpoint.grants.slice(before).map((g) => g.refreshToken)).toEqual([rotated]);
    });
});
