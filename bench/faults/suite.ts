/**
 * The reliability suite: the local runtime in its own processes (emulators; a host that is SIGKILLed and restarted
 * mid-run), N referrals through it while the Partner API simulator injects seeded faults, then the invariants:
 *
 * 1. every accepted key reached its terminal status (Submitted / Connected; Rejected only for invalid input);
 * 2. the Partner API holds exactly one referral per key, and one connected referral (msft target, same
 *    engagementId) per Shared key: zero lost, zero duplicates, nothing stray;
 * 3. no request for a referral came before the Retry-After of a 429 (or 503) it got;
 * 4. the dead-letter queues are empty, or each entry is explained;
 * 5. a hostile-input corpus gets only 4xx answers, enqueues nothing, and no submitted value shows up in answers or in
 *    the host's logs.
 *
 * Cosmos DB and Service Bus fail too: throughout the load, seeded bursts of Cosmos DB 429s (with
 * `x-ms-retry-after-ms`) and 503s, refused Service Bus sends and locks lost mid-step; and, one after the other, an
 * outage of each (every Cosmos DB request answered 503; every Service Bus send refused) lasting `outageMs`.
 *
 * Used by `npm run test:faults` (bench/faults/cli.ts, the full run) and by test/faults (a reduced run in npm test).
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Agent } from 'node:https';
import { join } from 'node:path';

import { CosmosClient } from '@azure/cosmos';
import { ServiceBusClient } from '@azure/service-bus';

import { COSMOS_EMULATOR_KEY } from '../../local/cosmos/constants';
import { type CosmosFaults, readCosmosFaults, setCosmosFaults } from '../../local/cosmos/faults';
import { DEFAULT_LOCAL_FUNCTION_KEY } from '../../local/host/auth';
import type { RequestLogEntry, SimulatorFaults, StoredReferral } from '../../local/partner-api-simulator';
import type { BrokerFaults } from '../../local/servicebus/faults';
import type { DeadLetterEntry, QueueStats } from '../../local/servicebus/queueReports';
import {
    CONNECTIONS_QUEUE,
    CONTRACT_VERSION,
    CONTRACT_VERSION_PROPERTY,
    COSMOS_CONTAINER,
    COSMOS_DATABASE,
    REFERRALS_QUEUE,
} from '../../shared/platform/names';
import type { ReferralRecord } from '../../shared/referral/record';
import { getJson, LocalRuntime, projectRoot, putJson, type RuntimeScripts, sleep } from '../support/runtime';
import { hostileCorpus } from './hostile';

type Json = Record<string, unknown>;

/** The parts of the seed body the suite changes. */
interface ReferralBody extends Json {
    type: string;
    target?: unknown;
    externalReferenceId?: string;
    customerProfile: { name: string; team: Array<{ email?: string }> } & Json;
    details: { notes?: string } & Json;
}

export interface FaultSuiteOptions {
    scripts: RuntimeScripts;
    /** Valid referrals (half Shared). */
    referrals: number;
    /** SIGKILLs of the host, spread over the run; a new host is started after each. */
    hostKills: number;
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
    /** How long each dependency outage lasts (Cosmos DB, then Service Bus); 0: none. Default 3 minutes. */
    outageMs?: number;
    progress?: (line: string) => void;
}

export interface Check {
    name: string;
    ok: boolean;
    detail: string;
}

export interface FaultSuiteResult {
    ok: boolean;
    checks: Check[];
    violations: string[];
    figures: Record<string, number | string>;
    deadLetters: string[];
}

/** The fault mix of the issue: 10% 429 with Retry-After, 5% 503, 2% hung, 2% lost answers. */
export const SUITE_FAULTS: Partial<SimulatorFaults> = {
    rate429: 0.1,
    retryAfterSeconds: 1,
    rate5xx: 0.05,
    serverErrorStatuses: [503],
    rateHang: 0.02,
    rateLost: 0.02,
    methods: ['POST'],
    latencyMs: 0,
};

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
        // Longer than any commit delay the simulator is given, so a late commit is found, never created twice.
        PARTNER_API_SETTLE_MS: '3000',
        // The outbox's sweep every 5 s: referrals kept Queued through a Service Bus outage go on soon after it.
        INTAKE_RESEND_AFTER_MS: '5000',
        INTAKE_SWEEP_SCHEDULE: '*/5 * * * * *',
        ...(leaseMs === undefined ? {} : { STEP_LEASE_MS: String(leaseMs) }),
    };
}

