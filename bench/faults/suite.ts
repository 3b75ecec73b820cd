/**
 * The reliability suite: the local runtime in its own processes (emulators; a host that is SIGKILLed and restarted
 * mid-run; from the start of the load a second host beside it, competing for every queue's messages and running the
 * timers too, drained with SIGTERM at 3/8 of the run and started again at 5/8), N referrals and their updates through
 * it while the Partner API simulator injects seeded faults and behaves as real services do, then the invariants:
 *
 * 1. every accepted key reached its terminal status (Submitted / Connected; Rejected only for invalid input or a
 *    colliding externalReferenceId, of which exactly one key per value reaches Partner Center);
 * 2. the Partner API holds exactly one referral per key, and one connected referral (msft target, same
 *    engagementId) per Shared key: zero lost, zero duplicates, nothing stray;
 * 3. zero wrong adoptions: each record names the referral made from its own body; and no customer's data in another
 *    customer's engagement;
 * 4. each update (PATCH /api/referrals/{id} or `referral-updates`, some repeated) settled, and applied exactly once:
 *    the seller added once, the last deal value and the close kept;
 * 5. no retry came before the Retry-After of the 429 (or 503) its operation got;
 * 6. the dead-letter queues are empty, or each entry is explained;
 * 7. a hostile-input corpus gets only 4xx answers, enqueues nothing, and no submitted value shows up in answers or in
 *    the host's logs;
 * 8. every record ends with Partner Center's state, one history entry per change, while Microsoft's seller and the
 *    Partner Center UI accept, decline and close a share of the referrals and their webhooks are dropped, delivered
 *    twice or held back (microsoft.ts); the host reconciles every 10 s;
 * 9. every change a record shows (lifecycle outcome, settled update, Partner Center change) has exactly one outcome
 *    event id at the local Event Grid topic, published at least once, with none missing and none left pending, and
 *    no event carries customer data (events.ts), though the topic refuses publishes for a while and the host is
 *    SIGKILLed.
 *
 * The Partner API (issues 12, 14, 17): 429 / 503 / hung requests / lost answers / creates that commit after the
 * client's deadline on POST and PATCH, edits made concurrently at Partner Center (412 on the app's If-Match), lists
 * that lag behind writes, a `$filter` on externalReferenceId honoured, ignored or refused in turn, string filters
 * that ignore case, MS-RequestId checked as a GUID and deduplicated on, and a token-bucket rate limit per tenant.
 * Cosmos DB and Service Bus fail too: throughout the load, seeded bursts of Cosmos DB 429s (with
 * `x-ms-retry-after-ms`) and 503s, refused Service Bus sends and locks lost mid-step; and, one after the other, an
 * outage of each (every Cosmos DB request answered 503; every Service Bus send refused) lasting `outageMs`; and from
 * the end of the Cosmos DB outage, as the pipeline catches up, the Event Grid topic refuses every publish as long.
 *
 * Used by `npm run test:faults` (bench/faults/cli.ts, the full run) and by test/faults (a reduced run in npm test).
 * `logFile` keeps the host's log of a run, and the simulator's request log beside it, to investigate a violation.
 */
import { randomBytes } from 'node:crypto';
import { createWriteStream, writeFileSync, type WriteStream } from 'node:fs';
import { Agent } from 'node:https';

import { CosmosClient } from '@azure/cosmos';
import { ServiceBusClient, type ServiceBusMessage, type ServiceBusSender } from '@azure/service-bus';

import { COSMOS_EMULATOR_KEY } from '../../local/cosmos/constants';
import { type CosmosFaults, readCosmosFaults, setCosmosFaults } from '../../local/cosmos/faults';
import type { PublishedEvent } from '../../local/eventgrid/topic';
import { DEFAULT_LOCAL_FUNCTION_KEY } from '../../local/host/auth';
import {
    EXTERNAL_REFERENCE_ID_FILTER_MODES,
    type ExternalReferenceIdFilter,
    MAX_LOG_ENTRIES,
    REFERRALS_PATH,
    type RequestLogEntry,
    type SimulatorFaults,
    type StoredReferral,
} from '../../local/partner-api-simulator';
import { registerLocalWebhook } from '../../local/runtime/webhookRegistration';
import type { BrokerFaults } from '../../local/servicebus/faults';
import type { DeadLetterEntry, QueueStats } from '../../local/servicebus/queueReports';
import {
    CONNECTIONS_QUEUE,
    CONTRACT_VERSION,
    CONTRACT_VERSION_PROPERTY,
    COSMOS_CONTAINER,
    COSMOS_DATABASE,
    PARTNER_CENTER_EVENTS_QUEUE,
    REFERRALS_QUEUE,
    UPDATES_QUEUE,
} from '../../shared/platform/names';
import type { ReferralRecord } from '../../shared/referral/record';
import {
    getJson,
    LocalRuntime,
    projectRoot,
    putJson,
    type RuntimeScripts,
    SECOND_HOST_PREFIX,
    sleep,
    type StopOutcome,
} from '../support/runtime';
import { outcomeEventsCheck } from './events';
import { hostileCorpus } from './hostile';
import {
    adoptionCheck,
    type Check,
    engagementIsolationCheck,
    exactlyOnceCheck,
    expectedStatus,
    IN_USE,
    lostCollision,
    partnerCenterStateCheck,
    type PartnerView,
    SETTLED_UPDATE,
    updatesCheck,
} from './invariants';
import { type LoadClient, postReferral, sendUpdates } from './load';
import {
    actAsMicrosoft,
    overtakenDeliveries,
    partnerCenterUnsettled,
    planMicrosoftChanges,
    SUITE_WEBHOOK_FAULTS,
    type WebhookState,
} from './microsoft';
import { plan, type Planned, seedBody } from './plan';

export type { Check } from './invariants';

