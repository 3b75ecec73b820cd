/**
 * The local runtime in-process for tests: the Service Bus dev broker, the Cosmos DB emulator and the Partner API
 * simulator on ephemeral loopback ports, and the app's own registrations (index.ts) in the local host.
 */
import { join } from 'node:path';

import { type CosmosEmulator, startCosmosEmulator } from '../../local/cosmos/emulator';
import { type LocalHost, type LocalHostOptions, startLocalHost } from '../../local/host/localHost';
import { type PartnerApiSimulator, startPartnerApiSimulator } from '../../local/partner-api-simulator';
import { type DevBroker, startBroker } from '../../local/servicebus/broker';
import { APP_QUEUES } from '../../local/servicebus/queues';
import type { ReferralStatusDocument } from '../../shared/referral/statusDocument';
import { waitFor } from './waitFor';

export interface LocalPeers {
    broker: DevBroker;
    cosmos: CosmosEmulator;
    simulator: PartnerApiSimulator;
    close(): Promise<void>;
}

export async function startLocalPeers(): Promise<LocalPeers> {
    const [broker, cosmos, simulator] = await Promise.all([
        startBroker({ port: 0, queues: APP_QUEUES }),
        startCosmosEmulator({ port: 0 }),
        startPartnerApiSimulator({ port: 0, acceptMissingToken: true }),
    ]);
    return {
        broker,
        cosmos,
        simulator,
        close: async () => {
            await Promise.all([broker.close(), cosmos.close(), simulator.close()]);
        },
    };
}

/** Runs the app against the peers, with short Partner API timeouts, retry delays and settling time; `settings` adds or overrides. */
export function startApp(
    peers: LocalPeers,
    options: {
        settings?: Record<string, string>;
        logSink?: LocalHostOptions['logSink'];
        timerClock?: LocalHostOptions['timerClock'];
    } = {},
): Promise<LocalHost> {
    return startLocalHost({
        entry: join(__dirname, '..', '..', 'index.ts'),
        port: 0,
        env: {
            ServiceBusConnection: peers.broker.connectionString,
            CosmosDbConnection: peers.cosmos.connectionString,
            COSMOS_DISABLE_TLS_VERIFICATION: 'true',
            PARTNER_API_BASE_URL: peers.simulator.url,
            PARTNER_API_AUTH: 'none',
            PARTNER_API_TIMEOUT_MS: '2000',
            RETRY_BASE_DELAY_MS: '100',
            // An uncertain create is settled a second after it started (the simulator commits at once unless told).
            PARTNER_API_SETTLE_MS: '1000',
            // A done referral's duplicate check soon after, so the queues drain within a test.
            DUPLICATE_CHECK_DELAY_MS: '1500',
            ...options.settings,
        },
        logSink: options.logSink ?? (() => undefined),
        timerClock: options.timerClock,
    });
}

/** Waits until the broker has nothing left to deliver or in flight. */
export async function queuesIdle(broker: DevBroker): Promise<void> {
    await waitFor(
        () => `the queues to drain: ${JSON.stringify(broker.stats())}`,
        () => Object.values(broker.stats()).every((q) => q.active === 0 && q.locked === 0 && q.scheduled === 0),
    );
}

/** POST /api/referrals on the local host with an Idempotency-Key: the answer's status. */
/** POST /api/referrals on the local host with `key` as its Idempotency-Key: the answer as it came. */
export function sendReferral(host: LocalHost, key: string, body: unknown): Promise<Response> {
    return fetch(`${host.url}/api/referrals`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-functions-key': host.functionKey, 'idempotency-key': key },
        body: JSON.stringify(body),
    });
}

/** POST /api/referrals on the local host: the answer's status. */
export async function postReferral(host: LocalHost, key: string, body: unknown): Promise<number> {
    return (await sendReferral(host, key, body)).status;
}

/** GET /api/referrals/{key} on the local host: the status document, or undefined when there is none (yet). */
export async function referralStatus(host: LocalHost, key: string): Promise<ReferralStatusDocument | undefined> {
    const response = await fetch(`${host.url}/api/referrals/${key}`, {
        headers: { 'x-functions-key': host.functionKey },
    });
    return response.status === 200 ? ((await response.json()) as ReferralStatusDocument) : undefined;
}
