/**
 * The outbox of outcome events: publishing what the record's changes left pending (outcomeEvents.ts), at least once.
 *
 * Every write of a record goes through `EventPublishingStore`, which wraps the store the functions use:
 * - on the write, each event the change added is sealed with its `data`, the status document (without history) as
 *   written, so the change and its event, data included, go in the one conditional write;
 * - right after a successful write, the writer (the worker or intake that made the change) publishes the record's
 *   pending events as one batch and clears them with a second conditional write; the caller gets the record as
 *   cleared (its new etag) and goes on from there;
 * - a publish that fails (Event Grid down, the process dies first) leaves the events on the record: the sweep
 *   (`publishLeftoverEvents`, timer functions/publishPendingEvents.ts) publishes them EVENT_RESEND_AFTER_MS after
 *   their change, with the same ids.
 * After a failed publish the process holds off publishing (5 s, doubling up to 5 minutes, never shorter than the
 * topic's Retry-After) so an outage does not add a
 * timed-out request to every write; the sweep's runs meet the same hold. Publishes in flight together fail together:
 * they count as one failure, or a few seconds' outage met by many writers at once would hold off for minutes. An event may be published twice (the clear
 * lost to another writer, or a crash between publish and clear): consumers de-duplicate on its id.
 *
 * Without EVENT_GRID_TOPIC_ENDPOINT events are off: nothing is published, and the store drops pending events from
 * what it writes, so records do not carry events nobody will publish.
 */
import { retryDelayMs } from '../pipeline/backoff';
import { type EventPublisher, type OutcomeCloudEvent, PublishError } from '../platform/eventGrid';
import { errorFields, type EventLogger } from '../platform/logging';
import { eventSubject, type PendingEvent } from './outcomeEvents';
import type { ReferralRecord } from './record';
import { outcomeEventData } from './statusDocument';
import type { CreateResult, PartnerCenterIds, ReferralStore, ReplaceResult, StoredRecord } from './store';

/** Back-off of publishing after a failed publish. */
export const PUBLISH_HOLD = { baseDelayMs: 5_000, maxDelayMs: 5 * 60_000 };
/** Events unpublished this long after their change are overdue: `events.overdue` (an alert, docs/operations.md). */
export const EVENTS_OVERDUE_AFTER_MS = 15 * 60_000;
/** Records read per sweep page, and records published per sweep run at most (the next run goes on). */
export const EVENT_SWEEP_PAGE_SIZE = 100;
export const MAX_RECORDS_PER_SWEEP = 1_000;

export type FlushOutcome = 'nothing' | 'published' | 'heldOff' | 'publishFailed';

/** The publisher, the events' `source`, and the hold after failures (one per process). */
export class EventOutbox {
    private failures = 0;
    private holdUntil = 0;
    /** When the last failed publish failed: a publish begun before then was in flight with it. */
    private lastFailureAt = Number.NEGATIVE_INFINITY;

    constructor(
        private readonly publisher: EventPublisher,
        private readonly source: string,
        private readonly now: () => Date,
        private readonly log: EventLogger,
        private readonly random: () => number = Math.random,
    ) {}

    /** Whether publishing holds off now, after failures. */
    holding(): boolean {
        return this.now().getTime() < this.holdUntil;
    }

    /** The record's pending events as published. */
    cloudEvents(record: ReferralRecord): OutcomeCloudEvent[] {
        return (record.pendingEvents ?? []).map((event) => ({
            id: event.id,
            type: event.type,
            source: this.source,
            subject: eventSubject(record.id),
            time: event.time,
            data: event.data ?? {},
        }));
    }

    /**
     * Publishes the stored record's pending events and clears them (conditional on its etag) with `store`: the
     * record as it now is in the store, as far as this writer knows.
     */
    async flush(store: ReferralStore, stored: StoredRecord): Promise<{ stored: StoredRecord; outcome: FlushOutcome }> {
        const pending = stored.record.pendingEvents ?? [];
        if (pending.length === 0) return { stored, outcome: 'nothing' };
        if (this.holding()) return { stored, outcome: 'heldOff' };
        const fields = { referralKey: stored.record.id, count: pending.length };
        const startedAt = this.now().getTime();
        try {
            await this.publisher.publish(this.cloudEvents(stored.record));
        } catch (error) {
            if (startedAt > this.lastFailureAt) this.failures++;
            const failedAt = this.now().getTime();
            this.lastFailureAt = failedAt;
            const refused = error instanceof PublishError ? error : undefined;
            const holdMs = retryDelayMs(this.failures, refused?.retryAfterMs, PUBLISH_HOLD, this.random);
            this.holdUntil = Math.max(this.holdUntil, failedAt + holdMs);
            this.log.event('warn', 'events.publishFailed', {
                ...fields,
                ...errorFields(error),
                httpStatus: refused?.httpStatus,
                delayMs: holdMs,
            });
            return { stored, outcome: 'publishFailed' };
        }
        this.failures = 0;
        this.holdUntil = 0;
        this.log.event('info', 'events.published', fields);
        const { pendingEvents: _published, ...cleared } = stored.record;
        try {
            const written = await store.replace(cleared, stored.etag);
            // Changed meanwhile: that writer publishes what it found pending (again: the same ids).
            return { stored: written.replaced ? written.stored : stored, outcome: 'published' };
        } catch {
            // The events stay pending and are published again by the sweep; the change itself was written.
            return { stored, outcome: 'published' };
        }
    }
}

