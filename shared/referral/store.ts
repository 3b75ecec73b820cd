/**
 * The store of referral records: one Cosmos DB item per referral key, partitioned on `/id`; and beside them, in the
 * same container, one small binding per externalReferenceId naming the referral key that holds it (admission.ts).
 *
 * Writes are create-once and conditional replace. A 409 on create or a 412 on replace means another delivery got
 * there first: the caller gets the current record back and decides again; nothing is ever overwritten blindly.
 */
import { createHash } from 'node:crypto';

import type { Container, ItemDefinition } from '@azure/cosmos';

import { getConfig } from '../platform/config';
import { getCosmosContainer } from '../platform/cosmos';
import type { ReferralRecord } from './record';

export interface StoredRecord {
    record: ReferralRecord;
    etag: string;
}

export type CreateResult = { created: true; stored: StoredRecord } | { created: false; existing: StoredRecord };
export type ReplaceResult =
    { replaced: true; stored: StoredRecord } | { replaced: false; current: StoredRecord | undefined };

/** What re-sending a Queued referral's message takes from its record (the outbox and replay read only this). */
export type QueuedReferral = Pick<ReferralRecord, 'id' | 'correlationId' | 'request' | 'updatedAt'>;

/**
 * Which referral key holds an externalReferenceId. Its id is `xref~` and the SHA-256 (hex) of the externalReferenceId,
 * exact (case-sensitive): the value itself, the caller's CRM identifier, is not kept twice. `~` is outside the
 * referral keys' alphabet, so no key can ever name a binding.
 */
export interface ExternalReferenceBinding {
    id: string;
    kind: 'externalReferenceIdBinding';
    referralKey: string;
    createdAt: string;
    ttl?: number;
}

export interface StoredBinding {
    binding: ExternalReferenceBinding;
    etag: string;
}

export type BindResult = { bound: true; stored: StoredBinding } | { bound: false; existing: StoredBinding };

/** The id of the binding document of `externalReferenceId`. */
export function bindingId(externalReferenceId: string): string {
    return `xref~${createHash('sha256').update(externalReferenceId, 'utf8').digest('hex')}`;
}

export interface ReferralStore {
    read(id: string): Promise<StoredRecord | undefined>;
    create(record: ReferralRecord): Promise<CreateResult>;
    /** Replaces the record only if it still has `etag`. */
    replace(record: ReferralRecord, etag: string): Promise<ReplaceResult>;
    /** Deletes the record only if it still has `etag`; false when it changed or is gone. */
    remove(id: string, etag: string): Promise<boolean>;
    /** The records still `Queued` whose last change was before `updatedBefore`, `pageSize` at most per page. */
    listQueued(updatedBefore: Date, pageSize: number): AsyncIterable<QueuedReferral[]>;
    /**
     * The keys of the records that track a Partner Center engagement: its partner or connected referral is
     * `referralId`, or its partner referral belongs to `engagementId` (shared/partnerCenter/sync.ts).
     */
    findByPartnerCenterIds(ids: PartnerCenterIds): Promise<string[]>;
    /**
     * The records with outcome events still to publish (eventOutbox.ts), the oldest of them from before
     * `changedBefore`, `pageSize` at most per page.
     */
    listWithPendingEvents(changedBefore: Date, pageSize: number): AsyncIterable<StoredRecord[]>;
    /** Creates the binding once: when one with its id exists, nothing changes and the existing one comes back. */
    bind(binding: ExternalReferenceBinding): Promise<BindResult>;
    /** Replaces the binding only if it still has `etag` (a takeover); false when it changed or is gone. */
    rebind(binding: ExternalReferenceBinding, etag: string): Promise<boolean>;
}

/** How a Partner Center change names what it is about: a referral, and the engagement it belongs to. */
export interface PartnerCenterIds {
    referralId: string;
    engagementId: string;
}

/** Records matched per lookup at most: an engagement belongs to one record; more would be a data error. */
export const MAX_TRACKING_RECORDS = 10;

/** What a decision on the current record comes to: an answer now, or a conditional write and what follows it. */
export type Decision<T> = { answer: T } | { write: ReferralRecord; afterWrite(written: StoredRecord): Promise<T> };

/** How often a decision is taken again after someone else changed the record first, before giving up. */
const MAX_CONFLICT_ROUNDS = 5;

