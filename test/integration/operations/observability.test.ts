/**
 * Observability without PII, on the local runtime (the app's index.ts in the local host, dev broker, Cosmos
 * emulator, Partner API simulator, real SDKs): referrals carrying recognisable customer data go through every path
 * (accepted, retried after a 503, Failed and replayed, connected, invalid, a key conflict dead-lettered), and none of
 * that data reaches any log line the host would forward to Application Insights (app events and the host's own
 * invocation and exception lines), any HTTP answer, or the replay tool's output. Failed invocations are logged with
 * their error's message and stack, as the Functions host does in Azure, so every handler's thrown errors are checked
 * too, with canary values in the places a message could echo (body, messageId). The same run checks that the log
 * lines carry what operators need, and that the correlation id flows from the HTTP request (x-correlation-id, or a
 * new one) through both queues into MS-CorrelationId at the Partner API.
 */

import type { Container, CosmosClient } from '@azure/cosmos';
import { ServiceBusClient } from '@azure/service-bus';

import { type CosmosEmulator, localCosmosClient } from '../../../local/cosmos/emulator';
import type { LocalHost } from '../../../local/host/localHost';
import { NO_FAULTS, type PartnerApiSimulator } from '../../../local/partner-api-simulator';
import type { DevBroker } from '../../../local/servicebus/broker';
import { type ReplayArguments, runReplayCommand } from '../../../scripts/replay';
import { referralMessage } from '../../../shared/messaging/messages';
import type { ReplayDependencies } from '../../../shared/operations/replay';
import { cosmosFailedRecords, serviceBusDeadLetterQueue } from '../../../shared/operations/replaySources';
import { partnerCorrelationId } from '../../../shared/partnerApi/requestIds';
import { CONNECTIONS_QUEUE, COSMOS_CONTAINER, COSMOS_DATABASE, REFERRALS_QUEUE } from '../../../shared/platform/names';
import type { ReferralStatusDocument } from '../../../shared/referral/statusDocument';
import { CosmosReferralStore } from '../../../shared/referral/store';
import { type LocalPeers, startApp, startLocalPeers } from '../../support/localRuntime';
import { expectNoPii, PII, referralWithPii } from '../../support/referrals';
import { createsFor } from '../../support/simulatorRequests';
import { waitFor, waitForStatus } from '../../support/waitFor';

let peers: LocalPeers;
let broker: DevBroker;
let cosmos: CosmosEmulator;
let simulator: PartnerApiSimulator;
let host: LocalHost;
let serviceBus: ServiceBusClient;
let cosmosClient: CosmosClient;
let container: Container;
/** Everything the host logged: app events (context.log) and its own invocation/exception lines. */
const hostLines: string[] = [];
/** Every HTTP answer body and the replay tool's output. */
const otherOutput: string[] = [];

beforeAll(async () => {
    peers = await startLocalPeers();
    ({ broker, cosmos, simulator } = peers);
    host = await startApp(peers, {
        // A 3.6 s retry window: room for the 1 s Retry-After retry below on a loaded machine, yet a Failed referral
        // within seconds when the API stays down.
        settings: { SUBMIT_RETRY_WINDOW_HOURS: '0.001', RETRY_MAX_DELAY_MS: '200' },
        logSink: (level, line) => hostLines.push(`${level} ${line}`),
    });
    serviceBus = new ServiceBusClient(broker.connectionString);
    cosmosClient = localCosmosClient(cosmos.endpoint);
    container = cosmosClient.database(COSMOS_DATABASE).container(COSMOS_CONTAINER);
});

afterAll(async () => {
    await host?.close();
    await serviceBus?.close();
    cosmosClient?.dispose();
    await peers?.close();
});

afterEach(() => simulator.admin.setFaults({ ...NO_FAULTS }));

async function post(key: string, body: unknown, headers: Record<string, string> = {}) {
    const response = await fetch(`${host.url}/api/referrals`, {
        method: 'POST',
        headers: {
            'content-type': 'application/json',
            'x-functions-key': host.functionKey,
            'idempotency-key': key,
            ...headers,
        },
        body: JSON.stringify(body),
    });
    otherOutput.push(await response.clone().text());
    return response;
}

async function status(key: string): Promise<ReferralStatusDocument | undefined> {
    const response = await fetch(`${host.url}/api/referrals/${key}`, {
        headers: { 'x-functions-key': host.functionKey },
    });
    const text = await response.text();
    otherOutput.push(text);
    return response.status === 200 ? (JSON.parse(text) as ReferralStatusDocument) : undefined;
}

