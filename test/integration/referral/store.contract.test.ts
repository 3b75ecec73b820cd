/**
 * The ReferralStore contract, one specification run against both stores: the in-memory one every handler unit test
 * relies on (test/support/memoryReferralStore.ts), and CosmosReferralStore as the app builds it (its default Cosmos
 * DB client, from the app's own CosmosDbConnection settings) on the local Cosmos DB emulator, through the real
 * `@azure/cosmos` SDK. Unit tests are only as true as the fake: where the two disagree, the fake is wrong.
 */
import { type CosmosEmulator, startCosmosEmulator } from '../../../local/cosmos/emulator';
import { closeCosmos } from '../../../shared/platform/cosmos';
import { type ReferralRecord, transition } from '../../../shared/referral/record';
import {
    bindingId,
    CosmosReferralStore,
    type ExternalReferenceBinding,
    type ReferralStore,
    type StoredRecord,
} from '../../../shared/referral/store';
import { GIVEN_AT, givenRecord } from '../../support/givenRecord';
import { MemoryReferralStore } from '../../support/memoryReferralStore';

const TTL_DAYS = 2;
const TTL_SECONDS = TTL_DAYS * 86_400;

interface Subject {
    name: string;
    open(): Promise<{ store: ReferralStore; close: () => Promise<void> }>;
}

const subjects: Subject[] = [
    {
        name: 'the in-memory store',
        open: () => Promise.resolve({ store: new MemoryReferralStore(TTL_SECONDS), close: () => Promise.resolve() }),
    },
    {
        name: 'the Cosmos DB store on the local emulator',
        async open() {
            const emulator: CosmosEmulator = await startCosmosEmulator({ port: 0 });
            // The settings the local runtime gives the app (Jest gives each test file its own process.env).
            process.env.CosmosDbConnection = emulator.connectionString;
            process.env.COSMOS_DISABLE_TLS_VERIFICATION = 'true';
            process.env.REFERRAL_TTL_DAYS = String(TTL_DAYS);
            return {
                store: new CosmosReferralStore(),
                close: async () => {
                    closeCosmos();
                    await emulator.close();
                },
            };
        },
    },
];

const later = new Date(GIVEN_AT.getTime() + 1_000);

