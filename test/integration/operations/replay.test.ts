/**
 * Replay on the local runtime: the app's own registrations (index.ts) in the local host, the Service Bus dev broker,
 * the Cosmos DB emulator and the Partner API simulator, all through the real SDKs over loopback; the replay command
 * (scripts/replay.ts) with its production sources (dead-letter queues through @azure/service-bus, Failed records
 * through @azure/cosmos). Each replayed referral ends Submitted/Connected with exactly one referral (and one
 * connected referral) at the Partner API, and a second replay sends nothing.
 */

import type { Container, CosmosClient } from '@azure/cosmos';
import { ServiceBusClient } from '@azure/service-bus';

import { type CosmosEmulator, localCosmosClient } from '../../../local/cosmos/emulator';
import type { LocalHost } from '../../../local/host/localHost';
import { NO_FAULTS, type PartnerApiSimulator } from '../../../local/partner-api-simulator';
import type { DevBroker } from '../../../local/servicebus/broker';
import { type ReplayArguments, runReplayCommand } from '../../../scripts/replay';
import { referralMessage } from '../../../shared/messaging/messages';
import type { ReplayDependencies } from '../../../shared/operations/replay';
import { cosmosFailedRecords, serviceBusDeadLetterQueue } from '../../../shared/operations/replaySources';
import { createRequestId, NoTokenProvider, PartnerApiClient } from '../../../shared/partnerApi';
import { CONNECTIONS_QUEUE, COSMOS_CONTAINER, COSMOS_DATABASE, REFERRALS_QUEUE } from '../../../shared/platform/names';
import { summarize, transition } from '../../../shared/referral/record';
import { CosmosReferralStore } from '../../../shared/referral/store';
import { givenRecord } from '../../support/givenRecord';
import { type LocalPeers, queuesIdle, startApp, startLocalPeers } from '../../support/localRuntime';
import { independentReferral, seedReferral } from '../../support/referrals';
import { createsFor } from '../../support/simulatorRequests';
import { waitForStatus } from '../../support/waitFor';

let peers: LocalPeers;
let broker: DevBroker;
let cosmos: CosmosEmulator;
let simulator: PartnerApiSimulator;
let host: LocalHost;
let serviceBus: ServiceBusClient;
let cosmosClient: CosmosClient;
let container: Container;
let deps: ReplayDependencies;

beforeAll(async () => {
    peers = await startLocalPeers();
    ({ broker, cosmos, simulator } = peers);
    serviceBus = new ServiceBusClient(broker.connectionString);
    cosmosClient = localCosmosClient(cosmos.endpoint);
    container = cosmosClient.database(COSMOS_DATABASE).container(COSMOS_CONTAINER);

    // Before the host runs: two messages end in the dead-letter queue, as if the worker had kept failing on them
    // (a Cosmos DB outage, say): an upstream publisher's Shared referral, and one without a usable key.
    const sender = serviceBus.createSender(REFERRALS_QUEUE);
    await sender.sendMessages([
        referralMessage({ key: 'dlq-1', body: seedReferral(), correlationId: 'corr-dlq-1' }),
        { body: independentReferral(), messageId: 'not a key', contentType: 'application/json' },
    ]);
    await sender.close();
    const receiver = serviceBus.createReceiver(REFERRALS_QUEUE);
    for (const message of await receiver.receiveMessages(2, { maxWaitTimeInMs: 5_000 })) {
        await receiver.deadLetterMessage(message, {
            deadLetterReason: 'MaxDeliveryCountExceeded',
            deadLetterErrorDescription: 'Message could not be consumed after 10 delivery attempts.',
        });
    }
    await receiver.close();
    expect(broker.stats()[REFERRALS_QUEUE]!.deadLettered).toBe(2);

    // The outbox's sweep stays out of the way (once a year): here replay is what sends a stuck Queued referral.
    host = await startApp(peers, {
        settings: {
            SUBMIT_RETRY_WINDOW_HOURS: '0.0003', // about a second
            RETRY_MAX_DELAY_MS: '200',
            INTAKE_SWEEP_SCHEDULE: '0 0 0 1 1 *',
        },
    });

    deps = {
        store: new CosmosReferralStore(
            () => container,
            () => -1,
        ),
        failed: cosmosFailedRecords(() => container),
        deadLetters: [REFERRALS_QUEUE, CONNECTIONS_QUEUE].map((queue) => serviceBusDeadLetterQueue(serviceBus, queue)),
        referralsQueue: { send: (message) => serviceBus.createSender(REFERRALS_QUEUE).sendMessages(message) },
        connectionsQueue: { send: (message) => serviceBus.createSender(CONNECTIONS_QUEUE).sendMessages(message) },
        now: () => new Date(),
        resendAfterMs: 60_000,
    };
});

