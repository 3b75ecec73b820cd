import { createRequestId } from '../../../shared/partnerApi';
import { buildConnectedReferral } from '../../../shared/pipeline/connectStep';
import { processConnectionMessage, processReferralMessage } from '../../../shared/pipeline/worker';
import { transientError } from '../../support/fakePartnerApi';
import { givenRecord } from '../../support/givenRecord';
import { independentReferral, seedReferral } from '../../support/referrals';
import { workerSetup } from '../../support/worker';

type Setup = ReturnType<typeof workerSetup>;

async function submitted(setup: Setup, key: string, body: Record<string, any> = seedReferral()) {
    setup.store.put(givenRecord({ id: key, request: body, at: setup.clock.now }));
    await processReferralMessage(body, { messageId: key, applicationProperties: {} }, setup.deps, setup.log);
    return setup.store.items.get(key)!.record;
}

function connect(setup: Setup, key: string, deliveryCount = 1) {
    return processConnectionMessage(
        { id: key },
        {
            messageId: `${key}:connect`,
            correlationId: 'corr-1',
            deliveryCount,
            applicationProperties: { referralKey: key },
        },
        setup.deps,
        setup.log,
    );
}

describe('connectReferral', () => {
    it('creates the connected referral for Microsoft from the stored engagementId and request', async () => {
        const setup = workerSetup();
        const body: Record<string, any> = {
            ...seedReferral(),
            externalReferenceId: 'CRM-1',
            partnerRole: 'ServicesPartner',
        };
        const record = await submitted(setup, 'k1', body);

        expect(await connect(setup, 'k1')).toBe('created');

        const connected = setup.api.creates[1]!.body;
        expect(connected.engagementId).toBe(record.partnerReferral!.engagementId);
        expect(connected.type).toBe('Shared');
        expect(connected.target).toEqual([{ type: 'BusinessProfileLocation', id: 'msft' }]);
        expect(connected.customerProfile).toEqual(body.customerProfile);
        expect(connected.consent).toEqual(body.consent);
        expect(connected.details).toEqual(body.details);
        expect(connected.team).toEqual(body.team);
        expect(connected.inviteContext).toEqual(body.inviteContext);
        expect(connected.partnerRole).toBe('ServicesPartner');
        for (const notCopied of ['externalReferenceId', 'status', 'substatus', 'statusReason']) {
            expect(connected).not.toHaveProperty(notCopied);
        }
        expect(setup.api.creates[1]!.context).toMatchObject({
            correlationId: 'corr-1',
            createRequestId: createRequestId('k1', 'connect'),
        });
        expect(createRequestId('k1', 'connect')).not.toBe(setup.api.creates[0]!.context.createRequestId);

        const stored = setup.store.items.get('k1')!.record;
        expect(stored.status).toBe('Connected');
        expect(stored.connectedReferral).toMatchObject({
            id: setup.api.referrals[1]!.id,
            engagementId: record.partnerReferral!.engagementId,
        });
        expect(stored.history.map((h) => h.status)).toEqual([
            'Queued',
            'Submitting',
            'Submitted',
            'Connecting',
            'Connected',
        ]);
    });

    it('does nothing for a redelivery once Connected', async () => {
        const setup = workerSetup();
        await submitted(setup, 'k1');
        await connect(setup, 'k1');
        expect(await connect(setup, 'k1', 2)).toBe('alreadyDone');
        expect(setup.api.creates).toHaveLength(2);
    });

    it('does not apply to an Independent referral', async () => {
        const setup = workerSetup();
        await submitted(setup, 'k1', independentReferral());
        expect(await connect(setup, 'k1')).toBe('notApplicable');
        expect(setup.api.creates).toHaveLength(1);
    });

    it('after a lost answer, adopts the connected referral found under the engagementId', async () => {
        const setup = workerSetup();
        const record = await submitted(setup, 'k1');
        setup.api.script.push('lostAnswer');
        expect(await connect(setup, 'k1')).toBe('retryScheduled');
        expect(setup.connectionsQueue.sent.at(-1)!.messageId).toBe('k1:connect:r2');
        setup.clock.now = new Date(setup.store.items.get('k1')!.record.notBefore!);

        expect(await connect(setup, 'k1', 1)).toBe('adopted');
        expect(setup.api.lookups.at(-1)!.filter).toEqual({
            engagementId: record.partnerReferral!.engagementId,
            type: 'Shared',
        });
        expect(setup.api.referrals.filter((r) => r.engagementId === record.partnerReferral!.engagementId)).toHaveLength(
            2,
        );
        expect(setup.store.items.get('k1')!.record.status).toBe('Connected');
    });

    it('retries a throttled connection no earlier than Retry-After', async () => {
        const setup = workerSetup();
        await submitted(setup, 'k1');
        setup.api.script.push(transientError({ status: 429, retryAfterMs: 45_000 }));
        expect(await connect(setup, 'k1')).toBe('retryScheduled');
        const retry = setup.connectionsQueue.sent.at(-1)!;
        expect(retry.scheduledEnqueueTimeUtc!.getTime() - setup.clock.now.getTime()).toBeGreaterThanOrEqual(45_000);
    });

    it('refuses to build a connected referral without an engagementId', () => {
        expect(() => buildConnectedReferral(givenRecord())).toThrow(/no engagementId/);
    });
});
