/**
 * Benchmark 6: round trips per referral on the happy path, counted where they arrive: Cosmos DB operations at the
 * emulator (`/_admin/operations`: read, query, create, replace, patch, ... and the request charge it answers), Service
 * Bus sends, receives and settlements at the dev broker (`/operations`), Partner API calls in the simulator's log.
 *
 * Independent and Shared referrals are POSTed one at a time to the local host (no faults, no latency); after each
 * batch the counters are read once everything is quiet (the simulator holds the referrals, no message is active,
 * locked or scheduled, the Cosmos DB counts stand still), and the differences are divided by the batch's size.
 * Nothing else touches the peers meanwhile: completion is watched through the simulator and the broker, never
 * through the status endpoint (each GET would be a Cosmos DB read), and the outbox's timer is switched off (its sweep
 * is a query per schedule, not per referral). The records' statuses are checked after the counts are taken.
 */
import { type CosmosOperation, type CosmosOperationReport, readCosmosOperations } from '../local/cosmos/operations';
import { DEFAULT_LOCAL_FUNCTION_KEY } from '../local/host/auth';
import type { RequestLogEntry } from '../local/partner-api-simulator';
import type { QueueOperations, QueueStats } from '../local/servicebus/queueReports';
import { seedBodies } from './support/queuedReferrals';
import { getJson, LocalRuntime, postReferral, type RuntimeScripts, sleep } from './support/runtime';
import { round } from './support/stats';

/** Operations per referral, each the batch's total / its size. */
export interface ReferralOperations {
    type: 'Independent' | 'Shared';
    referrals: number;
    cosmos: Partial<Record<CosmosOperation, number>> & { total: number };
    /** Of the Cosmos DB operations, those refused (409, 412, 404): a conflict costs a round trip too. */
    cosmosRefused: number;
    /** Request units answered per referral (the local server answers a constant 1 per request). */
    cosmosRequestCharge: number;
    serviceBus: { send: number; receive: number; settle: number; duplicates: number; lockRenewals: number };
    partnerApi: { calls: number; creates: number; lookups: number };
    /** Referrals not in their done status (Submitted / Connected) once counted: must be 0. */
    notDone: number;
}

export interface OperationsResult {
    independent: ReferralOperations;
    shared: ReferralOperations;
}

/** The fewest Cosmos DB operations for the same guarantees, per issue 17 (Shared: 4 with the connect fused). */
export const MINIMUM_COSMOS_OPERATIONS = { Independent: 3, Shared: 5 } as const;

interface Snapshot {
    cosmos: CosmosOperationReport;
    queues: Record<string, QueueOperations>;
    at: number;
}

async function snapshot(runtime: LocalRuntime): Promise<Snapshot> {
    return {
        cosmos: await readCosmosOperations(runtime.endpoints.cosmosEndpoint!),
        queues: await getJson<Record<string, QueueOperations>>(`${runtime.brokerAdminUrl}/operations`),
        at: Date.now(),
    };
}

const sumCosmos = (report: CosmosOperationReport['operations']) =>
    Object.entries(report).reduce((total, [operation, count]) => total + (operation === 'metadata' ? 0 : count), 0);

/** Until the simulator holds `expected` referrals, no message is left in any queue and Cosmos DB is quiet. */
async function quiescent(runtime: LocalRuntime, expected: number): Promise<void> {
    const deadline = Date.now() + 60_000;
    const sim = runtime.simulatorUrl;
    while ((await getJson<{ count: number }>(`${sim}/_admin/referrals/count`)).count < expected) {
        if (Date.now() > deadline) throw new Error(`the simulator holds fewer than ${expected} referrals after 60 s`);
        await sleep(50);
    }
    let last = -1;
    for (;;) {
        if (Date.now() > deadline) throw new Error('the runtime did not become quiet within 60 s');
        const stats = await getJson<Record<string, QueueStats>>(`${runtime.brokerAdminUrl}/queues`);
        const busy = Object.values(stats).some((q) => q.active + q.locked + q.scheduled > 0);
        const cosmos = sumCosmos((await readCosmosOperations(runtime.endpoints.cosmosEndpoint!)).operations);
        if (!busy && cosmos === last) return;
        last = cosmos;
        await sleep(300);
    }
}

