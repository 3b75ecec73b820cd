import { ServiceBusClient, type ServiceBusReceivedMessage } from '@azure/service-bus';

import { waitFor } from '../../support/waitFor';
import { type Harness, queue, startHarness } from './harness';

/** Conformance of the dev broker with the real @azure/service-bus SDK: messages, settlement, peek, admin counters. */
describe('Service Bus dev broker with the real SDK', () => {
    let h: Harness;

    beforeAll(async () => {
        h = await startHarness(
            [
                queue('props'),
                queue('batch'),
                queue('settle'),
                queue('maxdelivery', { maxDeliveryCount: 2 }),
                queue('defer'),
                queue('dupes', { duplicateDetectionWindowMs: 60_000 }),
                queue('rad'),
                queue('stream'),
                queue('peek'),
                queue('admin'),
                queue('ops', { duplicateDetectionWindowMs: 60_000 }),
            ],
            { adminPort: 0 },
        );
    });

    afterAll(async () => {
        await h?.close();
    });

    it('round-trips message properties, with the first delivery reporting deliveryCount 0 as Azure does', async () => {
        const before = Date.now();
        const sender = h.client.createSender('props');
        await sender.sendMessages({
            body: { referralId: 'r-1', nested: { n: 1 } },
            messageId: 'm-props-1',
            correlationId: 'c-1',
            contentType: 'application/json',
            subject: 'ReferralRequested',
            applicationProperties: { contractVersion: '1', attempt: 2, flag: true },
        });
        const receiver = h.client.createReceiver('props');
        const [message] = await receiver.receiveMessages(1, { maxWaitTimeInMs: 2_000 });
        expect(message).toBeDefined();
        expect(message!.body).toEqual({ referralId: 'r-1', nested: { n: 1 } });
        expect(message!.messageId).toBe('m-props-1');
        expect(message!.correlationId).toBe('c-1');
        expect(message!.contentType).toBe('application/json');
        expect(message!.subject).toBe('ReferralRequested');
        expect(message!.applicationProperties).toEqual({ contractVersion: '1', attempt: 2, flag: true });
        // The JavaScript SDK passes the AMQP header through; Azure sends 0 on the first delivery.
        expect(message!.deliveryCount).toBe(0);
        expect(message!.sequenceNumber?.toNumber()).toBe(1);
        expect(message!.enqueuedTimeUtc!.getTime()).toBeGreaterThanOrEqual(before - 5);
        expect(message!.lockedUntilUtc!.getTime()).toBeGreaterThan(Date.now());
        expect(message!.lockToken).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
        await receiver.completeMessage(message!);
        expect(h.broker.stats().props).toEqual({ active: 0, scheduled: 0, locked: 0, deadLettered: 0 });
        await receiver.close();
        await sender.close();
    });

    it('assigns a message id when the sender gives none', async () => {
        const sender = h.client.createSender('props');
        await sender.sendMessages({ body: 'no id' });
        const receiver = h.client.createReceiver('props', { receiveMode: 'receiveAndDelete' });
        const [message] = await receiver.receiveMessages(1, { maxWaitTimeInMs: 2_000 });
        expect(typeof message?.messageId).toBe('string');
        expect(String(message?.messageId).length).toBeGreaterThan(0);
        await receiver.close();
        await sender.close();
    });

    it('accepts a batch and an array of messages', async () => {
        const sender = h.client.createSender('batch');
        const batch = await sender.createMessageBatch();
        for (let i = 0; i < 5; i++) expect(batch.tryAddMessage({ body: { i }, messageId: `b-${i}` })).toBe(true);
        await sender.sendMessages(batch);
        await sender.sendMessages([{ body: { i: 5 } }, { body: { i: 6 } }]);
        expect(h.broker.stats().batch!.active).toBe(7);
        const receiver = h.client.createReceiver('batch');
        const received: ServiceBusReceivedMessage[] = [];
        while (received.length < 7) {
            received.push(...(await receiver.receiveMessages(7 - received.length, { maxWaitTimeInMs: 1_000 })));
        }
        expect(received.map((m) => (m.body as { i: number }).i)).toEqual([0, 1, 2, 3, 4, 5, 6]);
        for (const m of received) await receiver.completeMessage(m);
        expect(h.broker.stats().batch).toEqual({ active: 0, scheduled: 0, locked: 0, deadLettered: 0 });
        await receiver.close();
        await sender.close();
    });

    it('abandon redelivers at once with deliveryCount + 1; dead-letter keeps reason and description', async () => {
        const sender = h.client.createSender('settle');
        await sender.sendMessages({ body: 'x', messageId: 'settle-1' });
        const receiver = h.client.createReceiver('settle');
        const [first] = await receiver.receiveMessages(1, { maxWaitTimeInMs: 2_000 });
        expect(first!.deliveryCount).toBe(0);
        expect(h.broker.stats().settle!.locked).toBe(1);
        await receiver.abandonMessage(first!, { reason: 'tried' });
        const [second] = await receiver.receiveMessages(1, { maxWaitTimeInMs: 2_000 });
        expect(second!.messageId).toBe('settle-1');
        expect(second!.deliveryCount).toBe(1);
        expect(second!.applicationProperties).toEqual({ reason: 'tried' });
        await receiver.deadLetterMessage(second!, {
            deadLetterReason: 'ValidationFailed',
            deadLetterErrorDescription: 'region is not a known value',
        });
        expect(h.broker.stats().settle).toEqual({ active: 0, scheduled: 0, locked: 0, deadLettered: 1 });
        expect(h.broker.deadLetters('settle')).toEqual([
            {
                messageId: 'settle-1',
                reason: 'ValidationFailed',
                description: 'region is not a known value',
                deliveryCount: 2,
            },
        ]);

        const dlq = h.client.createReceiver('settle', { subQueueType: 'deadLetter' });
        const [dead] = await dlq.receiveMessages(1, { maxWaitTimeInMs: 2_000 });
        expect(dead!.messageId).toBe('settle-1');
        expect(dead!.deadLetterReason).toBe('ValidationFailed');
        expect(dead!.deadLetterErrorDescription).toBe('region is not a known value');
        expect(dead!.deadLetterSource).toBe('settle');
        expect(dead!.body).toBe('x');
        await dlq.completeMessage(dead!);
        expect(h.broker.stats().settle!.deadLettered).toBe(0);

        // A settled message cannot be settled twice: the SDK knows from the broker's settled disposition.
        await expect(receiver.completeMessage(second!)).rejects.toThrow();
        await dlq.close();
        await receiver.close();
        await sender.close();
    });

    it('moves a message to the dead-letter queue after maxDeliveryCount deliveries', async () => {
        const sender = h.client.createSender('maxdelivery');
        await sender.sendMessages({ body: 'poison', messageId: 'poison-1' });
        const receiver = h.client.createReceiver('maxdelivery');
        for (const expected of [0, 1]) {
            const [m] = await receiver.receiveMessages(1, { maxWaitTimeInMs: 2_000 });
            expect(m!.deliveryCount).toBe(expected);
            await receiver.abandonMessage(m!);
        }
        expect(await receiver.receiveMessages(1, { maxWaitTimeInMs: 300 })).toHaveLength(0);
        expect(h.broker.stats().maxdelivery).toEqual({ active: 0, scheduled: 0, locked: 0, deadLettered: 1 });
        const dlq = h.client.createReceiver('maxdelivery', { subQueueType: 'deadLetter' });
        const [dead] = await dlq.receiveMessages(1, { maxWaitTimeInMs: 2_000 });
        expect(dead!.deadLetterReason).toBe('MaxDeliveryCountExceeded');
        expect(dead!.deadLetterErrorDescription).toBe('Message could not be consumed after 2 delivery attempts.');
        expect(h.broker.deadLetters('maxdelivery')[0]).toMatchObject({
            messageId: 'poison-1',
            reason: 'MaxDeliveryCountExceeded',
            deliveryCount: 2,
        });
        await dlq.completeMessage(dead!);
        await dlq.close();
        await receiver.close();
        await sender.close();
    });

    it('defers a message and receives it again by sequence number', async () => {
        const sender = h.client.createSender('defer');
        await sender.sendMessages([
            { body: 'later', messageId: 'defer-1' },
            { body: 'now', messageId: 'defer-2' },
        ]);
        const receiver = h.client.createReceiver('defer');
        const [first] = await receiver.receiveMessages(1, { maxWaitTimeInMs: 2_000 });
        expect(first!.messageId).toBe('defer-1');
        const sequenceNumber = first!.sequenceNumber!;
        await receiver.deferMessage(first!);
        const [next] = await receiver.receiveMessages(1, { maxWaitTimeInMs: 2_000 });
        expect(next!.messageId).toBe('defer-2');
        await receiver.completeMessage(next!);
        expect(await receiver.receiveMessages(1, { maxWaitTimeInMs: 300 })).toHaveLength(0);

        const [deferred] = await receiver.receiveDeferredMessages([sequenceNumber]);
        expect(deferred!.messageId).toBe('defer-1');
        expect(deferred!.body).toBe('later');
        expect(deferred!.deliveryCount).toBe(1);
        // Settled through $management, since a deferred message has no receive link.
        await receiver.completeMessage(deferred!);
        expect(h.broker.stats().defer).toEqual({ active: 0, scheduled: 0, locked: 0, deadLettered: 0 });
        await expect(receiver.receiveDeferredMessages([sequenceNumber])).rejects.toMatchObject({
            code: 'MessageNotFound',
        });
        await receiver.close();
        await sender.close();
    });

    it('drops a duplicate messageId within the window, also for scheduled messages, and reports success', async () => {
        const sender = h.client.createSender('dupes');
        await sender.sendMessages({ body: 1, messageId: 'dup-1' });
        await sender.sendMessages({ body: 2, messageId: 'dup-1' });
        await sender.sendMessages([
            { body: 3, messageId: 'dup-1' },
            { body: 4, messageId: 'dup-2' },
        ]);
        const later = new Date(Date.now() + 60_000);
        const [scheduled] = await sender.scheduleMessages({ body: 5, messageId: 'dup-3' }, later);
        const [again] = await sender.scheduleMessages({ body: 6, messageId: 'dup-3' }, later);
        expect(again!.toNumber()).toBe(scheduled!.toNumber());
        await sender.sendMessages({ body: 7, scheduledEnqueueTimeUtc: later, messageId: 'dup-2' });
        expect(h.broker.stats().dupes).toEqual({ active: 2, scheduled: 1, locked: 0, deadLettered: 0 });
        const receiver = h.client.createReceiver('dupes', { receiveMode: 'receiveAndDelete' });
        const bodies: unknown[] = [];
        while (bodies.length < 2) {
            bodies.push(...(await receiver.receiveMessages(2, { maxWaitTimeInMs: 1_000 })).map((m) => m.body));
        }
        expect(bodies).toEqual([1, 4]);
        await sender.cancelScheduledMessages([scheduled!]);
        expect(h.broker.stats().dupes!.scheduled).toBe(0);
        await receiver.close();
        await sender.close();
    });

    it('receiveAndDelete removes messages on delivery', async () => {
        const sender = h.client.createSender('rad');
        await sender.sendMessages([{ body: 'a' }, { body: 'b' }, { body: 'c' }]);
        const receiver = h.client.createReceiver('rad', { receiveMode: 'receiveAndDelete' });
        const got: ServiceBusReceivedMessage[] = [];
        while (got.length < 3) got.push(...(await receiver.receiveMessages(3, { maxWaitTimeInMs: 1_000 })));
        expect(got.map((m) => m.body)).toEqual(['a', 'b', 'c']);
        expect(got[0]!.lockToken).toBeUndefined();
        expect(h.broker.stats().rad).toEqual({ active: 0, scheduled: 0, locked: 0, deadLettered: 0 });
        await receiver.close();
        await sender.close();
    });

    it('streams with subscribe(): autoComplete completes, a throwing handler abandons and the message comes back', async () => {
        const sender = h.client.createSender('stream');
        await sender.sendMessages([
            { body: 'ok-1', messageId: 's-1' },
            { body: 'fails-once', messageId: 's-2' },
            { body: 'ok-2', messageId: 's-3' },
        ]);
        const receiver = h.client.createReceiver('stream');
        const seen: Array<{ id: unknown; deliveryCount: number | undefined }> = [];
        const errors: unknown[] = [];
        const subscription = receiver.subscribe(
            {
                processMessage: (message) => {
                    seen.push({ id: message.messageId, deliveryCount: message.deliveryCount });
                    if (message.body === 'fails-once' && message.deliveryCount === 0) throw new Error('transient');
                    return Promise.resolve();
                },
                processError: (args) => {
                    errors.push(args.error);
                    return Promise.resolve();
                },
            },
            { maxConcurrentCalls: 2 },
        );
        await waitFor('all messages completed', () => {
            const s = h.broker.stats().stream!;
            return seen.length >= 4 && s.active === 0 && s.locked === 0;
        });
        await subscription.close();
        expect(seen).toContainEqual({ id: 's-2', deliveryCount: 0 });
        expect(seen).toContainEqual({ id: 's-2', deliveryCount: 1 });
        expect(seen.filter((s) => s.id !== 's-2')).toHaveLength(2);
        // The thrown handler error is reported to processError; nothing else is.
        expect(errors.map((e) => (e as Error).message)).toEqual(['transient']);
        await receiver.close();
        await sender.close();
    });

    it('peeks through $management without locking, in sequence order, continuing where it left off', async () => {
        const sender = h.client.createSender('peek');
        await sender.sendMessages([1, 2, 3, 4].map((i) => ({ body: { i }, messageId: `p-${i}` })));
        const receiver = h.client.createReceiver('peek');
        const firstTwo = await receiver.peekMessages(2);
        expect(firstTwo.map((m) => m.messageId)).toEqual(['p-1', 'p-2']);
        expect(firstTwo[0]!.body).toEqual({ i: 1 });
        expect(firstTwo[0]!.lockToken).toBeUndefined();
        const rest = await receiver.peekMessages(10);
        expect(rest.map((m) => m.messageId)).toEqual(['p-3', 'p-4']);
        expect(await receiver.peekMessages(10)).toHaveLength(0);
        const fromStart = await receiver.peekMessages(1, { fromSequenceNumber: firstTwo[0]!.sequenceNumber! });
        expect(fromStart[0]!.messageId).toBe('p-1');
        expect(h.broker.stats().peek).toEqual({ active: 4, scheduled: 0, locked: 0, deadLettered: 0 });
        await receiver.close();
        await sender.close();
    });

    it('serves counters and dead-letter listings (without bodies) over the admin endpoint', async () => {
        const sender = h.client.createSender('admin');
        await sender.sendMessages([
            { body: { secret: 'customer@example.com' }, messageId: 'a-1' },
            { body: 2, messageId: 'a-2' },
        ]);
        const receiver = h.client.createReceiver('admin');
        const [m] = await receiver.receiveMessages(1, { maxWaitTimeInMs: 2_000 });
        await receiver.deadLetterMessage(m!, { deadLetterReason: 'Bad', deadLetterErrorDescription: 'bad input' });
        const base = `http://127.0.0.1:${h.broker.adminPort}`;
        const queues = (await (await fetch(`${base}/queues`)).json()) as Record<string, unknown>;
        expect(queues.admin).toEqual({ active: 1, scheduled: 0, locked: 0, deadLettered: 1 });
        const response = await fetch(`${base}/queues/admin/deadletter`);
        const text = await response.text();
        expect(JSON.parse(text)).toEqual([
            { messageId: 'a-1', reason: 'Bad', description: 'bad input', deliveryCount: 1 },
        ]);
        expect(text).not.toContain('customer@example.com');
        expect((await fetch(`${base}/queues/nope/deadletter`)).status).toBe(404);
        expect((await fetch(`${base}/queues`, { method: 'POST' })).status).toBe(405);
        await receiver.close();
        await sender.close();
    });

    it('counts sends, duplicates, deliveries and settlements per queue over the admin endpoint', async () => {
        const sender = h.client.createSender('ops');
        await sender.sendMessages([
            { body: 1, messageId: 'o-1' },
            { body: 1, messageId: 'o-1' },
            { body: 2, messageId: 'o-2' },
        ]);
        const receiver = h.client.createReceiver('ops');
        const received = await receiver.receiveMessages(2, { maxWaitTimeInMs: 2_000 });
        expect(received).toHaveLength(2);
        await receiver.completeMessage(received[0]!);
        await receiver.abandonMessage(received[1]!);
        await receiver.close();
        await sender.close();
        const operations = (await (await fetch(`http://127.0.0.1:${h.broker.adminPort}/operations`)).json()) as Record<
            string,
            unknown
        >;
        expect(operations.ops).toEqual({
            sent: 3,
            duplicates: 1,
            received: 2,
            completed: 1,
            abandoned: 1,
            deferred: 0,
            deadLettered: 0,
            lockRenewals: 0,
        });
        expect(h.broker.operations().ops).toEqual(operations.ops);
    });

    it('keeps messages across client restarts', async () => {
        const first = new ServiceBusClient(h.broker.connectionString);
        await first.createSender('props').sendMessages({ body: 'survives', messageId: 'restart-1' });
        await first.close();
        const second = new ServiceBusClient(h.broker.connectionString);
        const receiver = second.createReceiver('props');
        const [message] = await receiver.receiveMessages(1, { maxWaitTimeInMs: 2_000 });
        expect(message?.messageId).toBe('restart-1');
        await receiver.completeMessage(message!);
        await second.close();
    });

    it('rejects links to unknown queues the way Azure does', async () => {
        const sender = h.client.createSender('does-not-exist');
        await expect(sender.sendMessages({ body: 1 })).rejects.toMatchObject({ code: 'MessagingEntityNotFound' });
        await sender.close();
    });
});
