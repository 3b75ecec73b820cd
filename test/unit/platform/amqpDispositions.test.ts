/**
 * rhea batches the dispositions of consecutive deliveries into one frame; without the workaround, a refusal next to
 * acceptances leaves as an acceptance (shared/platform/amqpDispositions.ts). Two rhea containers on loopback: the
 * server accepts every transfer but the one marked "refuse", the client sends three in one go.
 */
import type { AddressInfo } from 'node:net';

import { type Connection, create_container, type EventContext } from 'rhea';

import { dispositionRuns, keepDispositionOutcomes } from '../../../shared/platform/amqpDispositions';

type Outcome = 'accepted' | 'rejected' | 'released' | 'modified';

async function sendThree(bodies: string[]): Promise<Record<string, Outcome>> {
    const server = create_container({ id: 'server' });
    server.on('message', (context: EventContext) => {
        if (context.message?.body === 'refuse') context.delivery!.reject({ condition: 'amqp:internal-error' });
        else context.delivery!.accept();
    });
    const listener = server.listen({ port: 0, host: '127.0.0.1' });
    await new Promise<void>((resolve) => listener.once('listening', () => resolve()));
    const { port } = listener.address() as AddressInfo;

    const client = create_container({ id: 'client' });
    const connection: Connection = client.connect({ port, host: '127.0.0.1', reconnect: false });
    const outcomes: Record<string, Outcome> = {};
    try {
        await new Promise<void>((resolve, reject) => {
            const sender = connection.open_sender({ target: { address: 'queue' } });
            const tags = new Map<unknown, string>();
            const record = (kind: Outcome) => (context: EventContext) => {
                outcomes[tags.get(context.delivery)!] = kind;
                if (Object.keys(outcomes).length === bodies.length) resolve();
            };
            for (const kind of ['accepted', 'rejected', 'released', 'modified'] as const) sender.on(kind, record(kind));
            sender.once('sendable', () => {
                // In one go: the server reads the three transfers together and settles them in one batch.
                for (const body of bodies) tags.set(sender.send({ body }), body);
            });
            connection.once('disconnected', () => reject(new Error('disconnected')));
        });
    } finally {
        connection.close();
        listener.close();
    }
    return outcomes;
}

describe('AMQP dispositions (rhea workaround)', () => {
    beforeAll(() => keepDispositionOutcomes());

    it('reports a refused transfer as refused although its neighbours were accepted', async () => {
        const outcomes = await sendThree(['first', 'refuse', 'third']);
        expect(outcomes).toEqual({ first: 'accepted', refuse: 'rejected', third: 'accepted' });
    });

    it('reports a refusal first in the batch as refused, and the acceptance after it as accepted', async () => {
        const outcomes = await sendThree(['refuse', 'second', 'third']);
        expect(outcomes).toEqual({ refuse: 'rejected', second: 'accepted', third: 'accepted' });
    });

    it('splits deliveries into ranges of consecutive accepted ones, any other delivery alone', () => {
        const accepted = { kind: 'accepted' };
        const rejected = { kind: 'rejected' };
        const equivalent = (a: unknown, b: unknown) => a === accepted && b === accepted;
        const d = (id: number, state: object, settled = true) => ({ id, state, settled });
        const runs = dispositionRuns(
            [d(1, accepted), d(2, rejected), d(3, accepted), d(4, accepted), d(6, accepted), d(7, accepted, false)],
            equivalent,
        );
        expect(runs.map((run) => run.map((delivery) => delivery.id))).toEqual([[1], [2], [3, 4], [6], [7]]);
    });
});
