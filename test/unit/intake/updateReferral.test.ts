import { HttpRequest } from '@azure/functions';

import { recordReferralUpdate } from '../../../functions/recordReferralUpdate';
import { updateReferral } from '../../../functions/updateReferral';
import type { UpdateStepDependencies } from '../../../shared/pipeline/updateStep';
import { transition } from '../../../shared/referral/record';
import { statusDocument } from '../../../shared/referral/statusDocument';
import { MAX_UPDATE_BODY_BYTES, type UpdateIntakeDependencies } from '../../../shared/referral/updateIntake';
import { FakePartnerApi } from '../../support/fakePartnerApi';
import { invocationContext, readResponse } from '../../support/functions';
import { givenRecord } from '../../support/givenRecord';
import { MemoryReferralStore } from '../../support/memoryReferralStore';
import { RecordingSender } from '../../support/recordingSender';
import { expectNoPii, PII, referralWithPii } from '../../support/referrals';

const URL = 'http://localhost:7071/api/referrals/k1';
const CLOSE_WON = [
    { op: 'replace', path: '/status', value: 'Closed' },
    { op: 'replace', path: '/substatus', value: 'Won' },
];
const ADD_MEMBER = [{ op: 'add', path: '/team/-', value: { firstName: PII.firstName, email: PII.email } }];

function patch(body: unknown, headers: Record<string, string> = {}, id = 'k1'): HttpRequest {
    return new HttpRequest({
        method: 'PATCH',
        url: URL,
        params: { id },
        body: { string: typeof body === 'string' ? body : JSON.stringify(body) },
        headers: { 'content-type': 'application/json-patch+json', ...headers },
    });
}

function setup(record = givenRecord({ request: referralWithPii() })) {
    const store = new MemoryReferralStore();
    store.put(record);
    const queue = new RecordingSender();
    let keys = 0;
    // The queue function also runs the applier: these referrals are not at Partner Center yet, so their updates wait.
    const deps: UpdateIntakeDependencies & UpdateStepDependencies = {
        store,
        updatesQueue: queue,
        newKey: () => `generated-${++keys}`,
        now: () => new Date('2026-11-21T13:00:00Z'),
        partnerApi: new FakePartnerApi(),
        retry: { windowMs: 300_000, baseDelayMs: 1000, maxDelayMs: 60_000 },
        leaseMs: 90_000,
        random: () => 0.5,
    };
    const { context, lines } = invocationContext('updateReferral');
    const call = async (request: HttpRequest) => readResponse(await updateReferral(request, context, deps));
    const updates = () => store.items.get('k1')!.record.updates ?? [];
    return { store, queue, deps, lines, call, updates };
}