/**
 * The record as written: each new event sealed with its `data` (the status document, and the update or Partner Center
 * change it tells of); without pending events when events are off.
 */
export function sealed(record: ReferralRecord, eventsOn: boolean): ReferralRecord {
    if (!eventsOn) {
        const { pendingEvents: _dropped, ...withoutEvents } = record;
        return withoutEvents;
    }
    if (!record.pendingEvents?.some((event) => !event.data)) return record;
    const document = outcomeEventData(record);
    const seal = (event: PendingEvent): PendingEvent => {
        if (event.data) return event;
        const { update, partnerCenterChange } = event;
        return {
            ...event,
            data: { ...document, ...(update && { update }), ...(partnerCenterChange && { partnerCenterChange }) },
        };
    };
    return { ...record, pendingEvents: record.pendingEvents.map(seal) };
}

/** The store every function writes through: seals events on each write and publishes them after it. */
export class EventPublishingStore implements ReferralStore {
    constructor(
        private readonly inner: ReferralStore,
        /** Absent: events are off. */
        readonly outbox: EventOutbox | undefined,
    ) {}

    read(id: string) {
        return this.inner.read(id);
    }

    remove(id: string, etag: string) {
        return this.inner.remove(id, etag);
    }

    listQueued(updatedBefore: Date, pageSize: number) {
        return this.inner.listQueued(updatedBefore, pageSize);
    }

    listWithPendingEvents(changedBefore: Date, pageSize: number) {
        return this.inner.listWithPendingEvents(changedBefore, pageSize);
    }

    findByPartnerCenterIds(ids: PartnerCenterIds) {
        return this.inner.findByPartnerCenterIds(ids);
    }

    bind(...args: Parameters<ReferralStore['bind']>) {
        return this.inner.bind(...args);
    }

    rebind(...args: Parameters<ReferralStore['rebind']>) {
        return this.inner.rebind(...args);
    }

    async create(record: ReferralRecord): Promise<CreateResult> {
        const result = await this.inner.create(sealed(record, this.outbox !== undefined));
        return result.created ? { created: true, stored: await this.afterWrite(result.stored) } : result;
    }

    async replace(record: ReferralRecord, etag: string): Promise<ReplaceResult> {
        const result = await this.inner.replace(sealed(record, this.outbox !== undefined), etag);
        return result.replaced ? { replaced: true, stored: await this.afterWrite(result.stored) } : result;
    }

    private async afterWrite(stored: StoredRecord): Promise<StoredRecord> {
        return this.outbox ? (await this.outbox.flush(this.inner, stored)).stored : stored;
    }
}

export interface EventSweepResult {
    /** Records whose events were published. */
    published: number;
    outcome: 'complete' | 'limitReached' | 'heldOff' | 'publishFailed';
}

/**
 * Publishes the events of every record whose oldest pending event is `resendAfterMs` old, up to
 * MAX_RECORDS_PER_SWEEP; the first failed publish (or the hold after one) ends the run, the next run goes on. Says
 * `events.overdue` when an event met is EVENTS_OVERDUE_AFTER_MS old. Store failures are thrown (the run fails).
 */
export async function publishLeftoverEvents(
    store: EventPublishingStore,
    resendAfterMs: number,
    now: () => Date,
    log: EventLogger,
): Promise<EventSweepResult> {
    const outbox = store.outbox;
    if (!outbox) return { published: 0, outcome: 'complete' };
    const started = now();
    let published = 0;
    let oldestMs = 0;
    let outcome: EventSweepResult['outcome'] = 'complete';
    const before = new Date(started.getTime() - resendAfterMs);
    sweep: for await (const page of store.listWithPendingEvents(before, EVENT_SWEEP_PAGE_SIZE)) {
        for (const stored of page) {
            const firstAt = Date.parse(stored.record.pendingEvents?.[0]?.time ?? started.toISOString());
            oldestMs = Math.max(oldestMs, started.getTime() - firstAt);
            if (published === MAX_RECORDS_PER_SWEEP) {
                outcome = 'limitReached';
                break sweep;
            }
            const flushed = await outbox.flush(store, stored);
            if (flushed.outcome === 'heldOff' || flushed.outcome === 'publishFailed') {
                outcome = flushed.outcome;
                break sweep;
            }
            if (flushed.outcome === 'published') published++;
        }
    }
    if (oldestMs >= EVENTS_OVERDUE_AFTER_MS) log.event('error', 'events.overdue', { delayMs: oldestMs });
    log.event(outcome === 'complete' || outcome === 'limitReached' ? 'info' : 'warn', 'events.swept', {
        outcome,
        count: published,
        durationMs: now().getTime() - started.getTime(),
    });
    return { published, outcome };
}
