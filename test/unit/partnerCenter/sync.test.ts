/**
 * Partner Center's state flowing back: the ordering and merge rules (sync.ts), the webhook event's delivery
 * (eventDelivery.ts) and the reconciliation's watermark and lease (reconciliation.ts), on the in-memory stores.
 */
import { ErrorResponse } from '@azure/cosmos';

import { partnerCenterEventMessage } from '../../../shared/messaging/messages';
import { PartnerApiError } from '../../../shared/partnerApi/errors';
import { THROTTLED_LOCALLY } from '../../../shared/partnerApi/gate';
import type { PartnerApiCallContext, PartnerReferral } from '../../../shared/partnerApi/types';
import {
    type EventDeliveryDependencies,
    MAX_EVENT_ATTEMPTS,
    processPartnerCenterEvent,
} from '../../../shared/partnerCenter/eventDelivery';
import {
    OVERLAP_MS,
    reconcile,
    type ReconciliationDependencies,
    REFERRAL_RETRIES,
} from '../../../shared/partnerCenter/reconciliation';
import {
    HeldStates,
    holdsState,
    isLaterState,
    mergePartnerCenterState,
    syncReferral,
} from '../../../shared/partnerCenter/sync';
import type { EventLogger, LogEvent, LogFields } from '../../../shared/platform/logging';
import { HISTORY_LIMIT, type ReferralRecord } from '../../../shared/referral/record';
import { GIVEN_AT, givenRecord } from '../../support/givenRecord';
import { MemoryReconciliationStateStore } from '../../support/memoryReconciliationState';
import { MemoryReferralStore } from '../../support/memoryReferralStore';
import { RecordingSender } from '../../support/recordingSender';

const ENGAGEMENT = 'eng-1';
const T1 = '2026-11-21T12:00:01.0000001Z';
const T2 = '2026-11-21T12:00:01.0000002Z';
const T3 = '2026-11-21T12:05:00.0000000Z';
const T4 = '2026-11-21T12:06:00.0000000Z';

function referral(id: string, fields: Partial<PartnerReferral> = {}): PartnerReferral {
    return {
        id,
        engagementId: ENGAGEMENT,
        status: 'New',
        substatus: 'Pending',
        eTag: `${id}-e0`,
        updatedDateTime: T1,
        target: [{ type: 'Microsoft', id: 'msft', notes: 'kept out' }],
        customerProfile: { name: 'Contoso' },
        ...fields,
    };
}

const summary = (state: PartnerReferral) => ({
    id: state.id,
    engagementId: state.engagementId,
    status: state.status ?? null,
    substatus: state.substatus ?? null,
    eTag: state.eTag ?? null,
    createdDateTime: null,
    updatedDateTime: state.updatedDateTime ?? null,
});

/** A Connected Shared referral: partner referral Active/Accepted, connected referral New/Pending, both at T1. */
function connectedRecord(overrides: Partial<ReferralRecord> = {}): ReferralRecord {
    return givenRecord({
        status: 'Connected',
        partnerReferral: summary(referral('pr', { status: 'Active', substatus: 'Accepted' })),
        connectedReferral: summary(referral('cr')),
        ...overrides,
    });
}

const accepted = referral('cr', { status: 'Active', substatus: 'Accepted', eTag: 'cr-e1', updatedDateTime: T3 });
const now = new Date('2026-11-21T13:00:00Z');
const partnerCenterEntries = (record: ReferralRecord) => record.history.filter((entry) => 'referral' in entry);

