/**
 * A Cosmos DB or Service Bus failure inside a step: the worker sends a scheduled copy of the delivery and completes it
 * (the delivery is not burnt), or, when not even the copy can be sent, waits a bounded time before failing it.
 */
import { ErrorResponse } from '@azure/cosmos';
import type { ServiceBusMessage } from '@azure/service-bus';
import { ServiceBusError } from '@azure/service-bus';

import { referralMessageId } from '../../../shared/messaging/messages';
import { MAX_OUTAGE_WAIT_MS, processConnectionMessage, processReferralMessage } from '../../../shared/pipeline/worker';
import type { DeliveryInfo } from '../../../shared/platform/triggers';
import { givenRecord } from '../../support/givenRecord';
import { seedReferral } from '../../support/referrals';
import { workerSetup } from '../../support/worker';

type Setup = ReturnType<typeof workerSetup>;

function cosmosError(status: number, retryAfterInMs?: number): ErrorResponse {
    const error = new ErrorResponse('Cosmos DB said no');
    error.code = status;
    if (retryAfterInMs !== undefined) error.retryAfterInMs = retryAfterInMs;
    return error;
}

const serviceBusDown = () => new ServiceBusError('The namespace is unreachable', 'ServiceCommunicationProblem');

/** What the host passes for a message as we send it. */
function deliveryOf(message: ServiceBusMessage, deliveryCount = 1): DeliveryInfo {
    return {
        messageId: message.messageId as string,
        correlationId: message.correlationId as string,
        deliveryCount,
        applicationProperties: message.applicationProperties as Record<string, unknown>,
    };
}

function firstDelivery(key: string): DeliveryInfo {
    return {
        messageId: key,
        correlationId: 'corr-1',
        deliveryCount: 1,
        applicationProperties: { referralKey: key, attempt: 1, contractVersion: '1' },
    };
}

function queued(setup: Setup, key: string) {
    const body = seedReferral();
    setup.store.put(givenRecord({ id: key, request: body, at: setup.clock.now }));
    return body;
}

const recordOf = (setup: Setup, key: string) => setup.store.items.get(key)!.record;
const noPause = () => Promise.resolve();