afterAll(async () => {
    await host?.close();
    await serviceBus?.close();
    cosmosClient?.dispose();
    await peers?.close();
});

afterEach(() => {
    simulator.admin.setFaults({ ...NO_FAULTS });
});

async function command(argv: Partial<ReplayArguments>): Promise<{ code: number; lines: string[] }> {
    const lines: string[] = [];
    const args: ReplayArguments = { command: 'run', keys: [], all: false, dryRun: false, local: false, ...argv };
    const code = await runReplayCommand(args, deps, { out: (line) => lines.push(line) });
    return { code, lines };
}

async function recordOf(key: string) {
    return (await deps.store.read(key))?.record;
}

async function statusOf(key: string): Promise<string | undefined> {
    return (await recordOf(key))?.status;
}

const postsFor = (key: string) => createsFor(simulator.admin.requests(), key);
const inEngagement = (engagementId: string) =>
    simulator.admin.referrals().filter((r) => r.engagementId === engagementId);

it('lists the dead-lettered messages without changing anything', async () => {
    const { code, lines } = await command({ command: 'list' });
    expect(code).toBe(0);
    expect(lines.join('\n')).toMatch(
        /dlq-1 +dead letter referrals #\d+ \(MaxDeliveryCountExceeded\) +no record +would publish again/,
    );
    expect(lines.join('\n')).toMatch(/\(no key\) .* cannot replay: the message names no usable referral key/);
    expect(broker.stats()[REFERRALS_QUEUE]!.deadLettered).toBe(2);
    expect(await statusOf('dlq-1')).toBeUndefined();
});

it('replays a dead-lettered Shared referral to Connected: one referral and one connected referral', async () => {
    const { code, lines } = await command({ keys: ['dlq-1'] });
    expect(code).toBe(0);
    expect(lines.at(-1)).toBe('1 item: 1 published again.');

    const record = await waitForStatus(recordOf, 'dlq-1', 'Connected');
    await queuesIdle(broker);
    expect(record.correlationId).toBe('corr-dlq-1');
    expect(inEngagement(record.partnerReferral!.engagementId)).toHaveLength(2);
    expect(postsFor('dlq-1')).toHaveLength(2);
    // The message without a key stays in the dead-letter queue for a person to look at.
    expect(broker.deadLetters(REFERRALS_QUEUE)).toEqual([expect.objectContaining({ messageId: 'not a key' })]);

    // Again: nothing to do, nothing sent.
    const again = await command({ keys: ['dlq-1'] });
    expect(again.lines.at(-1)).toBe('1 item: 1 already done: nothing sent.');
    await queuesIdle(broker);
    expect(postsFor('dlq-1')).toHaveLength(2);
});