describe('isLaterState', () => {
    it('orders by updatedDateTime to the 100 ns, then by eTag, and never believes a state without a time', () => {
        expect(isLaterState({ updatedDateTime: T2, eTag: 'a' }, { updatedDateTime: T1, eTag: 'z' })).toBe(true);
        expect(isLaterState({ updatedDateTime: T1, eTag: 'z' }, { updatedDateTime: T2, eTag: 'a' })).toBe(false);
        expect(isLaterState({ updatedDateTime: T1, eTag: 'b' }, { updatedDateTime: T1, eTag: 'a' })).toBe(true);
        expect(isLaterState({ updatedDateTime: T1, eTag: 'a' }, { updatedDateTime: T1, eTag: 'a' })).toBe(false);
        expect(isLaterState({ updatedDateTime: null, eTag: 'z' }, { updatedDateTime: T1, eTag: 'a' })).toBe(false);
        expect(isLaterState({ updatedDateTime: T1, eTag: 'a' }, { updatedDateTime: null, eTag: 'z' })).toBe(true);
        expect(isLaterState({ updatedDateTime: T1, eTag: 'a' }, undefined)).toBe(true);
    });
});

describe('mergePartnerCenterState', () => {
    it("takes Microsoft's answer on the connected referral, with one history entry naming its source", () => {
        const merged = mergePartnerCenterState(connectedRecord(), [accepted], 'webhook', now)!;
        expect(merged.record.connectedReferral).toMatchObject({
            id: 'cr',
            status: 'Active',
            substatus: 'Accepted',
            eTag: 'cr-e1',
            updatedDateTime: T3,
        });
        expect(merged.changes).toEqual([
            { at: T3, referral: 'connected', status: 'Active', substatus: 'Accepted', source: 'webhook' },
        ]);
        expect(partnerCenterEntries(merged.record)).toEqual(merged.changes);
        expect(merged.record.updatedAt).toBe(now.toISOString());
    });

    it('changes nothing for a state already known (a re-delivery) or older than the one known', () => {
        const { record } = mergePartnerCenterState(connectedRecord(), [accepted], 'webhook', now)!;
        expect(mergePartnerCenterState(record, [accepted], 'webhook', now)).toBeUndefined();
        expect(mergePartnerCenterState(record, [referral('cr')], 'reconciliation', now)).toBeUndefined();
    });

    it('keeps the later of two states seen at once (the GET and a lagging list)', () => {
        const merged = mergePartnerCenterState(connectedRecord(), [accepted, referral('cr')], 'webhook', now)!;
        expect(merged.record.connectedReferral?.status).toBe('Active');
        const reversed = mergePartnerCenterState(connectedRecord(), [referral('cr'), accepted], 'webhook', now)!;
        expect(reversed.record.connectedReferral).toEqual(merged.record.connectedReferral);
    });

    it('moves the eTag on without a history entry when the status stayed', () => {
        const edited = referral('pr', { status: 'Active', substatus: 'Accepted', eTag: 'pr-e2', updatedDateTime: T2 });
        const merged = mergePartnerCenterState(connectedRecord(), [edited], 'webhook', now)!;
        expect(merged.record.partnerReferral).toMatchObject({ eTag: 'pr-e2', updatedDateTime: T2 });
        expect(merged.changes).toEqual([]);
    });

    it("keeps the engagement's other referrals with ids, statuses and targets only", () => {
        const seller = referral('ms-1', { status: 'Active', substatus: 'Accepted', updatedDateTime: T2 });
        const merged = mergePartnerCenterState(
            connectedRecord(),
            [seller, referral('other', { engagementId: 'x' })],
            'reconciliation',
            now,
        )!;
        expect(merged.record.engagement).toEqual([
            {
                id: 'ms-1',
                status: 'Active',
                substatus: 'Accepted',
                target: [{ type: 'Microsoft', id: 'msft' }],
                updatedDateTime: T2,
            },
        ]);
        expect(JSON.stringify(merged.record.engagement)).not.toMatch(/Contoso|kept out/);
        expect(merged.changes).toEqual([
            { at: T2, referral: 'engagement', status: 'Active', substatus: 'Accepted', source: 'reconciliation' },
        ]);
        const closed = referral('ms-1', { status: 'Closed', substatus: 'Won', updatedDateTime: T3 });
        const next = mergePartnerCenterState(merged.record, [closed, seller], 'webhook', now)!;
        expect(next.record.engagement).toEqual([expect.objectContaining({ id: 'ms-1', status: 'Closed' })]);
        expect(mergePartnerCenterState(next.record, [seller], 'webhook', now)).toBeUndefined();
    });

    it('drops the connected referral from the others once the connect step has recorded it', () => {
        const early = mergePartnerCenterState(
            connectedRecord({ connectedReferral: null }),
            [referral('cr')],
            'webhook',
            now,
        )!;
        expect(early.record.engagement?.map(({ id }) => id)).toEqual(['cr']);
        const connected = { ...early.record, connectedReferral: summary(referral('cr')) };
        const merged = mergePartnerCenterState(connected, [referral('cr')], 'webhook', now)!;
        expect(merged.record.engagement).toEqual([]);
        expect(merged.changes).toEqual([]);
    });

    it('keeps the history to its limit', () => {
        const long = connectedRecord({
            history: Array.from({ length: HISTORY_LIMIT }, () => ({
                status: 'Connected' as const,
                at: GIVEN_AT.toISOString(),
            })),
        });
        const merged = mergePartnerCenterState(long, [accepted], 'webhook', now)!;
        expect(merged.record.history).toHaveLength(HISTORY_LIMIT);
        expect(merged.record.history.at(-1)).toMatchObject({ referral: 'connected', source: 'webhook' });
    });
});