const postsFor = (key: string) => createsFor(simulator.admin.requests(), key);
const events = (name: string) =>
    hostLines
        .map((line) => /(\{"event":.*\})$/.exec(line)?.[1])
        .filter((json): json is string => json !== undefined)
        .map((json) => JSON.parse(json) as Record<string, unknown>)
        .filter((event) => event.event === name);

function replayDeps(): ReplayDependencies {
    return {
        store: new CosmosReferralStore(
            () => container,
            () => -1,
        ),
        failed: cosmosFailedRecords(() => container),
        deadLetters: [REFERRALS_QUEUE, CONNECTIONS_QUEUE].map((queue) => serviceBusDeadLetterQueue(serviceBus, queue)),
        referralsQueue: { send: (message) => serviceBus.createSender(REFERRALS_QUEUE).sendMessages(message) },
        connectionsQueue: { send: (message) => serviceBus.createSender(CONNECTIONS_QUEUE).sendMessages(message) },
        now: () => new Date(),
        resendAfterMs: 60_000,
    };
}

async function replayCommand(args: Partial<ReplayArguments>) {
    const lines: string[] = [];
    const full: ReplayArguments = { command: 'run', keys: [], all: false, dryRun: false, local: false, ...args };
    await runReplayCommand(full, replayDeps(), { out: (line) => lines.push(line) });
    otherOutput.push(...lines);
    return lines;
}

describe('correlation id', () => {
    it('flows from x-correlation-id through both queues into MS-CorrelationId, after a retry too', async () => {
        simulator.admin.setFaults({ rate5xx: 1, serverErrorStatuses: [503], retryAfterSeconds: 1 });
        const response = await post('pii-shared', referralWithPii(), { 'x-correlation-id': 'corr-pii-shared' });
        expect(response.status).toBe(202);
        expect(response.headers.get('x-correlation-id')).toBe('corr-pii-shared');
        await waitFor('the first POST', () => postsFor('pii-shared').length >= 1);
        simulator.admin.setFaults({ ...NO_FAULTS });

        await waitForStatus(status, 'pii-shared', 'Connected');
        const posts = postsFor('pii-shared');
        expect(posts.map((p) => p.status)).toEqual([503, 200, 200]); // submit (retried), then connect
        expect(new Set(posts.map((p) => p.correlationId))).toEqual(new Set([partnerCorrelationId('corr-pii-shared')]));
    });

    it('is a new UUID when the caller sends none, the same one on every Partner API call', async () => {
        const response = await post('pii-nocorr', referralWithPii());
        const generated = response.headers.get('x-correlation-id');
        expect(generated).toMatch(/^[0-9a-f-]{36}$/);
        await waitForStatus(status, 'pii-nocorr', 'Connected');
        expect(postsFor('pii-nocorr').map((p) => p.correlationId)).toEqual([generated, generated]);
    });

    it("is the message's correlationId for an upstream publisher", async () => {
        await serviceBus
            .createSender(REFERRALS_QUEUE)
            .sendMessages(referralMessage({ key: 'pii-published', body: referralWithPii(), correlationId: 'corr-up' }));
        await waitForStatus(status, 'pii-published', 'Connected');
        // Not a GUID: sent as its stable UUIDv5, as MS-CorrelationId is documented to be a GUID.
        const mapped = partnerCorrelationId('corr-up');
        expect(postsFor('pii-published').map((p) => p.correlationId)).toEqual([mapped, mapped]);
    });
});

