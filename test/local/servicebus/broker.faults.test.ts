import { isServiceBusError, ServiceBusClient } from '@azure/service-bus';

import { isDependencyOutage } from '../../../shared/platform/dependencyOutage';
import { waitFor } from '../../support/waitFor';
import { type Harness, queue, startHarness } from './harness';

/** The dev broker's injected faults, through the real SDK: refused sends, a send outage, locks lost mid-delivery. */
describe('Service Bus dev broker: injected faults', () => {
    let h: Harness;

    beforeAll(async () => {
        h = await startHarness([queue('sends'), queue('locks', { lockDurationMs: 30_000 })], { adminPort: 0 });
    });

    afterAll(async () => {
        await h?.close();
    });

    afterEach(() => h.broker.faults.reset());

    it('refuses every send during an outage with retryable errors the app reads as an outage', async () => {
        // Retrying quickly, as the app's client does (the SDK's default waits 30 s between tries).
        const client = new ServiceBusClient(h.broker.connectionString, {
            retryOptions: { maxRetries: 1, retryDelayInMs: 50, timeoutInMs: 5_000 },
        });
        const sender = client.createSender('sends');
        h.broker.faults.update({ outageMs: 60_000 });
        const error = await sender.sendMessages({ body: 'x', messageId: 'out-1' }).then(
            () => undefined,
            (e: unknown) => e,
        );
        // The SDK gives up with an AggregateError of its tries' retryable errors.
        const tries = (error as AggregateError).errors;
        expect(tries.length).toBeGreaterThan(0);
        expect(tries.every((e) => isServiceBusError(e) && e.retryable)).toBe(true);
        expect(isDependencyOutage(error)).toBe(true);
        expect(h.broker.stats().sends!.active).toBe(0);

        h.broker.faults.update({ outageMs: 0 });
        await sender.sendMessages({ body: 'x', messageId: 'out-1' });
        expect(h.broker.stats().sends!.active).toBe(1);
        await client.close();
    });

    it('loses a lock mid-delivery: the message comes back and the first settlement fails with MessageLockLost', async () => {
        const sender = h.client.createSender('locks');
        await sender.sendMessages({ body: 'slow', messageId: 'lock-1' });
        h.broker.faults.update({ rateLockLoss: 1, lockLossAfterMs: 300 });
        const receiver = h.client.createReceiver('locks');
        const [first] = await receiver.receiveMessages(1, { maxWaitTimeInMs: 2_000 });
        expect(first!.messageId).toBe('lock-1');
        h.broker.faults.reset();
        const second = await waitFor('the redelivery', async () => {
            const [message] = await receiver.receiveMessages(1, { maxWaitTimeInMs: 500 });
            return message;
        });
        expect(second.deliveryCount).toBe(1);
        await expect(receiver.completeMessage(first!)).rejects.toMatchObject({ code: 'MessageLockLost' });
        await receiver.completeMessage(second);
        await receiver.close();
        await sender.close();
    });

    it('is switched over HTTP at PUT /faults on the admin port', async () => {
        const url = `http://127.0.0.1:${h.broker.adminPort}/faults`;
        const put = await fetch(url, { method: 'PUT', body: JSON.stringify({ rateSendFailure: 0.5, seed: 9 }) });
        expect(put.status).toBe(200);
        expect(await (await fetch(url)).json()).toMatchObject({
            rateSendFailure: 0.5,
            seed: 9,
            // The earlier tests' faults, counted.
            injected: { outageSend: expect.any(Number), lockLoss: 1 },
        });
        expect((await fetch(url, { method: 'PUT', body: '{"rateLockLoss": 3}' })).status).toBe(400);
        expect((await fetch(`http://127.0.0.1:${h.broker.adminPort}/queues`, { method: 'PUT' })).status).toBe(405);
    });
});
