/**
 * Replay against the real workers (processReferralMessage / processConnectionMessage) with an in-memory store and a
 * fake Partner API: a Failed referral or a dead-lettered message ends Submitted/Connected with exactly one referral
 * (and one connected referral) at the Partner API, however often the replay runs.
 */
import type { ServiceBusMessage } from '@azure/service-bus';

import { referralMessage } from '../../../shared/messaging/messages';
import {
    type DeadLetteredMessage,
    type DeadLetterQueue,
    replay,
    type ReplayDependencies,
} from '../../../shared/operations/replay';
import { processConnectionMessage, processReferralMessage } from '../../../shared/pipeline/worker';
import { CONNECTIONS_QUEUE, REFERRALS_QUEUE } from '../../../shared/platform/names';
import { type ReferralRecord, transition } from '../../../shared/referral/record';
import { transientError } from '../../support/fakePartnerApi';
import { givenRecord } from '../../support/givenRecord';
import { independentReferral, seedReferral } from '../../support/referrals';
import { workerSetup } from '../../support/worker';

type Setup = ReturnType<typeof workerSetup>;

class MemoryDeadLetterQueue implements DeadLetterQueue {
    messages: DeadLetteredMessage[] = [];
    constructor(readonly queue: string) {}
    peek() {
        return Promise.resolve(structuredClone(this.messages));
    }
    async drain(handle: (m: DeadLetteredMessage) => Promise<boolean>) {
        const kept: DeadLetteredMessage[] = [];
        for (const message of this.messages) if (!(await handle(structuredClone(message)))) kept.push(message);
        this.messages = kept;
    }
}

function replaySetup() {
    const setup = workerSetup();
    const referralsDlq = new MemoryDeadLetterQueue(REFERRALS_QUEUE);
    const connectionsDlq = new MemoryDeadLetterQueue(CONNECTIONS_QUEUE);
    const deps: ReplayDependencies = {
        store: setup.store,
        failed: {
            failedKeys: () =>
                Promise.resolve(
                    [...setup.store.items.values()].filter((s) => s.record.status === 'Failed').map((s) => s.record.id),
                ),
        },
        deadLetters: [referralsDlq, connectionsDlq],
        referralsQueue: setup.referralsQueue,
        connectionsQueue: setup.connectionsQueue,
        now: () => new Date(setup.clock.now),
        resendAfterMs: 60_000,
    };
    return { ...setup, deps: setup.deps, replayDeps: deps, referralsDlq, connectionsDlq };
}

/** Delivers every message the queues hold, as Service Bus would (duplicate messageIds dropped), until both are empty. */
async function drainQueues(setup: Setup) {
    const seen = new Set<string>();
    for (let round = 0; round < 50; round++) {
        const next = [...setup.referralsQueue.sent.splice(0), ...setup.connectionsQueue.sent.splice(0)];
        if (next.length === 0) return;
        for (const message of next) {
            if (seen.has(message.messageId as string)) continue;
            seen.add(message.messageId as string);
            // Scheduled retries run when due: move the clock there.
            if (message.scheduledEnqueueTimeUtc && message.scheduledEnqueueTimeUtc > setup.clock.now) {
                setup.clock.now = new Date(message.scheduledEnqueueTimeUtc);
            }
            await deliver(setup, message);
        }
    }
    throw new Error('the queues never drained');
}

function deliver(setup: Setup, message: ServiceBusMessage) {
    const delivery = {
        messageId: message.messageId as string,
        correlationId: message.correlationId as string,
        deliveryCount: 1,
        applicationProperties: message.applicationProperties as Record<string, unknown>,
    };
    const connection = (message.messageId as string).includes(':connect');
    return connection
        ? processConnectionMessage(message.body, delivery, setup.deps, setup.log)
        : processReferralMessage(message.body, delivery, setup.deps, setup.log);
}

function queued(setup: Setup, key: string, body: Record<string, any>): ReferralRecord {
    const record = givenRecord({ id: key, correlationId: `corr-${key}`, request: body, at: setup.clock.now });
    setup.store.put(record);
    return record;
}

