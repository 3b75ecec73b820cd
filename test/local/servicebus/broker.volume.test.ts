import { type ServiceBusReceivedMessage } from '@azure/service-bus';

import { type Harness, queue, startHarness } from './harness';

/**
 * rhea keeps every delivery of a session in a 2048-slot window until both sides have settled it, and with
 * rcv-settle-mode=second the SDK never sends the final settle. Without the broker's workaround delivery stops at
 * exactly 2048 messages on one receiver link, so this pushes 3,000 through one link.
 */
describe('Service Bus dev broker: volume', () => {
    let h: Harness;
    const total = 3_000;

    beforeAll(async () => {
        h = await startHarness([queue('volume')]);
    });

    afterAll(async () => {
        await h?.close();
    });

    it(`delivers ${total} messages in a row through peek-lock + complete on one link`, async () => {
        const sender = h.client.createSender('volume');
        for (let start = 0; start < total; start += 250) {
            await sender.sendMessages(
                Array.from({ length: 250 }, (_, i) => ({ body: { n: start + i }, messageId: `v-${start + i}` })),
            );
        }
        expect(h.broker.stats().volume!.active).toBe(total);

        const receiver = h.client.createReceiver('volume');
        const seen = new Set<number>();
        let emptyRounds = 0;
        while (seen.size < total && emptyRounds < 5) {
            const batch: ServiceBusReceivedMessage[] = await receiver.receiveMessages(200, { maxWaitTimeInMs: 1_000 });
            emptyRounds = batch.length === 0 ? emptyRounds + 1 : 0;
            await Promise.all(batch.map((m) => receiver.completeMessage(m)));
            for (const m of batch) seen.add((m.body as { n: number }).n);
        }
        expect(seen.size).toBe(total);
        expect(h.broker.stats().volume).toEqual({ active: 0, scheduled: 0, locked: 0, deadLettered: 0 });
        await receiver.close();
        await sender.close();
    });
});
