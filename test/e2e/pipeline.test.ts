/**
 * End to end on the local runtime: the app's own registrations (index.ts) in the local host, the Service Bus dev
 * broker, the Cosmos DB emulator and the Partner API simulator, all through the real SDKs over loopback.
 */
import { ServiceBusClient } from '@azure/service-bus';

import type { LocalHost } from '../../local/host/localHost';
import { NO_FAULTS, type PartnerApiSimulator } from '../../local/partner-api-simulator';
import type { DevBroker } from '../../local/servicebus/broker';
import { REFERRALS_QUEUE } from '../../shared/platform/names';
import {
    type LocalPeers,
    postReferral,
    queuesIdle,
    referralStatus,
    startApp,
    startLocalPeers,
} from '../support/localRuntime';
import { independentReferral, seedReferral } from '../support/referrals';
import { createsFor } from '../support/simulatorRequests';
import { waitFor, waitForStatus } from '../support/waitFor';

let broker: DevBroker;
let peers: LocalPeers;
let simulator: PartnerApiSimulator;
let host: LocalHost;
let serviceBus: ServiceBusClient;

const RETRY_AFTER_SECONDS = 2;

beforeAll(async () => {
    peers = await startLocalPeers();
    ({ broker, simulator } = peers);
    host = await startApp(peers, { settings: { RETRY_MAX_DELAY_MS: '1000' } });
    serviceBus = new ServiceBusClient(broker.connectionString);
});

afterAll(async () => {
    await serviceBus?.close();
    await host?.close();
    await peers?.close();
});

afterEach(() => {
    simulator.admin.setFaults({ ...NO_FAULTS, seed: 1 });
});

const post = (key: string, body: unknown) => postReferral(host, key, body);
const status = (key: string) => referralStatus(host, key);

const referralsFor = (externalReferenceId: string) =>
    simulator.admin.referrals().filter((r) => r.externalReferenceId === externalReferenceId);
const postsFor = (key: string) => createsFor(simulator.admin.requests(), key);

