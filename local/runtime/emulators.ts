/**
 * `npm run emulators`: the local peers in one process, on loopback: the Service Bus dev broker with the app's
 * queues, Cosmos DB with the app's database and container, the Partner API simulator, and the Event Grid topic
 * (delivering to the webhooks in EVENT_GRID_SUBSCRIBERS, comma-separated; each event it takes is printed). A peer whose setting the
 * user points elsewhere (see localSettings.ts) is not started. State lives in this process's memory, so a host can
 * be stopped and restarted while queued messages and stored documents survive.
 */
import { writeFileSync } from 'node:fs';

import { exitOnHelp } from '../../scripts/usage';
import { type CosmosEmulator, startCosmosEmulator } from '../cosmos/emulator';
import { type LocalTopic, type PublishedEvent, startLocalTopic } from '../eventgrid/topic';
import { faultsFromEnv, type PartnerApiSimulator, startPartnerApiSimulator } from '../partner-api-simulator';
import { type DevBroker, type QueueDefinition, startBroker } from '../servicebus/broker';
import { APP_QUEUES } from '../servicebus/queues';
import { LOCAL_PEER_HOST, localPorts, type PeerEndpoints, peersToStart, webhookRootsFile } from './localSettings';
import { errorText, onShutdown, reportReady } from './processLifecycle';

const USAGE = [
    'Usage: npm run emulators',
    '  Starts the local peers on loopback: Service Bus dev broker, Cosmos DB emulator, Partner API simulator,',
    '  Event Grid topic (EVENT_GRID_SUBSCRIBERS: webhook URLs it delivers to, comma-separated).',
    '  Ports and settings: see docs/local-runtime.md.',
].join('\n');

type Env = Record<string, string | undefined>;

export interface RunningEmulators {
    endpoints: PeerEndpoints;
    /** Human-readable lines: what runs where. */
    summary: string[];
    broker?: DevBroker;
    cosmos?: CosmosEmulator;
    simulator?: PartnerApiSimulator;
    topic?: LocalTopic;
    close(): Promise<void>;
}

/**
 * Extra queues for other apps run on the local host (tests use this): `SERVICEBUS_EXTRA_QUEUES=a,b`, with the
 * app queues' settings.
 */
function brokerQueues(env: Env): QueueDefinition[] {
    // SERVICEBUS_LOCK_DURATION_MS: a shorter peek-lock than Azure's one minute, so messages locked by a host that
    // was killed come back sooner (the reliability suite kills hosts on purpose).
    const lockDurationMs = numberSetting(env, 'SERVICEBUS_LOCK_DURATION_MS');
    if (lockDurationMs !== undefined && !(Number.isInteger(lockDurationMs) && lockDurationMs >= 1000)) {
        throw new Error('SERVICEBUS_LOCK_DURATION_MS must be a whole number of milliseconds, at least 1000');
    }
    const appQueues = APP_QUEUES.map((queue) => (lockDurationMs === undefined ? queue : { ...queue, lockDurationMs }));
    const template = appQueues[0]!;
    const extra = (env.SERVICEBUS_EXTRA_QUEUES ?? '')
        .split(',')
        .map((name) => name.trim())
        .filter((name) => name && !APP_QUEUES.some((q) => q.name === name));
    return [...appQueues, ...extra.map((name) => ({ ...template, name }))];
}

function numberSetting(env: Env, name: string): number | undefined {
    const raw = env[name]?.trim();
    if (!raw) return undefined;
    const value = Number(raw);
    if (Number.isNaN(value)) throw new Error(`${name} must be a number`);
    return value;
}

/** One line per event the local topic takes: what happened to which referral (events carry no customer data). */
function printEvent(event: PublishedEvent): void {
    const data = (event.data ?? {}) as { status?: string; update?: { id: string; status: string } };
    const detail = data.update ? `update ${data.update.id} ${data.update.status}` : (data.status ?? '');
    console.log(`[events] ${event.type.padEnd(37)} ${event.subject ?? ''}  ${detail}  (id ${event.id})`);
}