describe('a Cosmos DB or Service Bus failure inside a step', () => {
    it('reschedules the delivery after a back-off when Cosmos DB fails mid-step, and the copy finishes the step once', async () => {
        const setup = workerSetup();
        const body = queued(setup, 'k1');
        // The claim is written, the Partner API creates the referral, then recording its answer fails (503).
        const original = setup.store.replace.bind(setup.store);
        let calls = 0;
        jest.spyOn(setup.store, 'replace').mockImplementation((record, etag) =>
            ++calls === 2 ? Promise.reject(cosmosError(503)) : original(record, etag),
        );

        expect(await processReferralMessage(body, firstDelivery('k1'), setup.deps, setup.log)).toBe('rescheduled');
        expect(setup.api.creates).toHaveLength(1);
        const [copy] = setup.referralsQueue.sent;
        expect(copy).toMatchObject({
            messageId: referralMessageId('k1', { kind: 'outage', origin: 'k1', copy: 1 }),
            body,
            applicationProperties: { referralKey: 'k1', attempt: 1, outageOrigin: 'k1', outageCopy: 1 },
        });
        // 5 s back-off with equal jitter (random 0.5): 3.75 s.
        expect(copy!.scheduledEnqueueTimeUtc).toEqual(new Date(setup.clock.now.getTime() + 3750));
        expect(setup.lines.some((l) => l.startsWith('warn delivery.rescheduled'))).toBe(true);

        // The copy waits out the lease of the attempt whose answer was lost, then adopts the referral it created.
        expect(await processReferralMessage(body, deliveryOf(copy!), setup.deps, setup.log)).toBe('waitingForLease');
        setup.advance(100_000);
        expect(await processReferralMessage(body, deliveryOf(copy!), setup.deps, setup.log)).toBe('adopted');
        expect(setup.api.referrals).toHaveLength(1);
        expect(recordOf(setup, 'k1').status).toBe('Submitted');
    });

    it.each([
        ['retryAfterInMs', cosmosError(429, 30_000)],
        [
            'the x-ms-retry-after-ms header',
            Object.assign(cosmosError(429), { headers: { 'x-ms-retry-after-ms': '30000' } }),
        ],
    ])("waits at least Cosmos DB's ask on a 429 (%s)", async (_, throttled) => {
        const setup = workerSetup();
        const body = queued(setup, 'k1');
        jest.spyOn(setup.store, 'read').mockRejectedValueOnce(throttled);
        expect(await processReferralMessage(body, firstDelivery('k1'), setup.deps, setup.log)).toBe('rescheduled');
        expect(setup.referralsQueue.sent[0]!.scheduledEnqueueTimeUtc).toEqual(
            new Date(setup.clock.now.getTime() + 30_000),
        );
        expect(setup.api.creates).toHaveLength(0);
    });

    it('makes the same copy on a redelivery (the queue keeps one) and the next copy of a copy', async () => {
        const setup = workerSetup();
        const body = queued(setup, 'k1');
        setup.store.failWith = cosmosError(503);
        await processReferralMessage(body, firstDelivery('k1'), setup.deps, setup.log);
        await processReferralMessage(body, { ...firstDelivery('k1'), deliveryCount: 2 }, setup.deps, setup.log);
        const [first, again] = setup.referralsQueue.sent;
        expect(again!.messageId).toBe(first!.messageId);

        await processReferralMessage(body, deliveryOf(first!), setup.deps, setup.log);
        const second = setup.referralsQueue.sent[2]!;
        expect(second.messageId).toBe(referralMessageId('k1', { kind: 'outage', origin: 'k1', copy: 2 }));
        expect(second.applicationProperties).toMatchObject({ outageOrigin: 'k1', outageCopy: 2 });
        // Another message of the same referral (a retry) starts a chain of its own.
        await processReferralMessage(body, { ...firstDelivery('k1'), messageId: 'k1:r3' }, setup.deps, setup.log);
        expect(setup.referralsQueue.sent[3]!.messageId).not.toBe(first!.messageId);
    });

    it('reschedules when a Service Bus send fails mid-step (the connection), and the copy sends it', async () => {
        const setup = workerSetup();
        const body = queued(setup, 'k1');
        setup.connectionsQueue.failWith = serviceBusDown();
        expect(await processReferralMessage(body, firstDelivery('k1'), setup.deps, setup.log)).toBe('rescheduled');
        expect(recordOf(setup, 'k1').status).toBe('Submitted');
        expect(setup.connectionsQueue.sent).toHaveLength(0);

        setup.connectionsQueue.failWith = undefined;
        const [copy] = setup.referralsQueue.sent;
        expect(await processReferralMessage(body, deliveryOf(copy!), setup.deps, setup.log)).toBe('alreadyDone');
        expect(setup.connectionsQueue.sent.map((m) => m.messageId)).toEqual(['k1:connect']);
        expect(setup.api.creates).toHaveLength(1);
    });

    it('reschedules a connection delivery on its own queue', async () => {
        const setup = workerSetup();
        setup.store.failWith = cosmosError(500);
        const delivery = {
            messageId: 'k1:connect',
            correlationId: 'corr-1',
            deliveryCount: 1,
            applicationProperties: { referralKey: 'k1', attempt: 1, contractVersion: '1' },
        };
        expect(await processConnectionMessage({ id: 'k1' }, delivery, setup.deps, setup.log)).toBe('rescheduled');
        expect(setup.referralsQueue.sent).toHaveLength(0);
        expect(setup.connectionsQueue.sent[0]).toMatchObject({
            body: { id: 'k1' },
            applicationProperties: { outageCopy: 1 },
        });
    });

    it('waits (bounded, inside the lock) and then fails the delivery when not even the copy can be sent', async () => {
        const setup = workerSetup();
        const body = queued(setup, 'k1');
        setup.store.failWith = cosmosError(503, 120_000);
        setup.referralsQueue.failWith = serviceBusDown();
        const pauses: number[] = [];
        const pause = (ms: number) => Promise.resolve(pauses.push(ms));
        await expect(processReferralMessage(body, firstDelivery('k1'), setup.deps, setup.log, pause)).rejects.toBe(
            setup.store.failWith,
        );
        expect(pauses).toEqual([MAX_OUTAGE_WAIT_MS]);
        expect(setup.lines.some((l) => l.startsWith('error delivery.dependencyUnavailable'))).toBe(true);
    });

    it('waits longer on each redelivery, so the deliveries left are spread over the outage', async () => {
        const setup = workerSetup();
        const body = queued(setup, 'k1');
        setup.store.failWith = cosmosError(503);
        setup.referralsQueue.failWith = serviceBusDown();
        const pauses: number[] = [];
        const pause = (ms: number) => Promise.resolve(pauses.push(ms));
        for (let deliveryCount = 1; deliveryCount <= 5; deliveryCount++) {
            const delivery = { ...firstDelivery('k1'), deliveryCount };
            await expect(processReferralMessage(body, delivery, setup.deps, setup.log, pause)).rejects.toThrow();
        }
        // 5 s doubling with equal jitter (random 0.5), at most MAX_OUTAGE_WAIT_MS.
        expect(pauses).toEqual([3750, 7500, 15_000, 30_000, 30_000]);
    });

    it('still fails the delivery at once on anything that is not an outage', async () => {
        const setup = workerSetup();
        const body = queued(setup, 'k1');
        setup.store.failWith = new TypeError('a bug');
        await expect(processReferralMessage(body, firstDelivery('k1'), setup.deps, setup.log, noPause)).rejects.toThrow(
            'a bug',
        );
        expect(setup.referralsQueue.sent).toHaveLength(0);
    });
});
