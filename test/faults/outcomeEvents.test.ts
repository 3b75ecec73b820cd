/**
 * The reliability suite's outcome-events invariant (bench/faults/events.ts), on records made by the app's own rules
 * and their events as the outbox publishes them: it passes on a complete publication with repeats, and names each
 * kind of failure.
 */
import { outcomeEventsCheck } from '../../bench/faults/events';
import type { PublishedEvent } from '../../local/eventgrid/topic';
import { sealed } from '../../shared/referral/eventOutbox';
import { eventSubject } from '../../shared/referral/outcomeEvents';
import { newRecord, recordPartnerCenterChange, type ReferralRecord, transition } from '../../shared/referral/record';
import { newUpdate, transitionUpdate, withUpdate } from '../../shared/referral/updates';

const canary = 'PiiCanary0test';
const at = (second: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, second));

/** What the topic takes of the record's pending events (eventOutbox.ts `cloudEvents`, through the SDK). */
function publish(record: ReferralRecord): PublishedEvent[] {
    return (record.pendingEvents ?? []).map((event) => ({
        specversion: '1.0',
        id: event.id,
        type: event.type,
        source: '/cosell-referrals',
        subject: eventSubject(record.id),
        time: event.time,
        datacontenttype: 'application/json',
        data: event.data,
    }));
}

/** A Shared referral's life, each change written (sealed) and published before the next; the record as it ends. */
function sharedReferral(): { record: ReferralRecord; published: PublishedEvent[] } {
    const published: PublishedEvent[] = [];
    let record = newRecord({
        id: 'k1',
        source: 'http',
        correlationId: 'c1',
        requestHash: 'h',
        request: null,
        at: at(0),
    });
    const write = (next: ReferralRecord) => {
        const written = sealed(next, true);
        published.push(...publish(written));
        const { pendingEvents: _published, ...cleared } = written;
        record = cleared;
    };
    write(transition(record, 'Submitting', at(1)));
    write(transition(record, 'Submitted', at(2)));
    write(transition(record, 'Connecting', at(3)));
    write(transition(record, 'Connected', at(4)));
    const update = newUpdate({
        id: 'u1',
        source: 'http',
        correlationId: 'c2',
        requestHash: 'h2',
        patch: [],
        at: at(5),
    });
    write(withUpdate(record, update, at(5)));
    write(transitionUpdate(record, 'u1', 'Applying', at(6)));
    write(transitionUpdate(record, 'u1', 'Applied', at(7)));
    write(
        recordPartnerCenterChange(record, {
            at: '2026-01-01T00:00:08.1234567Z',
            referral: 'connected',
            status: 'Active',
            substatus: 'Accepted',
            source: 'webhook',
        }),
    );
    return { record, published };
}

it('passes when every change has one event id, counting repeats of the same event', () => {
    const { record, published } = sharedReferral();
    expect(published.map((event) => event.type)).toEqual([
        'cosell.referral.submitted',
        'cosell.referral.connected',
        'cosell.referral.updated',
        'cosell.referral.partnerCenterChanged',
    ]);
    const check = outcomeEventsCheck({
        records: [record],
        published: [...published, published[1]!],
        canary,
        refused: 3,
    });
    expect(check).toMatchObject({ ok: true });
    expect(check.figures).toMatchObject({
        published: 5,
        distinctIds: 4,
        duplicates: 1,
        missing: 0,
        refusedPublishes: 3,
    });
});

it('finds a change without its event, an event of no change, a repeat that differs, events left pending', () => {
    const { record, published } = sharedReferral();
    const missing = outcomeEventsCheck({ records: [record], published: published.slice(1), canary, refused: 0 });
    expect(missing).toMatchObject({ ok: false, figures: { missing: 2 } });
    expect(missing.detail).toContain('k1:1');
    expect(missing.detail).toContain('k1: cosell.referral.submitted');

    const stray = { ...published[0]!, id: 'k1:9' };
    expect(
        outcomeEventsCheck({ records: [record], published: [...published, stray], canary, refused: 0 }).figures,
    ).toMatchObject({ unexpected: 2 });

    const differing = { ...published[0]!, time: at(30).toISOString() };
    expect(
        outcomeEventsCheck({ records: [record], published: [...published, differing], canary, refused: 0 }).figures,
    ).toMatchObject({ inconsistent: 1 });

    const pending = { ...record, pendingEvents: [{ id: 'k1:5', type: 'cosell.referral.updated' as const, time: '' }] };
    expect(outcomeEventsCheck({ records: [pending], published, canary, refused: 0 }).figures).toMatchObject({
        pendingLeft: 1,
    });
});

it('finds the customer-data canary in an event', () => {
    const { record, published } = sharedReferral();
    const leaking = published.map((event, index) =>
        index === 0 ? { ...event, data: { ...(event.data as object), note: canary } } : event,
    );
    expect(outcomeEventsCheck({ records: [record], published: leaking, canary, refused: 0 })).toMatchObject({
        ok: false,
        figures: { leaks: 1 },
    });
});
