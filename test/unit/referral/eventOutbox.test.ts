import type { EventPublisher, OutcomeCloudEvent } from '../../../shared/platform/eventGrid';
import { PublishError } from '../../../shared/platform/eventGrid';
import type { EventLogger, LogEvent } from '../../../shared/platform/logging';
import {
    EventOutbox,
    EventPublishingStore,
    EVENTS_OVERDUE_AFTER_MS,
    publishLeftoverEvents,
} from '../../../shared/referral/eventOutbox';
import { newRecord, transition } from '../../../shared/referral/record';
import { MemoryReferralStore } from '../../support/memoryReferralStore';
import { expectNoPii, referralWithPii } from '../../support/referrals';

const START = new Date('2026-11-21T12:00:00.000Z');

/** A topic that records each batch, or refuses while `refusing` (with a Retry-After when given). */
class FakeTopic implements EventPublisher {
    readonly batches: OutcomeCloudEvent[][] = [];
    refusing = false;
    retryAfterMs: number | undefined;

    publish(events: readonly OutcomeCloudEvent[]): Promise<void> {
        if (this.refusing) return Promise.reject(new PublishError(503, this.retryAfterMs, { cause: undefined }));
        this.batches.push(structuredClone([...events]));
        return Promise.resolve();
    }

    get ids(): string[] {
        return this.batches.flat().map((event) => event.id);
    }
}

function setup(options: { eventsOn?: boolean } = {}) {
    let now = START;
    const logged: LogEvent[] = [];
    const log: EventLogger = { event: (_level, name) => logged.push(name) };
    const topic = new FakeTopic();
    const inner = new MemoryReferralStore();
    const outbox =
        options.eventsOn === false
            ? undefined
            : new EventOutbox(
                  topic,
                  '/cosell-referrals/test',
                  () => now,
                  log,
                  () => 0,
              );
    const store = new EventPublishingStore(inner, outbox);
    return {
        topic,
        inner,
        store,
        logged,
        clock: {
            advance(ms: number) {
                now = new Date(now.getTime() + ms);
            },
            now: () => now,
        },
    };
}

/** A record with customer data, created Queued, then moved Queued → Rejected through the store. */
async function rejectedThroughStore(store: EventPublishingStore) {
    const record = newRecord({
        id: 'k1',
        source: 'queue',
        correlationId: 'c1',
        requestHash: 'h',
        request: referralWithPii() as never,
        at: START,
    });
    const created = await store.create(record);
    if (!created.created) throw new Error('not created');
    return store.replace(
        transition(created.stored.record, 'Rejected', START, { error: { code: 'X', message: 'no' } }),
        created.stored.etag,
    );
}

