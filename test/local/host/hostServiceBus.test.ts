/**
 * The local host drives the fixture app's Service Bus queue triggers with the real SDK against the dev broker:
 * trigger input and metadata, completion, abandon/redelivery up to dead-lettering, maxConcurrentCalls, and a
 * message from a separate publisher process.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';

import { ServiceBusClient } from '@azure/service-bus';

import { type LocalHost, startLocalHost } from '../../../local/host/localHost';
import { type DevBroker, startBroker } from '../../../local/servicebus/broker';
import { waitFor } from '../../support/waitFor';
import { FIXTURE_QUEUES } from './fixtures/host-app';
import { probe, resetProbe } from './fixtures/host-app/probe';

const MAX_CONCURRENT_CALLS = 3;
const POISON_MAX_DELIVERY_COUNT = 3;
const PROJECT_ROOT = join(__dirname, '..', '..', '..');

let broker: DevBroker;
let host: LocalHost;
let client: ServiceBusClient;
const hostLines: string[] = [];

beforeAll(async () => {
    const queue = (name: string, maxDeliveryCount = 10) => ({
        name,
        maxDeliveryCount,
        lockDurationMs: 30_000,
        duplicateDetectionWindowMs: 60_000,
    });
    broker = await startBroker({
        port: 0,
        host: '127.0.0.1',
        queues: [
            queue(FIXTURE_QUEUES.inbox),
            queue(FIXTURE_QUEUES.poison, POISON_MAX_DELIVERY_COUNT),
            queue(FIXTURE_QUEUES.busy),
        ],
    });
    host = await startLocalHost({
        entry: join(__dirname, 'fixtures', 'host-app', 'index.ts'),
        port: 0,
        env: { ServiceBusConnection: broker.connectionString },
        hostJson: {
            extensions: {
                serviceBus: { maxConcurrentCalls: MAX_CONCURRENT_CALLS, maxAutoLockRenewalDuration: '00:01:00' },
            },
        },
        logSink: (_level, line) => hostLines.push(line),
    });
    client = new ServiceBusClient(broker.connectionString);
});

afterAll(async () => {
    await client?.close();
    await host?.close();
    await broker?.close();
});

beforeEach(() => resetProbe());

it('hands the message body and the host-style trigger metadata to the handler, then completes the message', async () => {
    const sender = client.createSender(FIXTURE_QUEUES.inbox);
    await sender.sendMessages({
        body: { referralId: 'r-1', amount: 3 },
        messageId: 'inbox-message-1',
        correlationId: 'corr-1',
        contentType: 'application/json',
        applicationProperties: { contractVersion: '1' },
    });
    await sender.close();

    await waitFor('the inbox delivery', () => probe.deliveries.length === 1);
    const [delivery] = probe.deliveries;
    expect(delivery!.body).toEqual({ referralId: 'r-1', amount: 3 });
    expect(delivery!.metadata).toMatchObject({
        messageId: 'inbox-message-1',
        deliveryCount: 1,
        correlationId: 'corr-1',
        contentType: 'application/json',
        applicationProperties: { contractVersion: '1' },
        sequenceNumber: expect.any(Number) as number,
        lockToken: expect.stringMatching(/^[0-9a-f-]{36}$/) as string,
        enqueuedTimeUtc: expect.stringMatching(/^\d{4}-\d\d-\d\dT/) as string,
    });
    await waitFor('completion', () => broker.stats()[FIXTURE_QUEUES.inbox]?.locked === 0);
    expect(broker.stats()[FIXTURE_QUEUES.inbox]).toMatchObject({ active: 0, locked: 0, deadLettered: 0 });
    expect(hostLines).toContainEqual(expect.stringMatching(/^\[inbox\] inbox message received$/));
    expect(hostLines).toContainEqual(expect.stringMatching(/Executed 'Functions.inbox' \(Succeeded, Id=/));
});

it('abandons a failing message: redelivered with deliveryCount + 1, dead-lettered after the max delivery count', async () => {
    const sender = client.createSender(FIXTURE_QUEUES.poison);
    await sender.sendMessages({ body: { bad: true }, messageId: 'poison-1' });
    await sender.close();

    await waitFor('dead-lettering', () => broker.deadLetters(FIXTURE_QUEUES.poison).length === 1);
    expect(probe.deliveries.map((d) => d.metadata.deliveryCount)).toEqual([1, 2, 3]);
    const [deadLetter] = broker.deadLetters(FIXTURE_QUEUES.poison);
    expect(deadLetter).toMatchObject({ messageId: 'poison-1', reason: 'MaxDeliveryCountExceeded' });
    expect(broker.stats()[FIXTURE_QUEUES.poison]).toMatchObject({ active: 0, locked: 0, deadLettered: 1 });
    expect(hostLines.filter((l) => /'Functions.poison' \(Failed/.test(l))).toHaveLength(POISON_MAX_DELIVERY_COUNT);
});

it('runs at most maxConcurrentCalls invocations at once, and reaches that many under load', async () => {
    const messages = Array.from({ length: 4 * MAX_CONCURRENT_CALLS }, (_, i) => ({
        body: { i },
        messageId: `busy-${i}`,
    }));
    const sender = client.createSender(FIXTURE_QUEUES.busy);
    await sender.sendMessages(messages);
    await sender.close();

    await waitFor('every busy message', () => probe.busyCompleted === messages.length);
    expect(probe.maxInFlight).toBe(MAX_CONCURRENT_CALLS);
    await waitFor('completion', () => broker.stats()[FIXTURE_QUEUES.busy]?.locked === 0);
    expect(broker.stats()[FIXTURE_QUEUES.busy]).toMatchObject({ active: 0, deadLettered: 0 });
});

it('delivers a message that a separate publisher process sent with the real SDK', async () => {
    // An upstream publisher: its own process, its own SDK client, the same message contract.
    const publisher = `
        const { ServiceBusClient } = require('@azure/service-bus');
        (async () => {
            const client = new ServiceBusClient(process.env.CONNECTION);
            const sender = client.createSender(process.env.QUEUE);
            await sender.sendMessages({ body: { from: 'publisher-process' }, messageId: 'upstream-1' });
            await client.close();
        })().catch((error) => { console.error(error); process.exit(1); });
    `;
    await promisify(execFile)(process.execPath, ['-e', publisher], {
        cwd: PROJECT_ROOT,
        env: { ...process.env, CONNECTION: broker.connectionString, QUEUE: FIXTURE_QUEUES.inbox },
    });

    await waitFor('the published message', () => probe.deliveries.some((d) => d.metadata.messageId === 'upstream-1'));
    const delivery = probe.deliveries.find((d) => d.metadata.messageId === 'upstream-1');
    expect(delivery!.body).toEqual({ from: 'publisher-process' });
});
