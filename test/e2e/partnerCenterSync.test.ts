/**
 * Partner Center's changes flow back into the status document on the local runtime: the simulator plays Microsoft
 * (accept, close, dropped webhooks), the host verifies and queues its signed webhooks, the sync worker applies them,
 * and the reconciliation catches what the webhooks missed. The timers run on a clock the test fires, so a change
 * is known to come from the webhook or from a reconciliation run, never from a race between the two.
 */
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { ServiceBusClient } from '@azure/service-bus';

import type { LocalHost } from '../../local/host/localHost';
import type { TimerClock } from '../../local/host/timerTriggers';
import { registerLocalWebhook } from '../../local/runtime/webhookRegistration';
import { partnerCenterEventMessage } from '../../shared/messaging/messages';
import { PARTNER_CENTER_EVENTS_QUEUE } from '../../shared/platform/names';
import type { HistoryEntry, PartnerCenterHistoryEntry } from '../../shared/referral/record';
import type { ReferralStatusDocument } from '../../shared/referral/statusDocument';
import { callSimulator } from '../local/partner-api-simulator/simulatorHttp';
import {
    type LocalPeers,
    postReferral,
    queuesIdle,
    referralStatus,
    startApp,
    startLocalPeers,
} from '../support/localRuntime';
import { seedReferral } from '../support/referrals';
import { waitFor, waitForStatus } from '../support/waitFor';

jest.setTimeout(120_000);

/** The system clock, except that timers fire only when the test says so. */
class FiredTimers implements TimerClock {
    private readonly pending = new Map<number, () => void>();
    private next = 0;
    now = () => Date.now();
    setTimeout = (callback: () => void) => {
        const handle = ++this.next;
        this.pending.set(handle, callback);
        return handle;
    };
    clearTimeout = (handle: unknown) => {
        this.pending.delete(handle as number);
    };
    fire() {
        const due = [...this.pending.values()];
        this.pending.clear();
        for (const callback of due) callback();
    }
}

let peers: LocalPeers;
let host: LocalHost;
let serviceBus: ServiceBusClient;
const timers = new FiredTimers();
const reconciliations: string[] = [];
const KEY = 'sync-e2e-1';

beforeAll(async () => {
    peers = await startLocalPeers();
    const rootsFile = join(tmpdir(), `webhook-root-sync-${process.pid}.pem`);
    writeFileSync(rootsFile, peers.simulator.microsoft.rootCertificatePem);
    host = await startApp(peers, {
        settings: {
            PARTNER_CENTER_WEBHOOK_TRUSTED_ROOTS: rootsFile,
            PARTNER_CENTER_WEBHOOK_CERT_HOSTS: '127.0.0.1',
            // Daily: within setTimeout's range, so firing the clock runs it at once.
            PARTNER_CENTER_RECONCILE_SCHEDULE: '0 0 0 * * *',
        },
        timerClock: timers,
        logSink: (_level, line) => {
            if (line.includes('reconciliation.completed')) reconciliations.push(line);
        },
    });
    await registerLocalWebhook(peers.simulator.url, host.url, host.functionKey);
    serviceBus = new ServiceBusClient(peers.broker.connectionString);
});

afterAll(async () => {
    await serviceBus?.close();
    await host?.close();
    await peers?.close();
});

const call = (method: string, path: string, body?: unknown) => callSimulator(peers.simulator.url, method, path, body);
const status = () => referralStatus(host, KEY) as Promise<ReferralStatusDocument>;
const seenAtPartnerCenter = (document: ReferralStatusDocument, referral: PartnerCenterHistoryEntry['referral']) =>
    document.history.filter(
        (entry: HistoryEntry): entry is PartnerCenterHistoryEntry => 'referral' in entry && entry.referral === referral,
    );

/** Runs the reconciliation (and the outbox sweep) once and waits for it to end. */
async function reconcileOnce(): Promise<void> {
    const before = reconciliations.length;
    timers.fire();
    await waitFor('a reconciliation run', () => reconciliations.length > before);
}

it("Microsoft's seller accepts the connected referral: the status document shows it within seconds", async () => {
    expect(await postReferral(host, KEY, seedReferral())).toBe(202);
    const connected = await waitForStatus((key) => referralStatus(host, key), KEY, 'Connected');
    const started = Date.now();
    await call('POST', `/_admin/referrals/${connected.connectedReferral!.id}/accept`);
    const shown = await waitFor('the accepted connected referral', async () => {
        const document = await status();
        return document.connectedReferral?.status === 'Active' && document;
    });
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(shown.connectedReferral).toMatchObject({ status: 'Active', substatus: 'Accepted' });
    expect(seenAtPartnerCenter(shown, 'connected')).toEqual([
        expect.objectContaining({ status: 'Active', substatus: 'Accepted', source: 'webhook' }),
    ]);
    expect(JSON.stringify(shown.engagement)).not.toMatch(/customer|email/i);
});

it('a change made with its webhook dropped is picked up by the next reconciliation run', async () => {
    await call('PUT', '/_admin/webhooks', { dropDeliveries: true });
    const before = await status();
    await call('POST', `/_admin/referrals/${before.partnerReferral!.id}/close`, { substatus: 'Won' });
    await queuesIdle(peers.broker);
    expect((await status()).partnerReferral?.status).toBe('Active');

    await reconcileOnce();
    const after = await status();
    expect(after.partnerReferral).toMatchObject({ status: 'Closed', substatus: 'Won' });
    expect(seenAtPartnerCenter(after, 'partner')).toEqual([
        expect.objectContaining({ status: 'Closed', substatus: 'Won', source: 'reconciliation' }),
    ]);
    // A second run reads the same window again (its overlap) and adds nothing.
    await reconcileOnce();
    expect((await status()).history).toEqual(after.history);
    await call('PUT', '/_admin/webhooks', { dropDeliveries: false });
});

it('an older event after a newer one changes nothing; two deliveries of one event add one history entry', async () => {
    const before = await status();
    const { deliveries } = (await call('GET', '/_admin/webhooks')).body as { deliveries: Array<{ body: string }> };
    const accepted = JSON.parse(deliveries.find((d) => d.body.includes('related-referral-updated'))!.body) as Record<
        string,
        string
    >;
    const older = { ...accepted, ResourceChangeUtcDate: '2020-01-01T00:00:00+00:00' };
    const sender = serviceBus.createSender(PARTNER_CENTER_EVENTS_QUEUE);
    const message = (event: Record<string, string>, messageId: string) => ({
        ...partnerCenterEventMessage({
            event: event as never,
            referralId: before.connectedReferral!.id,
            correlationId: messageId,
        }),
        messageId,
    });
    // Distinct messageIds: duplicate detection would drop them otherwise, and the point is the worker's own idempotency.
    await sender.sendMessages([message(accepted, 'again-1'), message(accepted, 'again-2'), message(older, 'older-1')]);
    await sender.close();
    await queuesIdle(peers.broker);

    const after = await status();
    expect(after.connectedReferral).toEqual(before.connectedReferral);
    expect(after.partnerReferral).toEqual(before.partnerReferral);
    expect(after.history).toEqual(before.history);
    expect(seenAtPartnerCenter(after, 'connected')).toHaveLength(1);
});
