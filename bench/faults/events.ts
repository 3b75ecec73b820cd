/**
 * The reliability suite's invariant about outcome events (issue 16), judged from what the local Event Grid topic
 * took (`GET /_admin/events`) against the records as they ended:
 *
 * - every change a record shows that other systems hear of has exactly one event id at the topic: each lifecycle
 *   move to Submitted / Connected / Rejected / Failed in its history (but after Failed: a replay is not an outcome),
 *   each settled update (Applied, Rejected, Failed) and each Partner Center change in its history;
 * - the record's ids `<key>:1` … `<key>:<eventSequence>` were all published, and no other id for the referral;
 * - an id published more than once (at least once: a crash between publish and clear, a clear lost to another
 *   writer) carries the same event each time; the copies are counted, not refused;
 * - no record keeps events pending; no event carries the run's customer-data canary.
 *
 * The changes are read from the record's history and updates here, not from the app's event rules
 * (shared/referral/outcomeEvents.ts), so a change that forgot its event shows as missing. A history cut at
 * HISTORY_LIMIT entries lost its oldest changes: such a record is counted, and its events of those changes excused.
 */
import type { PublishedEvent } from '../../local/eventgrid/topic';
import { HISTORY_LIMIT, type ReferralRecord } from '../../shared/referral/record';
import type { Check } from './invariants';

const LIFECYCLE_EVENTS: Record<string, string> = {
    Submitted: 'cosell.referral.submitted',
    Connected: 'cosell.referral.connected',
    Rejected: 'cosell.referral.rejected',
    Failed: 'cosell.referral.failed',
};
const UPDATED = 'cosell.referral.updated';
const PARTNER_CENTER_CHANGED = 'cosell.referral.partnerCenterChanged';
const SETTLED_UPDATE_STATUSES = new Set(['Applied', 'Rejected', 'Failed']);

interface EventData {
    status?: string;
    update?: { id: string; status: string };
    partnerCenterChange?: { at: string; referral: string; status: string | null; substatus: string | null };
}

/** What a change is, the same whether read from the record or from its event. */
function lifecycleChange(type: string, at: string): string {
    return `${type} at ${Date.parse(at)}`;
}

function updateChange(id: string, status: string): string {
    return `${UPDATED} ${id} ${status}`;
}

function partnerCenterChange(change: NonNullable<EventData['partnerCenterChange']>): string {
    return `${PARTNER_CENTER_CHANGED} ${change.referral} ${change.status} ${change.substatus} at ${Date.parse(change.at)}`;
}

/** The changes of the record that others hear of (one entry each, repeats kept). */
export function changesOf(record: ReferralRecord): string[] {
    const changes: string[] = [];
    let previous: string | undefined;
    for (const entry of record.history) {
        if ('referral' in entry) changes.push(partnerCenterChange(entry));
        else if (!('update' in entry)) {
            const type = LIFECYCLE_EVENTS[entry.status];
            if (type && previous !== 'Failed') changes.push(lifecycleChange(type, entry.at));
            previous = entry.status;
        }
    }
    for (const update of record.updates ?? []) {
        if (SETTLED_UPDATE_STATUSES.has(update.status)) changes.push(updateChange(update.id, update.status));
    }
    return changes;
}

/** The change an event tells of; a lifecycle event's `data` must show the status it reached. */
function changeOfEvent(event: PublishedEvent): string {
    const data = (event.data ?? {}) as EventData;
    if (event.type === UPDATED && data.update) return updateChange(data.update.id, data.update.status);
    if (event.type === PARTNER_CENTER_CHANGED && data.partnerCenterChange) {
        return partnerCenterChange(data.partnerCenterChange);
    }
    const status = Object.keys(LIFECYCLE_EVENTS).find((s) => LIFECYCLE_EVENTS[s] === event.type);
    if (status && data.status === status && event.time) return lifecycleChange(event.type, event.time);
    return `unrecognised ${event.type} ${JSON.stringify(data.status ?? null)}`;
}

