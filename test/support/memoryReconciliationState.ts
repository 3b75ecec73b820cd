import { randomUUID } from 'node:crypto';

import type {
    ReconciliationState,
    ReconciliationStateStore,
    StoredState,
} from '../../shared/partnerCenter/reconciliationState';

/**
 * The reconciliation's state document in memory (create once, replace on etag), for unit tests;
 * test/integration/partnerCenter/reconciliationState.contract.test.ts holds it to the Cosmos DB store's behaviour.
 */
export class MemoryReconciliationStateStore implements ReconciliationStateStore {
    stored?: StoredState;

    read(): Promise<StoredState | undefined> {
        return Promise.resolve(this.stored && structuredClone(this.stored));
    }

    create(state: ReconciliationState): Promise<StoredState | undefined> {
        if (this.stored) return Promise.resolve(undefined);
        return Promise.resolve(this.put(state));
    }

    replace(state: ReconciliationState, etag: string): Promise<StoredState | undefined> {
        if (this.stored?.etag !== etag) return Promise.resolve(undefined);
        return Promise.resolve(this.put(state));
    }

    private put(state: ReconciliationState): StoredState {
        this.stored = { state: structuredClone(state), etag: randomUUID() };
        return structuredClone(this.stored);
    }
}