describe('holdsState', () => {
    it('holds the state a record knows, or an older one, of its own referrals and of its engagement', () => {
        const seller = referral('ms-1', { status: 'Active', substatus: 'Accepted', updatedDateTime: T2 });
        const { record } = mergePartnerCenterState(connectedRecord(), [accepted, seller], 'webhook', now)!;
        expect(holdsState(record, accepted)).toBe(true);
        expect(holdsState(record, referral('cr'))).toBe(true);
        expect(holdsState(record, seller)).toBe(true);
        expect(holdsState(record, referral('pr', { status: 'Active', substatus: 'Accepted' }))).toBe(true);
    });

    it('does not hold a later state, nor a referral it has not seen', () => {
        const record = connectedRecord();
        expect(holdsState(record, accepted)).toBe(false);
        expect(holdsState(record, referral('pr', { status: 'Closed', eTag: 'pr-e1', updatedDateTime: T2 }))).toBe(
            false,
        );
        expect(holdsState(record, referral('ms-1'))).toBe(false);
        const { record: withSeller } = mergePartnerCenterState(record, [referral('ms-1')], 'webhook', now)!;
        expect(holdsState(withSeller, referral('ms-1', { status: 'Closed', updatedDateTime: T3 }))).toBe(false);
    });
});

describe('HeldStates', () => {
    it('knows a referral state by id, eTag and time, and starts again when full', () => {
        const held = new HeldStates(2);
        held.add(referral('pr'));
        held.add(referral('cr'));
        expect(held.has(referral('pr'))).toBe(true);
        expect(held.has(accepted)).toBe(false);
        held.add(accepted);
        expect(held.has(accepted)).toBe(true);
        expect(held.has(referral('pr'))).toBe(false);
    });
});

class RecordingLog implements EventLogger {
    readonly events: Array<{ name: LogEvent; fields: LogFields }> = [];
    event(_level: string, name: LogEvent, fields: LogFields) {
        this.events.push({ name, fields });
    }
    named(name: LogEvent) {
        return this.events.filter((event) => event.name === name);
    }
}

/** Partner Center as a map of referrals; `failures` are thrown by the next calls, in order. */
class FakePartnerCenter {
    readonly referrals = new Map<string, PartnerReferral>();
    readonly failures: Error[] = [];
    listed = 0;

