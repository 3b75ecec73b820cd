/**
 * The settings the local host gets, and the peers `npm run emulators` starts: local defaults only where the user set
 * nothing, so the same names point the app at Azure or at Microsoft's emulators. Then the peers themselves, in
 * process: Cosmos DB with the app's container through the real SDK, the broker, and the simulator.
 */
import { ServiceBusClient } from '@azure/service-bus';

import { localCosmosClient } from '../../../local/cosmos/emulator';
import { LOCAL_TOPIC_KEY } from '../../../local/eventgrid/topic';
import { DEFAULT_LOCAL_FUNCTION_KEY } from '../../../local/host/auth';
import { startEmulators } from '../../../local/runtime/emulators';
import { hostSettings, localPorts, peersToStart } from '../../../local/runtime/localSettings';
import { COSMOS_CONTAINER, COSMOS_DATABASE, REFERRALS_QUEUE } from '../../../shared/platform/names';

describe('localSettings', () => {
    it('points the host at local peers on the default ports when nothing is set', () => {
        expect(localPorts({})).toEqual({
            host: 7071,
            serviceBus: 5672,
            serviceBusAdmin: 5673,
            cosmos: 8081,
            partnerApiSimulator: 7090,
            eventGridTopic: 7092,
        });
        const settings = hostSettings({});
        expect(settings.ServiceBusConnection).toMatch(
            /^Endpoint=sb:\/\/127\.0\.0\.1:5672;.*UseDevelopmentEmulator=true;$/,
        );
        expect(settings.CosmosDbConnection).toMatch(
            /^AccountEndpoint=https:\/\/127\.0\.0\.1:8081\/;AccountKey=C2y6yDjf5.*==;$/,
        );
        expect(settings.COSMOS_DISABLE_TLS_VERIFICATION).toBe('true');
        expect(settings.PARTNER_API_BASE_URL).toBe('http://127.0.0.1:7090');
        expect(settings.PARTNER_API_AUTH).toBe('none');
        expect(settings.LOCAL_FUNCTION_KEY).toBe(DEFAULT_LOCAL_FUNCTION_KEY);
        // The simulator's webhook test root, and its loopback certificate URL.
        expect(settings.PARTNER_CENTER_WEBHOOK_TRUSTED_ROOTS).toMatch(/simulator-webhook-root-7090\.pem$/);
        expect(settings.PARTNER_CENTER_WEBHOOK_CERT_HOSTS).toBe('127.0.0.1');
        // The local Event Grid topic, with its key.
        expect(settings.EVENT_GRID_TOPIC_ENDPOINT).toBe('http://127.0.0.1:7092/api/events');
        expect(settings.EVENT_GRID_TOPIC_KEY).toBe(LOCAL_TOPIC_KEY);
    });

    it('honours port overrides', () => {
        const env = { SERVICEBUS_PORT: '15672', COSMOS_EMULATOR_PORT: '18081', PARTNER_API_SIMULATOR_PORT: '17090' };
        const settings = hostSettings(env);
        expect(settings.ServiceBusConnection).toContain('sb://127.0.0.1:15672;');
        expect(settings.CosmosDbConnection).toContain('https://127.0.0.1:18081/');
        expect(settings.PARTNER_API_BASE_URL).toBe('http://127.0.0.1:17090');
        expect(() => localPorts({ PORT: 'seventy' })).toThrow(/PORT/);
    });

    it('lets values the user set win, and starts no peer for a setting pointed elsewhere', () => {
        const env = {
            ServiceBusConnection__fullyQualifiedNamespace: 'contoso.servicebus.windows.net',
            CosmosDbConnection: 'AccountEndpoint=https://localhost:8081/;AccountKey=abc;',
            PARTNER_API_BASE_URL: 'https://api.partner.microsoft.com',
            PARTNER_API_AUTH: 'static',
            EVENT_GRID_TOPIC_ENDPOINT: 'https://contoso.westeurope-1.eventgrid.azure.net/api/events',
            LOCAL_FUNCTION_KEY: 'mine',
        };
        expect(peersToStart(env)).toEqual({
            serviceBus: false,
            cosmos: false,
            partnerApiSimulator: false,
            eventGridTopic: false,
        });
        // Nothing to add: no connection string beside the namespace, no TLS switch, no auth override, no key.
        expect(hostSettings(env)).toEqual({});
    });

    it('keeps an explicit COSMOS_DISABLE_TLS_VERIFICATION', () => {
        expect(
            hostSettings({ COSMOS_DISABLE_TLS_VERIFICATION: 'false' }).COSMOS_DISABLE_TLS_VERIFICATION,
        ).toBeUndefined();
    });
});

describe('startEmulators', () => {
    const ephemeral = {
        SERVICEBUS_PORT: '0',
        SERVICEBUS_ADMIN_PORT: '0',
        COSMOS_EMULATOR_PORT: '0',
        PARTNER_API_SIMULATOR_PORT: '0',
        EVENT_GRID_TOPIC_PORT: '0',
    };

    it('runs the broker, Cosmos DB with the app container, and the simulator accepting requests without a token', async () => {
        const emulators = await startEmulators(ephemeral);
        try {
            const cosmos = localCosmosClient(emulators.endpoints.cosmosEndpoint!);
            const container = cosmos.database(COSMOS_DATABASE).container(COSMOS_CONTAINER);
            const { resource: definition } = await container.read();
            expect(definition?.partitionKey?.paths).toEqual(['/id']);
            await container.items.create({ id: 'doc-1', status: 'Queued' });
            expect((await container.item('doc-1', 'doc-1').read<{ status: string }>()).resource?.status).toBe('Queued');
            cosmos.dispose();

            const serviceBus = new ServiceBusClient(emulators.endpoints.serviceBusConnectionString!);
            await serviceBus.createSender(REFERRALS_QUEUE).sendMessages({ body: { ping: true }, messageId: 'ping-1' });
            await serviceBus.close();
            expect(emulators.broker!.stats()[REFERRALS_QUEUE]?.active).toBe(1);

            const response = await fetch(`${emulators.endpoints.partnerApiUrl!}/v1.0/engagements/referrals`);
            expect(response.status).not.toBe(401);

            const events = await fetch(
                emulators.endpoints.eventGridTopicEndpoint!.replace('/api/events', '/_admin/events'),
            );
            expect(await events.json()).toEqual({ published: [], deliveries: [] });
        } finally {
            await emulators.close();
        }
    });

    it('starts only the peers the settings leave local', async () => {
        const emulators = await startEmulators({
            ...ephemeral,
            ServiceBusConnection:
                'Endpoint=sb://localhost;SharedAccessKeyName=a;SharedAccessKey=b;UseDevelopmentEmulator=true;',
            PARTNER_API_BASE_URL: 'http://127.0.0.1:1',
            EVENT_GRID_TOPIC_ENDPOINT: 'http://127.0.0.1:1/api/events',
        });
        try {
            expect(emulators.broker).toBeUndefined();
            expect(emulators.simulator).toBeUndefined();
            expect(emulators.topic).toBeUndefined();
            expect(emulators.cosmos).toBeDefined();
        } finally {
            await emulators.close();
        }
    });
});
