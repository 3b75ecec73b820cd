/**
 * Outcome events end to end on the local runtime: the app (index.ts in the local host, dev broker, Cosmos emulator,
 * Partner API simulator) publishes through the real `@azure/eventgrid` client to the local Event Grid topic, which
 * delivers to a webhook subscriber after the validation handshake. Each change's event arrives once per id, in the
 * order of the changes, and carries no customer data (the referrals carry the observability test's canaries). With
 * the topic refusing publishes for a while, the sweep publishes the changes' events later, with the same ids.
 */
import { ServiceBusClient } from '@azure/service-bus';

import { type LocalTopic, startLocalTopic } from '../../local/eventgrid/topic';
import type { LocalHost } from '../../local/host/localHost';
import { REFERRALS_QUEUE } from '../../shared/platform/names';
import { type LocalPeers, postReferral, referralStatus, startApp, startLocalPeers } from '../support/localRuntime';
import { expectNoPii, independentReferral, PII, referralWithPii } from '../support/referrals';
import { waitFor, waitForStatus } from '../support/waitFor';
import { startWebhookSubscriber, type WebhookSubscriber } from '../support/webhookSubscriber';

jest.setTimeout(90_000);

let peers: LocalPeers;
let topic: LocalTopic;
let subscriber: WebhookSubscriber;
let host: LocalHost;
let serviceBus: ServiceBusClient;

beforeAll(async () => {
    peers = await startLocalPeers();
    subscriber = await startWebhookSubscriber();
    topic = await startLocalTopic({ subscribers: [subscriber.url], retryDelayMs: 50 });
    host = await startApp(peers, {
        settings: {
            EVENT_GRID_TOPIC_ENDPOINT: topic.endpoint,
            EVENT_GRID_TOPIC_KEY: topic.key,
            EVENT_SOURCE: '/cosell-referrals/e2e',
            // The sweep every second, for events a second old: the outage test need not wait minutes.
            EVENT_SWEEP_SCHEDULE: '*/1 * * * * *',
            EVENT_RESEND_AFTER_MS: '1000',
        },
    });
    serviceBus = new ServiceBusClient(peers.broker.connectionString);
});

afterAll(async () => {
    await serviceBus?.close();
    await host?.close();
    await topic?.close();
    await subscriber?.close();
    await peers?.close();
});

const status = (key: string) => referralStatus(host, key);

/** The events delivered for `key`, in arrival order. */
function delivered(key: string) {
    return subscriber.received.map((r) => r.event).filter((event) => event.subject === `/referrals/${key}`);
}

async function eventsOf(key: string, count: number) {
    return waitFor(
        () => `${count} events of ${key}: ${JSON.stringify(delivered(key).map((e) => e.type))}`,
        () => delivered(key).length >= count && delivered(key),
    );
}

function expectOncePerId(events: Array<{ id: string }>): void {
    expect(new Set(events.map((event) => event.id)).size).toBe(events.length);
}

describe('outcome events', () => {
    it('a Shared referral: submitted, then connected, once per id, delivered as CloudEvents with no customer data', async () => {
        expect(await postReferral(host, 'ev-shared', referralWithPii())).toBe(202);
        const done = await waitForStatus(status, 'ev-shared', 'Connected');
        const events = await eventsOf('ev-shared', 2);
        expect(events.map((event) => event.type)).toEqual(['cosell.referral.submitted', 'cosell.referral.connected']);
        expectOncePerId(events);
        expect(events[1]).toMatchObject({
            specversion: '1.0',
            id: 'ev-shared:2',
            source: '/cosell-referrals/e2e',
            subject: '/referrals/ev-shared',
            datacontenttype: 'application/json',
            data: {
                id: 'ev-shared',
                status: 'Connected',
                partnerReferral: { id: done.partnerReferral!.id },
                connectedReferral: { id: done.connectedReferral!.id },
            },
        });
        expect(events[1]!.data).not.toHaveProperty('history');
        expect(subscriber.handshakes.length).toBeGreaterThanOrEqual(1);
        expect(subscriber.received[0]!.contentType).toMatch(/^application\/cloudevents\+json/);
    });

    it('an invalid published message: rejected', async () => {
        const invalid = referralWithPii();
        delete invalid.details.dealValue;
        invalid.customerProfile.size = PII.notes;
        await serviceBus.createSender(REFERRALS_QUEUE).sendMessages({ body: invalid, messageId: 'ev-invalid' });
        await waitForStatus(status, 'ev-invalid', 'Rejected');
        const [rejected] = await eventsOf('ev-invalid', 1);
        expect(rejected).toMatchObject({ type: 'cosell.referral.rejected', data: { status: 'Rejected' } });
    });

    it('a close: updated, with the update id and Applied', async () => {
        expect(await postReferral(host, 'ev-close', independentReferral())).toBe(202);
        await waitForStatus(status, 'ev-close', 'Submitted');
        const answer = await fetch(`${host.url}/api/referrals/ev-close`, {
            method: 'PATCH',
            headers: {
                'content-type': 'application/json-patch+json',
                'x-functions-key': host.functionKey,
                'idempotency-key': 'ev-close-won',
            },
            body: JSON.stringify([
                { op: 'replace', path: '/status', value: 'Closed' },
                { op: 'replace', path: '/substatus', value: 'Won' },
            ]),
        });
        expect(answer.status).toBe(202);
        const events = await eventsOf('ev-close', 2);
        expect(events.map((event) => event.type)).toEqual(['cosell.referral.submitted', 'cosell.referral.updated']);
        expect(events[1]!.data).toMatchObject({
            update: { id: 'ev-close-won', status: 'Applied' },
            partnerReferral: { status: 'Closed', substatus: 'Won' },
        });
        expectOncePerId(events);
    });

    it('while the topic refuses publishes, the changes go on; their events arrive later with the same ids', async () => {
        topic.refusePublishes(4_000);
        expect(await postReferral(host, 'ev-outage', referralWithPii())).toBe(202);
        await waitForStatus(status, 'ev-outage', 'Connected');
        expect(delivered('ev-outage')).toEqual([]);
        const events = await eventsOf('ev-outage', 2);
        expect(events.map((event) => event.id)).toEqual(['ev-outage:1', 'ev-outage:2']);
        expect(events.map((event) => event.type)).toEqual(['cosell.referral.submitted', 'cosell.referral.connected']);
        // Published once each: the writers' attempts were refused, the sweep's went through.
        const published = topic.published.filter((event) => event.subject === '/referrals/ev-outage');
        expect(published.map((event) => event.id)).toEqual(['ev-outage:1', 'ev-outage:2']);
    });

    it('every event delivered is unique per id and free of customer data', async () => {
        await topic.idle();
        const all = subscriber.received.map((r) => r.event);
        expectOncePerId(all);
        expectNoPii(JSON.stringify(all));
        expectNoPii(JSON.stringify(topic.published));
    });
});
