import { recordPartnerCenterChange, restarted, transition } from '../../../shared/referral/record';
import { newUpdate, transitionUpdate, withUpdate } from '../../../shared/referral/updates';
import { GIVEN_AT, givenRecord } from '../../support/givenRecord';

const at = (seconds: number) => new Date(GIVEN_AT.getTime() + seconds * 1000);
const types = (record: { pendingEvents?: Array<{ type: string }> }) => (record.pendingEvents ?? []).map((e) => e.type);

describe('outcome events derived from the record changes', () => {
    it('a Shared referral: submitted, then connected, with ids counting up per record', () => {
        const submitting = transition(givenRecord(), 'Submitting', at(1));
        expect(submitting.pendingEvents).toBeUndefined();
        const submitted = transition(transition(submitting, 'Submitting', at(2)), 'Submitted', at(3));
        const connected = transition(transition(submitted, 'Connecting', at(4)), 'Connected', at(5));
        expect(connected.pendingEvents).toEqual([
            { id: 'k1:1', type: 'cosell.referral.submitted', time: at(3).toISOString() },
            { id: 'k1:2', type: 'cosell.referral.connected', time: at(5).toISOString() },
        ]);
        expect(connected.eventSequence).toBe(2);
    });

    it('Rejected and Failed are outcomes; a restart of a Failed referral is not', () => {
        expect(types(transition(givenRecord(), 'Rejected', at(1)))).toEqual(['cosell.referral.rejected']);
        const failed = transition(transition(givenRecord(), 'Submitting', at(1)), 'Failed', at(2));
        expect(types(failed)).toEqual(['cosell.referral.failed']);
        const again = restarted({ ...failed, pendingEvents: [] }, at(3));
        expect(again.pendingEvents).toEqual([]);
        // A second failure after the replay is a change of its own: a new id.
        const failedAgain = transition(transition(again, 'Submitting', at(4)), 'Failed', at(5));
        expect(failedAgain.pendingEvents!.map((e) => e.id)).toEqual(['k1:2']);
    });

    it('an id stays fixed when the history is cut to its last entries', () => {
        let record = transition(givenRecord(), 'Submitting', at(0));
        for (let i = 1; i <= 30; i++) record = transition(record, 'Submitting', at(i));
        record = transition(record, 'Submitted', at(31));
        expect(record.pendingEvents!.at(-1)!.id).toBe('k1:1');
    });

    it('an update applied, rejected or failed: cosell.referral.updated with the update id and how it ended', () => {
        const patch = [{ op: 'replace' as const, path: '/status', value: 'Closed' }];
        const update = newUpdate({ id: 'u1', source: 'http', correlationId: 'c', requestHash: 'h', patch, at: at(1) });
        const accepted = withUpdate(givenRecord(), update, at(1));
        expect(accepted.pendingEvents).toBeUndefined();
        const applying = transitionUpdate(accepted, 'u1', 'Applying', at(2));
        expect(applying.pendingEvents).toBeUndefined();
        const applied = transitionUpdate(applying, 'u1', 'Applied', at(3));
        expect(applied.pendingEvents).toEqual([
            {
                id: 'k1:1',
                type: 'cosell.referral.updated',
                time: at(3).toISOString(),
                update: { id: 'u1', status: 'Applied' },
            },
        ]);
        const failed = transitionUpdate(transitionUpdate(accepted, 'u1', 'Applying', at(2)), 'u1', 'Failed', at(3));
        expect(failed.pendingEvents![0]!.update).toEqual({ id: 'u1', status: 'Failed' });
    });

    it('an update kept Rejected on arrival (invalid from the queue) is an outcome at once', () => {
        const rejection = { code: 'InvalidUpdate', message: 'The update is invalid.' };
        const update = newUpdate({
            id: 'u2',
            source: 'queue',
            correlationId: 'c',
            requestHash: 'h',
            patch: null,
            at: at(1),
            rejection,
        });
        const record = withUpdate(givenRecord(), update, at(1));
        expect(record.pendingEvents).toEqual([
            expect.objectContaining({ type: 'cosell.referral.updated', update: { id: 'u2', status: 'Rejected' } }),
        ]);
    });

    it("the sync worker's history entry yields cosell.referral.partnerCenterChanged with the change", () => {
        const change = {
            at: at(9).toISOString(),
            referral: 'connected' as const,
            status: 'Closed',
            substatus: 'Won',
            source: 'webhook' as const,
        };
        const connected = transition(givenRecord({ status: 'Connecting' }), 'Connected', at(5));
        const changed = recordPartnerCenterChange(connected, change);
        expect(changed.history.at(-1)).toEqual(change);
        expect(changed.updatedAt).toBe(change.at);
        expect(changed.pendingEvents!.at(-1)).toEqual({
            id: 'k1:2',
            type: 'cosell.referral.partnerCenterChanged',
            time: change.at,
            partnerCenterChange: change,
        });
    });
});
