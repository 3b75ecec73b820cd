/**
 * Updates end to end on the local runtime: updates sent with PATCH /api/referrals/{id} or published to
 * `referral-updates` are applied to the partner's own referral at the Partner API simulator, in order, exactly once,
 * through lost answers and concurrent edits; refused ones never reach it.
 */
import { ServiceBusClient } from '@azure/service-bus';

import type { LocalHost } from '../../local/host/localHost';
import { NO_FAULTS } from '../../local/partner-api-simulator';
import { UPDATES_QUEUE } from '../../shared/platform/names';
import type { ReferralStatusDocument } from '../../shared/referral/statusDocument';
import { type LocalPeers, postReferral, referralStatus, startApp, startLocalPeers } from '../support/localRuntime';
import { independentReferral, seedReferral } from '../support/referrals';
import { waitFor } from '../support/waitFor';

let peers: LocalPeers;
let host: LocalHost;
let serviceBus: ServiceBusClient;

beforeAll(async () => {
    peers = await startLocalPeers();
    host = await startApp(peers);
    serviceBus = new ServiceBusClient(peers.broker.connectionString);
});

afterAll(async () => {
    await serviceBus?.close();
    await host?.close();
    await peers?.close();
});

afterEach(() => {
    peers.simulator.admin.setFaults({ ...NO_FAULTS });
});

const CLOSE_WON = [
    { op: 'replace', path: '/status', value: 'Closed' },
    { op: 'replace', path: '/substatus', value: 'Won' },
];
const DEAL_VALUE = [{ op: 'replace', path: '/details/dealValue', value: 125000 }];
const MEMBER = { firstName: 'Ada', lastName: 'Seller', email: 'ada.seller@contoso.example' };
const ADD_MEMBER = [{ op: 'add', path: '/team/-', value: MEMBER }];

async function status(key: string): Promise<ReferralStatusDocument> {
    const document = await referralStatus(host, key);
    expect(document).toBeDefined();
    return document!;
}

async function sendUpdate(key: string, updateKey: string, body: unknown): Promise<Response> {
    return fetch(`${host.url}/api/referrals/${key}`, {
        method: 'PATCH',
        headers: {
            'content-type': 'application/json-patch+json',
            'x-functions-key': host.functionKey,
            'idempotency-key': updateKey,
        },
        body: JSON.stringify(body),
    });
}

async function update(key: string, updateKey: string, body: unknown): Promise<void> {
    expect((await sendUpdate(key, updateKey, body)).status).toBe(202);
}

/** Waits until every update of the referral is settled (none Pending or Applying), and answers their statuses. */
async function settled(key: string, count: number): Promise<Array<[string, string]>> {
    await waitFor(
        () => `the ${count} updates of ${key} to settle`,
        async () => {
            const { updates } = await status(key);
            return updates.length === count && updates.every((u) => u.status !== 'Pending' && u.status !== 'Applying');
        },
    );
    return (await status(key)).updates.map((u) => [u.id, u.status]);
}

async function submitted(key: string, body: unknown, until: 'Submitted' | 'Connected'): Promise<void> {
    expect(await postReferral(host, key, body)).toBe(202);
    await waitFor(
        () => `${key} to be ${until}`,
        async () => (await referralStatus(host, key))?.status === until,
    );
}

/** The partner's own referral as the simulator holds it. */
async function partnerReferralOf(key: string) {
    const { partnerReferral } = await status(key);
    const held = peers.simulator.admin.referrals().find((referral) => referral.id === partnerReferral!.id);
    expect(held).toBeDefined();
    return held as Record<string, any>;
}

/** Nothing left to deliver or in flight now (an applier's lease-wait copies stay scheduled for a lease's length). */
async function deliveriesIdle(): Promise<void> {
    await waitFor(
        () => `the deliveries to end: ${JSON.stringify(peers.broker.stats())}`,
        () => Object.values(peers.broker.stats()).every((q) => q.active === 0 && q.locked === 0),
    );
}

const patchesTo = (id: string) =>
    peers.simulator.admin.requests().filter((request) => request.method === 'PATCH' && request.path.endsWith(id));

