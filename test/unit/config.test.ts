import { ConfigurationError, loadSection, settingAtIndexing, SETTINGS } from '../../shared/platform/config';

describe('configuration', () => {
    it('lists every setting once, each with a meaning', () => {
        const names = SETTINGS.map((s) => s.name);
        expect(new Set(names).size).toBe(names.length);
        for (const setting of SETTINGS) expect(setting.meaning.length).toBeGreaterThan(10);
    });

    it('is not read when the app is imported', () => {
        const before = { ...process.env };
        delete process.env.ServiceBusConnection;
        jest.isolateModules(() => {
            expect(() => require('../../index')).not.toThrow();
        });
        process.env = before;
    });

    it('prefers the identity-based Service Bus settings', () => {
        expect(
            loadSection('serviceBus', {
                ServiceBusConnection__fullyQualifiedNamespace: 'ns.servicebus.windows.net',
                ServiceBusConnection__clientId: 'client',
                ServiceBusConnection: 'Endpoint=sb://ignored',
            }),
        ).toEqual({ kind: 'identity', fullyQualifiedNamespace: 'ns.servicebus.windows.net', clientId: 'client' });
    });

    it('reads an emulator connection string for Cosmos DB, and allows no TLS check only on loopback', () => {
        const local = 'AccountEndpoint=https://127.0.0.1:8081/;AccountKey=a2V5;';
        expect(loadSection('cosmos', { CosmosDbConnection: local, COSMOS_DISABLE_TLS_VERIFICATION: 'true' })).toEqual({
            kind: 'key',
            endpoint: 'https://127.0.0.1:8081/',
            key: 'a2V5',
            disableTlsVerification: true,
        });
        const remote = 'AccountEndpoint=https://acct.documents.azure.com:443/;AccountKey=a2V5;';
        expect(() =>
            loadSection('cosmos', { CosmosDbConnection: remote, COSMOS_DISABLE_TLS_VERIFICATION: 'true' }),
        ).toThrow(/only allowed for an emulator on loopback/);
    });

    it('names every missing setting of the refresh-token mode at once', () => {
        try {
            loadSection('partnerApi', {});
            throw new Error('expected a ConfigurationError');
        } catch (error) {
            expect(error).toBeInstanceOf(ConfigurationError);
            expect((error as ConfigurationError).problems).toEqual([
                'PARTNER_API_AUTH=refresh-token needs PARTNER_API_TENANT_ID',
                'PARTNER_API_AUTH=refresh-token needs PARTNER_API_CLIENT_ID',
                'PARTNER_API_AUTH=refresh-token needs PARTNER_API_REFRESH_TOKEN',
                'PARTNER_API_AUTH=refresh-token needs PARTNER_API_CLIENT_SECRET or PARTNER_API_CLIENT_CERTIFICATE',
            ]);
        }
    });

    it('refuses the unauthenticated mode against anything but loopback', () => {
        expect(() => loadSection('partnerApi', { PARTNER_API_AUTH: 'none' })).toThrow(/only allowed for a simulator/);
        expect(
            loadSection('partnerApi', { PARTNER_API_AUTH: 'none', PARTNER_API_BASE_URL: 'http://127.0.0.1:7090/' }),
        ).toMatchObject({ auth: 'none', baseUrl: 'http://127.0.0.1:7090', timeoutMs: 30000 });
    });

    it('rejects a retry setting out of range, and takes the window in hours (fractions allowed)', () => {
        for (const raw of ['0', '-1', 'x', 'Infinity']) {
            expect(() => loadSection('retry', { SUBMIT_RETRY_WINDOW_HOURS: raw })).toThrow(
                /SUBMIT_RETRY_WINDOW_HOURS must be a positive number/,
            );
        }
        expect(() => loadSection('retry', { RETRY_BASE_DELAY_MS: '0' })).toThrow(/must be a positive integer/);
        expect(loadSection('retry', {})).toEqual({ windowMs: 86_400_000, baseDelayMs: 2000, maxDelayMs: 900000 });
        expect(loadSection('retry', { SUBMIT_RETRY_WINDOW_HOURS: '0.5' }).windowMs).toBe(1_800_000);
    });

    it('turns events off without a topic endpoint, and takes a topic key or plain http only on loopback', () => {
        expect(loadSection('events', {})).toEqual({
            topic: undefined,
            source: '/cosell-referrals',
            resendAfterMs: 60_000,
        });
        const azure = 'https://evgt-x.westeurope-1.eventgrid.azure.net/api/events';
        expect(loadSection('events', { EVENT_GRID_TOPIC_ENDPOINT: azure, EVENT_GRID_CLIENT_ID: 'c1' }).topic).toEqual({
            endpoint: azure,
            key: undefined,
            clientId: 'c1',
        });
        expect(() => loadSection('events', { EVENT_GRID_TOPIC_ENDPOINT: azure, EVENT_GRID_TOPIC_KEY: 'k' })).toThrow(
            /EVENT_GRID_TOPIC_KEY is only allowed for a local topic/,
        );
        expect(() => loadSection('events', { EVENT_GRID_TOPIC_ENDPOINT: 'http://topic.example/api/events' })).toThrow(
            /must be https/,
        );
        const local = 'http://127.0.0.1:7092/api/events';
        expect(loadSection('events', { EVENT_GRID_TOPIC_ENDPOINT: local, EVENT_GRID_TOPIC_KEY: 'k' }).topic).toEqual({
            endpoint: local,
            key: 'k',
            clientId: undefined,
        });
    });

    it('parses a setting read by two sections with its one declaration', () => {
        expect(SETTINGS.filter((s) => s.name === 'PARTNER_API_TIMEOUT_MS')).toHaveLength(1);
        const env = {
            PARTNER_API_AUTH: 'none',
            PARTNER_API_BASE_URL: 'http://127.0.0.1:7090',
            PARTNER_API_TIMEOUT_MS: '0',
        };
        for (const section of ['partnerApi', 'lease'] as const) {
            expect(() => loadSection(section, env)).toThrow(
                /^Invalid configuration: PARTNER_API_TIMEOUT_MS must be a positive integer$/,
            );
        }
    });

    it('reads the settling time and the later duplicate check, which must come after it', () => {
        expect(loadSection('settling', {})).toEqual({ settleMs: 120_000, duplicateCheckDelayMs: 900_000 });
        expect(loadSection('settling', { PARTNER_API_SETTLE_MS: '1000', DUPLICATE_CHECK_DELAY_MS: '1500' })).toEqual({
            settleMs: 1000,
            duplicateCheckDelayMs: 1500,
        });
        expect(() => loadSection('settling', { DUPLICATE_CHECK_DELAY_MS: '120000' })).toThrow(
            'DUPLICATE_CHECK_DELAY_MS must be longer than PARTNER_API_SETTLE_MS',
        );
    });

    it("reads the outbox's resend delay and gives the sweep's schedule, or their defaults", () => {
        expect(loadSection('outbox', {})).toEqual({ resendAfterMs: 60000 });
        expect(loadSection('outbox', { INTAKE_RESEND_AFTER_MS: '2000' })).toEqual({ resendAfterMs: 2000 });
        expect(() => loadSection('outbox', { INTAKE_RESEND_AFTER_MS: '1m' })).toThrow(
            /INTAKE_RESEND_AFTER_MS must be a positive integer/,
        );
        expect(settingAtIndexing('INTAKE_SWEEP_SCHEDULE', {})).toBe('0 */1 * * * *');
        expect(settingAtIndexing('INTAKE_SWEEP_SCHEDULE', { INTAKE_SWEEP_SCHEDULE: ' */5 * * * * * ' })).toBe(
            '*/5 * * * * *',
        );
    });
});
