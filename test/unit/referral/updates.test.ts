import {
    IllegalTransitionError,
    transition,
    UPDATE_STATUSES,
    type UpdateStatus,
} from '../../../shared/referral/record';
import {
    canUpdateTransition,
    latestRequest,
    latestStatus,
    newUpdate,
    pendingUpdates,
    transitionUpdate,
    withUpdate,
} from '../../../shared/referral/updates';
import { GIVEN_AT, givenRecord } from '../../support/givenRecord';

const LATER = new Date(GIVEN_AT.getTime() + 60_000);

const ALLOWED: Record<UpdateStatus, UpdateStatus[]> = {
    Pending: ['Applying', 'Rejected', 'Failed'],
    Applying: ['Applied', 'Rejected', 'Failed', 'Pending'],
    Applied: [],
    Rejected: [],
    Failed: ['Pending'],
};

function withOneUpdate(status: UpdateStatus, patch = [{ op: 'replace' as const, path: '/status', value: 'Closed' }]) {
    const update = {
        ...newUpdate({ id: 'u1', source: 'http', correlationId: 'c', requestHash: 'h', patch, at: GIVEN_AT }),
        status,
    };
    return withUpdate(givenRecord(), update, GIVEN_AT);
}

describe('the update state machine', () => {
    const pairs = UPDATE_STATUSES.flatMap((from) => UPDATE_STATUSES.map((to) => [from, to] as const));

    it.each(pairs)('%s → %s is allowed only as the table says', (from, to) => {
        const allowed = ALLOWED[from].includes(to);
        expect(canUpdateTransition(from, to)).toBe(allowed);
        const record = withOneUpdate(from);
        if (!allowed) {
            expect(() => transitionUpdate(record, 'u1', to, LATER)).toThrow(IllegalTransitionError);
            return;
        }
        const moved = transitionUpdate(record, 'u1', to, LATER, { error: { code: 'X', message: 'm' } });
        const update = moved.updates![0]!;
        expect(update.status).toBe(to);
        expect(moved.updatedAt).toBe(LATER.toISOString());
        if (to === 'Applied') {
            expect(update).toMatchObject({ appliedAt: LATER.toISOString(), error: null });
            expect(moved.history.at(-1)).toEqual({ update: 'u1', status: 'Applied', at: LATER.toISOString() });
        } else {
            expect(update.appliedAt).toBeNull();
            expect(moved.history).toEqual(record.history);
            expect(update.error).toEqual(to === 'Pending' ? null : { code: 'X', message: 'm' });
        }
    });

    it('keeps every lifecycle status of the table and names no unknown update', () => {
        expect(Object.keys(ALLOWED).sort()).toEqual([...UPDATE_STATUSES].sort());
        expect(() => transitionUpdate(givenRecord(), 'nope', 'Applying', LATER)).toThrow(/no update nope/);
    });

    it('keeps a new update Pending, or Rejected with its error when given one', () => {
        const fields = { id: 'u', source: 'queue' as const, correlationId: 'c', requestHash: 'h', at: GIVEN_AT };
        expect(newUpdate({ ...fields, patch: [] })).toMatchObject({ status: 'Pending', error: null, appliedAt: null });
        const error = { code: 'InvalidUpdate', message: 'm' };
        expect(newUpdate({ ...fields, patch: null, rejection: error })).toMatchObject({ status: 'Rejected', error });
    });
});

describe('what the app knows of an updated referral', () => {
    const dealValue = (value: number) => [{ op: 'replace' as const, path: '/details/dealValue', value }];

    function recordWith(...updates: Array<[string, UpdateStatus, ReturnType<typeof dealValue>]>) {
        let record = givenRecord();
        for (const [id, status, patch] of updates) {
            const update = newUpdate({ id, source: 'http', correlationId: 'c', requestHash: id, patch, at: GIVEN_AT });
            record = withUpdate(record, { ...update, status }, GIVEN_AT);
        }
        return record;
    }

    it('applies the live updates in acceptance order and skips Rejected and Failed ones', () => {
        const record = recordWith(
            ['a', 'Applied', dealValue(1)],
            ['b', 'Pending', dealValue(2)],
            ['c', 'Failed', dealValue(3)],
        );
        expect(latestRequest(record)!.details.dealValue).toBe(2);
        expect(pendingUpdates(record).map((u) => u.id)).toEqual(['b']);
        expect(latestRequest(recordWith(['a', 'Rejected', dealValue(9)]))!.details.dealValue).toBe(
            givenRecord().request!.details.dealValue,
        );
    });

    it("takes Partner Center's status, moved on by the updates still to apply; Closed stays Closed", () => {
        const answered = (status: string) =>
            transition(transition(givenRecord(), 'Submitting', GIVEN_AT), 'Submitted', GIVEN_AT, {
                partnerReferral: {
                    id: 'p',
                    engagementId: 'e',
                    status,
                    substatus: null,
                    eTag: null,
                    createdDateTime: null,
                    updatedDateTime: null,
                },
            });
        expect(latestStatus(givenRecord())).toBe('New');
        expect(latestStatus(answered('Active'))).toBe('Active');
        const closing = withUpdate(
            answered('Active'),
            newUpdate({
                id: 'u',
                source: 'http',
                correlationId: 'c',
                requestHash: 'h',
                patch: [{ op: 'replace', path: '/status', value: 'Closed' }],
                at: GIVEN_AT,
            }),
            GIVEN_AT,
        );
        expect(latestStatus(closing)).toBe('Closed');
        const reopening = {
            ...answered('Closed'),
            updates: closing.updates!.map((u) => ({
                ...u,
                patch: [{ op: 'replace' as const, path: '/status', value: 'Active' }],
            })),
        };
        expect(latestStatus(reopening)).toBe('Closed');
    });
});
