/**
 * The intake's outbox end to end on the local runtime (index.ts in the local host, the dev broker, the Cosmos DB
 * emulator, the Partner API simulator): Service Bus, then Cosmos DB, go down while referrals arrive. The app reaches
 * each peer through a relay that stages the outage (connections dropped and refused) without losing the peer's state.
 */
import type { CosmosClient } from '@azure/cosmos';

import { localCosmosClient } from '../../local/cosmos/emulator';
import type { LocalHost } from '../../local/host/localHost';
import { COSMOS_CONTAINER, COSMOS_DATABASE, REFERRALS_QUEUE } from '../../shared/platform/names';
import { type LocalPeers, queuesIdle, startApp, startLocalPeers } from '../support/localRuntime';
import { type OutageRelay, startOutageRelay } from '../support/outageRelay';
import { independentReferral } from '../support/referrals';
import { waitFor } from '../support/waitFor';

jest.setTimeout(120_000);

let peers: LocalPeers;
let serviceBusRelay: OutageRelay;
let cosmosRelay: OutageRelay;
let host: LocalHost;
let cosmosClient: CosmosClient;

beforeAll(async () => {
    peers = await startLocalPeers();
    serviceBusRelay = await startOutageRelay(peers.broker.port);
    cosmosRelay = await startOutageRelay(peers.cosmos.port);
    const relayed = (text: string, from: number, to: number) => text.replace(`127.0.0.1:${from}`, `127.0.0.1:${to}`);
    host = await startApp(peers, {
        settings: {
            ServiceBusConnection: relayed(peers.broker.connectionString, peers.broker.port, serviceBusRelay.port),
            CosmosDbConnection: relayed(peers.cosmos.connectionString, peers.cosmos.port, cosmosRelay.port),
            // A sweep every second, for records Queued longer than 2 s (defaults: every minute, 60 s).
            INTAKE_SWEEP_SCHEDULE: '*/1 * * * * *',
            INTAKE_RESEND_AFTER_MS: '2000',
        },
    });
    cosmosClient = localCosmosClient(peers.cosmos.endpoint);
});

afterAll(async () => {
    await host?.close();
    cosmosClient?.dispose();
    await Promise.all([serviceBusRelay?.close(), cosmosRelay?.close()]);
    await peers?.close();
});

async function post(body: unknown, key?: string): Promise<{ status: number; retryAfter: string | null; id?: string }> {
    const response = await fetch(`${host.url}/api/referrals`, {
        method: 'POST',
        headers: {
            'content-type': 'application/json',
            'x-functions-key': host.functionKey,
            ...(key ? { 'idempotency-key': key } : {}),
        },
        body: JSON.stringify(body),
    });
    const answer = (await response.json()) as { id?: string };
    return { status: response.status, retryAfter: response.headers.get('retry-after'), id: answer.id };
}

async function statusOf(key: string): Promise<string | undefined> {
    const response = await fetch(`${host.url}/api/referrals/${key}`, {
        headers: { 'x-functions-key': host.functionKey },
    });
    return response.status === 200 ? ((await response.json()) as { status: string }).status : undefined;
}

/** The Partner API referrals of one referral (the key is its externalReferenceId: the request has none). */
const referralsFor = (key: string) => peers.simulator.admin.referrals().filter((r) => r.externalReferenceId === key);

async function recordIds(): Promise<string[]> {
    const container = cosmosClient.database(COSMOS_DATABASE).container(COSMOS_CONTAINER);
    const { resources } = await container.items.query<{ id: string }>('SELECT c.id FROM c').fetchAll();
    return resources.map((r) => r.id).sort();
}

it('with Service Bus down, then back: every referral answered 202 reaches the Partner API exactly once, unretried', async () => {
    await serviceBusRelay.down();
    const answers = await Promise.all([
        post(independentReferral(), 'outbox-keyed-1'),
        post(independentReferral(), 'outbox-keyed-2'),
        post(independentReferral()),
        post(independentReferral()),
    ]);
    expect(answers.map((a) => a.status)).toEqual([202, 202, 202, 202]);
    const ids = answers.map((a) => a.id!);
    expect(ids.slice(0, 2)).toEqual(['outbox-keyed-1', 'outbox-keyed-2']);
    for (const id of ids) expect(await statusOf(id)).toBe('Queued');

    // Sweeps run (and fail to send) during the outage; nothing reaches the queue or the Partner API.
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    expect(peers.broker.stats()[REFERRALS_QUEUE]).toMatchObject({ active: 0, scheduled: 0 });
    for (const id of ids) expect(referralsFor(id)).toHaveLength(0);

    await serviceBusRelay.up();
    for (const id of ids) {
        await waitFor(`${id} to be Submitted`, async () => (await statusOf(id)) === 'Submitted', 60_000);
    }
    // A few more sweeps: nothing is sent twice.
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    await queuesIdle(peers.broker);
    for (const id of ids) expect(referralsFor(id)).toHaveLength(1);
});

it('with Cosmos DB down at intake: 503 with Retry-After, and nothing left behind, with a key or without', async () => {
    const recordsBefore = await recordIds();
    const referralsBefore = peers.simulator.admin.referrals().length;

    await cosmosRelay.down();
    const keyed = await post(independentReferral(), 'outbox-cosmos-down');
    const keyless = await post(independentReferral());
    await cosmosRelay.up();

    expect([keyed, keyless].map(({ status, retryAfter }) => ({ status, retryAfter }))).toEqual([
        { status: 503, retryAfter: '5' },
        { status: 503, retryAfter: '5' },
    ]);
    expect(await statusOf('outbox-cosmos-down')).toBeUndefined();
    // Sweeps have run since: still no record, no message, no referral.
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    await queuesIdle(peers.broker);
    expect(await recordIds()).toEqual(recordsBefore);
    expect(peers.simulator.admin.referrals()).toHaveLength(referralsBefore);
});