describe('no customer data in logs, answers or tools', () => {
    it('covers the Failed-and-replayed, invalid and key-conflict paths as well', async () => {
        // Failed (the API is down for every attempt of the window), shown by the status document, then replayed.
        simulator.admin.setFaults({ rate5xx: 1, serverErrorStatuses: [500] });
        await post('pii-failed', referralWithPii(), { 'x-correlation-id': 'corr-pii-failed' });
        await waitForStatus(status, 'pii-failed', 'Failed');
        simulator.admin.setFaults({ ...NO_FAULTS });
        await replayCommand({ keys: ['pii-failed'] });
        await waitForStatus(status, 'pii-failed', 'Connected');

        // Invalid: a 400 that names paths, not values.
        const invalid = referralWithPii();
        invalid.customerProfile.team[0].email = `${PII.email} not an address`;
        invalid.customerProfile.name = PII.customerName.repeat(20);
        const rejected = await post('pii-invalid', invalid);
        expect(rejected.status).toBe(400);

        // The same key with another body, straight on the queue: the worker refuses it on every delivery until it is
        // dead-lettered; the host logs each failure with its error.
        const conflicting = referralWithPii();
        conflicting.details.notes = `${PII.notes} (changed)`;
        await serviceBus.createSender(REFERRALS_QUEUE).sendMessages({
            ...referralMessage({ key: 'pii-shared', body: conflicting, correlationId: 'corr-conflict' }),
            // A messageId of its own: the queue would drop a second 'pii-shared' as a duplicate.
            messageId: 'pii-shared:conflict',
        });
        await waitFor(
            'the conflicting message to be dead-lettered',
            () => broker.stats()[REFERRALS_QUEUE]!.deadLettered === 1,
        );
        const listed = await replayCommand({ command: 'list' });
        expect(listed.join('\n')).toMatch(/pii-shared .* cannot replay: the key belongs to a different referral/);
    });

    it("keeps every failed invocation's error message free of the submitted values", async () => {
        // Messages no handler can process, carrying customer data where an error message could quote it: the body
        // (not JSON) and the messageId (not a usable key). Each fails on every delivery until it is dead-lettered.
        const unusable = (queue: string, canary: string) =>
            serviceBus.createSender(queue).sendMessages({
                messageId: canary,
                body: `not json: ${PII.notes} ${PII.customerName}`,
                contentType: 'text/plain',
            });
        const deadLettered = (queue: string) => broker.stats()[queue]!.deadLettered;
        const before = { referrals: deadLettered(REFERRALS_QUEUE), connections: deadLettered(CONNECTIONS_QUEUE) };
        await unusable(REFERRALS_QUEUE, PII.email);
        await unusable(CONNECTIONS_QUEUE, PII.phone);
        await waitFor(
            'both unusable messages to be dead-lettered',
            () =>
                deadLettered(REFERRALS_QUEUE) > before.referrals &&
                deadLettered(CONNECTIONS_QUEUE) > before.connections,
        );

        const failures = hostLines.filter((line) => line.includes('Exception while executing function: Functions.'));
        const failedFunctions = new Set(failures.map((line) => /Functions\.(\w+)\./.exec(line)?.[1]));
        expect(failedFunctions).toEqual(new Set(['submitReferral', 'connectReferral']));
        for (const line of failures) {
            expect(line).toMatch(/Result: Failure\nException: .+\nStack: /);
            expectNoPii(line);
        }
    });

    it('lets no recognisable customer value reach any host log line, HTTP answer or tool output', () => {
        // Not vacuous: the run logged plenty, on every path.
        expect(hostLines.length).toBeGreaterThan(50);
        expect(hostLines.some((l) => /Executed 'Functions\.submitReferral' \(Failed/.test(l))).toBe(true);
        expect(events('referral.invalid')).toHaveLength(1);
        expect(events('submit.failed').length).toBeGreaterThan(0);
        for (const text of [...hostLines, ...otherOutput]) expectNoPii(text);
        // Nor any other string of the submitted referral (addresses, titles, ids, ...) of four characters or more.
        const submitted = new Set<string>();
        const collect = (node: unknown): void => {
            if (typeof node === 'string' && node.length >= 8) submitted.add(node);
            else if (node && typeof node === 'object') Object.values(node).forEach(collect);
        };
        collect(referralWithPii());
        const everything = [...hostLines, ...otherOutput].join('\n');
        expect([...submitted].filter((value) => everything.includes(value))).toEqual([]);
    });

    it('logs what operators need: key, correlation id, transition, Partner API ids, attempt and duration', () => {
        const created = events('submit.created').find((e) => e.referralKey === 'pii-shared');
        expect(created).toMatchObject({
            referralKey: 'pii-shared',
            correlationId: 'corr-pii-shared',
            partnerReferralId: expect.any(String),
            engagementId: expect.any(String),
            durationMs: expect.any(Number),
        });
        expect(events('submit.attempt').find((e) => e.referralKey === 'pii-shared' && e.attempt === 2)).toMatchObject({
            from: 'Submitting',
            to: 'Submitting',
        });
        expect(events('referral.transition').filter((e) => e.referralKey === 'pii-shared')).toEqual(
            expect.arrayContaining([
                expect.objectContaining({ from: 'Submitting', to: 'Submitted' }),
                expect.objectContaining({ from: 'Connecting', to: 'Connected' }),
            ]),
        );
        expect(events('connect.created').find((e) => e.referralKey === 'pii-shared')).toMatchObject({
            correlationId: 'corr-pii-shared',
            engagementId: created!.engagementId,
        });
    });
});
