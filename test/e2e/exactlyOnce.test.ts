/**
 * Exactly once against a Partner API less kind than its documentation (issue 12), end to end on the local runtime:
 * the simulator commits creates after the client gave up, refuses or ignores the externalReferenceId filter, checks
 * and deduplicates on MS-RequestId, and holds another system's referral under the same externalReferenceId; the
 * intake refuses a second key with an externalReferenceId another key holds.
 */
import type { LocalHost } from '../../local/host/localHost';
import { NO_FAULTS, type PartnerApiSimulator } from '../../local/partner-api-simulator';
import { REFERRALS_PATH } from '../../local/partner-api-simulator/referralApi';
import type { DevBroker } from '../../local/servicebus/broker';
import {
    type LocalPeers,
    postReferral,
    queuesIdle,
    referralStatus,
    sendReferral,
    startApp,
    startLocalPeers,
} from '../support/localRuntime';
import { independentReferral, seedReferral } from '../support/referrals';
import { createsFor } from '../support/simulatorRequests';
import { waitFor, waitForStatus } from '../support/waitFor';

jest.setTimeout(60_000);

let broker: DevBroker;
let peers: LocalPeers;
let simulator: PartnerApiSimulator;
let host: LocalHost;

/** Longer than the simulator's commit delay below: a late create is found before any second create. */
const SETTLE_MS = 5000;
const COMMIT_DELAY_MS = 3000;

beforeAll(async () => {
    peers = await startLocalPeers();
    ({ broker, simulator } = peers);
    host = await startApp(peers, {
        settings: {
            RETRY_MAX_DELAY_MS: '1000',
            PARTNER_API_SETTLE_MS: String(SETTLE_MS),
            DUPLICATE_CHECK_DELAY_MS: String(SETTLE_MS + 500),
        },
    });
});

afterAll(async () => {
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

/** Submits `key` with its first create's answer lost (the referral is created), then lets the API behave. */
async function submitWithLostAnswer(key: string, body: unknown, faults: Record<string, unknown> = {}) {
    simulator.admin.setFaults({ ...faults, rateLost: 1, methods: ['POST'] });
    expect(await post(key, body)).toBe(202);
    await waitFor(`the first POST of ${key}`, () => postsFor(key).length >= 1);
    simulator.admin.setFaults({ ...NO_FAULTS, ...faults });
}

/** POSTs a referral straight to the Partner API, as another system (not this app) would. */
async function createElsewhere(body: unknown) {
    const response = await fetch(simulator.url + REFERRALS_PATH, {
        method: 'POST',
        headers: { authorization: 'Bearer another-system', 'content-type': 'application/json' },
        body: JSON.stringify(body),
    });
    expect(response.status).toBe(200);
    return (await response.json()) as { id: string; engagementId: string };
}

it('a second key with an externalReferenceId another key holds is answered 409 naming that key, and never sent', async () => {
    const first = { ...independentReferral(), externalReferenceId: 'CRM-bound' };
    expect(await post('e2e-holder', first)).toBe(202);
    await waitForStatus(status, 'e2e-holder', 'Submitted');

    const second = independentReferral();
    second.externalReferenceId = 'CRM-bound';
    second.customerProfile.name = 'Second Customer Ltd';
    const response = await sendReferral(host, 'e2e-taker', second);
    expect(response.status).toBe(409);
    expect(response.headers.get('content-type')).toBe('application/problem+json');
    const text = await response.text();
    expect(text).toContain('e2e-holder');
    expect(text).not.toContain('CRM-bound');
    expect(text).not.toContain('Second Customer Ltd');
    expect(await status('e2e-taker')).toBeUndefined();
    // Keys and externalReferenceIds are case-sensitive: another case is another referral.
    expect(await post('e2e-case', { ...independentReferral(), externalReferenceId: 'crm-bound' })).toBe(202);
    await waitForStatus(status, 'e2e-case', 'Submitted');
    await queuesIdle(broker);
    expect(referralsFor('CRM-bound')).toHaveLength(1);
    expect(postsFor('e2e-taker')).toHaveLength(0);
});

it('a referral another system made with our externalReferenceId, our answer lost: no wrong adoption, ours is held', async () => {
    const elsewhere = seedReferral();
    elsewhere.externalReferenceId = 'CRM-shared';
    elsewhere.customerProfile.name = 'First Customer Ltd';
    const stranger = await createElsewhere(elsewhere);

    await submitWithLostAnswer('e2e-second', { ...seedReferral(), externalReferenceId: 'CRM-shared' });
    const held = await waitForStatus(status, 'e2e-second', 'Failed', 20_000);
    expect(held.error?.code).toBe('AmbiguousPartnerReferral');
    expect(held.partnerReferral).toBeNull();
    await queuesIdle(broker);
    // Nothing of the second customer went into the other referral's engagement.
    const engagement = simulator.admin.referrals().filter((r) => r.engagementId === stranger.engagementId);
    expect(engagement.map((r) => r.id)).toEqual([stranger.id]);
});

it('a create that commits after the client gave up is adopted, not made twice', async () => {
    simulator.admin.setFaults({ rateLateCommit: 1, commitDelayMs: COMMIT_DELAY_MS, methods: ['POST'] });
    expect(await post('e2e-late', independentReferral())).toBe(202);
    await waitFor('the first POST', () => postsFor('e2e-late').length >= 1);
    simulator.admin.setFaults({ ...NO_FAULTS });

    const done = await waitForStatus(status, 'e2e-late', 'Submitted', 20_000);
    await queuesIdle(broker);
    expect(postsFor('e2e-late')).toHaveLength(1);
    expect(referralsFor('e2e-late')).toHaveLength(1);
    expect(done.partnerReferral!.id).toBe(referralsFor('e2e-late')[0]!.id);
});

it.each(['refuse', 'ignore'] as const)(
    'with the externalReferenceId filter %sd, a lost answer still ends in exactly one referral',
    async (mode) => {
        const key = `e2e-filter-${mode}`;
        // A stranger in the same window, which a list ignoring the filter answers too.
        expect(await post(`${key}-stranger`, independentReferral())).toBe(202);
        await waitForStatus(status, `${key}-stranger`, 'Submitted');
        await submitWithLostAnswer(key, independentReferral(), { externalReferenceIdFilter: mode });

        const done = await waitForStatus(status, key, 'Submitted', 20_000);
        await queuesIdle(broker);
        expect(referralsFor(key)).toHaveLength(1);
        expect(done.partnerReferral!.id).toBe(referralsFor(key)[0]!.id);
    },
);

it('with MS-RequestId checked and deduplicated, the connect gets its own Microsoft-targeted referral', async () => {
    simulator.admin.setFaults({ validateRequestIds: true, dedupeOnRequestId: true });
    expect(await post('e2e-guid', seedReferral())).toBe(202);
    const done = await waitForStatus(status, 'e2e-guid', 'Connected', 20_000);
    await queuesIdle(broker);
    expect(done.connectedReferral!.id).not.toBe(done.partnerReferral!.id);
    const connected = simulator.admin.referrals().find((r) => r.id === done.connectedReferral!.id)!;
    expect(connected.target).toEqual([{ type: 'BusinessProfileLocation', id: 'msft' }]);
    // One create each, both answered (neither a 400 for a non-GUID id nor a deduplicated repeat).
    expect(postsFor('e2e-guid').map((p) => p.status)).toEqual([200, 200]);
});
