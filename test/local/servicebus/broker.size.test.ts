/** The dev broker refuses what Service Bus Standard refuses: a message or batch over 256 KB (MessageSizeExceeded). */
import { isServiceBusError } from '@azure/service-bus';

import { type Harness, queue, startHarness } from './harness';

const LIMIT = 256 * 1024;

describe('Service Bus dev broker message size', () => {
    let harness: Harness;

    beforeAll(async () => {
        harness = await startHarness([queue('sized')]);
    });
    afterAll(() => harness.close());

    async function peekedCount(): Promise<number> {
        const receiver = harness.client.createReceiver('sized', { receiveMode: 'receiveAndDelete' });
        const messages = await receiver.receiveMessages(10, { maxWaitTimeInMs: 500 });
        await receiver.close();
        return messages.length;
    }

    it('refuses a message over 256 KB with MessageSizeExceeded through the real SDK, and keeps nothing', async () => {
        const sender = harness.client.createSender('sized');
        const error: unknown = await sender
            .sendMessages({ body: { padding: 'x'.repeat(LIMIT) }, messageId: 'too-big' })
            .then(
                () => undefined,
                (e: unknown) => e,
            );
        await sender.close();
        expect(isServiceBusError(error)).toBe(true);
        expect(error).toMatchObject({ code: 'MessageSizeExceeded', retryable: false });
        expect((error as Error).message).toContain(`${LIMIT} bytes`);
        expect(await peekedCount()).toBe(0);
    });

    it('accepts a message just under the limit', async () => {
        const sender = harness.client.createSender('sized');
        await sender.sendMessages({ body: { padding: 'x'.repeat(LIMIT - 1024) }, messageId: 'fits' });
        await sender.close();
        expect(await peekedCount()).toBe(1);
    });
});
