/**
 * Self-healing, end to end on the local runtime: a copy that slipped through the steps is reported by the later
 * duplicate check and closed by the operator's command.
 *
 * The copy is a real one, made by the pipeline: the simulator commits the first create after the client gave up
 * (`rateLateCommit`, later than PARTNER_API_SETTLE_MS), so the settled lookup finds nothing and the step creates
 * again; the late original lands after. The check (DUPLICATE_CHECK_DELAY_MS later) lists the externalReferenceId,
 * reports the copy on the record and logs `duplicateCheck.found`; `npm run duplicates -- close` (run in process, its
 * production collaborators pointed at the local peers) closes it at the simulator as Closed/Lost, reason
 * "Duplicate", and `list` then shows it closed. The referral the record keeps is never touched.
 */
import type { Container, CosmosClient } from '@azure/cosmos';

import { localCosmosClient } from '../../local/cosmos/emulator';
import type { LocalHost } from '../../local/host/localHost';
import { NO_FAULTS, type PartnerApiSimulator } from '../../local/partner-api-simulator';
import { parseArguments, runDuplicatesCommand } from '../../scripts/duplicates';
import { cosmosKeysWithDuplicates, type DuplicatesDependencies } from '../../shared/operations/duplicates';
import { NoTokenProvider, PartnerApiClient } from '../../shared/partnerApi';
import { COSMOS_CONTAINER, COSMOS_DATABASE } from '../../shared/platform/names';
import { CosmosReferralStore } from '../../shared/referral/store';
import {
    type LocalPeers,
    postReferral,
    queuesIdle,
    referralStatus,
    startApp,
    startLocalPeers,
} from '../support/localRuntime';
import { independentReferral } from '../support/referrals';
import { createsFor } from '../support/simulatorRequests';
import { waitFor, waitForStatus } from '../support/waitFor';

jest.setTimeout(60_000);

let peers: LocalPeers;
let simulator: PartnerApiSimulator;
let host: LocalHost;
let cosmosClient: CosmosClient;
let container: Container;
let client: PartnerApiClient;
let deps: DuplicatesDependencies;
const hostLines: string[] = [];

/** Longer than the client's 2 s timeout plus a retry's settled lookup: the original lands after the second create. */
const COMMIT_DELAY_MS = 4000;

beforeAll(async () => {
    peers = await startLocalPeers();
    ({ simulator } = peers);
    host = await startApp(peers, {
        // The check after the late original has landed.
        settings: { DUPLICATE_CHECK_DELAY_MS: '6000' },
        logSink: (level, line) => hostLines.push(`${level} ${line}`),
    });
    cosmosClient = localCosmosClient(peers.cosmos.endpoint);
    container = cosmosClient.database(COSMOS_DATABASE).container(COSMOS_CONTAINER);
    client = new PartnerApiClient({ baseUrl: simulator.url, tokenProvider: new NoTokenProvider() });
    deps = {
        store: new CosmosReferralStore(
            () => container,
            () => -1,
        ),
        keysWithDuplicates: cosmosKeysWithDuplicates(() => container),
        partnerApi: {
            getReferral: (id, context) => client.getReferral(id, context),
            patchReferral: (id, patch, eTag, context) => client.patchReferral(id, patch, eTag, context),
        },
        now: () => new Date(),
    };
});

afterAll(async () => {
    await client?.close();
    cosmosClient?.dispose();
    await host?.close();
    await peers?.close();
});

/** Runs `npm run duplicates -- <argv>` in process: its exit code and output lines. */
async function duplicatesCommand(argv: string[], answer = false) {
    const lines: string[] = [];
    const questions: string[] = [];
    const code = await runDuplicatesCommand(parseArguments(argv), deps, {
        out: (line) => lines.push(line),
        confirm: (question) => {
            questions.push(question);
            return Promise.resolve(answer);
        },
    });
    return { code, lines, questions };
}

it('a late-committed copy is reported on the record and alerted, then closed by the operator as Closed/Lost', async () => {
    const key = 'e2e-dup';
    simulator.admin.setFaults({ rateLateCommit: 1, commitDelayMs: COMMIT_DELAY_MS, methods: ['POST'] });
    expect(await postReferral(host, key, independentReferral())).toBe(202);
    await waitFor('the first POST', () => createsFor(simulator.admin.requests(), key).length >= 1);
    simulator.admin.setFaults({ ...NO_FAULTS });

    const status = (k: string) => referralStatus(host, k);
    const done = await waitForStatus(status, key, 'Submitted', 20_000);
    // The pipeline really made two: the recorded one and the late original.
    await waitFor(
        'the late original',
        () => simulator.admin.referrals().filter((r) => r.externalReferenceId === key).length === 2,
    );
    const kept = done.partnerReferral!.id;
    const copy = simulator.admin.referrals().find((r) => r.externalReferenceId === key && r.id !== kept)!;

    const reported = await waitFor('the duplicate check', async () => {
        const document = await status(key);
        return document?.duplicates.length ? document : undefined;
    });
    expect(reported.duplicates).toEqual([
        {
            id: copy.id,
            engagementId: copy.engagementId,
            of: 'partnerReferral',
            foundAt: expect.any(String) as string,
            status: 'Open',
            closedAt: null,
        },
    ]);
    expect(reported.partnerReferral!.id).toBe(kept);
    const alerts = hostLines.filter((line) => line.includes('"event":"duplicateCheck.found"'));
    expect(alerts).toHaveLength(1);
    expect(alerts[0]).toMatch(/^error /);
    expect(alerts[0]).toContain(copy.id);

    // Declined at the prompt: nothing changes.
    const declined = await duplicatesCommand(['close', '--key', key]);
    expect(declined.code).toBe(1);
    expect(declined.questions).toHaveLength(1);
    expect(simulator.admin.referrals().find((r) => r.id === copy.id)!.status).not.toBe('Closed');
    // The kept referral is refused, whatever the operator names.
    expect((await duplicatesCommand(['close', '--key', key, '--referral', kept, '--yes'])).code).toBe(2);

    const closed = await duplicatesCommand(['close', '--key', key], true);
    expect(closed.code).toBe(0);
    const atPartnerCenter = simulator.admin.referrals().find((r) => r.id === copy.id)!;
    expect(atPartnerCenter).toMatchObject({ status: 'Closed', substatus: 'Lost', statusReason: 'Duplicate' });
    expect(simulator.admin.referrals().find((r) => r.id === kept)!.status).not.toBe('Closed');

    const list = await duplicatesCommand(['list']);
    expect(list.code).toBe(0);
    const row = list.lines.find((line) => line.includes(copy.id))!;
    expect(row).toContain(key);
    expect(row).toMatch(/ Closed found /);
    expect((await status(key))!.duplicates[0]).toMatchObject({ id: copy.id, status: 'Closed' });

    // Closing again: nothing left open.
    expect((await duplicatesCommand(['close', '--key', key, '--yes'])).code).toBe(2);
    await queuesIdle(peers.broker);
    // A re-run of the check adds nothing (one alert, one duplicate).
    expect(hostLines.filter((line) => line.includes('"event":"duplicateCheck.found"'))).toHaveLength(1);
});

it('a referral without a copy is checked and reports none', async () => {
    const key = 'e2e-single';
    expect(await postReferral(host, key, independentReferral())).toBe(202);
    await waitForStatus((k) => referralStatus(host, k), key, 'Submitted');
    await waitFor('the clean check', () =>
        hostLines.some((line) => line.includes('"event":"duplicateCheck.clean"') && line.includes(key)),
    );
    expect((await referralStatus(host, key))!.duplicates).toEqual([]);
});