it('replays a referral that Failed to submit (Partner API down) to Connected, without duplicates', async () => {
    simulator.admin.setFaults({ rate5xx: 1, serverErrorStatuses: [500], methods: ['POST'] });
    const response = await fetch(`${host.url}/api/referrals`, {
        method: 'POST',
        headers: {
            'content-type': 'application/json',
            'x-functions-key': host.functionKey,
            'idempotency-key': 'fail-1',
        },
        body: JSON.stringify(seedReferral()),
    });
    expect(response.status).toBe(202);
    await waitForStatus(recordOf, 'fail-1', 'Failed');
    await queuesIdle(broker);
    simulator.admin.setFaults({ ...NO_FAULTS });
    // Retried for the whole (1-second) window, every attempt a 500.
    const statuses = postsFor('fail-1').map((p) => p.status);
    expect(statuses.length).toBeGreaterThanOrEqual(2);
    expect(statuses).toEqual(statuses.map(() => 500));

    const dry = await command({ all: true, dryRun: true });
    expect(dry.lines.join('\n')).toMatch(/fail-1 +Failed in submit \(RetriesExhausted\) +Failed +would re-queue/);
    expect(await statusOf('fail-1')).toBe('Failed');

    const { code, lines } = await command({ all: true });
    expect(lines.join('\n')).toMatch(/fail-1 +Failed in submit \(RetriesExhausted\) +Failed +re-queued/);
    expect(code).toBe(2); // the keyless dead letter is still there, and says so
    const record = await waitForStatus(recordOf, 'fail-1', 'Connected');
    await queuesIdle(broker);
    expect(inEngagement(record.partnerReferral!.engagementId)).toHaveLength(2);
    // The failed attempts, then one create and one connect.
    expect(postsFor('fail-1').map((p) => p.status)).toEqual([...statuses, 200, 200]);
    expect(record.history.map((h) => h.status)).toEqual([
        'Queued',
        'Submitting',
        'Failed',
        'Queued',
        'Submitting',
        'Submitted',
        'Connecting',
        'Connected',
    ]);
});

it('replays a referral that Failed to connect (Failed → Submitted) with exactly one connected referral', async () => {
    // The state a connect step leaves after its last attempt failed: the partner's referral exists.
    const api = new PartnerApiClient({ baseUrl: simulator.url, tokenProvider: new NoTokenProvider() });
    const body = seedReferral();
    const own = await api.createReferral(
        { ...body, externalReferenceId: 'conn-1' },
        { createRequestId: createRequestId('conn-1', 'submit'), correlationId: 'c' },
    );
    await api.close();
    const at = new Date();
    let record = givenRecord({ id: 'conn-1', correlationId: 'corr-conn-1', request: body, at });
    record = transition(record, 'Submitting', at, { attempts: 1 });
    record = transition(record, 'Submitted', at, { partnerReferral: summarize(own) });
    record = transition(record, 'Connecting', at, { attempts: 2 });
    record = transition(record, 'Failed', at, { error: { code: 'RetriesExhausted', message: 'Gave up' } });
    await deps.store.create(record);

    const { lines } = await command({ keys: ['conn-1'] });
    expect(lines.join('\n')).toMatch(/conn-1 +Failed in connect \(RetriesExhausted\) +Failed +re-queued/);
    const done = await waitForStatus(recordOf, 'conn-1', 'Connected');
    await queuesIdle(broker);
    expect(inEngagement(own.engagementId)).toHaveLength(2);
    expect(done.connectedReferral!.id).toBe(inEngagement(own.engagementId)[1]!.id);

    const again = await command({ keys: ['conn-1'] });
    expect(again.lines.at(-1)).toBe('1 item: 1 already done: nothing sent.');
    await queuesIdle(broker);
    expect(inEngagement(own.engagementId)).toHaveLength(2);
});

it('lists a referral stuck Queued (its message never sent) through the Cosmos DB query, and replays it once', async () => {
    // What the intake leaves when Service Bus was down: the record, and no message.
    const body = independentReferral();
    const stuck = givenRecord({
        id: 'stuck-1',
        correlationId: 'corr-stuck-1',
        request: body,
        at: new Date(Date.now() - 120_000),
    });
    await deps.store.create(stuck);
    await deps.store.create({
        ...stuck,
        id: 'young-1',
        createdAt: new Date().toISOString(),
        updatedAt: new Date().toISOString(),
    });

    const listed = await command({ command: 'list' });
    expect(listed.lines.join('\n')).toMatch(
        /stuck-1 +stuck in Queued \(message not seen\) +Queued +would send its message again/,
    );
    expect(listed.lines.join('\n')).not.toContain('young-1');
    expect(postsFor('stuck-1')).toHaveLength(0);

    const { lines } = await command({ keys: ['stuck-1'] });
    expect(lines.join('\n')).toMatch(/stuck-1 .* Queued +message sent again/);
    await waitForStatus(recordOf, 'stuck-1', 'Submitted');
    await queuesIdle(broker);
    expect(simulator.admin.referrals().filter((r) => r.externalReferenceId === 'stuck-1')).toHaveLength(1);
});