describe.each(subjects)('ReferralStore contract: $name', (subject) => {
    let store: ReferralStore;
    let close: () => Promise<void>;
    let keys = 0;
    /** A record under a key no other test uses: the store is shared by the whole suite. */
    const fresh = () => givenRecord({ id: `contract-${++keys}` });

    /** Creates `record` (a fresh one by default) and returns what the store answered. */
    async function created(record: ReferralRecord = fresh()): Promise<StoredRecord> {
        const result = await store.create(record);
        if (!result.created) throw new Error(`${record.id} existed already`);
        return result.stored;
    }

    /** Moves `stored` on to Submitting with its etag, as a step claiming it would, and returns what the store answered. */
    async function claimed(stored: StoredRecord): Promise<StoredRecord> {
        const result = await store.replace(transition(stored.record, 'Submitting', later), stored.etag);
        if (!result.replaced) throw new Error(`${stored.record.id} was not replaced`);
        return result.stored;
    }

    beforeAll(async () => {
        ({ store, close } = await subject.open());
    });

    afterAll(() => close?.());

    describe('create', () => {
        it('stores a new record and returns it with its etag, as a read then returns it', async () => {
            const record = fresh();
            const stored = await created(record);
            expect(stored.record).toEqual({ ...record, ttl: TTL_SECONDS });
            expect(stored.etag).toEqual(expect.any(String));
            expect(await store.read(record.id)).toEqual(stored);
        });

        it('creates once: a second create of the key changes nothing and returns the existing record', async () => {
            const stored = await created();
            const second = await store.create({ ...stored.record, correlationId: 'another-delivery', source: 'queue' });
            expect(second).toEqual({ created: false, existing: stored });
            expect(await store.read(stored.record.id)).toEqual(stored);
        });

        it('lets exactly one of two concurrent creates of the same key win', async () => {
            const record = fresh();
            const results = await Promise.all([
                store.create({ ...record, correlationId: 'a' }),
                store.create({ ...record, correlationId: 'b' }),
            ]);
            const winners = results.flatMap((r) => (r.created ? [r.stored] : []));
            const losers = results.flatMap((r) => (r.created ? [] : [r.existing]));
            expect(winners).toHaveLength(1);
            expect(losers).toEqual(winners);
        });

        it('writes the configured ttl, whatever ttl the record carries', async () => {
            const stored = await created({ ...fresh(), ttl: 5 });
            expect(stored.record.ttl).toBe(TTL_SECONDS);
            expect((await store.read(stored.record.id))?.record.ttl).toBe(TTL_SECONDS);
        });
    });

    describe('read', () => {
        it('answers undefined for a key it does not hold', async () => {
            expect(await store.read('contract-never-written')).toBeUndefined();
        });

        it('hands out a copy: changing what it returned does not change the stored record', async () => {
            const record = fresh();
            await created(record);
            const read = (await store.read(record.id))!;
            read.record.status = 'Connected';
            read.record.history.push({ status: 'Connected', at: later.toISOString() });
            expect((await store.read(record.id))!.record).toEqual({ ...record, ttl: TTL_SECONDS });
        });
    });

    describe('replace', () => {
        it('replaces the record given its current etag, with a new etag and the configured ttl', async () => {
            const stored = await created();
            const next = { ...transition(stored.record, 'Submitting', later, { attempts: 1 }), ttl: 5 };
            const replaced = await store.replace(next, stored.etag);
            if (!replaced.replaced) throw new Error('expected the record to be replaced');
            expect(replaced.stored.record).toEqual({ ...next, ttl: TTL_SECONDS });
            expect(replaced.stored.etag).not.toBe(stored.etag);
            expect(await store.read(stored.record.id)).toEqual(replaced.stored);
        });

        it('refuses a stale etag, changes nothing, and returns the current record', async () => {
            const stale = await created();
            const current = await claimed(stale);
            const refused = await store.replace(transition(stale.record, 'Rejected', later), stale.etag);
            expect(refused).toEqual({ replaced: false, current });
            expect(await store.read(stale.record.id)).toEqual(current);
        });

        it('refuses a record that was removed, and does not bring it back', async () => {
            const stored = await created();
            expect(await store.remove(stored.record.id, stored.etag)).toBe(true);
            const refused = await store.replace(transition(stored.record, 'Submitting', later), stored.etag);
            expect(refused).toEqual({ replaced: false, current: undefined });
            expect(await store.read(stored.record.id)).toBeUndefined();
        });
    });

    describe('remove', () => {
        it('removes the record given its current etag; a second remove finds nothing', async () => {
            const stored = await created();
            expect(await store.remove(stored.record.id, stored.etag)).toBe(true);
            expect(await store.read(stored.record.id)).toBeUndefined();
            expect(await store.remove(stored.record.id, stored.etag)).toBe(false);
        });

        it('refuses a stale etag and keeps the record', async () => {
            const stale = await created();
            const current = await claimed(stale);
            expect(await store.remove(stale.record.id, stale.etag)).toBe(false);
            expect(await store.read(stale.record.id)).toEqual(current);
        });

        it('after a remove, a create of the same key starts a new record', async () => {
            const stored = await created();
            await store.remove(stored.record.id, stored.etag);
            const again = await created({ ...stored.record, correlationId: 'after-removal' });
            expect(again.record.correlationId).toBe('after-removal');
        });
    });

    describe('externalReferenceId bindings', () => {
        const binding = (externalReferenceId: string, referralKey: string): ExternalReferenceBinding => ({
            id: bindingId(externalReferenceId),
            kind: 'externalReferenceIdBinding',
            referralKey,
            createdAt: GIVEN_AT.toISOString(),
        });

        it('binds once: a second bind of the same id changes nothing and returns the holder with its etag', async () => {
            const first = await store.bind(binding(`CRM-${++keys}`, 'holder'));
            if (!first.bound) throw new Error('expected a new binding');
            expect(first.stored.binding).toEqual({ ...binding(`CRM-${keys}`, 'holder'), ttl: TTL_SECONDS });
            expect(await store.bind(binding(`CRM-${keys}`, 'other'))).toEqual({ bound: false, existing: first.stored });
        });

        it('tells externalReferenceIds apart by case, and never mixes a binding up with a record', async () => {
            const upper = `Order-${++keys}`;
            expect((await store.bind(binding(upper, 'a'))).bound).toBe(true);
            expect((await store.bind(binding(upper.toLowerCase(), 'b'))).bound).toBe(true);
            expect(await store.read(bindingId(upper))).toBeUndefined();
        });

        it('lets exactly one of two concurrent binds win', async () => {
            const externalReferenceId = `CRM-${++keys}`;
            const results = await Promise.all([
                store.bind(binding(externalReferenceId, 'a')),
                store.bind(binding(externalReferenceId, 'b')),
            ]);
            const winners = results.flatMap((r) => (r.bound ? [r.stored] : []));
            const losers = results.flatMap((r) => (r.bound ? [] : [r.existing]));
            expect(winners).toHaveLength(1);
            expect(losers).toEqual(winners);
        });

        it('rebinds given the current etag, once: a takeover with a stale etag changes nothing', async () => {
            const externalReferenceId = `CRM-${++keys}`;
            const first = await store.bind(binding(externalReferenceId, 'first'));
            if (!first.bound) throw new Error('expected a new binding');
            expect(await store.rebind(binding(externalReferenceId, 'second'), first.stored.etag)).toBe(true);
            expect(await store.rebind(binding(externalReferenceId, 'third'), first.stored.etag)).toBe(false);
            const held = await store.bind(binding(externalReferenceId, 'fourth'));
            expect(held).toMatchObject({ bound: false, existing: { binding: { referralKey: 'second' } } });
            expect(await store.rebind(binding(`CRM-never-bound-${keys}`, 'x'), first.stored.etag)).toBe(false);
        });
    });

    describe('findByPartnerCenterIds', () => {
        const summary = (id: string, engagementId: string) => ({
            id,
            engagementId,
            status: 'Active',
            substatus: 'Accepted',
            eTag: 'e1',
            createdDateTime: null,
            updatedDateTime: null,
        });

        it('finds a record by its partner or connected referral id, or its engagement; never a binding', async () => {
            const n = ++keys;
            const tracking = fresh();
            await created({
                ...tracking,
                status: 'Connected',
                partnerReferral: summary(`pr-${n}`, `eng-${n}`),
                connectedReferral: summary(`cr-${n}`, `eng-${n}`),
            });
            await store.bind({
                id: bindingId(`pr-${n}`),
                kind: 'externalReferenceIdBinding',
                referralKey: tracking.id,
                createdAt: GIVEN_AT.toISOString(),
            });
            await created(fresh());

            expect(await store.findByPartnerCenterIds({ referralId: `pr-${n}`, engagementId: 'other' })).toEqual([
                tracking.id,
            ]);
            expect(await store.findByPartnerCenterIds({ referralId: `cr-${n}`, engagementId: 'other' })).toEqual([
                tracking.id,
            ]);
            expect(await store.findByPartnerCenterIds({ referralId: 'ms-seller', engagementId: `eng-${n}` })).toEqual([
                tracking.id,
            ]);
            expect(await store.findByPartnerCenterIds({ referralId: 'unknown', engagementId: 'unknown' })).toEqual([]);
        });
    });

    describe('records with pending outcome events', () => {
        async function all(before: Date, pageSize = 100): Promise<StoredRecord[]> {
            const found: StoredRecord[] = [];
            for await (const page of store.listWithPendingEvents(before, pageSize)) found.push(...page);
            return found;
        }

        it('lists, with their etags, the records whose oldest pending event is older than the time given', async () => {
            const rejectedAt = new Date(GIVEN_AT.getTime() + 5_000);
            const withEvent = await created(transition(fresh(), 'Rejected', rejectedAt));
            await created(fresh());
            await created({ ...transition(fresh(), 'Rejected', rejectedAt), pendingEvents: [] });
            const listed = (await all(new Date(rejectedAt.getTime() + 1))).filter((s) =>
                s.record.id.startsWith('contract-'),
            );
            expect(listed).toEqual([withEvent]);
            expect(await all(rejectedAt)).toEqual([]);
            // Page by page.
            await created(transition(fresh(), 'Rejected', rejectedAt));
            const paged: StoredRecord[][] = [];
            for await (const page of store.listWithPendingEvents(new Date(rejectedAt.getTime() + 1), 1)) {
                paged.push(page);
            }
            expect(paged.map((page) => page.length)).toEqual([1, 1]);
        });
    });
});
