/**
 * Microsoft's changes reach the app on the local runtime: the simulator, registered with the local host's webhook
 * URL, delivers a signed event when Microsoft's seller accepts the connected referral; the host verifies it (against
 * the simulator's test root, given through the two settings) and queues it once on `partner-center-events`. (What
 * the sync worker does with it: partnerCenterSync.test.ts.)
 */
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import type { LocalHost } from '../../local/host/localHost';
import { registerLocalWebhook } from '../../local/runtime/webhookRegistration';
import { PARTNER_CENTER_EVENTS_QUEUE } from '../../shared/platform/names';
import { connectedReferral, seedRequest } from '../integration/partnerApi/helpers';
import { callSimulator, REFERRALS } from '../local/partner-api-simulator/simulatorHttp';
import { type LocalPeers, startApp, startLocalPeers } from '../support/localRuntime';
import { waitFor } from '../support/waitFor';

describe("Partner Center's webhook on the local runtime", () => {
    let peers: LocalPeers;
    let host: LocalHost;

    beforeAll(async () => {
        peers = await startLocalPeers();
        const rootsFile = join(tmpdir(), `webhook-root-${process.pid}.pem`);
        writeFileSync(rootsFile, peers.simulator.microsoft.rootCertificatePem);
        host = await startApp(peers, {
            settings: {
                PARTNER_CENTER_WEBHOOK_TRUSTED_ROOTS: rootsFile,
                PARTNER_CENTER_WEBHOOK_CERT_HOSTS: '127.0.0.1',
                // The sync worker would consume the event: here the point is what reaches the queue, and how often.
                'AzureWebJobs.syncPartnerCenterEvent.Disabled': 'true',
            },
        });
        await registerLocalWebhook(peers.simulator.url, host.url, host.functionKey);
    }, 60_000);

    afterAll(async () => {
        await host?.close();
        await peers?.close();
    });

    const queued = () => peers.broker.stats()[PARTNER_CENTER_EVENTS_QUEUE]?.active ?? 0;

    it('verifies and queues the signed event once; an unsigned copy of it is refused', async () => {
        const call = (method: string, path: string, body?: unknown) =>
            callSimulator(peers.simulator.url, method, path, body);
        const partner = (await call('POST', REFERRALS, seedRequest())).body as { engagementId: string };
        const connected = (await call('POST', REFERRALS, connectedReferral(partner.engagementId))).body as {
            id: string;
        };
        await call('POST', `/_admin/referrals/${connected.id}/accept`);
        const delivered = await waitFor('the delivery', async () => {
            const { body } = await call('GET', '/_admin/webhooks');
            const [delivery] = body.deliveries as Array<{ outcome: string; attempts: Array<{ status?: number }> }>;
            return delivery?.outcome === 'delivered' && delivery;
        });
        expect(delivered.attempts).toEqual([expect.objectContaining({ status: 200 })]);
        await waitFor('the queued event', () => queued() === 1);

        // The same body again without its signature: only the simulator's signed delivery is believed.
        const { body } = await call('GET', '/_admin/webhooks');
        const event = (body.deliveries as Array<{ body: string }>)[0]!.body;
        const again = await fetch(`${host.url}/api/partner-center/events?code=${host.functionKey}`, {
            method: 'POST',
            body: event,
            headers: { 'content-type': 'application/json' },
        });
        expect(again.status).toBe(401);
        expect(queued()).toBe(1);
    });
});
