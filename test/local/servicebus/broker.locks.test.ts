import { type ServiceBusReceivedMessage } from '@azure/service-bus';

import { waitFor } from '../../support/waitFor';
import { type Harness, queue, startHarness } from './harness';

/** Time-dependent behaviour with short lock durations: expiry, renewal, scheduling. Polls instead of sleeping. */
describe('Service Bus dev broker: locks and schedules', () => {
    let h: Harness;

    beforeAll(async () => {
        h = await startHarness([
            queue('expiry', { lockDurationMs: 400, maxDeliveryCount: 2 }),
            queue('renew', { lockDurationMs: 600 }),
            queue('autorenew', { lockDurationMs: 600 }),
            queue('scheduled'),
        ]);
    });

    afterAll(async () => {
        await h?.close();
    });

    async function receiveOne(receiver: {
        receiveMessages: (n: number, o: object) => Promise<ServiceBusReceivedMessage[]>;
    }) {
        return waitFor('a message', async () => (await receiver.receiveMessages(1, { maxWaitTimeInMs: 500 }))[0]);
    }

    it('redelivers after lock expiry with deliveryCount + 1, refuses the stale lock, and dead-letters at maxDeliveryCount', async () => {
        const sender = h.client.createSender('expiry');
        await sender.sendMessages({ body: 'slow', messageId: 'exp-1' });
        // Auto-renewal off, or the SDK would keep the lock alive (as it would against Azure).
        const receiver = h.client.createReceiver('expiry', { maxAutoLockRenewalDurationInMs: 0 });
        const first = await receiveOne(receiver);
        expect(first.deliveryCount).toBe(0);
        expect(first.lockedUntilUtc!.getTime() - Date.now()).toBeLessThanOrEqual(400);

        const second = await receiveOne(receiver);
        expect(second.messageId).toBe('exp-1');
        expect(second.deliveryCount).toBe(1);
        await expect(receiver.completeMessage(first)).rejects.toMatchObject({ code: 'MessageLockLost' });

        // Second expiry reaches maxDeliveryCount (2): the message moves to the dead-letter queue.
        await waitFor('dead-lettering', () => h.broker.stats().expiry!.deadLettered === 1);
        expect(h.broker.stats().expiry).toEqual({ active: 0, scheduled: 0, locked: 0, deadLettered: 1 });
        expect(h.broker.deadLetters('expiry')).toEqual([
            {
                messageId: 'exp-1',
                reason: 'MaxDeliveryCountExceeded',
                description: 'Message could not be consumed after 2 delivery attempts.',
                deliveryCount: 2,
            },
        ]);
        await receiver.close();
        await sender.close();
    });

    it('renewMessageLock extends the lock through $management', async () => {
        const sender = h.client.createSender('renew');
        await sender.sendMessages({ body: 'long job', messageId: 'renew-1' });
        const receiver = h.client.createReceiver('renew', { maxAutoLockRenewalDurationInMs: 0 });
        const message = await receiveOne(receiver);
        const start = Date.now();
        let lockedUntil = message.lockedUntilUtc!.getTime();
        // Renew past several lock durations; the message must stay locked to us the whole time.
        while (Date.now() - start < 1_500) {
            await new Promise((resolve) => setTimeout(resolve, 250));
            const renewed = (await receiver.renewMessageLock(message)).getTime();
            expect(renewed).toBeGreaterThan(lockedUntil);
            lockedUntil = renewed;
            expect(h.broker.stats().renew).toMatchObject({ active: 0, locked: 1 });
        }
        await receiver.completeMessage(message);
        expect(h.broker.stats().renew).toEqual({ active: 0, scheduled: 0, locked: 0, deadLettered: 0 });
        await expect(receiver.renewMessageLock(message)).rejects.toMatchObject({ code: 'MessageLockLost' });
        await receiver.close();
        await sender.close();
    });

    it("keeps a lock alive with the SDK's automatic lock renewal", async () => {
        const sender = h.client.createSender('autorenew');
        await sender.sendMessages({ body: 'auto', messageId: 'auto-1' });
        const receiver = h.client.createReceiver('autorenew', { maxAutoLockRenewalDurationInMs: 60_000 });
        const message = await receiveOne(receiver);
        const firstLockedUntil = message.lockedUntilUtc!.getTime();
        // The renewer updates lockedUntilUtc on the message each time it renews.
        await waitFor(
            'two automatic renewals',
            () => message.lockedUntilUtc!.getTime() >= firstLockedUntil + 1_000,
            5_000,
        );
        expect(h.broker.stats().autorenew).toMatchObject({ active: 0, locked: 1 });
        await receiver.completeMessage(message);
        expect(h.broker.stats().autorenew!.locked).toBe(0);
        await receiver.close();
        await sender.close();
    });

    it('holds scheduledEnqueueTimeUtc messages back until their time, and scheduleMessages/cancelScheduledMessages work', async () => {
        const sender = h.client.createSender('scheduled');
        const at = new Date(Date.now() + 500);
        await sender.sendMessages({ body: 'on time', messageId: 'sch-1', scheduledEnqueueTimeUtc: at });
        const [kept, cancelled] = await sender.scheduleMessages(
            [
                { body: 'kept', messageId: 'sch-2' },
                { body: 'cancelled', messageId: 'sch-3' },
            ],
            new Date(Date.now() + 700),
        );
        expect(kept!.toNumber()).toBeLessThan(cancelled!.toNumber());
        expect(h.broker.stats().scheduled).toEqual({ active: 0, scheduled: 3, locked: 0, deadLettered: 0 });

        const receiver = h.client.createReceiver('scheduled', { receiveMode: 'receiveAndDelete' });
        const peeked = await receiver.peekMessages(3);
        expect(peeked.map((m) => m.state)).toEqual(['scheduled', 'scheduled', 'scheduled']);
        await sender.cancelScheduledMessages([cancelled!]);
        expect(h.broker.stats().scheduled!.scheduled).toBe(2);

        const received: ServiceBusReceivedMessage[] = [];
        await waitFor('both scheduled messages', async () => {
            received.push(...(await receiver.receiveMessages(2, { maxWaitTimeInMs: 300 })));
            return received.length >= 2;
        });
        expect(received.map((m) => m.body)).toEqual(['on time', 'kept']);
        expect(received[0]!.enqueuedTimeUtc!.getTime()).toBeGreaterThanOrEqual(at.getTime() - 5);
        expect(received[0]!.scheduledEnqueueTimeUtc?.getTime()).toBe(at.getTime());
        expect(h.broker.stats().scheduled).toEqual({ active: 0, scheduled: 0, locked: 0, deadLettered: 0 });
        await receiver.close();
        await sender.close();
    });
});