describe('PATCH /api/referrals/{id}', () => {
    it('records the update Pending, queues the publisher-shaped message and answers 202 with Location', async () => {
        const { call, queue, updates, lines, store } = setup();
        const response = await call(patch(CLOSE_WON, { 'idempotency-key': 'close-1', 'x-correlation-id': 'corr-9' }));
        expect(response.status).toBe(202);
        expect(response.json).toEqual({
            id: 'k1',
            update: { id: 'close-1', status: 'Pending' },
            statusUrl: '/api/referrals/k1',
        });
        expect(response.headers.get('location')).toBe('/api/referrals/k1');
        expect(updates()).toEqual([
            expect.objectContaining({ id: 'close-1', status: 'Pending', source: 'http', patch: CLOSE_WON }),
        ]);
        expect(queue.sent).toEqual([
            {
                body: CLOSE_WON,
                messageId: 'k1:update:close-1',
                correlationId: 'corr-9',
                contentType: 'application/json',
                applicationProperties: { contractVersion: '1', referralId: 'k1', updateKey: 'close-1' },
            },
        ]);
        expect(statusDocument(store.items.get('k1')!.record).updates).toEqual([
            { id: 'close-1', status: 'Pending', acceptedAt: '2026-11-21T13:00:00.000Z', appliedAt: null, error: null },
        ]);
        expect(lines.join('\n')).toContain('"event":"update.accepted"');
    });

    it('takes application/json too, and makes a key when none is given', async () => {
        const { call } = setup();
        const response = await call(patch(CLOSE_WON, { 'content-type': 'application/json; charset=utf-8' }));
        expect(response.status).toBe(202);
        expect(response.json!.update).toEqual({ id: 'generated-1', status: 'Pending' });
    });

    it('answers 415, 413, 404 and a bad key 400 without recording anything', async () => {
        const { call, updates } = setup();
        expect((await call(patch(CLOSE_WON, { 'content-type': 'text/plain' }))).status).toBe(415);
        expect((await call(patch(CLOSE_WON, { 'content-type': 'application/merge-patch+json' }))).status).toBe(415);
        const huge = [{ op: 'replace', path: '/details/notes', value: 'x'.repeat(MAX_UPDATE_BODY_BYTES) }];
        expect((await call(patch(huge))).status).toBe(413);
        expect((await call(patch(CLOSE_WON, {}, 'unknown'))).status).toBe(404);
        expect((await call(patch(CLOSE_WON, {}, 'bad key!'))).status).toBe(404);
        expect((await call(patch(CLOSE_WON, { 'idempotency-key': 'not ok!' }))).status).toBe(400);
        expect((await call(patch('{not json'))).status).toBe(400);
        expect(updates()).toEqual([]);
    });

    it('answers 400 listing every problem, quoting no value, logging only paths', async () => {
        const { call, updates, lines, queue } = setup();
        const body = [
            { op: 'replace', path: '/customerProfile/name', value: `${PII.customerName}\u0000` },
            { op: 'replace', path: '/type', value: PII.email },
            { op: 'remove', path: `/${PII.lastName}` },
        ];
        const response = await call(patch(body));
        expect(response.status).toBe(400);
        expect(response.headers.get('content-type')).toBe('application/problem+json');
        expect(response.json!.errors).toEqual([
            { path: '[1].path', message: 'names a property that may not change' },
            { path: '[2].op', message: 'must be one of: add, replace' },
            { path: '[2].path', message: 'is not a path of the referral' },
            { path: '[2].value', message: 'is required' },
            { path: 'customerProfile.name', message: expect.any(String) },
        ]);
        expectNoPii(response.text);
        expectNoPii(lines.join('\n'));
        expect(updates()).toEqual([]);
        expect(queue.sent).toEqual([]);
    });

    it('answers 400 to an illegal transition from the latest known status', async () => {
        const submitted = transition(transition(givenRecord(), 'Submitting', new Date()), 'Submitted', new Date(), {
            partnerReferral: {
                id: 'p',
                engagementId: 'e',
                status: 'Active',
                substatus: 'Accepted',
                eTag: '"1"',
                createdDateTime: null,
                updatedDateTime: null,
            },
        });
        const { call } = setup(submitted);
        const back = [
            { op: 'replace', path: '/status', value: 'New' },
            { op: 'replace', path: '/substatus', value: 'Pending' },
        ];
        const response = await call(patch(back));
        expect(response.status).toBe(400);
        expect(response.json!.errors).toEqual([
            { path: 'status', message: expect.stringMatching(/cannot move from Active/) },
        ]);
    });

    it('answers a repeat as before, and 409 to the same key with another body', async () => {
        const { call, queue, updates } = setup();
        const headers = { 'idempotency-key': 'u-1' };
        const first = await call(patch(ADD_MEMBER, headers));
        const again = await call(patch(ADD_MEMBER, headers));
        expect(again.status).toBe(202);
        expect(again.json).toEqual(first.json);
        // Re-sent while Pending: the same messageId, which the queue's duplicate detection drops.
        expect(new Set(queue.sent.map((m) => m.messageId))).toEqual(new Set(['k1:update:u-1']));
        const other = await call(patch(CLOSE_WON, headers));
        expect(other.status).toBe(409);
        expectNoPii(other.text);
        expect(updates()).toHaveLength(1);
    });

    it('answers 409 to two updates racing with the same key and different bodies', async () => {
        const { call, store, deps, updates } = setup();
        let raced = false;
        store.beforeWrite = async () => {
            if (raced) return;
            raced = true;
            // Another request with the same key and another body wins the write first.
            const other = await updateReferral(
                patch(CLOSE_WON, { 'idempotency-key': 'same' }),
                invocationContext('x').context,
                deps,
            );
            expect(other.status).toBe(202);
        };
        const response = await call(patch(ADD_MEMBER, { 'idempotency-key': 'same' }));
        expect(response.status).toBe(409);
        expect(updates().map((u) => u.patch)).toEqual([CLOSE_WON]);
    });

    it('retries its conditional write when the record changed meanwhile, keeping the other change', async () => {
        const { call, store, updates } = setup();
        let raced = false;
        store.beforeWrite = () => {
            if (raced) return;
            raced = true;
            const current = store.items.get('k1')!.record;
            store.put(transition(current, 'Submitting', new Date('2026-11-21T13:00:01Z'), { attempts: 1 }));
        };
        const response = await call(patch(ADD_MEMBER, { 'idempotency-key': 'u-2' }));
        expect(response.status).toBe(202);
        expect(store.items.get('k1')!.record).toMatchObject({ status: 'Submitting', attempts: 1 });
        expect(updates().map((u) => u.id)).toEqual(['u-2']);
    });

    it('answers 409 once the referral is closed (applied or pending), or was rejected before Partner Center', async () => {
        const { call } = setup();
        expect((await call(patch(CLOSE_WON, { 'idempotency-key': 'close' }))).status).toBe(202);
        const late = await call(patch(ADD_MEMBER, { 'idempotency-key': 'late' }));
        expect(late.status).toBe(409);
        expect(late.json!.detail).toMatch(/Closed/);

        const rejected = setup(
            transition(givenRecord(), 'Rejected', new Date(), { error: { code: 'X', message: 'm' } }),
        );
        expect((await rejected.call(patch(CLOSE_WON))).status).toBe(409);
    });

    it('accepts an update while the create is still in flight, and on a Failed referral', async () => {
        const inFlight = setup(transition(givenRecord(), 'Submitting', new Date()));
        expect((await inFlight.call(patch(CLOSE_WON))).status).toBe(202);
        const failed = setup(
            transition(transition(givenRecord(), 'Submitting', new Date()), 'Failed', new Date(), {
                error: { code: 'RetriesExhausted', message: 'm' },
            }),
        );
        expect((await failed.call(patch(CLOSE_WON))).status).toBe(202);
    });

    it('answers 503 with Retry-After when the store or the queue is down; a retry then queues the update', async () => {
        const { call, store, queue, updates } = setup();
        store.failWith = Object.assign(new Error('down'), { code: 'ECONNREFUSED' });
        const down = await call(patch(CLOSE_WON, { 'idempotency-key': 'u-3' }));
        expect(down.status).toBe(503);
        expect(down.headers.get('retry-after')).toBe('5');
        store.failWith = undefined;
        queue.failWith = new Error('bus down');
        expect((await call(patch(CLOSE_WON, { 'idempotency-key': 'u-3' }))).status).toBe(503);
        expect(updates().map((u) => u.status)).toEqual(['Pending']);
        queue.failWith = undefined;
        expect((await call(patch(CLOSE_WON, { 'idempotency-key': 'u-3' }))).status).toBe(202);
        expect(queue.sent).toHaveLength(1);
    });
});