const recordOf = (setup: Setup, key: string) => setup.store.items.get(key)!.record;
/** `n` failures 100 s apart (Retry-After): the fourth comes after the 5-minute retry window and fails the step. */
const failEvery = (setup: Setup, n: number) => {
    for (let i = 0; i < n; i++) setup.api.script.push(transientError({ status: 503, retryAfterMs: 100_000 }));
};

describe('replay of a Failed referral', () => {
    it('restarts a referral that failed to submit (Failed → Queued) and ends Connected, one referral each', async () => {
        const s = replaySetup();
        const body = seedReferral();
        queued(s, 'k1', body);
        failEvery(s, 4);
        s.referralsQueue.sent.push(referralMessage({ key: 'k1', body, correlationId: 'corr-k1' }));
        await drainQueues(s);
        expect(recordOf(s, 'k1')).toMatchObject({ status: 'Failed', attempts: 4 });
        expect(s.api.referrals).toHaveLength(0);

        const items = await replay(s.replayDeps);
        expect(items).toEqual([
            expect.objectContaining({
                source: 'failed',
                key: 'k1',
                status: 'Failed',
                step: 'submit',
                outcome: 'requeued',
            }),
        ]);
        expect(recordOf(s, 'k1')).toMatchObject({ status: 'Queued', attempts: 0, error: null });
        expect(s.referralsQueue.sent[0]!.messageId).toMatch(/^k1:replay-\d+$/);
        expect(s.referralsQueue.sent[0]!.correlationId).toBe('corr-k1');

        await drainQueues(s);
        expect(recordOf(s, 'k1').status).toBe('Connected');
        expect(s.api.referrals).toHaveLength(2); // the partner's referral and the connected Microsoft one
        expect(recordOf(s, 'k1').history.map((h) => h.status)).toEqual([
            'Queued',
            'Submitting',
            'Failed',
            'Queued',
            'Submitting',
            'Submitted',
            'Connecting',
            'Connected',
        ]);
        // Nothing left to replay; a second run changes nothing.
        expect(await replay(s.replayDeps)).toEqual([]);
        expect(await replay(s.replayDeps, { keys: ['k1'] })).toEqual([
            expect.objectContaining({ key: 'k1', outcome: 'alreadyDone' }),
        ]);
        expect(s.referralsQueue.sent).toHaveLength(0);
    });

    it('looks the referral up first when the last attempt may have created it (no duplicate)', async () => {
        const s = replaySetup();
        const body = independentReferral();
        queued(s, 'k2', body);
        // Three attempts fail; the fourth and last creates the referral, but its answer is lost.
        failEvery(s, 3);
        s.api.script.push('lostAnswer');
        s.referralsQueue.sent.push(referralMessage({ key: 'k2', body, correlationId: 'corr-k2' }));
        await drainQueues(s);
        expect(recordOf(s, 'k2')).toMatchObject({ status: 'Failed', lastAttemptUncertain: true });
        expect(s.api.referrals).toHaveLength(1);

        await replay(s.replayDeps);
        expect(recordOf(s, 'k2')).toMatchObject({ status: 'Submitting', leaseUntil: null, lastAttemptUncertain: true });
        await drainQueues(s);
        expect(recordOf(s, 'k2')).toMatchObject({ status: 'Submitted' });
        expect(recordOf(s, 'k2').partnerReferral!.id).toBe(s.api.referrals[0]!.id);
        expect(s.api.referrals).toHaveLength(1);
    });

    it('restarts a referral that failed to connect (Failed → Submitted) with one connected referral', async () => {
        const s = replaySetup();
        const body = seedReferral();
        queued(s, 'k3', body);
        s.referralsQueue.sent.push(referralMessage({ key: 'k3', body, correlationId: 'corr-k3' }));
        s.api.script.push('ok');
        failEvery(s, 4);
        await drainQueues(s);
        expect(recordOf(s, 'k3')).toMatchObject({ status: 'Failed' });
        expect(recordOf(s, 'k3').partnerReferral).not.toBeNull();

        const [item] = await replay(s.replayDeps);
        expect(item).toMatchObject({ key: 'k3', step: 'connect', outcome: 'requeued' });
        expect(recordOf(s, 'k3').status).toBe('Submitted');
        expect(s.connectionsQueue.sent[0]!.messageId).toMatch(/^k3:connect:replay-\d+$/);
        await drainQueues(s);
        expect(recordOf(s, 'k3').status).toBe('Connected');
        expect(s.api.referrals).toHaveLength(2);
    });

    it('sends the same messageId when run twice before the workers ran (the queue keeps one)', async () => {
        const s = replaySetup();
        const body = independentReferral();
        s.store.put(
            transition(transition(queued(s, 'k4', body), 'Submitting', s.clock.now), 'Failed', s.clock.now, {
                error: { code: 'RetriesExhausted', message: 'x' },
            }),
        );
        await replay(s.replayDeps);
        await replay(s.replayDeps, { keys: ['k4'] });
        const ids = s.referralsQueue.sent.map((m) => m.messageId);
        expect(ids).toHaveLength(2);
        expect(new Set(ids).size).toBe(1);
        await drainQueues(s);
        expect(recordOf(s, 'k4').status).toBe('Submitted');
        expect(s.api.creates).toHaveLength(1);
    });

    it('changes nothing in a dry run', async () => {
        const s = replaySetup();
        const body = independentReferral();
        const failed = transition(transition(queued(s, 'k5', body), 'Submitting', s.clock.now), 'Failed', s.clock.now);
        s.store.put(failed);
        expect(await replay(s.replayDeps, { dryRun: true })).toEqual([
            expect.objectContaining({ key: 'k5', outcome: 'requeued' }),
        ]);
        expect(recordOf(s, 'k5')).toEqual(failed);
        expect(s.referralsQueue.sent).toHaveLength(0);
    });
});

