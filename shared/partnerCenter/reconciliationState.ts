/**
 * The reconciliation's one document in Cosmos DB, beside the referral records in their container: the watermark
 * (Partner Center's updatedDateTime up to which every change has been applied) and the lease that lets one run at a
 * time. Its id holds `~`, outside the referral keys' alphabet, and it has a `kind`, so it is never read as a record;
 * it carries no `ttl` (the container's default keeps it). Every write is conditional: create once, replace on etag.
 */
import type { Container, ItemDefinition } from '@azure/cosmos';

import { getCosmosContainer } from '../platform/cosmos';

export const RECONCILIATION_STATE_ID = 'partner-center~reconciliation';

export interface ReconciliationState {
    id: typeof RECONCILIATION_STATE_ID;
    kind: 'partnerCenterReconciliation';
    /** Every change Partner Center made up to this updatedDateTime has been applied; null before the first run. */
    watermark: string | null;
    /** A run holds the reconciliation until then; another run skips. */
    leaseUntil: string | null;
    /** When the last run that released the lease ended, and how. */
    lastRun: { endedAt: string; outcome: string; listed: number } | null;
}

export interface StoredState {
    state: ReconciliationState;
    etag: string;
}

export interface ReconciliationStateStore {
    read(): Promise<StoredState | undefined>;
    /** Creates the document once; undefined when it exists already. */
    create(state: ReconciliationState): Promise<StoredState | undefined>;
    /** Replaces it only if it still has `etag`; undefined when it changed (or is gone). */
    replace(state: ReconciliationState, etag: string): Promise<StoredState | undefined>;
}

function statusCodeOf(error: unknown): number | undefined {
    const code = (error as { code?: unknown }).code ?? (error as { statusCode?: unknown }).statusCode;
    return typeof code === 'number' ? code : undefined;
}

function toStored(resource: ItemDefinition): StoredState {
    const { id, kind, watermark, leaseUntil, lastRun } = resource as unknown as ReconciliationState;
    return { state: { id, kind, watermark, leaseUntil, lastRun }, etag: resource._etag as string };
}

export class CosmosReconciliationStateStore implements ReconciliationStateStore {
    constructor(private readonly container: () => Container = getCosmosContainer) {}

    async read(): Promise<StoredState | undefined> {
        const response = await this.container()
            .item(RECONCILIATION_STATE_ID, RECONCILIATION_STATE_ID)
            .read<ItemDefinition>();
        return response.statusCode === 404 || !response.resource ? undefined : toStored(response.resource);
    }

    async create(state: ReconciliationState): Promise<StoredState | undefined> {
        try {
            return toStored((await this.container().items.create<ItemDefinition>(state)).resource!);
        } catch (error) {
            if (statusCodeOf(error) === 409) return undefined;
            throw error;
        }
    }

    async replace(state: ReconciliationState, etag: string): Promise<StoredState | undefined> {
        try {
            const response = await this.container()
                .item(state.id, state.id)
                .replace<ItemDefinition>(state, { accessCondition: { type: 'IfMatch', condition: etag } });
            return toStored(response.resource!);
        } catch (error) {
            const status = statusCodeOf(error);
            if (status === 412 || status === 404) return undefined;
            throw error;
        }
    }
}