/**
 * The read → decide → conditional-write loop every change of a record goes through. `decide` sees the current
 * record; when its write finds the record changed (412), the record is read again and decided on afresh, since the
 * other writer may have made the change moot. Nothing is ever written over a change not seen.
 */
export async function updateWithRetry<T>(
    store: ReferralStore,
    key: string,
    update: {
        /**
         * The record as the caller has just read or created it: the first round decides on it instead of reading it
         * again. Its etag guards the write as a read's would: if it is no longer current, the write is refused (412)
         * and the next round reads.
         */
        known?: StoredRecord;
        /** The answer when there is no record (or it was removed meanwhile). */
        missing(): T;
        decide(current: ReferralRecord): Promise<Decision<T>>;
        /** The error when the record kept changing for MAX_CONFLICT_ROUNDS rounds. */
        contended(): Error;
    },
): Promise<T> {
    for (let round = 0; round < MAX_CONFLICT_ROUNDS; round++) {
        const stored = round === 0 && update.known ? update.known : await store.read(key);
        if (!stored) return update.missing();
        const decision = await update.decide(stored.record);
        if ('answer' in decision) return decision.answer;
        const written = await store.replace(decision.write, stored.etag);
        if (written.replaced) return decision.afterWrite(written.stored);
    }
    throw update.contended();
}

const SYSTEM_PROPERTIES = ['_rid', '_self', '_etag', '_attachments', '_ts'] as const;

function withoutSystemProperties(resource: ItemDefinition): Record<string, unknown> {
    const item = { ...resource } as Record<string, unknown>;
    for (const property of SYSTEM_PROPERTIES) delete item[property];
    return item;
}

function toStored(resource: ItemDefinition | undefined): StoredRecord | undefined {
    if (!resource) return undefined;
    return { record: withoutSystemProperties(resource) as unknown as ReferralRecord, etag: resource._etag as string };
}

function toStoredBinding(resource: ItemDefinition): StoredBinding {
    return {
        binding: withoutSystemProperties(resource) as unknown as ExternalReferenceBinding,
        etag: resource._etag as string,
    };
}

function statusCodeOf(error: unknown): number | undefined {
    const code =
        (error as { code?: unknown; statusCode?: unknown }).code ?? (error as { statusCode?: unknown }).statusCode;
    return typeof code === 'number' ? code : undefined;
}

/**
 * The record (or binding) as written: with the configured time to live (REFERRAL_TTL_DAYS; -1 = kept for ever). A
 * binding, written with its record, lives as long as the record's last change, the time the key itself is remembered.
 */
export function withTtl<T extends { ttl?: number }>(item: T, ttlSeconds: number): T {
    return { ...item, ttl: ttlSeconds };
}

export class CosmosReferralStore implements ReferralStore {
    /**
     * @param ttlSeconds Cosmos DB per-item `ttl` written on every create and replace, so a record expires that long
     *   after its last change (the container's defaultTtl is -1: items without `ttl` would never expire). Read from
     *   REFERRAL_TTL_DAYS on the first write by default.
     */
    constructor(
        private readonly container: () => Container = getCosmosContainer,
        private readonly ttlSeconds: () => number = () => getConfig('retention').ttlSeconds,
    ) {}

    async read(id: string): Promise<StoredRecord | undefined> {
        const response = await this.container().item(id, id).read<ItemDefinition>();
        // A binding is not a record (no key can name one: see ExternalReferenceBinding).
        if (response.statusCode === 404 || response.resource?.kind !== undefined) return undefined;
        return toStored(response.resource);
    }

    async create(record: ReferralRecord): Promise<CreateResult> {
        try {
            const response = await this.container().items.create<ItemDefinition>(withTtl(record, this.ttlSeconds()));
            return { created: true, stored: toStored(response.resource)! };
        } catch (error) {
            if (statusCodeOf(error) !== 409) throw error;
            const existing = await this.read(record.id);
            // Created and deleted again in between: extremely unlikely; the caller retries the whole step.
            if (!existing) throw error;
            return { created: false, existing };
        }
    }

    async replace(record: ReferralRecord, etag: string): Promise<ReplaceResult> {
        try {
            const response = await this.container()
                .item(record.id, record.id)
                .replace<ItemDefinition>(withTtl(record, this.ttlSeconds()), {
                    accessCondition: { type: 'IfMatch', condition: etag },
                });
            return { replaced: true, stored: toStored(response.resource)! };
        } catch (error) {
            const status = statusCodeOf(error);
            if (status !== 412 && status !== 404) throw error;
            return { replaced: false, current: await this.read(record.id) };
        }
    }