/** Removes one of each of `items` from `from`: what is left of `from` has no counterpart. */
function without(from: string[], items: string[]): string[] {
    const left = [...from];
    for (const item of items) {
        const at = left.indexOf(item);
        if (at >= 0) left.splice(at, 1);
    }
    return left;
}

function listed(problems: string[]): string {
    return problems.length ? `; ${problems.slice(0, 10).join(', ')}` : '';
}

export interface EventsView {
    records: ReferralRecord[];
    /** Every event the topic took, in order, repeats included. */
    published: PublishedEvent[];
    canary: string;
    /** Publishes the topic refused (its fault switch). */
    refused: number;
}

export function outcomeEventsCheck({ records, published, canary, refused }: EventsView): Check {
    const firstOf = new Map<string, PublishedEvent>();
    const inconsistent: string[] = [];
    for (const event of published) {
        const first = firstOf.get(event.id);
        if (!first) firstOf.set(event.id, event);
        else if (JSON.stringify(first) !== JSON.stringify(event)) inconsistent.push(event.id);
    }
    const eventsOf = new Map<string, PublishedEvent[]>();
    for (const event of firstOf.values()) {
        const subject = event.subject ?? '';
        eventsOf.set(subject, [...(eventsOf.get(subject) ?? []), event]);
    }
    const missing: string[] = [];
    const unexpected: string[] = [];
    const pendingLeft: string[] = [];
    let expectedIds = 0;
    let changes = 0;
    let truncated = 0;
    for (const record of records) {
        const subject = `/referrals/${record.id}`;
        const events = eventsOf.get(subject) ?? [];
        eventsOf.delete(subject);
        if ((record.pendingEvents ?? []).length > 0) pendingLeft.push(`${record.id} (${record.pendingEvents!.length})`);
        const sequence = record.eventSequence ?? 0;
        expectedIds += sequence;
        const ids = new Set(events.map((event) => event.id));
        for (let n = 1; n <= sequence; n++) if (!ids.has(`${record.id}:${n}`)) missing.push(`${record.id}:${n}`);
        const sequenced = new Set(Array.from({ length: sequence }, (_, n) => `${record.id}:${n + 1}`));
        for (const id of ids) if (!sequenced.has(id)) unexpected.push(`${id} (not in the record's sequence)`);
        const expected = changesOf(record);
        changes += expected.length;
        const told = events.map(changeOfEvent);
        for (const change of without(expected, told)) missing.push(`${record.id}: ${change}`);
        const cut = record.history.length >= HISTORY_LIMIT;
        if (cut) truncated++;
        const untold = without(told, expected).filter((change) => !cut || change.startsWith(UPDATED));
        for (const change of untold) unexpected.push(`${record.id}: ${change}`);
    }
    for (const [subject, events] of eventsOf) unexpected.push(`${subject}: ${events.length} events of no record`);
    const leaks = published.filter((event) => JSON.stringify(event).includes(canary)).length;
    const duplicates = published.length - firstOf.size;
    return {
        name: 'every change has its outcome event',
        ok:
            missing.length === 0 &&
            unexpected.length === 0 &&
            inconsistent.length === 0 &&
            pendingLeft.length === 0 &&
            leaks === 0,
        detail:
            `${records.length} records, ${changes} changes, ${expectedIds} event ids; the topic took ` +
            `${published.length} events, ${firstOf.size} distinct ids, ${duplicates} repeats, after refusing ` +
            `${refused} publishes; missing ${missing.length}, unexpected ${unexpected.length}, repeats that differ ` +
            `${inconsistent.length}, records with events pending ${pendingLeft.length}, with customer data ${leaks}` +
            (truncated ? `; ${truncated} records with a history cut at ${HISTORY_LIMIT} entries` : '') +
            listed(missing) +
            listed(unexpected) +
            listed(inconsistent) +
            listed(pendingLeft),
        figures: {
            published: published.length,
            distinctIds: firstOf.size,
            duplicates,
            missing: missing.length,
            unexpected: unexpected.length,
            inconsistent: inconsistent.length,
            pendingLeft: pendingLeft.length,
            leaks,
            refusedPublishes: refused,
        },
    };
}