    set(...referrals: PartnerReferral[]) {
        for (const r of referrals) this.referrals.set(r.id, r);
    }
    private fail() {
        const failure = this.failures.shift();
        if (failure) throw failure;
    }
    getReferral = (id: string, _context: PartnerApiCallContext) => {
        this.fail();
        const found = this.referrals.get(id);
        if (!found)
            return Promise.reject(
                new PartnerApiError({ kind: 'http', verdict: 'permanent', operation: 'getReferral', status: 404 }),
            );
        return Promise.resolve(structuredClone(found));
    };
    listEngagementReferrals = (engagementId: string, _context: PartnerApiCallContext) => {
        this.fail();
        this.listed++;
        return Promise.resolve([...this.referrals.values()].filter((r) => r.engagementId === engagementId));
    };
    /** Ascending by updatedDateTime, two to a page. */
    async *changedSince(since: Date, _context: PartnerApiCallContext, maxPages: number) {
        const changed = [...this.referrals.values()]
            .filter((r) => (r.updatedDateTime ?? '') >= since.toISOString())
            .sort((a, b) => (a.updatedDateTime ?? '').localeCompare(b.updatedDateTime ?? ''));
        for (let page = 0; page < maxPages && page * 2 < changed.length; page++) {
            this.fail();
            await Promise.resolve();
            const value = changed.slice(page * 2, page * 2 + 2);
            yield { value, ...(page * 2 + 2 < changed.length ? { nextLink: `page-${page + 1}` } : {}) };
        }
    }
}

function setup() {
    const store = new MemoryReferralStore();
    store.put(connectedRecord());
    const partnerCenter = new FakePartnerCenter();
    partnerCenter.set(referral('pr', { status: 'Active', substatus: 'Accepted' }), referral('cr'));
    const eventsQueue = new RecordingSender();
    const log = new RecordingLog();
    let clock = now.getTime();
    const deps: EventDeliveryDependencies = {
        store,
        partnerApi: partnerCenter,
        eventsQueue,
        retry: { baseDelayMs: 1_000, maxDelayMs: 60_000 },
        random: () => 0.5,
        now: () => new Date(clock),
    };
    const state = new MemoryReconciliationStateStore();
    const reconciliation: ReconciliationDependencies = { state, sync: deps, partnerApi: partnerCenter, now: deps.now };
    const record = async () => (await store.read('k1'))!.record;
    return {
        store,
        partnerCenter,
        eventsQueue,
        log,
        deps,
        state,
        reconciliation,
        record,
        tick: (ms: number) => (clock += ms),
    };
}

const eventFor = (id: string, changedAt = T3) =>
    partnerCenterEventMessage({
        event: {
            EventName: 'related-referral-updated',
            ResourceUri: `https://api.partnercenter.microsoft.com/engagements/v1/referrals/${id}`,
            ResourceName: 'referral',
            AuditUri: null,
            ResourceChangeUtcDate: changedAt,
        },
        referralId: id,
        correlationId: 'c-1',
    });

const deliver = (message: ReturnType<typeof eventFor>, deps: EventDeliveryDependencies, log: EventLogger) =>
    processPartnerCenterEvent(
        message.body,
        { messageId: message.messageId as string, applicationProperties: message.applicationProperties ?? {} },
        deps,
        log,
    );

