/** Queue messages built to hurt: each ends Rejected with its problem list, never thrown (and so dead-lettered). */
import { processReferralMessage } from '../../../shared/pipeline/worker';
import { workerSetup } from '../../support/worker';

type Setup = ReturnType<typeof workerSetup>;

function deliver(setup: Setup, key: string, body: unknown) {
    return processReferralMessage(
        body,
        { messageId: key, correlationId: 'corr-1', deliveryCount: 1, applicationProperties: {} },
        setup.deps,
        setup.log,
    );
}

describe('hostile queue messages', () => {
    it('records a 40 KB message nested 20,000 deep Rejected with its problem, without a RangeError', async () => {
        const setup = workerSetup();
        const text = `{"type":"Shared","extra":${'['.repeat(20_000)}${']'.repeat(20_000)}}`;
        expect(await deliver(setup, 'deep-1', text)).toBe('rejected');
        expect(setup.store.items.get('deep-1')!.record).toMatchObject({
            status: 'Rejected',
            error: { code: 'InvalidReferral', problems: [{ message: 'nests deeper than 32 levels' }] },
        });
        expect(setup.api.creates).toHaveLength(0);
    });

    it('records a message with 20,000 bad emails Rejected with a bounded problem list', async () => {
        const setup = workerSetup();
        const body = { type: 'Shared', team: Array.from({ length: 20_000 }, () => ({ email: 'bad' })) };
        expect(await deliver(setup, 'wide-1', body)).toBe('rejected');
        const record = setup.store.items.get('wide-1')!.record;
        expect(record.status).toBe('Rejected');
        expect(JSON.stringify(record).length).toBeLessThan(16_000);
        expect(setup.lines.join('\n').length).toBeLessThan(16_000);
    });
});