interface Planned {
    key: string;
    type: 'Shared' | 'Independent';
    channel: 'http' | 'queue';
    repeat: boolean;
    invalid: boolean;
    externalReferenceId?: string;
    body: ReferralBody;
}

function seedBody(root: string): ReferralBody {
    const path = join(root, 'test', 'fixtures', 'seed-shared-referral.request.json');
    return JSON.parse(readFileSync(path, 'utf8')) as ReferralBody;
}

function plan(count: number, runId: string, canary: string, seed: ReferralBody): Planned[] {
    const planned: Planned[] = [];
    for (let i = 0; i < count; i++) {
        const type = i % 2 === 0 ? 'Shared' : 'Independent';
        const body = structuredClone(seed);
        body.type = type;
        if (type === 'Independent') delete body.target;
        // Customer data with a canary: it must never show up in an answer or a log line.
        body.customerProfile.name = `${canary}-customer-${i}`;
        body.customerProfile.team[0]!.email = `${canary.toLowerCase()}.${i}@example.test`;
        body.details.notes = `${canary} notes of referral ${i}`;
        const p: Planned = {
            key: `${runId}-${i}`,
            type,
            channel: i % 10 === 3 ? 'queue' : 'http',
            repeat: i % 10 === 7 || i % 10 === 3,
            invalid: false,
            body,
        };
        if (i % 10 === 5) {
            p.externalReferenceId = `${runId}-ext-${i}`;
            body.externalReferenceId = p.externalReferenceId;
        }
        planned.push(p);
    }
    // Invalid referrals published straight to the queue: recorded as Rejected, never sent to the Partner API.
    const invalid = Math.max(2, Math.round(count / 100));
    for (let i = 0; i < invalid; i++) {
        const body = structuredClone(seed);
        body.type = `${canary}-NotAType`;
        body.customerProfile.name = `${canary}-invalid-${i}`;
        planned.push({
            key: `${runId}-bad-${i}`,
            type: 'Shared',
            channel: 'queue',
            repeat: false,
            invalid: true,
            body,
        });
    }
    return planned;
}

function expectedStatus(p: Planned): string {
    if (p.invalid) return 'Rejected';
    return p.type === 'Shared' ? 'Connected' : 'Submitted';
}

const TERMINAL = new Set(['Submitted', 'Connected', 'Rejected', 'Failed']);

function isTerminalFor(p: Planned, status: string | undefined): boolean {
    if (status === undefined) return false;
    if (p.type === 'Shared' && !p.invalid) return status !== 'Submitted' && TERMINAL.has(status);
    return TERMINAL.has(status);
}

async function pool<T>(items: T[], concurrency: number, work: (item: T) => Promise<void>): Promise<void> {
    let next = 0;
    const runners = Array.from({ length: Math.min(concurrency, items.length) }, async () => {
        while (next < items.length) await work(items[next++]!);
    });
    await Promise.all(runners);
}

function isMicrosoftTarget(referral: StoredReferral): boolean {
    const target = referral.target as Array<{ type?: string; id?: string }> | undefined;
    return (
        Array.isArray(target) &&
        target.length === 1 &&
        target[0]?.type === 'BusinessProfileLocation' &&
        target[0]?.id === 'msft'
    );
}