describe('replay of a referral stuck Queued (its message never reached the queue)', () => {
    it('lists it once it is older than INTAKE_RESEND_AFTER_MS, re-sends it, and it ends Connected once', async () => {
        const s = replaySetup();
        queued(s, 'stuck', seedReferral());
        s.advance(30_000);
        queued(s, 'young', independentReferral());
        expect(await replay(s.replayDeps, { dryRun: true })).toEqual([]);

        s.advance(31_000);
        expect(await replay(s.replayDeps, { dryRun: true })).toEqual([
            { source: 'queued', key: 'stuck', status: 'Queued', outcome: 'resent' },
        ]);
        expect(s.referralsQueue.sent).toHaveLength(0);

        expect(await replay(s.replayDeps)).toEqual([expect.objectContaining({ key: 'stuck', outcome: 'resent' })]);
        expect(s.referralsQueue.sent.map((m) => m.messageId)).toEqual([
            `stuck:replay-${Date.parse(recordOf(s, 'stuck').updatedAt)}`,
        ]);
        await drainQueues(s);
        expect(recordOf(s, 'stuck').status).toBe('Connected');
        expect(s.api.referrals).toHaveLength(2);
        expect(await replay(s.replayDeps, { keys: ['stuck'] })).toEqual([
            expect.objectContaining({ key: 'stuck', outcome: 'alreadyDone' }),
        ]);
    });
});

