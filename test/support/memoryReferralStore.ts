import { randomUUID } from 'node:crypto';

import type { ReferralRecord } from '../../shared/referral/record';
import {
    type BindResult,
    type CreateResult,
    type ExternalReferenceBinding,
    MAX_TRACKING_RECORDS,
    type PartnerCenterIds,
    type QueuedReferral,
    type ReferralStore,
    type ReplaceResult,
    type StoredBinding,
    type StoredRecord,
    withTtl,
} from '../../shared/referral/store';

/**
 * The ReferralStore contract (create-once, If-Match replace and remove, the ttl on every write) in memory, for handler
 * unit tests; test/integration/referral/store.contract.test.ts holds it to the same specification as the Cosmos DB
 * store. `beforeWrite` lets a test slip another writer in just before a write, to provoke the 409 and 412 races
 * deterministically; `put` seeds a record as it is, bypassing the contract. Bindings are kept apart from records
 * (`bindings`), so a test counting records counts only records.
 */
export class MemoryReferralStore implements ReferralStore {
    readonly items = new Map<string, StoredRecord>();
    readonly bindings = new Map<string, StoredBinding>();
    beforeWrite?: (operation: 'create' | 'replace' | 'remove' | 'bind' | 'rebind', id: string) => void | Promise<void>;
    failWith?: Error;

    /** @param ttlSeconds the `ttl` written on every create and replace, as CosmosReferralStore writes it. */
    constructor(private readonly ttlSeconds = -1) {}

    private copy(stored: StoredRecord): StoredRecord {
        return { record: structuredClone(stored.record), etag: stored.etag };
    }

    put(record: ReferralRecord): StoredRecord {
        const stored = { record: structuredClone(record), etag: randomUUID() };
        this.items.set(record.id, stored);
        return this.copy(stored);
    }

    read(id: string): Promise<StoredRecord | undefined> {
        if (this.failWith) return Promise.reject(this.failWith);
        const stored = this.items.get(id);
        return Promise.resolve(stored && this.copy(stored));
    }

    async create(record: ReferralRecord): Promise<CreateResult> {
        if (this.failWith) throw this.failWith;
        await this.beforeWrite?.('create', record.id);
        const existing = this.items.get(record.id);
        if (existing) return { created: false, existing: this.copy(existing) };
        return { created: true, stored: this.put(withTtl(record, this.ttlSeconds)) };
    }

    async replace(record: ReferralRecord, etag: string): Promise<ReplaceResult> {
        if (this.failWith) throw this.failWith;
        await this.beforeWrite?.('replace', record.id);
        const current = this.items.get(record.id);
        if (!current || current.etag !== etag) return { replaced: false, current: current && this.copy(current) };
        return { replaced: true, stored: this.put(withTtl(record, this.ttlSeconds)) };
    }

    async remove(id: string, etag: string): Promise<boolean> {
        if (this.failWith) throw this.failWith;
        await this.beforeWrite?.('remove', id);
        const current = this.items.get(id);
        if (!current || current.etag !== etag) return false;
        this.items.delete(id);
        return true;
    }

    async *listQueued(updatedBefore: Date, pageSize: number): AsyncIterable<QueuedReferral[]> {
        if (this.failWith) throw this.failWith;
        const queued = [...this.items.values()]
            .map(({ record }) => record)
            .filter((record) => record.status === 'Queued' && record.updatedAt < updatedBefore.toISOString())
            .map(({ id, correlationId, request, updatedAt }) =>
                structuredClone({ id, correlationId, request, updatedAt }),
            );
        for (let start = 0; start < queued.length; start += pageSize) {
            await Promise.resolve();
            yield queued.slice(start, start + pageSize);
        }
    }

    findByPartnerCenterIds({ referralId, engagementId }: PartnerCenterIds): Promise<string[]> {
        if (this.failWith) return Promise.reject(this.failWith);
        const keys = [...this.items.values()]
            .map(({ record }) => record)
            .filter(
                ({ partnerReferral, connectedReferral }) =>
                    partnerReferral?.id === referralId ||
                    connectedReferral?.id === referralId ||
                    partnerReferral?.engagementId === engagementId,
            )
            .map(({ id }) => id);
        return Promise.resolve(keys.slice(0, MAX_TRACKING_RECORDS));
    }

    async *listWithPendingEvents(changedBefore: Date, pageSize: number): AsyncIterable<StoredRecord[]> {
        if (this.failWith) throw this.failWith;
        const pending = [...this.items.values()]
            .filter(({ record }) => (record.pendingEvents?.[0]?.time ?? '~') < changedBefore.toISOString())
            .map((stored) => this.copy(stored));
        for (let start = 0; start < pending.length; start += pageSize) {
            await Promise.resolve();
            yield pending.slice(start, start + pageSize);
        }
    }

    private storeBinding(binding: ExternalReferenceBinding): StoredBinding {
        const stored = { binding: structuredClone(withTtl(binding, this.ttlSeconds)), etag: randomUUID() };
        this.bindings.set(binding.id, stored);
        return structuredClone(stored);
    }

    async bind(binding: ExternalReferenceBinding): Promise<BindResult> {
        if (this.failWith) throw this.failWith;
        await this.beforeWrite?.('bind', binding.id);
        const existing = this.bindings.get(binding.id);
        if (existing) return { bound: false, existing: structuredClone(existing) };
        return { bound: true, stored: this.storeBinding(binding) };
    }

    async rebind(binding: ExternalReferenceBinding, etag: string): Promise<boolean> {
        if (this.failWith) throw this.failWith;
        await this.beforeWrite?.('rebind', binding.id);
        if (this.bindings.get(binding.id)?.etag !== etag) return false;
        this.storeBinding(binding);
        return true;
    }
}