export interface FaultSuiteOptions {
    scripts: RuntimeScripts;
    /** Valid referrals (half Shared). */
    referrals: number;
    /** SIGKILLs of the host, spread over the run; a new host is started after each. */
    hostKills: number;
    /**
     * A second host process from the start of the load (clients still POST to the first): drained with SIGTERM at
     * 3/8 of the run, started again at 5/8, drained before the checks. Default true.
     */
    secondHost?: boolean;
    /** Simulator fault seed. */
    seed?: number;
    /** How long the referrals may take to reach their terminal status. */
    deadlineMs?: number;
    /** STEP_LEASE_MS for the host; undefined: the app's default (2 x timeout + 30 s). */
    leaseMs?: number;
    /** SERVICEBUS_LOCK_DURATION_MS for the broker; undefined: Azure's one minute. */
    lockDurationMs?: number;
    /** Parallel HTTP requests of the load. */
    concurrency?: number;
    /**
     * How long each dependency outage lasts (Cosmos DB, then Service Bus; Event Grid refusing publishes from the end
     * of the Cosmos DB outage); 0: none. Default 3 minutes.
     */
    outageMs?: number;
    /** The simulator's token-bucket rate limit (calls per second per tenant); 0: none. Default 10. */
    rateLimitPerSecond?: number;
    /** A file the host's log is written to as it comes (kept after the run); undefined: kept in memory only. */
    logFile?: string;
    progress?: (line: string) => void;
}

export interface FaultSuiteResult {
    ok: boolean;
    checks: Check[];
    violations: string[];
    figures: Record<string, number | string>;
    deadLetters: string[];
    /** Where the host's log was written, when `logFile` was given. */
    logFile?: string;
}

/**
 * The random faults of issue 12/14 on creates and updates: 2% 429 with Retry-After, 5% 503, 2% hung, 2% lost
 * answers, 2% committed after the client's deadline (PARTNER_API_TIMEOUT_MS 2 s), 5% concurrent edits (a PATCH's
 * If-Match answered 412); and the real services' behaviours: a list lagging 1 s behind writes, string filters that
 * ignore case, MS-RequestId checked and deduplicated on, a token bucket of 5 calls. The externalReferenceId filter
 * changes during the run (FILTER_MODE_PERIOD_MS) and the bucket's rate comes from the options.
 */
export const SUITE_FAULTS: Partial<SimulatorFaults> = {
    // Most 429s come from the token bucket below, as they would from the tenant's limit. A random one stands for
    // the partner's other clients spending the same limit; each pauses every call of the tenant for its Retry-After
    // (the gate, issue 17), so at 10% (the rate before the bucket) one POST in ten cost the whole app a second, and
    // a full run called the Partner API at 4 calls/s against a limit of 10.
    rate429: 0.02,
    retryAfterSeconds: 1,
    rate5xx: 0.05,
    serverErrorStatuses: [503],
    rateHang: 0.02,
    rateLost: 0.02,
    rateLateCommit: 0.02,
    commitDelayMs: 3000,
    rateConcurrentEdit: 0.05,
    methods: ['POST', 'PATCH'],
    latencyMs: 0,
    listLagMs: 1000,
    filterIgnoresCase: true,
    validateRequestIds: true,
    dedupeOnRequestId: true,
    // Bursts of at most 5 calls: the load's first seconds (16 clients at once) meet the limit whatever its rate.
    rateLimitBurst: 5,
};

/** The externalReferenceId `$filter` is honoured, ignored, then refused, in turn, this long each. */
const FILTER_MODE_PERIOD_MS = 5000;

/** Faults of the local Cosmos DB and Service Bus throughout the load (their outages come on top). */
export const SUITE_COSMOS_FAULTS: Partial<CosmosFaults> = { rate429: 0.05, retryAfterMs: 200, rate503: 0.01 };
export const SUITE_BROKER_FAULTS: Partial<BrokerFaults> = {
    rateSendFailure: 0.02,
    rateLockLoss: 0.01,
    lockLossAfterMs: 300,
};

/** App settings of the host under test: short timeouts and delays so a run takes minutes, not hours. */
export function suiteHostEnv(leaseMs: number | undefined): Record<string, string> {
    return {
        PARTNER_API_TIMEOUT_MS: '2000',
        RETRY_BASE_DELAY_MS: '200',
        RETRY_MAX_DELAY_MS: '5000',
        // Counted from when the uncertain create was given up on: beyond a late commit (3 s after the request
        // arrived) plus the list's lag (1 s), so a late create is found, never created twice.
        PARTNER_API_SETTLE_MS: '8000',
        // The outbox's sweep every 5 s: referrals kept Queued through a Service Bus outage go on soon after it.
        INTAKE_RESEND_AFTER_MS: '5000',
        INTAKE_SWEEP_SCHEDULE: '*/5 * * * * *',
        // Reconciliation every 10 s: the webhooks the suite drops are picked up within the run.
        PARTNER_CENTER_RECONCILE_SCHEDULE: '*/10 * * * * *',
        // A host killed mid-run keeps other runs off for a lease: 30 s here, not 10 minutes.
        PARTNER_CENTER_RECONCILE_LEASE_MS: '30000',
        // Events left unpublished (the topic refusing, a SIGKILLed host) are swept up 3 s after their change.
        EVENT_RESEND_AFTER_MS: '3000',
        EVENT_SWEEP_SCHEDULE: '*/5 * * * * *',
        ...(leaseMs === undefined ? {} : { STEP_LEASE_MS: String(leaseMs) }),
    };
}

/**
 * Where in the run's progress the second host is drained, then started again: never at a SIGKILL (k / (kills + 1))
 * for 1-6 kills.
 */
const SECOND_HOST_DRAIN_AT = 3 / 8;
const SECOND_HOST_RESTART_AT = 5 / 8;

const EVENTS_PENDING = 'SELECT c.id FROM c WHERE IS_DEFINED(c.pendingEvents) AND ARRAY_LENGTH(c.pendingEvents) > 0';

const TERMINAL = new Set(['Submitted', 'Connected', 'Rejected', 'Failed']);

/**
 * What the poller keeps of each record: its status, error code, its updates' statuses (not their patches) and its
 * referrals' ids (for Microsoft's actions).
 */
interface Progress {
    status: string;
    errorCode?: string;
    updates: Map<string, string>;
    partnerId?: string;
    connectedId?: string;
}

function isDone(p: Planned, progress: Progress | undefined): boolean {
    const status = progress?.status;
    if (status === undefined || !TERMINAL.has(status)) return false;
    if (p.type === 'Shared' && !p.invalid && status === 'Submitted') return false;
    return (p.updates?.updates ?? []).every((u) => SETTLED_UPDATE.has(progress!.updates.get(u.key) ?? 'missing'));
}

async function pool<T>(items: T[], concurrency: number, work: (item: T) => Promise<void>): Promise<void> {
    let next = 0;
    const runners = Array.from({ length: Math.min(concurrency, items.length) }, async () => {
        while (next < items.length) await work(items[next++]!);
    });
    await Promise.all(runners);
}

