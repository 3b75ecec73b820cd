/**
 * The local Event Grid topic with the real `@azure/eventgrid` client as the app builds it
 * (shared/platform/eventGrid.ts): key auth, a CloudEvents batch, the fault switch; and its delivery to webhook
 * subscribers: the validation handshake, retries, dead-lettering.
 */
import { HANDSHAKE_ORIGIN, type LocalTopic, startLocalTopic } from '../../../local/eventgrid/topic';
import { createEventGridPublisher, type OutcomeCloudEvent, PublishError } from '../../../shared/platform/eventGrid';
import { waitFor } from '../../support/waitFor';
import { startWebhookSubscriber as startSubscriber } from '../../support/webhookSubscriber';

const event = (id: string): OutcomeCloudEvent => ({
    id,
    type: 'cosell.referral.submitted',
    source: '/cosell-referrals/test',
    subject: '/referrals/k1',
    time: '2026-11-21T12:00:00.000Z',
    data: { id: 'k1', status: 'Submitted' },
});

let topic: LocalTopic;
afterEach(async () => {
    await topic?.close();
});

describe('the local Event Grid topic', () => {
    it('takes a batch from the real client with its key, and delivers each event to a validated webhook', async () => {
        const subscriber = await startSubscriber();
        topic = await startLocalTopic({ subscribers: [subscriber.url] });
        const publisher = createEventGridPublisher({ endpoint: topic.endpoint, key: topic.key, clientId: undefined });
        await publisher.publish([event('k1:1'), event('k1:2')]);
        expect(topic.published.map((e) => e.id)).toEqual(['k1:1', 'k1:2']);
        expect(topic.published[0]).toEqual({
            specversion: '1.0',
            datacontenttype: 'application/json',
            ...event('k1:1'),
        });
        await topic.idle();
        expect(subscriber.handshakes).toEqual([HANDSHAKE_ORIGIN]);
        expect(subscriber.received.map((r) => r.event.id)).toEqual(['k1:1', 'k1:2']);
        expect(subscriber.received[0]!.contentType).toMatch(/^application\/cloudevents\+json/);
        const listing = (await (await fetch(`${topic.url}/_admin/events`)).json()) as { deliveries: unknown[] };
        expect(listing.deliveries).toEqual([
            { subscriber: subscriber.url, id: 'k1:1', state: 'delivered', attempts: 1 },
            { subscriber: subscriber.url, id: 'k1:2', state: 'delivered', attempts: 1 },
        ]);
        await subscriber.close();
    });

    it('refuses a wrong key (401) and, while the fault switch is on, every publish (503 with Retry-After)', async () => {
        topic = await startLocalTopic();
        const wrongKey = createEventGridPublisher({ endpoint: topic.endpoint, key: 'wrong', clientId: undefined });
        await expect(wrongKey.publish([event('a:1')])).rejects.toMatchObject({ httpStatus: 401 });
        const publisher = createEventGridPublisher({ endpoint: topic.endpoint, key: topic.key, clientId: undefined });
        const put = await fetch(`${topic.url}/_admin/faults`, {
            method: 'PUT',
            body: JSON.stringify({ refuseForMs: 30_000 }),
        });
        expect(put.status).toBe(200);
        const refused = await publisher.publish([event('a:1')]).catch((error: unknown) => error);
        expect(refused).toBeInstanceOf(PublishError);
        expect(refused).toMatchObject({ httpStatus: 503, retryAfterMs: 30_000 });
        const faults = (await (await fetch(`${topic.url}/_admin/faults`)).json()) as { refused: number };
        expect(faults.refused).toBe(1);
        topic.refusePublishes(0);
        await publisher.publish([event('a:1')]);
        expect(topic.published.map((e) => e.id)).toEqual(['a:1']);
        expect(topic.refused).toBe(1);
    });

    it('retries a failing subscriber until it takes the event, and dead-letters one that never validates', async () => {
        const flaky = await startSubscriber({ failFirst: 2 });
        const refusing = await startSubscriber({ handshake: false });
        topic = await startLocalTopic({ subscribers: [flaky.url, refusing.url], retryDelayMs: 5 });
        await createEventGridPublisher({ endpoint: topic.endpoint, key: topic.key, clientId: undefined }).publish([
            event('b:1'),
        ]);
        await waitFor(
            () => `deliveries to settle: ${JSON.stringify(topic.deliveries)}`,
            () => topic.deliveries.every((d) => d.state !== 'pending'),
        );
        expect(topic.deliveries).toEqual([
            { subscriber: flaky.url, id: 'b:1', state: 'delivered', attempts: 3 },
            { subscriber: refusing.url, id: 'b:1', state: 'deadLettered', attempts: 8 },
        ]);
        expect(flaky.received.map((r) => r.event.id)).toEqual(['b:1']);
        expect(refusing.received).toEqual([]);
        await Promise.all([flaky.close(), refusing.close()]);
    });
});