    async remove(id: string, etag: string): Promise<boolean> {
        try {
            await this.container()
                .item(id, id)
                .delete({ accessCondition: { type: 'IfMatch', condition: etag } });
            return true;
        } catch (error) {
            const status = statusCodeOf(error);
            if (status === 412 || status === 404) return false;
            throw error;
        }
    }

    async bind(binding: ExternalReferenceBinding): Promise<BindResult> {
        try {
            const response = await this.container().items.create<ItemDefinition>(withTtl(binding, this.ttlSeconds()));
            return { bound: true, stored: toStoredBinding(response.resource!) };
        } catch (error) {
            if (statusCodeOf(error) !== 409) throw error;
            const existing = await this.container().item(binding.id, binding.id).read<ItemDefinition>();
            // Created and deleted (expired) in between: the caller's admission fails and is retried.
            if (existing.statusCode === 404 || !existing.resource) throw error;
            return { bound: false, existing: toStoredBinding(existing.resource) };
        }
    }

    async rebind(binding: ExternalReferenceBinding, etag: string): Promise<boolean> {
        try {
            await this.container()
                .item(binding.id, binding.id)
                .replace<ItemDefinition>(withTtl(binding, this.ttlSeconds()), {
                    accessCondition: { type: 'IfMatch', condition: etag },
                });
            return true;
        } catch (error) {
            const status = statusCodeOf(error);
            if (status === 412 || status === 404) return false;
            throw error;
        }
    }

    /**
     * A cross-partition query on the summaries' ids (covered by the default indexing policy). Bindings and other
     * documents with a `kind` are not records.
     */
    async findByPartnerCenterIds(ids: PartnerCenterIds): Promise<string[]> {
        const { resources } = await this.container()
            .items.query<string>(
                {
                    query:
                        'SELECT VALUE c.id FROM c WHERE NOT IS_DEFINED(c.kind) AND (c.partnerReferral.id = @referralId ' +
                        'OR c.connectedReferral.id = @referralId OR c.partnerReferral.engagementId = @engagementId)',
                    parameters: [
                        { name: '@referralId', value: ids.referralId },
                        { name: '@engagementId', value: ids.engagementId },
                    ],
                },
                { maxItemCount: MAX_TRACKING_RECORDS },
            )
            .fetchAll();
        return resources.slice(0, MAX_TRACKING_RECORDS);
    }

    /**
     * A cross-partition query on `status` and `updatedAt`, both covered by the container's default indexing policy
     * (every path). ISO times in UTC compare as strings; only the fields a re-send needs come back, a page at a time.
     */
    async *listQueued(updatedBefore: Date, pageSize: number): AsyncIterable<QueuedReferral[]> {
        const query = this.container().items.query<QueuedReferral>(
            {
                query:
                    'SELECT c.id, c.correlationId, c.request, c.updatedAt FROM c ' +
                    'WHERE c.status = @status AND c.updatedAt < @updatedBefore',
                parameters: [
                    { name: '@status', value: 'Queued' },
                    { name: '@updatedBefore', value: updatedBefore.toISOString() },
                ],
            },
            { maxItemCount: pageSize },
        );
        for await (const page of query.getAsyncIterator()) {
            if (page.resources.length > 0) yield page.resources;
        }
    }

    /** A cross-partition query on the first pending event's time (events are appended, so it is the oldest). */
    async *listWithPendingEvents(changedBefore: Date, pageSize: number): AsyncIterable<StoredRecord[]> {
        const query = this.container().items.query<ItemDefinition>(
            {
                query:
                    'SELECT * FROM c WHERE IS_DEFINED(c.pendingEvents) AND ARRAY_LENGTH(c.pendingEvents) > 0 ' +
                    'AND c.pendingEvents[0].time < @changedBefore',
                parameters: [{ name: '@changedBefore', value: changedBefore.toISOString() }],
            },
            { maxItemCount: pageSize },
        );
        for await (const page of query.getAsyncIterator()) {
            const records = page.resources.map((resource) => toStored(resource)!);
            if (records.length > 0) yield records;
        }
    }
}