describe('the outcome event outbox', () => {
    it('publishes a change as a CloudEvent after its write and clears it; the caller goes on from the cleared record', async () => {
        const { topic, inner, store } = setup();
        const written = await rejectedThroughStore(store);
        expect(topic.batches).toHaveLength(1);
        const [event] = topic.batches[0]!;
        expect(event).toEqual({
            id: 'k1:1',
            type: 'cosell.referral.rejected',
            source: '/cosell-referrals/test',
            subject: '/referrals/k1',
            time: START.toISOString(),
            data: expect.objectContaining({ id: 'k1', status: 'Rejected', error: { code: 'X', message: 'no' } }),
        });
        expect(event!.data).not.toHaveProperty('history');
        expect(event!.data).not.toHaveProperty('update');
        expectNoPii(JSON.stringify(event));
        const stored = inner.items.get('k1')!;
        expect(stored.record.pendingEvents).toBeUndefined();
        expect(written.replaced && written.stored.etag).toBe(stored.etag);
    });

    it('leaves the events on the record when the topic refuses, holds off, and the sweep publishes them later with the same ids', async () => {
        const { topic, inner, store, clock, logged } = setup();
        topic.refusing = true;
        await rejectedThroughStore(store);
        const pending = inner.items.get('k1')!.record.pendingEvents!;
        expect(pending.map((event) => event.id)).toEqual(['k1:1']);
        expect(pending[0]!.data).toMatchObject({ status: 'Rejected' });
        expect(logged).toContain('events.publishFailed');

        topic.refusing = false;
        clock.advance(1);
        // Held off (the back-off after a failure): the sweep's run ends at once.
        expect(await publishLeftoverEvents(store, 0, clock.now, { event: () => undefined })).toEqual({
            published: 0,
            outcome: 'heldOff',
        });
        clock.advance(60_000);
        expect(await publishLeftoverEvents(store, 30_000, clock.now, { event: () => undefined })).toEqual({
            published: 1,
            outcome: 'complete',
        });
        expect(topic.ids).toEqual(['k1:1']);
        expect(inner.items.get('k1')!.record.pendingEvents).toBeUndefined();
    });

    it('holds off at least as long as the topic asked (Retry-After)', async () => {
        const { topic, store, clock } = setup();
        topic.refusing = true;
        topic.retryAfterMs = 120_000;
        await rejectedThroughStore(store);
        topic.refusing = false;
        const quiet = { event: () => undefined };
        clock.advance(100_000);
        expect((await publishLeftoverEvents(store, 0, clock.now, quiet)).outcome).toBe('heldOff');
        clock.advance(30_000);
        expect((await publishLeftoverEvents(store, 0, clock.now, quiet)).outcome).toBe('complete');
    });

    it('counts publishes that fail together as one failure: many writers meeting a short outage hold off as one', async () => {
        let now = START;
        const inFlight: Array<() => void> = [];
        const refusingLater: EventPublisher = {
            publish: () =>
                new Promise((_resolve, reject) =>
                    inFlight.push(() => reject(new PublishError(503, undefined, { cause: undefined }))),
                ),
        };
        // No jitter (random 0): a first failure holds 2.5 s, a second one in a row 5 s.
        const outbox = new EventOutbox(
            refusingLater,
            '/test',
            () => now,
            { event: () => undefined },
            () => 0,
        );
        const inner = new MemoryReferralStore();
        const pendingRecord = (id: string) => ({
            etag: 'e',
            record: transition(
                newRecord({ id, source: 'queue', correlationId: id, requestHash: 'h', request: null, at: START }),
                'Rejected',
                START,
            ),
        });
        const together = ['a', 'b', 'c'].map((id) => outbox.flush(inner, pendingRecord(id)));
        const failedAt = START.getTime() + 1_000;
        now = new Date(failedAt);
        for (const refuse of inFlight.splice(0)) refuse();
        expect((await Promise.all(together)).map((flushed) => flushed.outcome)).toEqual([
            'publishFailed',
            'publishFailed',
            'publishFailed',
        ]);
        now = new Date(failedAt + 2_499);
        expect(outbox.holding()).toBe(true);
        now = new Date(failedAt + 2_500);
        expect(outbox.holding()).toBe(false);

        // The next publish, begun after those failed, fails again: the hold doubles.
        const next = outbox.flush(inner, pendingRecord('d'));
        inFlight.splice(0)[0]!();
        expect((await next).outcome).toBe('publishFailed');
        now = new Date(failedAt + 2_500 + 4_999);
        expect(outbox.holding()).toBe(true);
        now = new Date(failedAt + 2_500 + 5_000);
        expect(outbox.holding()).toBe(false);
    });

    it('leaves events younger than the resend delay to their writer, and says overdue when they stay too long', async () => {
        const { topic, store, clock } = setup();
        topic.refusing = true;
        await rejectedThroughStore(store);
        const logged: LogEvent[] = [];
        const log: EventLogger = { event: (_level, name) => logged.push(name) };
        clock.advance(EVENTS_OVERDUE_AFTER_MS);
        expect((await publishLeftoverEvents(store, EVENTS_OVERDUE_AFTER_MS + 1, clock.now, log)).published).toBe(0);
        expect(logged).toEqual(['events.swept']);
        expect((await publishLeftoverEvents(store, 1_000, clock.now, log)).outcome).toBe('publishFailed');
        expect(logged).toContain('events.overdue');
    });

    it('a writer that lost the clear to another leaves them for that writer, who publishes the same ids again', async () => {
        const { topic, inner, store } = setup();
        let interfered = false;
        inner.beforeWrite = (operation) => {
            // Another writer changes the record between this writer's change (published) and its clear.
            if (operation === 'replace' && topic.batches.length === 1 && !interfered) {
                interfered = true;
                inner.put({ ...inner.items.get('k1')!.record, attempts: 9 });
            }
        };
        await rejectedThroughStore(store);
        inner.beforeWrite = undefined;
        expect(inner.items.get('k1')!.record.pendingEvents!.map((event) => event.id)).toEqual(['k1:1']);
        await publishLeftoverEvents(store, 0, () => new Date(START.getTime() + 3_600_000), { event: () => undefined });
        expect(topic.ids).toEqual(['k1:1', 'k1:1']);
    });

    it('without a topic, publishes nothing and writes no pending events', async () => {
        const { topic, inner, store } = setup({ eventsOn: false });
        await rejectedThroughStore(store);
        expect(topic.batches).toEqual([]);
        expect(inner.items.get('k1')!.record.pendingEvents).toBeUndefined();
        expect(await publishLeftoverEvents(store, 0, () => START, { event: () => undefined })).toEqual({
            published: 0,
            outcome: 'complete',
        });
    });
});
