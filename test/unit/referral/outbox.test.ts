import type { Timer } from '@azure/functions';

import { createReferral } from '../../../functions/createReferral';
import { resendQueuedReferrals } from '../../../functions/resendQueuedReferrals';
import { MAX_RESENDS_PER_RUN, type OutboxDependencies, SWEEP_PAGE_SIZE } from '../../../shared/referral/outbox';
import { newRecord, transition } from '../../../shared/referral/record';
import { requestHash } from '../../../shared/referral/request/canonicalJson';
import { invocationContext, postJson } from '../../support/functions';
import { MemoryReferralStore } from '../../support/memoryReferralStore';
import { RecordingSender } from '../../support/recordingSender';
import { expectNoPii, referralWithPii, seedReferral } from '../../support/referrals';

const URL = 'http://localhost:7071/api/referrals';
const RESEND_AFTER_MS = 60_000;
const T0 = Date.parse('2026-11-21T10:00:00Z');

/** The timer object as the worker hands it over. */
const timer = (isPastDue = false): Timer => ({
    isPastDue,
    schedule: { adjustForDST: true },
    scheduleStatus: {
        last: '2026-11-21T09:59:00.000Z',
        next: '2026-11-21T10:00:00.000Z',
        lastUpdated: '2026-11-21T09:59:00.000Z',
    },
});

function setup() {
    const store = new MemoryReferralStore();
    const queue = new RecordingSender();
    let now = T0;
    let keys = 0;
    const clock = { advance: (ms: number) => (now += ms) };
    const intakeDeps = { store, referralsQueue: queue, newKey: () => `generated-${++keys}`, now: () => new Date(now) };
    const outboxDeps: OutboxDependencies = {
        store,
        referralsQueue: queue,
        resendAfterMs: RESEND_AFTER_MS,
        now: () => new Date(now),
    };
    /** POSTs through the real intake while Service Bus refuses every send: the record is kept, nothing is sent. */
    const postWhileQueueDown = async (body: unknown, headers: Record<string, string> = {}) => {
        queue.failWith = new Error('ECONNREFUSED');
        const { context } = invocationContext('createReferral');
        const response = await createReferral(postJson(URL, body, headers), context, intakeDeps);
        queue.failWith = undefined;
        return response;
    };
    const sweep = async (isPastDue = false) => {
        const { context, lines } = invocationContext('resendQueuedReferrals');
        await resendQueuedReferrals(timer(isPastDue), context, outboxDeps);
        const events = lines.map((line) => JSON.parse(line.slice(line.indexOf('{'))) as Record<string, unknown>);
        return { lines, events };
    };
    return { store, queue, clock, intakeDeps, postWhileQueueDown, sweep };
}

function queuedRecord(id: string, at: number) {
    const body = { ...seedReferral(), externalReferenceId: id };
    return newRecord({
        id,
        source: 'http',
        correlationId: `corr-${id}`,
        requestHash: requestHash(body),
        request: body as never,
        at: new Date(at),
    });
}

