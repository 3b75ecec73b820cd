import { tokenHealth } from '../../../shared/operations/tokenHealth';
import { loadSection, SETTINGS } from '../../../shared/platform/config';

const DAY = 86_400_000;

describe('token health', () => {
    const now = Date.parse('2026-11-21T12:00:00Z');

    it('counts 90 days of inactivity from the last refresh', () => {
        expect(tokenHealth(now - 10 * DAY, now, 'v1')).toEqual({
            state: 'healthy',
            lastRefreshedAt: '2026-11-11T12:00:00.000Z',
            refreshTokenExpiresAt: '2027-02-09T12:00:00.000Z',
            daysLeft: 80,
            secretVersion: 'v1',
        });
    });

    it('is expiring in the last 14 days, expired after 90, unknown without a refresh time', () => {
        expect(tokenHealth(now - 77 * DAY, now)).toMatchObject({ state: 'expiring', daysLeft: 13 });
        expect(tokenHealth(now - 76 * DAY, now)).toMatchObject({ state: 'healthy', daysLeft: 14 });
        expect(tokenHealth(now - 90 * DAY, now)).toMatchObject({ state: 'expired', daysLeft: 0 });
        expect(tokenHealth(undefined, now)).toEqual({ state: 'unknown', secretVersion: undefined });
    });
});

describe('token cache settings', () => {
    const base = {
        PARTNER_API_AUTH: 'static',
        PARTNER_API_TOKEN: 't',
    };

    it('keeps the cache in memory unless PARTNER_API_TOKEN_CACHE_VAULT_URL is set', () => {
        expect(loadSection('partnerApi', base).tokenCache).toBeUndefined();
        expect(
            loadSection('partnerApi', {
                ...base,
                PARTNER_API_TOKEN_CACHE_VAULT_URL: 'https://kv-x.vault.azure.net/',
                PARTNER_API_TOKEN_CACHE_CLIENT_ID: 'client',
            }).tokenCache,
        ).toEqual({
            vaultUrl: 'https://kv-x.vault.azure.net/',
            secretName: 'partner-api-token-cache',
            clientId: 'client',
        });
    });

    it('refuses a vault URL that is not https, and a secret name Key Vault would refuse', () => {
        expect(() => loadSection('partnerApi', { ...base, PARTNER_API_TOKEN_CACHE_VAULT_URL: 'http://kv' })).toThrow(
            /must be an https URL/,
        );
        expect(() =>
            loadSection('partnerApi', {
                ...base,
                PARTNER_API_TOKEN_CACHE_VAULT_URL: 'https://kv-x.vault.azure.net/',
                PARTNER_API_TOKEN_CACHE_SECRET_NAME: 'no_underscores',
            }),
        ).toThrow(/PARTNER_API_TOKEN_CACHE_SECRET_NAME/);
    });

    it('is set in Azure (infra provides the vault and the identity)', () => {
        expect(
            SETTINGS.filter((s) => s.name.startsWith('PARTNER_API_TOKEN_CACHE_')).map((s) => [s.name, s.azure]),
        ).toEqual([
            ['PARTNER_API_TOKEN_CACHE_VAULT_URL', 'required'],
            ['PARTNER_API_TOKEN_CACHE_SECRET_NAME', 'optional'],
            ['PARTNER_API_TOKEN_CACHE_CLIENT_ID', 'required'],
        ]);
    });
});