export async function startEmulators(
    env: Env = process.env,
    onEvent: (event: PublishedEvent) => void = printEvent,
): Promise<RunningEmulators> {
    const ports = localPorts(env);
    const selection = peersToStart(env);
    const running: RunningEmulators = {
        endpoints: {},
        summary: [],
        close: async () => {
            await Promise.allSettled([
                running.broker?.close(),
                running.cosmos?.close(),
                running.simulator?.close(),
                running.topic?.close(),
            ]);
        },
    };
    try {
        if (selection.serviceBus) {
            const queues = brokerQueues(env);
            running.broker = await startBroker({
                queues,
                port: ports.serviceBus,
                host: LOCAL_PEER_HOST,
                adminPort: ports.serviceBusAdmin,
            });
            running.endpoints.serviceBusConnectionString = running.broker.connectionString;
            running.summary.push(
                `Service Bus dev broker  amqp://${LOCAL_PEER_HOST}:${running.broker.port}  queues: ${queues.map((q) => q.name).join(', ')}`,
                `  admin                 http://${LOCAL_PEER_HOST}:${running.broker.adminPort}/queues`,
            );
        } else {
            running.summary.push('Service Bus             not started (ServiceBusConnection is set)');
        }
        if (selection.cosmos) {
            running.cosmos = await startCosmosEmulator({ port: ports.cosmos, host: LOCAL_PEER_HOST });
            running.endpoints.cosmosEndpoint = running.cosmos.endpoint;
            running.summary.push(`Cosmos DB               ${running.cosmos.endpoint}  (self-signed TLS, in memory)`);
        } else {
            running.summary.push('Cosmos DB               not started (CosmosDbConnection is set)');
        }
        if (selection.partnerApiSimulator) {
            running.simulator = await startPartnerApiSimulator({
                port: ports.partnerApiSimulator,
                host: LOCAL_PEER_HOST,
                // The app's PARTNER_API_AUTH=none sends no Authorization header.
                acceptMissingToken: true,
                // The same SIM_* settings as the simulator's own CLI.
                faults: faultsFromEnv(env),
            });
            running.endpoints.partnerApiUrl = running.simulator.url;
            running.endpoints.webhookRootsFile = webhookRootsFile(running.simulator.port);
            writeFileSync(running.endpoints.webhookRootsFile, running.simulator.microsoft.rootCertificatePem);
            running.summary.push(
                `Partner API simulator   ${running.simulator.url}  (admin: ${running.simulator.url}/_admin/referrals, /requests, /faults, /webhooks)`,
                `  webhook test root     ${running.endpoints.webhookRootsFile}`,
            );
        } else {
            running.summary.push('Partner API simulator   not started (PARTNER_API_BASE_URL is set)');
        }
        if (selection.eventGridTopic) {
            const subscribers = (env.EVENT_GRID_SUBSCRIBERS ?? '')
                .split(',')
                .map((url) => url.trim())
                .filter((url) => url !== '');
            running.topic = await startLocalTopic({
                port: ports.eventGridTopic,
                host: LOCAL_PEER_HOST,
                subscribers,
                onPublished: onEvent,
            });
            running.endpoints.eventGridTopicEndpoint = running.topic.endpoint;
            running.summary.push(
                `Event Grid topic        ${running.topic.endpoint}  (admin: ${running.topic.url}/_admin/events, /faults, /subscribers)`,
                `  subscribers           ${subscribers.length > 0 ? subscribers.join(', ') : 'none (EVENT_GRID_SUBSCRIBERS)'}`,
            );
        } else {
            running.summary.push('Event Grid topic        not started (EVENT_GRID_TOPIC_ENDPOINT is set)');
        }
    } catch (error) {
        await running.close();
        throw error;
    }
    return running;
}

async function main(): Promise<void> {
    const emulators = await startEmulators();
    console.log('[emulators] Local peers are running (data is in memory and lost when this process stops):');
    for (const line of emulators.summary) console.log(`[emulators]   ${line}`);
    onShutdown('emulators', () => emulators.close());
    reportReady({ endpoints: emulators.endpoints });
}

if (require.main === module) {
    exitOnHelp(USAGE);
    main().catch((error: unknown) => {
        console.error(`[emulators] failed to start: ${errorText(error)}`);
        process.exit(1);
    });
}