describe('referral updates on the local runtime', () => {
    it('updates a Shared referral (deal value, a team member) and closes it as Won, in order, once each', async () => {
        await submitted('upd-shared-1', seedReferral(), 'Connected');
        const connectedBefore = (await status('upd-shared-1')).connectedReferral;
        await update('upd-shared-1', 'deal-value', DEAL_VALUE);
        await update('upd-shared-1', 'add-member', ADD_MEMBER);
        await update('upd-shared-1', 'close-won', CLOSE_WON);

        // The close comes last: applied earlier, the member would have been refused as a change after Closed.
        expect(await settled('upd-shared-1', 3)).toEqual([
            ['deal-value', 'Applied'],
            ['add-member', 'Applied'],
            ['close-won', 'Applied'],
        ]);
        const held = await partnerReferralOf('upd-shared-1');
        expect(held).toMatchObject({ status: 'Closed', substatus: 'Won', details: { dealValue: 125000 } });
        expect(held.team.filter((member: { email?: string }) => member.email === MEMBER.email)).toHaveLength(1);
        const document = await status('upd-shared-1');
        expect(document.partnerReferral).toMatchObject({ status: 'Closed', substatus: 'Won', eTag: held.eTag });
        expect(document.partnerReferral!.updatedDateTime).toBe(held.updatedDateTime);
        // The connected referral is Microsoft's to answer: untouched.
        expect(document.connectedReferral).toEqual(connectedBefore);
        expect(patchesTo(held.id as string).map((request) => request.status)).toEqual([200, 200, 200]);
        expect(document.history.filter((entry) => 'update' in entry)).toHaveLength(3);
    });

    it('applies an update accepted while the create is still in flight once the referral exists', async () => {
        expect(await postReferral(host, 'upd-early-1', independentReferral())).toBe(202);
        await update('upd-early-1', 'early-close', CLOSE_WON);
        expect(await settled('upd-early-1', 1)).toEqual([['early-close', 'Applied']]);
        expect(await partnerReferralOf('upd-early-1')).toMatchObject({ status: 'Closed', substatus: 'Won' });
    });

    it('after a lost PATCH answer leaves the member once', async () => {
        await submitted('upd-lost-1', independentReferral(), 'Submitted');
        peers.simulator.admin.setFaults({ ...NO_FAULTS, rateLost: 1, methods: ['PATCH'] });
        await update('upd-lost-1', 'lost-member', ADD_MEMBER);

        expect(await settled('upd-lost-1', 1)).toEqual([['lost-member', 'Applied']]);
        const held = await partnerReferralOf('upd-lost-1');
        expect(held.team.filter((member: { email?: string }) => member.email === MEMBER.email)).toHaveLength(1);
        expect(patchesTo(held.id as string).map((request) => request.fault)).toEqual(['lost']);
    });

    it('keeps a concurrent edit made at Partner Center (412) and re-applies the update on the new eTag', async () => {
        await submitted('upd-412-1', independentReferral(), 'Submitted');
        const { id } = (await status('upd-412-1')).partnerReferral!;
        // Someone edits the notes at Partner Center: the eTag the app knows is now stale.
        const edit = await fetch(`${peers.simulator.url}/v1.0/engagements/referrals/${id}`, {
            method: 'PATCH',
            headers: { 'content-type': 'application/json-patch+json' },
            body: JSON.stringify([{ op: 'replace', path: '/details/notes', value: 'Edited at Partner Center' }]),
        });
        expect(edit.status).toBe(204);
        await update('upd-412-1', 'deal-after-edit', DEAL_VALUE);

        expect(await settled('upd-412-1', 1)).toEqual([['deal-after-edit', 'Applied']]);
        const held = await partnerReferralOf('upd-412-1');
        expect(held.details).toMatchObject({ notes: 'Edited at Partner Center', dealValue: 125000 });
        expect(patchesTo(id).map((request) => request.status)).toEqual([204, 412, 200]);
        expect((await status('upd-412-1')).partnerReferral!.eTag).toBe(held.eTag);
    });

    it('refuses an illegal transition and any change after Closed before any Partner API call', async () => {
        await submitted('upd-refused-1', independentReferral(), 'Submitted');
        const { id } = (await status('upd-refused-1')).partnerReferral!;
        // Active → New is not in the transition table.
        const illegal = await sendUpdate('upd-refused-1', 'back-to-new', [
            { op: 'replace', path: '/status', value: 'New' },
            { op: 'replace', path: '/substatus', value: 'Pending' },
        ]);
        expect(illegal.status).toBe(400);
        await update('upd-refused-1', 'close', CLOSE_WON);
        expect(await settled('upd-refused-1', 1)).toEqual([['close', 'Applied']]);
        const afterClosed = await sendUpdate('upd-refused-1', 'after-close', DEAL_VALUE);
        expect(afterClosed.status).toBe(409);
        await deliveriesIdle();
        expect(patchesTo(id)).toHaveLength(1);
    });

    it('applies an update published to referral-updates, once however often it is delivered', async () => {
        await submitted('upd-queue-1', independentReferral(), 'Submitted');
        const sender = serviceBus.createSender(UPDATES_QUEUE);
        try {
            const message = {
                body: ADD_MEMBER,
                messageId: 'b0f6f0f2-5d7e-4b8e-9a55-6f1d0c2e9a01',
                contentType: 'application/json',
                applicationProperties: { contractVersion: '1', referralId: 'upd-queue-1' },
            };
            await sender.sendMessages(message);
            await sender.sendMessages({ ...message });
        } finally {
            await sender.close();
        }
        expect(await settled('upd-queue-1', 1)).toEqual([['b0f6f0f2-5d7e-4b8e-9a55-6f1d0c2e9a01', 'Applied']]);
        expect((await status('upd-queue-1')).updates[0]).toEqual({
            id: 'b0f6f0f2-5d7e-4b8e-9a55-6f1d0c2e9a01',
            status: 'Applied',
            acceptedAt: expect.any(String),
            appliedAt: expect.any(String),
            error: null,
        });
        await deliveriesIdle();
        const held = await partnerReferralOf('upd-queue-1');
        expect(held.team.filter((member: { email?: string }) => member.email === MEMBER.email)).toHaveLength(1);
    });
});