function perReferral(
    type: ReferralOperations['type'],
    count: number,
    before: Snapshot,
    after: Snapshot,
    calls: RequestLogEntry[],
    notDone: number,
): ReferralOperations {
    const per = (value: number) => round(value / count);
    const cosmos: ReferralOperations['cosmos'] = { total: 0 };
    for (const [operation, value] of Object.entries(after.cosmos.operations) as [CosmosOperation, number][]) {
        const delta = value - before.cosmos.operations[operation];
        if (delta > 0 && operation !== 'metadata') cosmos[operation] = per(delta);
    }
    cosmos.total = per(sumCosmos(after.cosmos.operations) - sumCosmos(before.cosmos.operations));
    const refused = sumCosmos(after.cosmos.refused) - sumCosmos(before.cosmos.refused);
    const bus = { send: 0, receive: 0, settle: 0, duplicates: 0, lockRenewals: 0 };
    for (const [queue, now] of Object.entries(after.queues)) {
        const then = before.queues[queue]!;
        bus.send += now.sent - then.sent;
        bus.receive += now.received - then.received;
        bus.settle +=
            now.completed +
            now.abandoned +
            now.deferred +
            now.deadLettered -
            (then.completed + then.abandoned + then.deferred + then.deadLettered);
        bus.duplicates += now.duplicates - then.duplicates;
        bus.lockRenewals += now.lockRenewals - then.lockRenewals;
    }
    return {
        type,
        referrals: count,
        cosmos,
        cosmosRefused: per(refused),
        cosmosRequestCharge: per(after.cosmos.requestCharge - before.cosmos.requestCharge),
        serviceBus: {
            send: per(bus.send),
            receive: per(bus.receive),
            settle: per(bus.settle),
            duplicates: per(bus.duplicates),
            lockRenewals: per(bus.lockRenewals),
        },
        partnerApi: {
            calls: per(calls.length),
            creates: per(calls.filter((c) => c.method === 'POST').length),
            lookups: per(calls.filter((c) => c.method === 'GET').length),
        },
        notDone,
    };
}

async function batch(
    runtime: LocalRuntime,
    type: ReferralOperations['type'],
    body: object,
    count: number,
    held: number,
): Promise<ReferralOperations> {
    const tag = `ops${type[0]}${Date.now().toString(36)}`;
    const before = await snapshot(runtime);
    const keys: string[] = [];
    for (let i = 0; i < count; i++) {
        const key = `${tag}-${i}`;
        keys.push(key);
        await postReferral(runtime.hostUrl, key, body);
    }
    await quiescent(runtime, held + count * (type === 'Shared' ? 2 : 1));
    const after = await snapshot(runtime);
    const log = (await getJson<{ value: RequestLogEntry[] }>(`${runtime.simulatorUrl}/_admin/requests`)).value;
    const calls = log.filter((entry) => entry.at >= before.at);
    const done = type === 'Shared' ? 'Connected' : 'Submitted';
    let notDone = 0;
    for (const key of keys) {
        const status = await getJson<{ status: string }>(
            `${runtime.hostUrl}/api/referrals/${key}?code=${DEFAULT_LOCAL_FUNCTION_KEY}`,
        );
        if (status.status !== done) notDone++;
    }
    return perReferral(type, count, before, after, calls, notDone);
}

export async function benchOperations(
    root: string,
    scripts: RuntimeScripts,
    options: { referrals?: number } = {},
): Promise<OperationsResult> {
    const count = options.referrals ?? 20;
    const { shared, independent } = seedBodies(root);
    const runtime = new LocalRuntime({
        scripts,
        hostEnv: { 'AzureWebJobs.resendQueuedReferrals.Disabled': 'true' },
    });
    try {
        await runtime.startEmulators();
        await runtime.startHost();
        // Warm-up (connections, links, the first container reads), not counted.
        await batch(runtime, 'Independent', independent, 1, 0);
        return {
            independent: await batch(runtime, 'Independent', independent, count, 1),
            shared: await batch(runtime, 'Shared', shared, count, 1 + count),
        };
    } finally {
        await runtime.stop();
    }
}