describe('replay of dead-lettered messages', () => {
    const deadLetter = (queue: string, message: ServiceBusMessage, sequenceNumber = '7'): DeadLetteredMessage => ({
        queue,
        sequenceNumber,
        messageId: message.messageId as string,
        correlationId: message.correlationId as string,
        body: message.body,
        applicationProperties: message.applicationProperties as Record<string, unknown>,
        reason: 'MaxDeliveryCountExceeded',
    });

    it('publishes a never-recorded message again under a new messageId, and removes the dead letter', async () => {
        const s = replaySetup();
        const body = independentReferral();
        s.referralsDlq.messages.push(
            deadLetter(REFERRALS_QUEUE, referralMessage({ key: 'up-1', body, correlationId: 'c-9' })),
        );

        const dry = await replay(s.replayDeps, { dryRun: true });
        expect(dry).toEqual([expect.objectContaining({ key: 'up-1', outcome: 'republished' })]);
        expect(s.referralsDlq.messages).toHaveLength(1);
        expect(s.referralsQueue.sent).toHaveLength(0);

        const items = await replay(s.replayDeps);
        expect(items).toEqual([
            expect.objectContaining({
                source: 'deadLetter',
                key: 'up-1',
                queue: REFERRALS_QUEUE,
                outcome: 'republished',
            }),
        ]);
        expect(s.referralsDlq.messages).toHaveLength(0);
        expect(s.referralsQueue.sent[0]).toMatchObject({
            messageId: 'up-1:replay-dlq-7',
            correlationId: 'c-9',
            applicationProperties: { referralKey: 'up-1' },
        });
        await drainQueues(s);
        expect(recordOf(s, 'up-1')).toMatchObject({ status: 'Submitted', source: 'queue', correlationId: 'c-9' });
        expect(s.api.creates).toHaveLength(1);
    });

    it('only removes a dead-lettered copy of a referral that is already done', async () => {
        const s = replaySetup();
        const body = independentReferral();
        queued(s, 'k6', body);
        const message = referralMessage({ key: 'k6', body, correlationId: 'corr-k6' });
        s.referralsQueue.sent.push(message);
        await drainQueues(s);
        s.referralsDlq.messages.push(deadLetter(REFERRALS_QUEUE, message));

        expect(await replay(s.replayDeps)).toEqual([expect.objectContaining({ key: 'k6', outcome: 'alreadyDone' })]);
        expect(s.referralsDlq.messages).toHaveLength(0);
        expect(s.referralsQueue.sent).toHaveLength(0);
        expect(s.api.creates).toHaveLength(1);
    });

    it('re-sends the step of a referral still in progress whose connection message was dead-lettered', async () => {
        const s = replaySetup();
        const body = seedReferral();
        queued(s, 'k7', body);
        s.referralsQueue.sent.push(referralMessage({ key: 'k7', body, correlationId: 'corr-k7' }));
        await deliver(s, s.referralsQueue.sent.shift()!);
        const lost = s.connectionsQueue.sent.shift()!; // the connection message: dead-lettered instead of delivered
        s.connectionsDlq.messages.push(deadLetter(CONNECTIONS_QUEUE, lost));
        expect(recordOf(s, 'k7').status).toBe('Submitted');

        expect(await replay(s.replayDeps)).toEqual([
            expect.objectContaining({ key: 'k7', queue: CONNECTIONS_QUEUE, status: 'Submitted', outcome: 'resent' }),
        ]);
        await drainQueues(s);
        expect(recordOf(s, 'k7').status).toBe('Connected');
        expect(s.api.referrals).toHaveLength(2);
    });

    it('leaves messages it cannot replay: no usable key, or a key used by another referral', async () => {
        const s = replaySetup();
        queued(s, 'k8', independentReferral());
        s.referralsDlq.messages.push(
            { queue: REFERRALS_QUEUE, sequenceNumber: '1', messageId: 'bad key!', body: {}, applicationProperties: {} },
            deadLetter(REFERRALS_QUEUE, referralMessage({ key: 'k8', body: seedReferral(), correlationId: 'c' }), '2'),
        );
        const items = await replay(s.replayDeps);
        expect(items.map((i) => [i.key, i.outcome, i.detail])).toEqual([
            [undefined, 'unreplayable', 'the message names no usable referral key'],
            ['k8', 'unreplayable', 'the key belongs to a different referral'],
        ]);
        expect(s.referralsDlq.messages).toHaveLength(2);
        expect(s.referralsQueue.sent).toHaveLength(0);
    });

    it('replays only the keys asked for', async () => {
        const s = replaySetup();
        for (const key of ['a1', 'a2']) {
            s.referralsDlq.messages.push(
                deadLetter(
                    REFERRALS_QUEUE,
                    referralMessage({ key, body: independentReferral(), correlationId: key }),
                    key,
                ),
            );
        }
        expect((await replay(s.replayDeps, { keys: ['a2'] })).map((i) => i.key)).toEqual(['a2']);
        expect(s.referralsDlq.messages.map((m) => m.messageId)).toEqual(['a1']);
    });
});