describe('a webhook event, delivered', () => {
    it('applies the referral Partner Center holds now; a second delivery adds no history entry', async () => {
        const { partnerCenter, deps, log, record } = setup();
        partnerCenter.set(accepted);
        expect(await deliver(eventFor('cr'), deps, log)).toBe('synced');
        expect(await deliver(eventFor('cr'), deps, log)).toBe('unchanged');
        expect((await record()).connectedReferral).toMatchObject({ status: 'Active', eTag: 'cr-e1' });
        expect(partnerCenterEntries(await record())).toHaveLength(1);
        expect(log.named('partnerCenter.synced')).toEqual([
            { name: 'partnerCenter.synced', fields: expect.objectContaining({ referralKey: 'k1', count: 1 }) },
        ]);
    });

    it('acknowledges an event for a referral no record tracks, without listing its engagement', async () => {
        const { partnerCenter, deps, log } = setup();
        partnerCenter.set(referral('foreign', { engagementId: 'eng-other' }));
        expect(await deliver(eventFor('foreign'), deps, log)).toBe('untracked');
        expect(partnerCenter.listed).toBe(0);
        expect(log.named('partnerCenter.untracked')).toHaveLength(1);
    });

    it('reschedules after a transient failure, honouring Retry-After, as a message of its own', async () => {
        const { partnerCenter, deps, eventsQueue, log } = setup();
        partnerCenter.failures.push(
            new PartnerApiError({
                kind: 'http',
                verdict: 'transient',
                operation: 'getReferral',
                status: 429,
                retryAfterMs: 30_000,
            }),
        );
        const original = eventFor('cr');
        expect(await deliver(original, deps, log)).toBe('rescheduled');
        const [copy] = eventsQueue.sent;
        expect(copy).toMatchObject({
            messageId: `${original.messageId as string}:r2`,
            applicationProperties: { attempt: 2 },
            scheduledEnqueueTimeUtc: new Date(now.getTime() + 30_000),
        });
        expect(await deliver(copy as ReturnType<typeof eventFor>, deps, log)).toBe('unchanged');
    });

    it('lets an event go after its last attempt (the reconciliation will see the change), and a 404 at once', async () => {
        const { partnerCenter, deps, eventsQueue, log } = setup();
        partnerCenter.failures.push(
            new PartnerApiError({ kind: 'network', verdict: 'transient', operation: 'getReferral' }),
        );
        const last = eventFor('cr');
        last.applicationProperties = { ...last.applicationProperties, attempt: MAX_EVENT_ATTEMPTS };
        expect(await deliver(last, deps, log)).toBe('abandoned');
        expect(await deliver(eventFor('gone'), deps, log)).toBe('notFound');
        expect(eventsQueue.sent).toEqual([]);
    });
});

describe('syncReferral', () => {
    it('writes nothing when the engagement holds nothing newer', async () => {
        const { store, deps, log } = setup();
        const before = await store.read('k1');
        expect(await syncReferral(referral('cr'), 'webhook', deps, log, { correlationId: 'c' })).toEqual({
            outcome: 'unchanged',
        });
        expect((await store.read('k1'))?.etag).toBe(before?.etag);
    });

    it("leaves a record alone while its step's lease is held (the step reads any change as losing it)", async () => {
        const { store, partnerCenter, deps, eventsQueue, log, record } = setup();
        const leaseUntil = new Date(now.getTime() + 30_000).toISOString();
        store.put(connectedRecord({ status: 'Connecting', connectedReferral: null, leaseUntil }));
        const before = await store.read('k1');
        partnerCenter.set(accepted);
        expect(await syncReferral(accepted, 'webhook', deps, log, { correlationId: 'c' })).toEqual({
            outcome: 'busy',
            retryAt: new Date(leaseUntil),
        });
        expect((await store.read('k1'))?.etag).toBe(before?.etag);

        // The webhook's event runs again just after the lease; the reconciliation stops there, its watermark too.
        expect(await deliver(eventFor('cr'), deps, log)).toBe('rescheduled');
        expect(eventsQueue.sent[0]?.scheduledEnqueueTimeUtc).toEqual(new Date(Date.parse(leaseUntil) + 1_000));
        const { reconciliation } = setup();
        reconciliation.sync = deps;
        reconciliation.partnerApi = partnerCenter;
        // pr's state (T1) is held already; cr's (T3) waits for the step.
        expect(await reconcile(reconciliation, log)).toMatchObject({
            outcome: 'incomplete',
            listed: 1,
            watermark: T1,
        });
        expect((await record()).engagement).toBeUndefined();
    });
});