describe('the outbox sweep (resendQueuedReferrals)', () => {
    it('sends a record the intake kept after a failed send, as the very message the intake sends', async () => {
        const { queue, clock, intakeDeps, postWhileQueueDown, sweep } = setup();
        const headers = { 'idempotency-key': 'crm-1', 'x-correlation-id': 'corr-1' };
        expect((await postWhileQueueDown(seedReferral(), headers)).status).toBe(202);
        expect((await postWhileQueueDown(seedReferral())).status).toBe(202);
        expect(queue.sent).toHaveLength(0);

        // The message a working intake sends for the same request, for comparison.
        const reference = new RecordingSender();
        const { context } = invocationContext('createReferral');
        await createReferral(postJson(URL, seedReferral(), headers), context, {
            ...intakeDeps,
            store: new MemoryReferralStore(),
            referralsQueue: reference,
        });

        clock.advance(RESEND_AFTER_MS + 1);
        const { events } = await sweep();
        expect(queue.sent.map((m) => m.messageId).sort()).toEqual(['crm-1', 'generated-1']);
        expect(queue.sent.find((m) => m.messageId === 'crm-1')).toEqual(reference.sent[0]);
        expect(events.filter((e) => e.event === 'outbox.resent')).toEqual([
            expect.objectContaining({ referralKey: 'crm-1', correlationId: 'corr-1', delayMs: RESEND_AFTER_MS + 1 }),
            expect.objectContaining({ referralKey: 'generated-1', delayMs: RESEND_AFTER_MS + 1 }),
        ]);
        expect(events.at(-1)).toMatchObject({ event: 'outbox.swept', outcome: 'complete', count: 2 });
    });

    it('leaves alone a Queued record younger than INTAKE_RESEND_AFTER_MS and every record past Queued', async () => {
        const { store, queue, sweep } = setup();
        const old = T0 - RESEND_AFTER_MS - 1;
        store.put(queuedRecord('young', T0 - RESEND_AFTER_MS + 1000));
        store.put(transition(queuedRecord('submitting', old), 'Submitting', new Date(old)));
        store.put(transition(queuedRecord('failed', old), 'Failed', new Date(old)));
        store.put(queuedRecord('stuck', old));
        const { events } = await sweep();
        expect(queue.sent.map((m) => m.messageId)).toEqual(['stuck']);
        expect(events.at(-1)).toMatchObject({ event: 'outbox.swept', count: 1 });
    });

    it('is idempotent: a second run sends the same message again (the queue drops it) and changes no record', async () => {
        const { store, queue, sweep } = setup();
        store.put(queuedRecord('stuck', T0 - RESEND_AFTER_MS - 1));
        const before = structuredClone(store.items.get('stuck'));
        await sweep();
        await sweep(true);
        expect(queue.sent).toHaveLength(2);
        expect(queue.sent[1]).toEqual(queue.sent[0]);
        expect(store.items.get('stuck')).toEqual(before);
    });

    it('re-sends a record still Queued in a later interval under a new messageId, once per interval', async () => {
        // The intake's message reached the queue and was consumed, yet the record never moved on: a re-send under the
        // key itself would be dropped as a duplicate for the queue's whole detection window.
        const { queue, clock, store, sweep } = setup();
        store.put(queuedRecord('consumed', T0 - RESEND_AFTER_MS - 1));
        await sweep();
        clock.advance(RESEND_AFTER_MS);
        await sweep();
        await sweep();
        clock.advance(RESEND_AFTER_MS);
        await sweep();
        expect(queue.sent.map((m) => m.messageId)).toEqual(['consumed', 'consumed:s2', 'consumed:s2', 'consumed:s3']);
        const later = queue.sent[1]!;
        expect(later.body).toEqual(queue.sent[0]!.body);
        expect(later.applicationProperties).toMatchObject({ referralKey: 'consumed', attempt: 1 });
    });

    it('ends a run at the first failed send, and the next run sends what is still stuck', async () => {
        const { store, queue, sweep } = setup();
        for (const id of ['a', 'b', 'c']) store.put(queuedRecord(id, T0 - RESEND_AFTER_MS - 1));
        queue.failWith = new Error('ECONNREFUSED');
        const down = await sweep();
        expect(down.events.filter((e) => e.event === 'outbox.sendFailed')).toHaveLength(1);
        expect(down.events.at(-1)).toMatchObject({ event: 'outbox.swept', outcome: 'sendFailed', count: 0 });

        queue.failWith = undefined;
        await sweep();
        expect(queue.sent.map((m) => m.messageId).sort()).toEqual(['a', 'b', 'c']);
    });

    it(`sends at most ${MAX_RESENDS_PER_RUN} messages per run, across pages of ${SWEEP_PAGE_SIZE}`, async () => {
        const { store, queue, sweep } = setup();
        const total = MAX_RESENDS_PER_RUN + 7;
        for (let i = 0; i < total; i++) store.put(queuedRecord(`k${i}`, T0 - RESEND_AFTER_MS - 1));
        const { events } = await sweep();
        expect(queue.sent).toHaveLength(MAX_RESENDS_PER_RUN);
        expect(new Set(queue.sent.map((m) => m.messageId)).size).toBe(MAX_RESENDS_PER_RUN);
        expect(events.filter((e) => e.event === 'outbox.resent')).toHaveLength(MAX_RESENDS_PER_RUN);
        expect(events.at(-1)).toMatchObject({ outcome: 'limitReached', count: MAX_RESENDS_PER_RUN });
    });

    it('fails the run when the store cannot be read (the host logs it; the next occurrence runs as usual)', async () => {
        const { store, sweep } = setup();
        store.failWith = new Error('Cosmos unreachable');
        await expect(sweep()).rejects.toThrow('Cosmos unreachable');
    });

    it('never logs customer data', async () => {
        const { clock, postWhileQueueDown, sweep } = setup();
        await postWhileQueueDown(referralWithPii(), { 'idempotency-key': 'pii' });
        clock.advance(RESEND_AFTER_MS + 1);
        const { lines } = await sweep();
        expect(lines.join('\n')).toContain('"referralKey":"pii"');
        expectNoPii(lines.join('\n'));
    });
});