function count<T>(items: T[], predicate: (item: T) => boolean): number {
    return items.reduce((n, item) => n + (predicate(item) ? 1 : 0), 0);
}

/**
 * The requests one client-side retry sequence made: a create's by its MS-RequestId; a referral's reads and updates by
 * its path and the operation's MS-CorrelationId (a step's, an update's or a webhook event's, kept by its retries). A
 * Retry-After answers the request that got it: another operation's request, already sent when the 429 came (a 4 ms
 * race in the run of 2026-12-01) or sent by the other host's gate, is not a retry of it. Spacing the tenant's calls
 * across hosts is the gates' ceiling share (PARTNER_API_INSTANCE_COUNT), not this check.
 */
function retrySequenceOf(entry: RequestLogEntry): string | undefined {
    if (entry.method === 'POST') return entry.requestId && `POST ${entry.requestId}`;
    const path = entry.path.split('?')[0]!;
    return path.length > REFERRALS_PATH.length + 1
        ? `item ${path.toLowerCase()} ${entry.correlationId ?? ''}`
        : undefined;
}

/** Starts a host process, trying again (up to 5 times, 500 ms apart) while a port or a peer is not ready yet. */
async function withRetries<T>(start: () => Promise<T>): Promise<T> {
    for (let tries = 1; ; tries++) {
        try {
            return await start();
        } catch (error) {
            if (tries >= 5) throw error;
            await sleep(500);
        }
    }
}

/** Where the simulator's request log of a run goes, beside the host's log file. */
export function requestLogFileOf(logFile: string): string {
    return `${logFile}.partner-api-requests.json`;
}

/** A sender that retries while Service Bus refuses sends (until `pastDeadline`). */
function sendUntilAccepted(sender: ServiceBusSender, pastDeadline: () => boolean) {
    return async (message: ServiceBusMessage): Promise<void> => {
        for (;;) {
            try {
                return await sender.sendMessages(message);
            } catch (error) {
                if (pastDeadline()) throw error;
                await sleep(500);
            }
        }
    };
}