describe('the reconciliation', () => {
    it("applies what the webhooks missed, then moves the watermark to Partner Center's latest change", async () => {
        const { partnerCenter, reconciliation, log, record, state } = setup();
        partnerCenter.set(accepted, referral('x1', { engagementId: 'e-x', updatedDateTime: T2 }));
        const result = await reconcile(reconciliation, log);
        expect(result).toMatchObject({ outcome: 'complete', listed: 3, synced: 1, watermark: T3 });
        expect(partnerCenterEntries(await record())).toEqual([
            expect.objectContaining({ referral: 'connected', status: 'Active', source: 'reconciliation' }),
        ]);
        expect(state.stored?.state).toMatchObject({ watermark: T3, leaseUntil: null });
        // The next run reads again from OVERLAP_MS before the watermark (all three changes are within it): nothing new,
        // and the states the record holds cost no call for their engagement.
        expect(Date.parse(T3) - Date.parse(T1)).toBeLessThan(OVERLAP_MS);
        const engagementsListed = partnerCenter.listed;
        expect(await reconcile(reconciliation, log)).toMatchObject({ outcome: 'complete', listed: 3, synced: 0 });
        expect(partnerCenter.listed).toBe(engagementsListed);
        expect(partnerCenterEntries(await record())).toHaveLength(1);
    });

    it("remembers the states found held, so the overlap's next run costs no Cosmos DB query either", async () => {
        const { partnerCenter, reconciliation, log, store, record } = setup();
        reconciliation.heldStates = new HeldStates();
        const find = jest.spyOn(store, 'findByPartnerCenterIds');
        expect(await reconcile(reconciliation, log)).toMatchObject({ outcome: 'complete', listed: 2, synced: 0 });
        expect(find).toHaveBeenCalledTimes(2);
        expect(await reconcile(reconciliation, log)).toMatchObject({ outcome: 'complete', listed: 2, synced: 0 });
        expect(find).toHaveBeenCalledTimes(2);
        // A later state of a referral is compared again, and applied.
        partnerCenter.set(accepted);
        expect(await reconcile(reconciliation, log)).toMatchObject({ outcome: 'complete', listed: 2, synced: 1 });
        expect(find).toHaveBeenCalledTimes(3);
        expect((await record()).connectedReferral).toMatchObject({ status: 'Active', eTag: 'cr-e1' });
        find.mockRestore();
    });

    it("lists the engagement of a referral whose state a record does not hold yet, in the overlap's second run too", async () => {
        const { partnerCenter, reconciliation, log, record, tick } = setup();
        expect(await reconcile(reconciliation, log)).toMatchObject({ outcome: 'complete', listed: 2, synced: 0 });
        // Microsoft accepts within the overlap; its webhook never came.
        tick(60_000);
        partnerCenter.set(accepted);
        const engagementsListed = partnerCenter.listed;
        expect(await reconcile(reconciliation, log)).toMatchObject({ outcome: 'complete', synced: 1, watermark: T3 });
        expect(partnerCenter.listed).toBe(engagementsListed + 1);
        expect((await record()).connectedReferral).toMatchObject({ status: 'Active', eTag: 'cr-e1' });
    });

    it("ends a run the tenant's gate stops at its deadline as incomplete, its watermark where the changes applied end", async () => {
        const { partnerCenter, reconciliation, log, state } = setup();
        const T_X = '2026-11-21T12:01:00.0000000Z';
        partnerCenter.set(accepted, referral('x1', { engagementId: 'e-x', updatedDateTime: T_X }));
        // pr (T1) is held and x1 (T_X) untracked: neither needs a call; cr (T3) does, and the gate refuses it.
        reconciliation.sync = {
            ...reconciliation.sync,
            partnerApi: {
                listEngagementReferrals: () =>
                    Promise.reject(
                        new PartnerApiError({
                            kind: 'throttled',
                            verdict: 'transient',
                            operation: 'listReferrals',
                            code: THROTTLED_LOCALLY,
                            retryAfterMs: 60_000,
                        }),
                    ),
            },
        };
        expect(await reconcile(reconciliation, log)).toMatchObject({
            outcome: 'incomplete',
            listed: 2,
            watermark: T_X,
        });
        expect(state.stored?.state).toMatchObject({ watermark: T_X, leaseUntil: null });
        expect(log.named('reconciliation.failed')).toEqual([]);
        expect(log.named('reconciliation.completed')).toEqual([
            { name: 'reconciliation.completed', fields: expect.objectContaining({ outcome: 'incomplete' }) },
        ]);
    });

    it('skips while another run holds the lease', async () => {
        const { reconciliation, log, state } = setup();
        await state.create({
            id: 'partner-center~reconciliation',
            kind: 'partnerCenterReconciliation',
            watermark: null,
            leaseUntil: new Date(now.getTime() + 60_000).toISOString(),
            lastRun: null,
        });
        expect(await reconcile(reconciliation, log)).toMatchObject({ outcome: 'skipped' });
        expect(log.named('reconciliation.skipped')).toHaveLength(1);
    });

    it('applies a referral again after a 429, rather than ending the run (the next would start over the overlap)', async () => {
        const { partnerCenter, reconciliation, log, record } = setup();
        partnerCenter.set(accepted);
        const throttled = () =>
            new PartnerApiError({
                kind: 'http',
                verdict: 'transient',
                operation: 'listReferrals',
                status: 429,
                retryAfterMs: 1000,
            });
        let refusals = 2;
        const list = partnerCenter.listEngagementReferrals;
        reconciliation.sync = {
            ...reconciliation.sync,
            partnerApi: {
                listEngagementReferrals: (engagementId, context) =>
                    refusals-- > 0 ? Promise.reject(throttled()) : list(engagementId, context),
            },
        };
        expect(await reconcile(reconciliation, log)).toMatchObject({ outcome: 'complete', synced: 1, watermark: T3 });
        expect(partnerCenterEntries(await record())).toEqual([
            expect.objectContaining({ referral: 'connected', status: 'Active', source: 'reconciliation' }),
        ]);
        // Throttled past its retries, the run fails as before (the gate spaced every retry by the Retry-After).
        partnerCenter.set(referral('cr', { status: 'Closed', substatus: 'Won', eTag: 'cr-e2', updatedDateTime: T4 }));
        refusals = Number.POSITIVE_INFINITY;
        expect(await reconcile(reconciliation, log)).toMatchObject({ outcome: 'failed' });
    });

    it('applies a referral again after a Cosmos DB blip, rather than failing the run; an outage still fails it', async () => {
        const { partnerCenter, reconciliation, log, record, store } = setup();
        partnerCenter.set(accepted);
        const outage = new ErrorResponse('Cosmos DB is unavailable');
        outage.code = 503;
        const find = jest.spyOn(store, 'findByPartnerCenterIds').mockRejectedValueOnce(outage);
        expect(await reconcile(reconciliation, log)).toMatchObject({ outcome: 'complete', synced: 1, watermark: T3 });
        expect((await record()).connectedReferral).toMatchObject({ status: 'Active', eTag: 'cr-e1' });
        expect(log.named('reconciliation.failed')).toEqual([]);

        find.mockRejectedValue(outage);
        expect(await reconcile(reconciliation, log)).toMatchObject({ outcome: 'failed', watermark: T3 });
        // The first run: pr twice (the blip, then again), cr once; the second: pr, then its retries.
        expect(find).toHaveBeenCalledTimes(2 + 1 + (1 + REFERRAL_RETRIES));
        find.mockRestore();
    });

    it('after a failure part-way keeps the watermark where the changes applied in order end', async () => {
        const { partnerCenter, reconciliation, log, state } = setup();
        partnerCenter.set(accepted, referral('x1', { engagementId: 'e-x', updatedDateTime: T2 }));
        // Page 1 (pr, cr at T1) applies; page 2 fails.
        const failing = reconciliation.partnerApi.changedSince.bind(partnerCenter);
        reconciliation.partnerApi = {
            async *changedSince(since, context, maxPages) {
                let page = 0;
                for await (const value of failing(since, context, maxPages)) {
                    if (page++ === 1)
                        throw new PartnerApiError({
                            kind: 'timeout',
                            verdict: 'transient',
                            operation: 'listReferrals',
                        });
                    yield value;
                }
            },
        };
        expect(await reconcile(reconciliation, log)).toMatchObject({ outcome: 'failed', watermark: T1 });
        expect(state.stored?.state).toMatchObject({ watermark: T1, leaseUntil: null });
        expect(log.named('reconciliation.failed')).toEqual([
            { name: 'reconciliation.failed', fields: expect.objectContaining({ outcome: 'failed' }) },
        ]);
    });
});
