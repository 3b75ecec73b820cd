/**
 * The reconciliation's state document: create once, replace on etag. One specification run against the in-memory
 * store the unit tests use and the Cosmos DB store on the local emulator (beside referral records, never read as one).
 */
import { type CosmosEmulator, startCosmosEmulator } from '../../../local/cosmos/emulator';
import {
    CosmosReconciliationStateStore,
    RECONCILIATION_STATE_ID,
    type ReconciliationState,
    type ReconciliationStateStore,
} from '../../../shared/partnerCenter/reconciliationState';
import { closeCosmos } from '../../../shared/platform/cosmos';
import { CosmosReferralStore } from '../../../shared/referral/store';
import { MemoryReconciliationStateStore } from '../../support/memoryReconciliationState';

const state = (watermark: string | null): ReconciliationState => ({
    id: RECONCILIATION_STATE_ID,
    kind: 'partnerCenterReconciliation',
    watermark,
    leaseUntil: null,
    lastRun: null,
});

let emulator: CosmosEmulator | undefined;

const subjects: Array<{ name: string; open(): Promise<ReconciliationStateStore> }> = [
    { name: 'the in-memory store', open: () => Promise.resolve(new MemoryReconciliationStateStore()) },
    {
        name: 'the Cosmos DB store on the local emulator',
        async open() {
            emulator = await startCosmosEmulator({ port: 0 });
            process.env.CosmosDbConnection = emulator.connectionString;
            process.env.COSMOS_DISABLE_TLS_VERIFICATION = 'true';
            return new CosmosReconciliationStateStore();
        },
    },
];

afterAll(async () => {
    closeCosmos();
    await emulator?.close();
});

describe.each(subjects)('reconciliation state: $name', (subject) => {
    it('is created once, replaced only with its current etag, and is no referral record', async () => {
        const store = await subject.open();
        expect(await store.read()).toBeUndefined();
        const created = await store.create(state(null));
        expect(created?.state).toEqual(state(null));
        expect(await store.create(state('2026-01-01T00:00:00Z'))).toBeUndefined();

        const moved = await store.replace(state('2026-11-21T12:00:00Z'), created!.etag);
        expect(moved?.state.watermark).toBe('2026-11-21T12:00:00Z');
        expect(await store.replace(state('2099-01-01T00:00:00Z'), created!.etag)).toBeUndefined();
        expect((await store.read())?.state.watermark).toBe('2026-11-21T12:00:00Z');
        if (store instanceof CosmosReconciliationStateStore) {
            expect(await new CosmosReferralStore().read(RECONCILIATION_STATE_ID)).toBeUndefined();
        }
    });
});