export async function runFaultSuite(options: FaultSuiteOptions): Promise<FaultSuiteResult> {
    const say = options.progress ?? (() => undefined);
    const started = Date.now();
    const runId = `fs${randomBytes(3).toString('hex')}`;
    const canary = `PiiCanary${randomBytes(4).toString('hex')}`;
    const root = projectRoot();
    const seed = seedBody(root);
    const planned = plan(options.referrals, runId, canary, seed);
    const byKey = new Map(planned.map((p) => [p.key, p]));
    const violations: string[] = [];
    const checks: Check[] = [];
    const figures: Record<string, number | string> = {};
    const deadLetters: string[] = [];
    const secondHost = options.secondHost ?? true;
    let hostLog = '';
    const logFile: WriteStream | undefined = options.logFile ? createWriteStream(options.logFile) : undefined;
    const runtime = new LocalRuntime({
        scripts: options.scripts,
        emulatorsEnv: {
            SIM_SEED: String(options.seed ?? 20_251),
            ...(options.lockDurationMs === undefined
                ? {}
                : { SERVICEBUS_LOCK_DURATION_MS: String(options.lockDurationMs) }),
        },
        hostEnv: suiteHostEnv(options.leaseMs),
        onHostOutput: (text) => {
            hostLog += text;
            logFile?.write(text);
        },
    });
    let busClient: ServiceBusClient | undefined;
    let cosmos: CosmosClient | undefined;
    const kills: number[] = [];
    const drains: { atMs: number; tookMs: number; outcome: StopOutcome | undefined }[] = [];
    let secondHostStarts = 0;
    const drainSecondHost = async (why: string) => {
        const atMs = Date.now() - started;
        const outcome = await runtime.drainSecondHost();
        const tookMs = Date.now() - started - atMs;
        drains.push({ atMs, tookMs, outcome });
        const how = outcome?.forced ? 'SIGKILLed after 10 s' : `exit code ${outcome?.exitCode}`;
        say(`second host drained (SIGTERM) ${why} at ${(atMs / 1000).toFixed(1)} s: ${how} after ${tookMs} ms`);
    };
    const startSecondHost = async () => {
        await withRetries(() => runtime.startSecondHost());
        secondHostStarts++;
        say(`second host started at ${((Date.now() - started) / 1000).toFixed(1)} s: ${runtime.secondHostUrl}`);
    };
    try {
        await runtime.startEmulators();
        const sim = runtime.simulatorUrl;
        const rateLimitPerSecond = options.rateLimitPerSecond ?? 10;
        await putJson(`${sim}/_admin/faults`, { ...SUITE_FAULTS, rateLimitPerSecond, seed: options.seed ?? 20_251 });
        const faults = await getJson<SimulatorFaults>(`${sim}/_admin/faults`);
        await runtime.startHost();
        // As `npm start` does: the simulator delivers Microsoft's changes to the host (faulted, see microsoft.ts).
        await registerLocalWebhook(sim, runtime.hostUrl, DEFAULT_LOCAL_FUNCTION_KEY);
        await putJson(`${sim}/_admin/webhooks`, { ...SUITE_WEBHOOK_FAULTS, seed: options.seed ?? 20_251 });
        say(`runtime up: host ${runtime.hostUrl}, simulator ${sim}, broker admin ${runtime.brokerAdminUrl}`);
        cosmos = new CosmosClient({
            endpoint: runtime.endpoints.cosmosEndpoint!,
            key: COSMOS_EMULATOR_KEY,
            connectionPolicy: { enableEndpointDiscovery: false },
            agent: new Agent({ rejectUnauthorized: false }),
        });
        const container = cosmos.database(COSMOS_DATABASE).container(COSMOS_CONTAINER);
        const queueStats = () => getJson<Record<string, QueueStats>>(`${runtime.brokerAdminUrl}/queues`);

        // 7. The hostile corpus, first, while everything is empty: nothing may be stored, queued or submitted.
        const corpus = hostileCorpus(seed, canary);
        const hostileAnswers: string[] = [];
        const not4xx: string[] = [];
        for (const request of corpus) {
            const headers: Record<string, string> = { ...request.headers };
            if (request.wrongFunctionKey) headers['x-functions-key'] = `${canary}-key`;
            else if (!request.noFunctionKey) headers['x-functions-key'] = DEFAULT_LOCAL_FUNCTION_KEY;
            const response = await fetch(`${runtime.hostUrl}/api/referrals`, {
                method: 'POST',
                headers,
                body: request.body,
                signal: AbortSignal.timeout(30_000),
            });
            const text = await response.text();
            hostileAnswers.push(`${[...response.headers].map(([n, v]) => `${n}: ${v}`).join('\n')}\n${text}`);
            if (response.status < 400 || response.status > 499) not4xx.push(`${request.name} -> ${response.status}`);
        }
        await sleep(500);
        const afterCorpus = await queueStats();
        const queuedByCorpus = Object.values(afterCorpus).reduce(
            (n, q) => n + q.active + q.scheduled + q.locked + q.deadLettered,
            0,
        );
        // Records only: the reconciliation's timer keeps its own document beside them (it has a `kind`).
        const storedByCorpus = (await container.items.query<object>('SELECT * FROM c').fetchAll()).resources.filter(
            (item) => !('kind' in item),
        ).length;
        // The reconciliation's timer lists changes meanwhile (finding none): any other call came from the corpus.
        const callsByCorpus = (await getJson<{ value: RequestLogEntry[] }>(`${sim}/_admin/requests`)).value.filter(
            (entry) => !(entry.method === 'GET' && entry.path.includes('updatedDateTime')),
        ).length;
        const echoed = hostileAnswers.filter((answer) => answer.includes(canary)).length;
        const hostileOk = not4xx.length === 0 && queuedByCorpus === 0 && storedByCorpus === 0 && callsByCorpus === 0;
        checks.push({
            name: 'hostile input: 4xx only, nothing enqueued',
            ok: hostileOk,
            detail:
                `${corpus.length} requests; not 4xx: ${not4xx.length ? not4xx.join(', ') : 'none'}; ` +
                `queued ${queuedByCorpus}, stored ${storedByCorpus}, Partner API calls ${callsByCorpus}`,
        });
        checks.push({
            name: 'hostile input: no submitted value in answers',
            ok: echoed === 0,
            detail: `${echoed} of ${corpus.length} answers contain a submitted value`,
        });
        figures.hostileRequests = corpus.length;

        // The load, with the host killed and restarted on the way (and the second host drained and started again).
        if (secondHost) await startSecondHost();
        const deadlineMs = options.deadlineMs ?? 600_000;
        const pastDeadline = () => Date.now() - started > deadlineMs;
        const accepted = new Set<string>();
        /** HTTP referrals answered 409 ExternalReferenceIdInUse by their collision group's holder. */
        const refused = new Set<string>();
        let progressOf = new Map<string, Progress>();
        busClient = new ServiceBusClient(runtime.endpoints.serviceBusConnectionString!, {
            retryOptions: { maxRetries: 1, retryDelayInMs: 250, timeoutInMs: 10_000 },
        });
        const sendReferral = sendUntilAccepted(busClient.createSender(REFERRALS_QUEUE), pastDeadline);
        const client: LoadClient = {
            hostUrl: runtime.hostUrl,
            canary,
            pastDeadline,
            publishUpdate: sendUntilAccepted(busClient.createSender(UPDATES_QUEUE), pastDeadline),
            answerLeaks: [],
            problems: [],
        };
        const groupOf = (key: string) => byKey.get(key)?.collisionGroup;
        const send = async (p: Planned): Promise<void> => {
            const outcomes = await Promise.all(
                Array.from({ length: p.repeat ? 2 : 1 }, () => postReferral(client, p, groupOf)),
            );
            if (outcomes.includes('accepted')) accepted.add(p.key);
            else if (outcomes.includes('refused')) refused.add(p.key);
            // During the load, while the create may still be on its way (an update waits for it).
            if (accepted.has(p.key)) await sendUpdates(client, p);
        };
        const publish = async (p: Planned): Promise<void> => {
            const message = {
                body: p.body,
                messageId: p.key,
                correlationId: `${p.key}-c`,
                contentType: 'application/json',
                applicationProperties: { [CONTRACT_VERSION_PROPERTY]: CONTRACT_VERSION },
            };
            await sendReferral(message);
            // A publisher that sends twice: the queue's duplicate detection (and the record) keep it to one.
            if (p.repeat) await sendReferral(message);
            accepted.add(p.key);
        };

        const total = planned.length;
        let loadDone = false;
        const pollStatuses = async () => {
            const { resources } = await container.items
                .query<
                    Pick<
                        ReferralRecord,
                        'id' | 'status' | 'error' | 'updates' | 'partnerReferral' | 'connectedReferral'
                    >
                >('SELECT c.id, c.status, c.error, c.updates, c.partnerReferral, c.connectedReferral FROM c')
                .fetchAll();
            progressOf = new Map(
                resources.map((r) => [
                    r.id,
                    {
                        status: r.status,
                        errorCode: r.error?.code,
                        updates: new Map((r.updates ?? []).map((u) => [u.id, u.status])),
                        partnerId: r.partnerReferral?.id,
                        connectedId: r.connectedReferral?.id,
                    },
                ]),
            );
        };
        const terminalCount = () =>
            count(planned, (p) => refused.has(p.key) || (accepted.has(p.key) && isDone(p, progressOf.get(p.key))));
        /** Waits until the run's progress reaches `threshold`; false when the run ended (or timed out) first. */
        const progressReached = async (threshold: number): Promise<boolean> => {
            for (;;) {
                const progress = (accepted.size + refused.size + terminalCount()) / (2 * total);
                if (progress >= threshold) return true;
                if ((loadDone && terminalCount() === total) || Date.now() - started > deadlineMs) return false;
                await sleep(100);
            }
        };
        const killer = (async () => {
            for (let k = 1; k <= options.hostKills; k++) {
                if (!(await progressReached(k / (options.hostKills + 1)))) {
                    if (Date.now() - started <= deadlineMs) {
                        violations.push(
                            `only ${k - 1} of ${options.hostKills} host kills happened: the run ended first`,
                        );
                    }
                    return;
                }
                await runtime.killHost();
                kills.push(Date.now() - started);
                say(`host SIGKILLed (${k}/${options.hostKills}) at ${((Date.now() - started) / 1000).toFixed(1)} s`);
                await withRetries(() => runtime.startHost());
            }
        })();
        // The second host: drained mid-run while its messages are in flight, then back as a competing consumer.
        const secondHostCycle = (async () => {
            if (!secondHost) return;
            for (const [threshold, step] of [
                [SECOND_HOST_DRAIN_AT, () => drainSecondHost('mid-run')],
                [SECOND_HOST_RESTART_AT, startSecondHost],
            ] as const) {
                if (!(await progressReached(threshold))) {
                    if (!pastDeadline())
                        violations.push(`the second host's drain or restart did not happen: the run ended first`);
                    return;
                }
                await step();
            }
        })();
        let pollingDone = false;
        const poller = (async () => {
            while (!(loadDone && terminalCount() === total)) {
                await pollStatuses().catch(() => undefined);
                if (Date.now() - started > deadlineMs) break;
                await sleep(250);
            }
            pollingDone = true;
        })();
        // 8. Microsoft's seller and the Partner Center UI, on each referral once it is done.
        const microsoftChanges = planMicrosoftChanges(planned);
        const actor = actAsMicrosoft({
            simulatorUrl: sim,
            changes: microsoftChanges,
            readyStatus: (key) => expectedStatus(byKey.get(key)!),
            recordOf: (key) => progressOf.get(key),
            settled: () => pollingDone,
            pastDeadline,
        });

        const cosmosEndpoint = runtime.endpoints.cosmosEndpoint!;
        const brokerFaultsUrl = `${runtime.brokerAdminUrl}/faults`;
        const topicUrl = new URL(runtime.endpoints.eventGridTopicEndpoint!).origin;
        const seedOf = options.seed ?? 20_251;
        await setCosmosFaults(cosmosEndpoint, { ...SUITE_COSMOS_FAULTS, seed: seedOf });
        await putJson(brokerFaultsUrl, { ...SUITE_BROKER_FAULTS, seed: seedOf });
        // The outages, one after the other, from a few seconds into the load (referrals in flight).
        const outageMs = options.outageMs ?? 180_000;
        const outages = (async () => {
            if (outageMs <= 0) return;
            await sleep(Math.min(20_000, Math.max(2_000, outageMs / 4)));
            say(`Cosmos DB outage for ${outageMs / 1000} s`);
            await setCosmosFaults(cosmosEndpoint, { outageMs });
            await sleep(outageMs);
            // As the pipeline catches up on the records it could not write: their events wait for the sweep.
            say(`Event Grid refusing publishes for ${outageMs / 1000} s`);
            await putJson(`${topicUrl}/_admin/faults`, { refuseForMs: outageMs });
            await sleep(5_000);
            say(`Service Bus send outage for ${outageMs / 1000} s`);
            await putJson(brokerFaultsUrl, { outageMs });
            await sleep(outageMs);
        })();

        // The externalReferenceId filter honoured, ignored, refused in turn, until the referrals are done.
        const filterModes: Record<ExternalReferenceIdFilter, number> = { supported: 0, ignore: 0, refuse: 0 };
        const filterRotation = (async () => {
            for (let turn = 0; !(loadDone && terminalCount() === total) && !pastDeadline(); turn++) {
                const mode = EXTERNAL_REFERENCE_ID_FILTER_MODES[turn % EXTERNAL_REFERENCE_ID_FILTER_MODES.length]!;
                await putJson(`${sim}/_admin/faults`, { externalReferenceIdFilter: mode });
                filterModes[mode]++;
                await sleep(FILTER_MODE_PERIOD_MS);
            }
        })();

        const loadStarted = Date.now();
        await Promise.all([
            pool(
                planned.filter((p) => p.channel === 'http'),
                options.concurrency ?? 16,
                send,
            ),
            pool(
                planned.filter((p) => p.channel === 'queue'),
                4,
                publish,
            ),
        ]);
        loadDone = true;
        figures.intakeSeconds = (Date.now() - loadStarted) / 1000;
        say(
            `load accepted (${accepted.size}/${total}, ${refused.size} refused as expected) in ` +
                `${figures.intakeSeconds} s; waiting for the pipeline`,
        );
        const progress = setInterval(
            () => say(`  ${terminalCount()}/${total} terminal at ${((Date.now() - started) / 1000).toFixed(0)} s`),
            10_000,
        );
        try {
            await Promise.all([killer, secondHostCycle, poller, outages, filterRotation, actor]);
        } finally {
            clearInterval(progress);
        }
        // Faults off for the checks (the outages are over: the pipeline waited for them).
        await setCosmosFaults(cosmosEndpoint, { rate429: 0, rate503: 0, outageMs: 0 });
        await putJson(brokerFaultsUrl, { rateSendFailure: 0, rateLockLoss: 0, outageMs: 0 });
        const cosmosInjected = (await readCosmosFaults(cosmosEndpoint)).injected;
        const brokerInjected = (await getJson<{ injected: Record<string, number> }>(brokerFaultsUrl)).injected;
        const cosmosFaults = (kind: string) => cosmosInjected[kind] ?? 0;
        const busFaults = (kind: string) => brokerInjected[kind] ?? 0;
        figures.cosmos429 = cosmosFaults('429');
        figures.cosmos503 = cosmosFaults('503');
        figures.cosmosOutage503 = cosmosFaults('outage503');
        figures.serviceBusSendsRefused = busFaults('send');
        figures.serviceBusOutageSendsRefused = busFaults('outageSend');
        figures.serviceBusLocksLost = busFaults('lockLoss');
        figures.outageSeconds = outageMs / 1000;
        const publishesRefused = (await getJson<{ refused: number }>(`${topicUrl}/_admin/faults`)).refused;
        checks.push({
            name: 'Cosmos DB, Service Bus and Event Grid faults were injected',
            ok:
                cosmosFaults('429') + cosmosFaults('503') > 0 &&
                busFaults('send') + busFaults('lockLoss') > 0 &&
                (outageMs === 0 ||
                    (cosmosFaults('outage503') > 0 && busFaults('outageSend') > 0 && publishesRefused > 0)),
            detail:
                `Cosmos DB: ${cosmosFaults('429')} x 429, ${cosmosFaults('503')} x 503, ${cosmosFaults('outage503')} x 503 in a ` +
                `${outageMs / 1000} s outage; Service Bus: ${busFaults('send')} sends refused, ${busFaults('lockLoss')} locks ` +
                `lost, ${busFaults('outageSend')} sends refused in a ${outageMs / 1000} s outage; Event Grid: ` +
                `${publishesRefused} publishes refused in ${outageMs / 1000} s`,
        });
        figures.pipelineSeconds = (Date.now() - loadStarted) / 1000;
        await sleep(1000); // let the last follow-up messages settle before reading the queues

        // 8 (wait). Partner Center's changes reach the records: from the webhooks, else the reconciliation.
        const acted = await actor;
        if (acted.refused.length)
            violations.push(`Microsoft's actions refused: ${acted.refused.slice(0, 10).join(', ')}`);
        if (acted.notStarted.length)
            violations.push(`Microsoft's actions never taken: ${acted.notStarted.slice(0, 10).join(', ')}`);
        const settleStarted = Date.now();
        let unsettled: string | undefined;
        for (;;) {
            unsettled = await partnerCenterUnsettled({
                simulatorUrl: sim,
                container,
                queueStats,
                lastActionAt: acted.lastActionAt,
            }).catch((error: unknown) => (error instanceof Error ? error.message : String(error)));
            // At least a minute, past the run's deadline if need be: a reconciliation runs every 10 s.
            if (!unsettled || (pastDeadline() && Date.now() - settleStarted > 60_000)) break;
            await sleep(1000);
        }
        if (unsettled) violations.push(`Partner Center's changes did not settle: ${unsettled}`);
        figures.partnerCenterSettleSeconds = (Date.now() - settleStarted) / 1000;
        const webhookState = await getJson<WebhookState>(`${sim}/_admin/webhooks`);

        // 9 (wait). The events the topic refused, or a killed host left, are swept up: no record keeps any pending.
        const eventsStarted = Date.now();
        for (;;) {
            const { resources: pending } = await container.items.query<{ id: string }>(EVENTS_PENDING).fetchAll();
            // At least a minute, past the run's deadline if need be: the sweep runs every 5 s.
            if (pending.length === 0 || (pastDeadline() && Date.now() - eventsStarted > 60_000)) break;
            await sleep(1000);
        }
        figures.eventsSettleSeconds = (Date.now() - eventsStarted) / 1000;
        // Before the checks read the records: whatever the second host still held is settled (or left to the first).
        if (runtime.secondHostRunning) await drainSecondHost('at the end');

        // 1. Terminal statuses.
        const { resources: items } = await container.items.query<ReferralRecord>('SELECT * FROM c').fetchAll();
        // The container also holds one externalReferenceId binding per referral (shared/referral/store.ts).
        const records = items.filter((item) => !('kind' in item));
        // After the records: an event of a change made meanwhile shows as unexpected, never as missing.
        const { published } = await getJson<{ published: PublishedEvent[] }>(`${topicUrl}/_admin/events`);
        const recordOf = new Map(records.map((r) => [r.id, r]));
        const wrongStatus: string[] = [];
        const statusCounts: Record<string, number> = {};
        const winners = new Map<string, string[]>();
        for (const p of planned) {
            const record = recordOf.get(p.key);
            const status = record?.status ?? (refused.has(p.key) ? 'refused (409)' : 'missing');
            statusCounts[status] = (statusCounts[status] ?? 0) + 1;
            if (!accepted.has(p.key)) continue;
            if (lostCollision(p, refused, record)) {
                if (status !== 'Rejected') wrongStatus.push(`${p.key} (lost its externalReferenceId) is ${status}`);
                continue;
            }
            if (p.collisionGroup) winners.set(p.collisionGroup, [...(winners.get(p.collisionGroup) ?? []), p.key]);
            if (status !== expectedStatus(p)) wrongStatus.push(`${p.key} (${p.type}) is ${status}`);
        }
        const groups = new Set(planned.flatMap((p) => p.collisionGroup ?? []));
        const notOneWinner = [...groups].filter((group) => winners.get(group)?.length !== 1);
        const strayRecords = records.filter((r) => !byKey.has(r.id)).map((r) => r.id);
        const lostCollisions = count(planned, (p) => lostCollision(p, refused, recordOf.get(p.key)));
        checks.push({
            name: 'every accepted key reached its terminal status',
            ok:
                wrongStatus.length === 0 &&
                notOneWinner.length === 0 &&
                accepted.size + refused.size === total &&
                client.problems.length === 0,
            detail:
                `${accepted.size}/${total} accepted, ${refused.size} answered 409 ${IN_USE}; ` +
                Object.entries(statusCounts)
                    .map(([s, n]) => `${s} ${n}`)
                    .join(', ') +
                `; ${groups.size} shared externalReferenceIds, ${lostCollisions} keys refused for one` +
                (notOneWinner.length ? `; not exactly one key submitted for: ${notOneWinner.join(', ')}` : '') +
                (wrongStatus.length ? `; wrong: ${wrongStatus.slice(0, 10).join(', ')}` : '') +
                (client.problems.length ? `; load: ${client.problems.slice(0, 10).join(', ')}` : '') +
                (strayRecords.length ? `; records nobody sent: ${strayRecords.length}` : ''),
            figures: {
                notTerminal: wrongStatus.length,
                externalReferenceIdsNotOnce: notOneWinner.length,
                loadProblems: client.problems.length,
            },
        });
        if (strayRecords.length) violations.push(`records nobody sent: ${strayRecords.slice(0, 10).join(', ')}`);

        // 2-4. At the Partner API: exactly once, no wrong adoption, one customer per engagement, updates once each.
        const referrals = (await getJson<{ value: StoredReferral[] }>(`${sim}/_admin/referrals`)).value;
        const view: PartnerView = { planned, refused, recordOf, referrals, canary };
        const partnerChecks = [
            exactlyOnceCheck(view),
            adoptionCheck(view),
            engagementIsolationCheck(view),
            updatesCheck(view),
        ];
        const stateCheck = partnerCenterStateCheck(view, {
            changes: microsoftChanges,
            actions: acted.actions,
            webhooks: {
                ...webhookState.injected,
                overtaken: overtakenDeliveries(webhookState.deliveries),
                failed: count(webhookState.deliveries, (d) => d.outcome === 'failed'),
            },
        });
        const eventsCheck = outcomeEventsCheck({ records, published, canary, refused: publishesRefused });
        checks.push(...partnerChecks, stateCheck, eventsCheck);
        const partnerProblems = partnerChecks.filter((check) => !check.ok).map((check) => check.detail);
        const { dropped, duplicated, overtaken } = stateCheck.figures!;
        checks.push({
            name: 'webhook faults were injected',
            ok: acted.actions === 0 || (dropped! > 0 && duplicated! > 0 && overtaken! > 0),
            detail: `${acted.actions} changes; dropped ${dropped}, duplicated ${duplicated}, overtaken ${overtaken}`,
        });
        figures.lost = partnerChecks[0]!.figures!.lost!;
        figures.duplicates = partnerChecks[0]!.figures!.duplicates!;
        figures.wrongAdoptions = partnerChecks[1]!.figures!.wrongAdoptions!;
        figures.mixedEngagements = partnerChecks[2]!.figures!.mixedEngagements!;

        // 5. Retry-After honoured: by each create's retries (one MS-RequestId) and each operation's updates and reads.
        const log = (await getJson<{ value: RequestLogEntry[] }>(`${sim}/_admin/requests`)).value;
        // Beside the host's log: identifiers and outcomes only (the simulator logs no bodies).
        if (options.logFile) writeFileSync(requestLogFileOf(options.logFile), JSON.stringify(log, null, 1));
        const perKey = new Map<string, RequestLogEntry[]>();
        for (const entry of log) {
            const sequence = retrySequenceOf(entry);
            if (sequence === undefined) continue;
            perKey.set(sequence, [...(perKey.get(sequence) ?? []), entry]);
        }
        const early: string[] = [];
        let throttledFollowed = 0;
        let minGapMs = Number.POSITIVE_INFINITY;
        for (const [key, entries] of perKey) {
            entries.sort((a, b) => a.at - b.at);
            entries.forEach((entry, index) => {
                if (entry.status !== 429 && entry.status !== 503) return;
                const next = entries[index + 1];
                if (!next) return;
                throttledFollowed++;
                const answeredAt = entry.at + entry.latencyMs;
                const gap = next.at - answeredAt;
                minGapMs = Math.min(minGapMs, gap);
                if (gap < (entry.retryAfterSeconds ?? faults.retryAfterSeconds) * 1000) {
                    early.push(`${key}: ${next.method} ${gap} ms after a ${entry.status}`);
                }
            });
        }
        const truncated = log.length >= MAX_LOG_ENTRIES;
        checks.push({
            name: 'no retry before its Retry-After',
            ok: early.length === 0 && !truncated,
            detail:
                `${throttledFollowed} requests followed a 429/503 (Retry-After as answered); ` +
                `earliest came ${Number.isFinite(minGapMs) ? minGapMs : '-'} ms after; too early: ${early.length}` +
                (truncated ? `; the request log was truncated (${MAX_LOG_ENTRIES} entries): check incomplete` : '') +
                (early.length ? `; ${early.slice(0, 10).join(', ')}` : ''),
            figures: { followed: throttledFollowed, tooEarly: early.length },
        });
        const faultsOn = (method: string) => {
            const entries = log.filter((e) => e.method === method);
            const of = (fault: string) => count(entries, (e) => e.fault === fault);
            return (
                `${entries.length} (429 ${of('throttled')}, 503 ${of('serverError')}, hung ${of('hang')}, ` +
                `lost ${of('lost')}, late ${of('lateCommit')}, concurrent edit ${of('concurrentEdit')})`
            );
        };
        figures.partnerApiPosts = faultsOn('POST');
        figures.partnerApiPatches = faultsOn('PATCH');
        figures.partnerApiGets = count(log, (e) => e.method === 'GET');
        figures.patch412 = count(log, (e) => e.method === 'PATCH' && e.status === 412);
        figures.rateLimited = count(log, (e) => e.fault === 'rateLimited');
        figures.rateLimitPerSecond = rateLimitPerSecond;
        figures.deduplicatedPosts = count(log, (e) => e.deduplicated === true);
        figures.filterRefused = count(log, (e) => e.method === 'GET' && e.status === 400);
        figures.filterModeTurns = Object.entries(filterModes)
            .map(([mode, turns]) => `${mode} ${turns}`)
            .join(', ');
        checks.push({
            name: 'the Partner API faults were injected',
            ok:
                count(log, (e) => ['hang', 'lost', 'lateCommit'].includes(e.fault)) > 0 &&
                count(log, (e) => e.method === 'PATCH' && e.fault !== 'none') > 0 &&
                (rateLimitPerSecond === 0 || figures.rateLimited > 0) &&
                Object.values(filterModes).every((turns) => turns > 0),
            detail:
                `POST ${figures.partnerApiPosts}; PATCH ${figures.partnerApiPatches}; ` +
                `${figures.rateLimited} rate-limited at ${rateLimitPerSecond}/s; filter turns: ${figures.filterModeTurns}`,
        });

        // 6. Dead letters, each explained.
        const unexplained: string[] = [];
        const updateOwner = new Map(planned.flatMap((p) => (p.updates?.updates ?? []).map((u) => [u.key, p.key])));
        for (const queue of [REFERRALS_QUEUE, CONNECTIONS_QUEUE, UPDATES_QUEUE, PARTNER_CENTER_EVENTS_QUEUE]) {
            const entries = await getJson<DeadLetterEntry[]>(
                `${runtime.brokerAdminUrl}/queues/${encodeURIComponent(queue)}/deadletter`,
            );
            for (const entry of entries) {
                const first = entry.messageId.split(':')[0]!;
                const key = updateOwner.get(first) ?? first;
                const p = byKey.get(key);
                const status = recordOf.get(key)?.status;
                const why = `${queue}: ${entry.messageId} (${entry.reason ?? 'no reason'}, ${entry.deliveryCount} deliveries)`;
                if (queue === PARTNER_CENTER_EVENTS_QUEUE && stateCheck.ok) {
                    deadLetters.push(`${why}: explained, every record holds Partner Center's state (reconciliation)`);
                } else if (p && status === expectedStatus(p) && !partnerProblems.some((x) => x.includes(`${key}:`))) {
                    deadLetters.push(`${why}: explained, a redundant copy; the referral is ${status} exactly once`);
                } else {
                    deadLetters.push(`${why}: UNEXPLAINED (referral ${status ?? 'unknown'})`);
                    unexplained.push(entry.messageId);
                }
            }
        }
        checks.push({
            name: 'dead-letter queues empty or explained',
            ok: unexplained.length === 0,
            detail: `${deadLetters.length} dead-lettered, ${unexplained.length} unexplained`,
            figures: { unexplained: unexplained.length },
        });

        // 7 (end). No submitted value in any answer or log line.
        const logLeaks = hostLog.split('\n').filter((line) => line.includes(canary));
        checks.push({
            name: 'no submitted value in answers or host logs',
            ok: logLeaks.length === 0 && client.answerLeaks.length === 0 && echoed === 0,
            detail:
                `${hostLog.split('\n').length} log lines, ${logLeaks.length} with a submitted value; ` +
                `${client.answerLeaks.length} answers of the load with one`,
            figures: { logLeaks: logLeaks.length, answerLeaks: client.answerLeaks.length },
        });
        if (logLeaks.length) violations.push(`log line with a submitted value: ${logLeaks[0]!.slice(0, 200)}`);

        figures.referrals = total;
        figures.shared = count(planned, (p) => p.type === 'Shared' && !p.invalid);
        figures.independent = count(planned, (p) => p.type === 'Independent');
        figures.invalid = count(planned, (p) => p.invalid);
        figures.viaQueue = count(planned, (p) => p.channel === 'queue');
        figures.repeated = count(planned, (p) => p.repeat);
        figures.updated = count(planned, (p) => p.updates !== undefined);
        figures.updatesApplied = (hostLog.match(/"event":"update\.applied"/g) ?? []).length;
        figures.hostKills = kills.length;
        figures.killsAtSeconds = kills.map((ms) => (ms / 1000).toFixed(1)).join(', ');
        figures.secondHostStarts = secondHostStarts;
        figures.secondHostDrains = drains.length;
        figures.secondHostDrainsForced = count(drains, (d) => d.outcome?.forced === true);
        figures.secondHostDrainsAt = drains
            .map(
                (d) =>
                    `${(d.atMs / 1000).toFixed(1)} s (${d.tookMs} ms, exit ${d.outcome?.forced ? 'forced' : d.outcome?.exitCode})`,
            )
            .join(', ');
        figures.adopted = (hostLog.match(/"event":"(submit|connect)\.adopted"/g) ?? []).length;
        figures.retriesScheduled = (hostLog.match(/"event":"(submit|connect)\.retryScheduled"/g) ?? []).length;
        figures.waitedForLease = (hostLog.match(/"event":"(submit|connect)\.waitingForLease"/g) ?? []).length;
        figures.deliveriesRescheduled = (hostLog.match(/"event":"delivery\.rescheduled"/g) ?? []).length;
        figures.deliveriesFailedInOutage = (hostLog.match(/"event":"delivery\.dependencyUnavailable"/g) ?? []).length;
        figures.outboxResent = (hostLog.match(/"event":"outbox\.resent"/g) ?? []).length;
        figures.microsoftChanges = stateCheck.figures!.changes!;
        figures.webhooksQueued = (hostLog.match(/"event":"webhook\.queued"/g) ?? []).length;
        figures.reconciliations = (hostLog.match(/"event":"reconciliation\.completed"/g) ?? []).length;
        // Two hosts run the reconciliation's timer: one holds the lease, the other skips.
        figures.reconciliationsSkipped = (hostLog.match(/"event":"reconciliation\.skipped"/g) ?? []).length;
        figures.eventsPublished = eventsCheck.figures!.published!;
        figures.eventIds = eventsCheck.figures!.distinctIds!;
        figures.eventRepeats = eventsCheck.figures!.duplicates!;
        figures.eventsMissing = eventsCheck.figures!.missing!;
        figures.publishesRefused = publishesRefused;
        figures.publishFailures = (hostLog.match(/"event":"events\.publishFailed"/g) ?? []).length;
        figures.eventSweeps = (hostLog.match(/"event":"events\.swept"/g) ?? []).length;
        // The second host's share of the work: the record transitions its steps made.
        const transitions = hostLog.split('\n').filter((line) => line.includes('"event":"referral.transition"'));
        figures.transitionsBySecondHost = `${count(transitions, (line) => line.startsWith(SECOND_HOST_PREFIX))} of ${transitions.length}`;
        figures.maxAttempts = Math.max(0, ...records.map((r) => r.attempts));
        figures.leaseMs = options.leaseMs ?? 'default (2 x 2000 + 30000)';
        figures.lockDurationMs = options.lockDurationMs ?? 60_000;
    } catch (error) {
        violations.push(`the suite failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    } finally {
        await busClient?.close().catch(() => undefined);
        cosmos?.dispose();
        await runtime.stop();
        figures.totalSeconds = (Date.now() - started) / 1000;
        await new Promise<void>((resolve) => (logFile ? logFile.end(resolve) : resolve()));
    }
    for (const check of checks) if (!check.ok) violations.push(`${check.name}: ${check.detail}`);
    return { ok: violations.length === 0, checks, violations, figures, deadLetters, logFile: options.logFile };
}

export function formatSummary(result: FaultSuiteResult): string {
    const lines: string[] = [];
    const width = Math.max(...result.checks.map((c) => c.name.length), 10);
    lines.push('Reliability suite');
    lines.push(`${'check'.padEnd(width)}  result  detail`);
    lines.push(`${'-'.repeat(width)}  ------  ------`);
    for (const check of result.checks) {
        lines.push(`${check.name.padEnd(width)}  ${check.ok ? 'PASS  ' : 'FAIL  '}  ${check.detail}`);
    }
    lines.push('');
    lines.push('invariant figures');
    for (const check of result.checks.filter((c) => c.figures)) {
        const counts = Object.entries(check.figures!).map(([name, value]) => `${name} ${value}`);
        lines.push(`  ${check.name.padEnd(width)}  ${counts.join(', ')}`);
    }
    lines.push('');
    lines.push('figures');
    for (const [name, value] of Object.entries(result.figures)) lines.push(`  ${name.padEnd(20)} ${value}`);
    if (result.deadLetters.length) {
        lines.push('');
        lines.push('dead letters');
        for (const line of result.deadLetters) lines.push(`  ${line}`);
    }
    lines.push('');
    lines.push(result.ok ? 'ALL INVARIANTS HOLD' : `VIOLATED (${result.violations.length}):`);
    for (const violation of result.violations) lines.push(`  - ${violation}`);
    if (result.logFile) {
        lines.push(`host log: ${result.logFile}; Partner API requests: ${requestLogFileOf(result.logFile)}`);
    }
    return lines.join('\n');
}
