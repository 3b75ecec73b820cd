/**
 * Updates end to end on the local runtime: an update published to `referral-updates`, and one sent through PATCH
 * /api/referrals/{id}, each recorded Pending on the referral's status document (applying them is the applier's).
 */
import { ServiceBusClient } from '@azure/service-bus';

import type { LocalHost } from '../../local/host/localHost';
import { UPDATES_QUEUE } from '../../shared/platform/names';
import type { ReferralStatusDocument } from '../../shared/referral/statusDocument';
import { type LocalPeers, startApp, startLocalPeers } from '../support/localRuntime';
import { independentReferral } from '../support/referrals';
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

const CLOSE_WON = [
    { op: 'replace', path: '/status', value: 'Closed' },
    { op: 'replace', path: '/substatus', value: 'Won' },
];

async function status(key: string): Promise<ReferralStatusDocument> {
    const response = await fetch(`${host.url}/api/referrals/${key}`, {
        headers: { 'x-functions-key': host.functionKey },
    });
    expect(response.status).toBe(200);
    return (await response.json()) as ReferralStatusDocument;
}

async function createReferral(key: string): Promise<void> {
    const response = await fetch(`${host.url}/api/referrals`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-functions-key': host.functionKey, 'idempotency-key': key },
        body: JSON.stringify(independentReferral()),
    });
    expect(response.status).toBe(202);
}

const updatesOf = async (key: string) => (await status(key)).updates;

describe('referral updates on the local runtime', () => {
    it('records an update published to referral-updates as Pending on the status document', async () => {
        await createReferral('upd-queue-1');
        const sender = serviceBus.createSender(UPDATES_QUEUE);
        try {
            const message = {
                body: CLOSE_WON,
                messageId: 'b0f6f0f2-5d7e-4b8e-9a55-6f1d0c2e9a01',
                contentType: 'application/json',
                applicationProperties: { contractVersion: '1', referralId: 'upd-queue-1' },
            };
            // Delivered twice: recorded once.
            await sender.sendMessages(message);
            await sender.sendMessages({ ...message });
        } finally {
            await sender.close();
        }
        await waitFor(
            () => 'the published update on the status document',
            async () => (await updatesOf('upd-queue-1')).length === 1,
        );
        expect(await updatesOf('upd-queue-1')).toEqual([
            {
                id: 'b0f6f0f2-5d7e-4b8e-9a55-6f1d0c2e9a01',
                status: 'Pending',
                acceptedAt: expect.any(String),
                appliedAt: null,
                error: null,
            },
        ]);
    });

    it('records an update sent with PATCH, through the same queue, once', async () => {
        await createReferral('upd-http-1');
        const response = await fetch(`${host.url}/api/referrals/upd-http-1`, {
            method: 'PATCH',
            headers: {
                'content-type': 'application/json-patch+json',
                'x-functions-key': host.functionKey,
                'idempotency-key': 'close-1',
            },
            body: JSON.stringify(CLOSE_WON),
        });
        expect(response.status).toBe(202);
        expect(response.headers.get('location')).toBe('/api/referrals/upd-http-1');
        expect((await updatesOf('upd-http-1')).map((u) => [u.id, u.status])).toEqual([['close-1', 'Pending']]);
        await waitFor(
            () => 'the update message to be consumed',
            () => Promise.resolve(Object.values(peers.broker.stats()).every((q) => q.active === 0 && q.locked === 0)),
        );
        expect((await updatesOf('upd-http-1')).map((u) => [u.id, u.status])).toEqual([['close-1', 'Pending']]);
    });
});