describe('the pipeline on the local runtime', () => {
    it('answers 401 without the function key, and queues nothing', async () => {
        const response = await fetch(`${host.url}/api/referrals`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify(seedReferral()),
        });
        expect(response.status).toBe(401);
        expect(broker.stats()[REFERRALS_QUEUE]).toMatchObject({ active: 0, scheduled: 0 });
    });

    it('takes the seed example (Shared) to Connected: exactly two referrals in one engagement, the second for msft', async () => {
        expect(await post('e2e-shared', seedReferral())).toBe(202);
        const done = await waitForStatus(status, 'e2e-shared', 'Connected');

        const engagementId = done.partnerReferral!.engagementId;
        const inEngagement = simulator.admin.referrals().filter((r) => r.engagementId === engagementId);
        expect(inEngagement).toHaveLength(2);
        expect(inEngagement[0]!.id).toBe(done.partnerReferral!.id);
        expect(inEngagement[0]!.target).toEqual(seedReferral().target);
        expect(inEngagement[1]!.id).toBe(done.connectedReferral!.id);
        expect(inEngagement[1]!.target).toEqual([{ type: 'BusinessProfileLocation', id: 'msft' }]);
        expect(done.history.map((h) => h.status)).toEqual([
            'Queued',
            'Submitting',
            'Submitted',
            'Connecting',
            'Connected',
        ]);
    });

    it('takes an Independent referral to Submitted with exactly one Partner API referral', async () => {
        expect(await post('e2e-independent', independentReferral())).toBe(202);
        const done = await waitForStatus(status, 'e2e-independent', 'Submitted');
        await queuesIdle(broker);
        expect(referralsFor('e2e-independent')).toHaveLength(1);
        expect(done.connectedReferral).toBeNull();
    });

    it('processes a message published straight to the queue like an HTTP one', async () => {
        await serviceBus.createSender(REFERRALS_QUEUE).sendMessages({
            body: seedReferral(),
            messageId: 'e2e-published',
            contentType: 'application/json',
            applicationProperties: { contractVersion: '1' },
        });
        await waitForStatus(status, 'e2e-published', 'Connected');
        expect(referralsFor('e2e-published')).toHaveLength(1);
    });

    it('records an invalid published message Rejected, and does not retry it', async () => {
        const invalid = seedReferral();
        delete invalid.details;
        await serviceBus.createSender(REFERRALS_QUEUE).sendMessages({ body: invalid, messageId: 'e2e-invalid' });
        const rejected = await waitForStatus(status, 'e2e-invalid', 'Rejected');
        await queuesIdle(broker);
        expect(rejected.error).toEqual({ code: 'InvalidReferral', message: 'The referral is not valid.' });
        expect(postsFor('e2e-invalid')).toHaveLength(0);
        expect(broker.stats()[REFERRALS_QUEUE]!.deadLettered).toBe(0);
    });

    it('honours Retry-After: after a 429 the next attempt is not sent earlier', async () => {
        simulator.admin.setFaults({ rate429: 1, retryAfterSeconds: RETRY_AFTER_SECONDS, methods: ['POST'] });
        expect(await post('e2e-throttled', independentReferral())).toBe(202);
        await waitFor('the first POST', () => postsFor('e2e-throttled').length >= 1);
        simulator.admin.setFaults({ ...NO_FAULTS });

        await waitForStatus(status, 'e2e-throttled', 'Submitted', 15_000);
        const posts = postsFor('e2e-throttled');
        expect(posts.map((p) => p.fault)).toEqual(['throttled', 'none']);
        expect(posts[1]!.at - posts[0]!.at).toBeGreaterThanOrEqual(RETRY_AFTER_SECONDS * 1000);
        expect(referralsFor('e2e-throttled')).toHaveLength(1);
    });

    it('after a lost answer (created, then the connection dropped) still holds exactly one referral', async () => {
        simulator.admin.setFaults({ rateLost: 1, methods: ['POST'] });
        expect(await post('e2e-lost', independentReferral())).toBe(202);
        await waitFor('the first POST', () => postsFor('e2e-lost').length >= 1);
        simulator.admin.setFaults({ ...NO_FAULTS });

        const done = await waitForStatus(status, 'e2e-lost', 'Submitted', 15_000);
        await queuesIdle(broker);
        expect(postsFor('e2e-lost').map((p) => p.fault)).toEqual(['lost']);
        expect(referralsFor('e2e-lost')).toHaveLength(1);
        expect(done.partnerReferral!.id).toBe(referralsFor('e2e-lost')[0]!.id);
    });

    it('changes nothing when a message is delivered again after Submitted', async () => {
        expect(await post('e2e-redelivered', independentReferral())).toBe(202);
        const before = await waitForStatus(status, 'e2e-redelivered', 'Submitted');
        await queuesIdle(broker);

        // A copy under a new messageId (duplicate detection would drop the same one), as a redelivery would be.
        await serviceBus.createSender(REFERRALS_QUEUE).sendMessages({
            body: independentReferral(),
            messageId: 'e2e-redelivered:copy',
            applicationProperties: { referralKey: 'e2e-redelivered' },
        });
        await waitFor('the copy', () => {
            const queue = broker.stats()[REFERRALS_QUEUE]!;
            return queue.active === 0 && queue.locked === 0;
        });
        expect(await status('e2e-redelivered')).toEqual(before);
        expect(postsFor('e2e-redelivered')).toHaveLength(1);
    });

    it("rejects a referral the Partner API refuses with a permanent 400, keeping the API's error code", async () => {
        const connectedToNowhere = {
            ...seedReferral(),
            engagementId: '00000000-0000-4000-8000-000000000000',
            target: [{ type: 'BusinessProfileLocation', id: 'msft' }],
        };
        expect(await post('e2e-refused', connectedToNowhere)).toBe(202);
        const rejected = await waitForStatus(status, 'e2e-refused', 'Rejected');
        expect(rejected.error?.code).toBe('invalidRequest');
        await queuesIdle(broker);
        expect(postsFor('e2e-refused')).toHaveLength(1);
    });
});