function count<T>(items: T[], predicate: (item: T) => boolean): number {
    return items.reduce((n, item) => n + (predicate(item) ? 1 : 0), 0);
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
    let hostLog = '';
    const runtime = new LocalRuntime({
        scripts: options.scripts,
        emulatorsEnv: {
            SIM_SEED: String(options.seed ?? 20_251),
            ...(options.lockDurationMs === undefined
                ? {}
                : { SERVICEBUS_LOCK_DURATION_MS: String(options.lockDurationMs) }),
        },
        hostEnv: suiteHostEnv(options.leaseMs),
        onHostOutput: (text) => (hostLog += text),
    });
    let busClient: ServiceBusClient | undefined;
    let cosmos: CosmosClient | undefined;
    const kills: number[] = [];
    try {
        await runtime.startEmulators();
        const sim = runtime.simulatorUrl;
        await putJson(`${sim}/_admin/faults`, { ...SUITE_FAULTS, seed: options.seed ?? 20_251 });
        const faults = await getJson<SimulatorFaults>(`${sim}/_admin/faults`);
        await runtime.startHost();
        say(`runtime up: host ${runtime.hostUrl}, simulator ${sim}, broker admin ${runtime.brokerAdminUrl}`);
        cosmos = new CosmosClient({
            endpoint: runtime.endpoints.cosmosEndpoint!,
            key: COSMOS_EMULATOR_KEY,
            connectionPolicy: { enableEndpointDiscovery: false },
            agent: new Agent({ rejectUnauthorized: false }),
        });
        const container = cosmos.database(COSMOS_DATABASE).container(COSMOS_CONTAINER);
        const queueStats = () => getJson<Record<string, QueueStats>>(`${runtime.brokerAdminUrl}/queues`);

        // 5. The hostile corpus, first, while everything is empty: nothing may be stored, queued or submitted.
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
        const storedByCorpus = (await container.items.query('SELECT VALUE COUNT(1) FROM c').fetchAll())
            .resources[0] as number;
        const callsByCorpus = (await getJson<{ value: RequestLogEntry[] }>(`${sim}/_admin/requests`)).value.length;
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

        // The load, with the host killed and restarted on the way.
        const accepted = new Set<string>();
        let statuses = new Map<string, string>();
        const answerLeaks: string[] = [];
        const loadProblems: string[] = [];
        const deadlineMs = options.deadlineMs ?? 600_000;
        const postReferral = async (p: Planned): Promise<void> => {
            // Until the run's deadline: a Cosmos DB outage answers 503 for minutes.
            while (Date.now() - started < deadlineMs) {
                try {
                    const response = await fetch(`${runtime.hostUrl}/api/referrals`, {
                        method: 'POST',
                        headers: {
                            'content-type': 'application/json',
                            'x-functions-key': DEFAULT_LOCAL_FUNCTION_KEY,
                            'idempotency-key': p.key,
                        },
                        body: JSON.stringify(p.body),
                        signal: AbortSignal.timeout(15_000),
                    });
                    const text = await response.text();
                    if (text.includes(canary)) answerLeaks.push(p.key);
                    if (response.status === 202) {
                        const id = (JSON.parse(text) as { id?: string }).id;
                        if (id !== p.key) loadProblems.push(`${p.key}: 202 with id ${id}`);
                        accepted.add(p.key);
                        return;
                    }
                    if (response.status < 500) {
                        loadProblems.push(`${p.key}: answered ${response.status}`);
                        return;
                    }
                } catch {
                    // The host is down (killed) or the answer was lost: retry with the same Idempotency-Key.
                }
                await sleep(250);
            }
            loadProblems.push(`${p.key}: never accepted`);
        };
        busClient = new ServiceBusClient(runtime.endpoints.serviceBusConnectionString!, {
            retryOptions: { maxRetries: 1, retryDelayInMs: 250, timeoutInMs: 10_000 },
        });
        const sender = busClient.createSender(REFERRALS_QUEUE);
        /** A publisher that retries while Service Bus refuses sends (until the run's deadline). */
        const sendUntilAccepted = async (message: Parameters<typeof sender.sendMessages>[0]): Promise<void> => {
            for (;;) {
                try {
                    return await sender.sendMessages(message);
                } catch (error) {
                    if (Date.now() - started > deadlineMs) throw error;
                    await sleep(500);
                }
            }
        };
        const publish = async (p: Planned): Promise<void> => {
            const message = {
                body: p.body,
                messageId: p.key,
                correlationId: `${p.key}-c`,
                contentType: 'application/json',
                applicationProperties: { [CONTRACT_VERSION_PROPERTY]: CONTRACT_VERSION },
            };
            await sendUntilAccepted(message);
            // A publisher that sends twice: the queue's duplicate detection (and the record) keep it to one.
            if (p.repeat) await sendUntilAccepted(message);
            accepted.add(p.key);
        };

        const total = planned.length;
        let loadDone = false;
        const pollStatuses = async () => {
            const { resources } = await container.items
                .query<{ id: string; status: string }>('SELECT c.id, c.status FROM c')
                .fetchAll();
            statuses = new Map(resources.map((r) => [r.id, r.status]));
        };
        const terminalCount = () => count(planned, (p) => accepted.has(p.key) && isTerminalFor(p, statuses.get(p.key)));
        const killer = (async () => {
            for (let k = 1; k <= options.hostKills; k++) {
                const threshold = k / (options.hostKills + 1);
                for (;;) {
                    const progress = (accepted.size + terminalCount()) / (2 * total);
                    if (progress >= threshold || (loadDone && terminalCount() === total)) break;
                    if (Date.now() - started > deadlineMs) return;
                    await sleep(100);
                }
                if (loadDone && terminalCount() === total) {
                    violations.push(`only ${k - 1} of ${options.hostKills} host kills happened: the run ended first`);
                    return;
                }
                await runtime.killHost();
                kills.push(Date.now() - started);
                say(`host SIGKILLed (${k}/${options.hostKills}) at ${((Date.now() - started) / 1000).toFixed(1)} s`);
                for (let tries = 1; ; tries++) {
                    try {
                        await runtime.startHost();
                        break;
                    } catch (error) {
                        if (tries >= 5) throw error;
                        await sleep(500);
                    }
                }
            }
        })();
        const poller = (async () => {
            while (!(loadDone && terminalCount() === total)) {
                await pollStatuses().catch(() => undefined);
                if (Date.now() - started > deadlineMs) return;
                await sleep(250);
            }
        })();

        const cosmosEndpoint = runtime.endpoints.cosmosEndpoint!;
        const brokerFaultsUrl = `${runtime.brokerAdminUrl}/faults`;
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
            await sleep(outageMs + 5_000);
            say(`Service Bus send outage for ${outageMs / 1000} s`);
            await putJson(brokerFaultsUrl, { outageMs });
            await sleep(outageMs);
        })();

        const loadStarted = Date.now();
        const httpPlanned = planned.filter((p) => p.channel === 'http');
        await Promise.all([
            pool(httpPlanned, options.concurrency ?? 16, async (p) => {
                if (p.repeat) await Promise.all([postReferral(p), postReferral(p)]);
                else await postReferral(p);
            }),
            pool(
                planned.filter((p) => p.channel === 'queue'),
                4,
                publish,
            ),
        ]);
        loadDone = true;
        figures.intakeSeconds = (Date.now() - loadStarted) / 1000;
        say(`load accepted (${accepted.size}/${total}) in ${figures.intakeSeconds} s; waiting for the pipeline`);
        const progress = setInterval(
            () => say(`  ${terminalCount()}/${total} terminal at ${((Date.now() - started) / 1000).toFixed(0)} s`),
            10_000,
        );
        try {
            await Promise.all([killer, poller, outages]);
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
        checks.push({
            name: 'Cosmos DB and Service Bus faults were injected',
            ok:
                cosmosFaults('429') + cosmosFaults('503') > 0 &&
                busFaults('send') + busFaults('lockLoss') > 0 &&
                (outageMs === 0 || (cosmosFaults('outage503') > 0 && busFaults('outageSend') > 0)),
            detail:
                `Cosmos DB: ${cosmosFaults('429')} x 429, ${cosmosFaults('503')} x 503, ${cosmosFaults('outage503')} x 503 in a ` +
                `${outageMs / 1000} s outage; Service Bus: ${busFaults('send')} sends refused, ${busFaults('lockLoss')} locks ` +
                `lost, ${busFaults('outageSend')} sends refused in a ${outageMs / 1000} s outage`,
        });
        figures.pipelineSeconds = (Date.now() - loadStarted) / 1000;
        await sleep(1000); // let the last follow-up messages settle before reading the queues

        // 1. Terminal statuses.
        const { resources: items } = await container.items.query<ReferralRecord>('SELECT * FROM c').fetchAll();
        // The container also holds one externalReferenceId binding per referral (shared/referral/store.ts).
        const records = items.filter((item) => !('kind' in item));
        const recordOf = new Map(records.map((r) => [r.id, r]));
        const wrongStatus: string[] = [];
        const statusCounts: Record<string, number> = {};
        for (const p of planned) {
            const status = recordOf.get(p.key)?.status ?? 'missing';
            statusCounts[status] = (statusCounts[status] ?? 0) + 1;
            if (!accepted.has(p.key)) continue;
            if (status !== expectedStatus(p)) wrongStatus.push(`${p.key} (${p.type}) is ${status}`);
        }
        const strayRecords = records.filter((r) => !byKey.has(r.id)).map((r) => r.id);
        checks.push({
            name: 'every accepted key reached its terminal status',
            ok: wrongStatus.length === 0 && accepted.size === total && loadProblems.length === 0,
            detail:
                `${accepted.size}/${total} accepted; ` +
                Object.entries(statusCounts)
                    .map(([s, n]) => `${s} ${n}`)
                    .join(', ') +
                (wrongStatus.length ? `; wrong: ${wrongStatus.slice(0, 10).join(', ')}` : '') +
                (loadProblems.length ? `; load: ${loadProblems.slice(0, 10).join(', ')}` : '') +
                (strayRecords.length ? `; records nobody sent: ${strayRecords.length}` : ''),
        });
        if (strayRecords.length) violations.push(`records nobody sent: ${strayRecords.slice(0, 10).join(', ')}`);

        // 2. Exactly once at the Partner API.
        const referrals = (await getJson<{ value: StoredReferral[] }>(`${sim}/_admin/referrals`)).value;
        const own = new Map<string, StoredReferral[]>();
        const connected = new Map<string, StoredReferral[]>();
        for (const referral of referrals) {
            if (isMicrosoftTarget(referral)) {
                const list = connected.get(referral.engagementId) ?? [];
                list.push(referral);
                connected.set(referral.engagementId, list);
            } else {
                const ext = typeof referral.externalReferenceId === 'string' ? referral.externalReferenceId : '';
                const list = own.get(ext) ?? [];
                list.push(referral);
                own.set(ext, list);
            }
        }
        let lost = 0;
        let duplicates = 0;
        let mismatched = 0;
        const partnerProblems: string[] = [];
        const expectedExt = new Set<string>();
        for (const p of planned) {
            const ext = p.externalReferenceId ?? p.key;
            const mine = own.get(ext) ?? [];
            const record = recordOf.get(p.key);
            if (p.invalid) {
                if (mine.length > 0) partnerProblems.push(`${p.key}: invalid but submitted`);
                continue;
            }
            expectedExt.add(ext);
            if (mine.length === 0) {
                lost++;
                partnerProblems.push(`${p.key}: lost`);
                continue;
            }
            if (mine.length > 1) {
                duplicates += mine.length - 1;
                partnerProblems.push(`${p.key}: ${mine.length} referrals`);
            }
            const first = mine[0]!;
            if (first.type !== p.type || record?.partnerReferral?.id !== first.id) {
                mismatched++;
                partnerProblems.push(`${p.key}: the record does not name the Partner API's referral`);
            }
            const links = connected.get(first.engagementId) ?? [];
            if (p.type === 'Independent') {
                if (links.length > 0) partnerProblems.push(`${p.key}: Independent but connected`);
                continue;
            }
            if (links.length === 0) {
                lost++;
                partnerProblems.push(`${p.key}: connected referral lost`);
                continue;
            }
            if (links.length > 1) {
                duplicates += links.length - 1;
                partnerProblems.push(`${p.key}: ${links.length} connected referrals`);
            }
            const link = links[0]!;
            if (
                link.engagementId !== record?.partnerReferral?.engagementId ||
                record?.connectedReferral?.id !== link.id ||
                link.type !== 'Shared'
            ) {
                mismatched++;
                partnerProblems.push(`${p.key}: connected referral does not match the record`);
            }
        }
        const strayOwn = [...own.keys()].filter((ext) => !expectedExt.has(ext));
        const ownEngagements = new Set([...own.values()].flat().map((r) => r.engagementId));
        const strayConnected = [...connected.keys()].filter((id) => !ownEngagements.has(id));
        const expectedReferrals =
            count(planned, (p) => !p.invalid) + count(planned, (p) => !p.invalid && p.type === 'Shared');
        checks.push({
            name: 'Partner API: exactly one referral (+ one connected for Shared) per key',
            ok:
                lost === 0 &&
                duplicates === 0 &&
                mismatched === 0 &&
                partnerProblems.length === 0 &&
                strayOwn.length === 0 &&
                strayConnected.length === 0 &&
                referrals.length === expectedReferrals,
            detail:
                `${referrals.length} referrals held (expected ${expectedReferrals}); lost ${lost}, duplicates ` +
                `${duplicates}, mismatched ${mismatched}, stray ${strayOwn.length + strayConnected.length}` +
                (partnerProblems.length ? `; ${partnerProblems.slice(0, 10).join(', ')}` : ''),
        });
        figures.lost = lost;
        figures.duplicates = duplicates;

        // 3. Retry-After honoured.
        const log = (await getJson<{ value: RequestLogEntry[] }>(`${sim}/_admin/requests`)).value;
        const perKey = new Map<string, RequestLogEntry[]>();
        for (const entry of log) {
            if (!entry.requestId) continue;
            const list = perKey.get(entry.requestId) ?? [];
            list.push(entry);
            perKey.set(entry.requestId, list);
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
                if (gap < faults.retryAfterSeconds * 1000) {
                    early.push(`${key}: ${next.method} ${gap} ms after a ${entry.status}`);
                }
            });
        }
        const truncated = log.length >= 10_000;
        checks.push({
            name: 'no request before its Retry-After',
            ok: early.length === 0 && !truncated,
            detail:
                `${throttledFollowed} requests followed a 429/503 with Retry-After ${faults.retryAfterSeconds} s; ` +
                `earliest came ${Number.isFinite(minGapMs) ? minGapMs : '-'} ms after; too early: ${early.length}` +
                (truncated ? '; the request log was truncated (10,000 entries): check incomplete' : '') +
                (early.length ? `; ${early.slice(0, 10).join(', ')}` : ''),
        });
        const posts = log.filter((e) => e.method === 'POST');
        figures.partnerApiPosts = posts.length;
        figures.partnerApiLookups = count(log, (e) => e.method === 'GET');
        figures.injected429 = count(posts, (e) => e.fault === 'throttled');
        figures.injected503 = count(posts, (e) => e.fault === 'serverError');
        figures.injectedHang = count(posts, (e) => e.fault === 'hang');
        figures.injectedLost = count(posts, (e) => e.fault === 'lost');

        // 4. Dead letters, each explained.
        const unexplained: string[] = [];
        for (const queue of [REFERRALS_QUEUE, CONNECTIONS_QUEUE]) {
            const entries = await getJson<DeadLetterEntry[]>(
                `${runtime.brokerAdminUrl}/queues/${encodeURIComponent(queue)}/deadletter`,
            );
            for (const entry of entries) {
                const key = entry.messageId.split(':')[0]!;
                const p = byKey.get(key);
                const status = recordOf.get(key)?.status;
                const why = `${queue}: ${entry.messageId} (${entry.reason ?? 'no reason'}, ${entry.deliveryCount} deliveries)`;
                if (p && status === expectedStatus(p) && !partnerProblems.some((x) => x.startsWith(`${key}:`))) {
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
        });

        // 5 (end). No submitted value in any answer or log line.
        const logLeaks = hostLog.split('\n').filter((line) => line.includes(canary));
        checks.push({
            name: 'no submitted value in answers or host logs',
            ok: logLeaks.length === 0 && answerLeaks.length === 0 && echoed === 0,
            detail: `${hostLog.split('\n').length} log lines, ${logLeaks.length} with a submitted value; ${answerLeaks.length} answers of the load with one`,
        });
        if (logLeaks.length) violations.push(`log line with a submitted value: ${logLeaks[0]!.slice(0, 200)}`);

        figures.referrals = total;
        figures.shared = count(planned, (p) => p.type === 'Shared' && !p.invalid);
        figures.independent = count(planned, (p) => p.type === 'Independent');
        figures.invalid = count(planned, (p) => p.invalid);
        figures.viaQueue = count(planned, (p) => p.channel === 'queue');
        figures.repeated = count(planned, (p) => p.repeat);
        figures.hostKills = kills.length;
        figures.killsAtSeconds = kills.map((ms) => (ms / 1000).toFixed(1)).join(', ');
        figures.adopted = (hostLog.match(/"event":"(submit|connect)\.adopted"/g) ?? []).length;
        figures.retriesScheduled = (hostLog.match(/"event":"(submit|connect)\.retryScheduled"/g) ?? []).length;
        figures.waitedForLease = (hostLog.match(/"event":"(submit|connect)\.waitingForLease"/g) ?? []).length;
        figures.deliveriesRescheduled = (hostLog.match(/"event":"delivery\.rescheduled"/g) ?? []).length;
        figures.deliveriesFailedInOutage = (hostLog.match(/"event":"delivery\.dependencyUnavailable"/g) ?? []).length;
        figures.outboxResent = (hostLog.match(/"event":"outbox\.resent"/g) ?? []).length;
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
    }
    for (const check of checks) if (!check.ok) violations.push(`${check.name}: ${check.detail}`);
    return { ok: violations.length === 0, checks, violations, figures, deadLetters };
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
    return lines.join('\n');
}