describe('queue referral-updates', () => {
    function delivery(properties: Record<string, unknown>, messageId = 'pub-1') {
        return invocationContext('recordReferralUpdate', {
            messageId,
            deliveryCount: 1,
            applicationProperties: { contractVersion: '1', ...properties },
        });
    }

    it('records a publisher update Pending once, however often it is delivered', async () => {
        const { store, deps, updates } = setup();
        for (let i = 0; i < 2; i++) {
            const { context } = delivery({ referralId: 'k1' });
            await recordReferralUpdate(CLOSE_WON, context, deps);
        }
        expect(updates()).toEqual([expect.objectContaining({ id: 'pub-1', status: 'Pending', source: 'queue' })]);
        expect(store.items.get('k1')!.record.updates).toHaveLength(1);
    });

    it('records the message the PATCH intake sent as the same update (a repeat)', async () => {
        const { call, queue, deps, updates } = setup();
        await call(patch(CLOSE_WON, { 'idempotency-key': 'u-9' }));
        const sent = queue.sent[0]!;
        const { context } = delivery(sent.applicationProperties!, sent.messageId as string);
        await recordReferralUpdate(sent.body, context, deps);
        expect(updates().map((u) => [u.id, u.source])).toEqual([['u-9', 'http']]);
    });

    it('keeps an invalid update Rejected with its problems, logging no value, and does not throw', async () => {
        const { deps, updates } = setup();
        const { context, lines } = delivery({ referralId: 'k1' });
        await recordReferralUpdate([...ADD_MEMBER, { op: 'add', path: '/id', value: PII.email }], context, deps);
        const [update] = updates();
        expect(update).toMatchObject({ id: 'pub-1', status: 'Rejected', patch: null });
        expect(update!.error).toMatchObject({ code: 'InvalidUpdate', problems: [{ path: '[1].path' }] });
        expectNoPii(lines.join('\n'));
        expect(lines.join('\n')).toContain('"event":"update.rejected"');
    });

    it('keeps an update of a closed referral Rejected as ReferralClosed', async () => {
        const { deps, updates } = setup();
        await recordReferralUpdate(CLOSE_WON, delivery({ referralId: 'k1' }, 'a').context, deps);
        await recordReferralUpdate(ADD_MEMBER, delivery({ referralId: 'k1' }, 'b').context, deps);
        expect(updates().map((u) => [u.id, u.status, u.error?.code ?? null])).toEqual([
            ['a', 'Pending', null],
            ['b', 'Rejected', 'ReferralClosed'],
        ]);
    });

    it('leaves to dead-letter an update of an unknown referral, or one without a usable referralId', async () => {
        const { deps } = setup();
        await expect(recordReferralUpdate(CLOSE_WON, delivery({ referralId: 'nobody' }).context, deps)).rejects.toThrow(
            /no record/,
        );
        await expect(recordReferralUpdate(CLOSE_WON, delivery({}).context, deps)).rejects.toThrow(/referralId/);
    });
});
