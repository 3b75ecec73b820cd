import { ErrorResponse } from '@azure/cosmos';

import { recordReferralUpdate } from '../../../functions/recordReferralUpdate';
import { runStep, type StepDependencies } from '../../../shared/pipeline/step';
import { submitStep } from '../../../shared/pipeline/submitStep';
import { applyNextUpdate, isReflected, type UpdateStepDependencies } from '../../../shared/pipeline/updateStep';
import { type ReferralRecord, summarize } from '../../../shared/referral/record';
import type { JsonPatch } from '../../../shared/referral/request/jsonPatch';
import { admitUpdate } from '../../../shared/referral/updateAdmission';
import { permanentError, transientError } from '../../support/fakePartnerApi';
import { invocationContext } from '../../support/functions';
import { givenRecord } from '../../support/givenRecord';
import { RecordingSender } from '../../support/recordingSender';
import { expectNoPii, PII, seedReferral } from '../../support/referrals';
import { workerSetup } from '../../support/worker';

const DEAL_VALUE: JsonPatch = [{ op: 'replace', path: '/details/dealValue', value: 75000 }];
const MEMBER = { firstName: PII.firstName, lastName: PII.lastName, email: PII.email };
const ADD_MEMBER: JsonPatch = [{ op: 'add', path: '/team/-', value: MEMBER }];
const CLOSE_WON: JsonPatch = [
    { op: 'replace', path: '/status', value: 'Closed' },
    { op: 'replace', path: '/substatus', value: 'Won' },
];
const ELSEWHERE: JsonPatch = [{ op: 'replace', path: '/details/notes', value: 'Edited at Partner Center' }];

/** A referral submitted to the fake Partner API (Active/Accepted there), and the applier's collaborators. */
async function setup(options: { submitted?: boolean } = {}) {
    const worker = workerSetup();
    const { store, api, clock } = worker;
    const updatesQueue = new RecordingSender();
    const stepDeps: StepDependencies = { ...worker.deps, updatesQueue };
    const deps: UpdateStepDependencies = { ...stepDeps, partnerApi: api, updatesQueue };
    if (options.submitted === false) {
        store.put(givenRecord());
    } else {
        const created = await api.createReferral(seedReferral(), { correlationId: 'corr-1' });
        store.put(givenRecord({ status: 'Submitted', type: 'Independent', partnerReferral: summarize(created) }));
    }
    const admit = async (updateKey: string, body: JsonPatch) => {
        const admission = await admitUpdate(
            { referralKey: 'k1', updateKey, body, correlationId: `corr-${updateKey}`, source: 'queue' },
            { store, now: () => new Date(clock.now) },
        );
        expect(admission.outcome).toBe('admitted');
    };
    const record = (): ReferralRecord => store.items.get('k1')!.record;
    const statuses = () => (record().updates ?? []).map((update) => [update.id, update.status, update.error?.code]);
    const held = () => api.referrals[0] as Record<string, any>;
    const apply = () => applyNextUpdate('k1', deps, worker.log);
    return { ...worker, deps, stepDeps, updatesQueue, admit, record, statuses, held, apply };
}

describe('the applier', () => {
    it('PATCHes the oldest Pending update with If-Match the known eTag and records Partner Center’s answer', async () => {
        const { admit, apply, api, record, held, lines } = await setup();
        const knownETag = record().partnerReferral!.eTag;
        await admit('u1', [...DEAL_VALUE, ...CLOSE_WON]);

        expect(await apply()).toBe('applied');

        expect(api.patches).toEqual([
            expect.objectContaining({ patch: [...DEAL_VALUE, ...CLOSE_WON], eTag: knownETag }),
        ]);
        expect(api.gets).toEqual([]);
        expect(held()).toMatchObject({ status: 'Closed', substatus: 'Won', details: { dealValue: 75000 } });
        const { partnerReferral, updates, history } = record();
        expect(partnerReferral).toMatchObject({
            status: 'Closed',
            substatus: 'Won',
            eTag: held().eTag,
            updatedDateTime: held().updatedDateTime,
        });
        expect(partnerReferral!.eTag).not.toBe(knownETag);
        expect(updates![0]).toMatchObject({ status: 'Applied', appliedAt: expect.any(String), leaseUntil: null });
        expect(history.at(-1)).toEqual({ update: 'u1', status: 'Applied', at: updates![0]!.appliedAt });
        expectNoPii(lines.join('\n'));
    });

    it('applies two updates in acceptance order, one at a time, the first one’s settling sending the next one’s turn', async () => {
        const { admit, apply, api, statuses, updatesQueue, held } = await setup();
        await admit('u1', DEAL_VALUE);
        await admit('u2', ADD_MEMBER);

        expect(await apply()).toBe('applied');
        expect(statuses()).toEqual([
            ['u1', 'Applied', undefined],
            ['u2', 'Pending', undefined],
        ]);
        expect(updatesQueue.sent.map((message) => message.messageId)).toEqual(['k1:update:u2:apply']);
        expect(updatesQueue.sent[0]!.applicationProperties).toMatchObject({
            referralId: 'k1',
            updateKey: 'u2',
            attempt: 1,
        });

        expect(await apply()).toBe('applied');
        expect(api.patches.map(({ patch }) => patch)).toEqual([DEAL_VALUE, ADD_MEMBER]);
        // The second PATCH carries the eTag the first one's answer gave.
        expect(api.patches[1]!.eTag).not.toBe(api.patches[0]!.eTag);
        expect(held().team).toHaveLength(2);
        expect(await apply()).toBe('idle');
    });

    it('keeps an update accepted while the create is in flight waiting; the submit step’s completion kicks it', async () => {
        const { admit, apply, api, stepDeps, log, statuses, updatesQueue } = await setup({ submitted: false });
        await admit('u1', CLOSE_WON);

        expect(await apply()).toBe('waitingForCreate');
        expect(api.patches).toEqual([]);
        expect(updatesQueue.sent).toEqual([]);

        expect(await runStep(submitStep, 'k1', 'corr-1', stepDeps, log)).toBe('created');
        expect(updatesQueue.sent.map((message) => message.messageId)).toEqual(['k1:update:u1:apply']);

        expect(await apply()).toBe('applied');
        expect(statuses()).toEqual([['u1', 'Applied', undefined]]);
    });

    it('after a lost PATCH answer reads the referral and finds the member there: applied, the member once', async () => {
        const { admit, apply, api, held, statuses } = await setup();
        await admit('u1', ADD_MEMBER);
        api.patchScript.push('lostAnswer');

        expect(await apply()).toBe('alreadyApplied');

        expect(api.patches).toHaveLength(1);
        expect(api.gets).toHaveLength(1);
        expect(held().team.filter((member: { email?: string }) => member.email === PII.email)).toHaveLength(1);
        expect(statuses()).toEqual([['u1', 'Applied', undefined]]);
    });

    it('after a PATCH answered 503 with Retry-After and an unknown outcome, reads the referral only after the Retry-After', async () => {
        const { admit, apply, api, statuses, updatesQueue, deps, clock } = await setup();
        await admit('u1', DEAL_VALUE);
        api.patchScript.push(transientError({ status: 503, retryAfterMs: 1000, outcomeUnknown: true }));

        expect(await apply()).toBe('retryScheduled');
        expect(api.gets).toHaveLength(0);
        const retry = updatesQueue.sent.at(-1)!;
        const notBefore = new Date(retry.scheduledEnqueueTimeUtc!).getTime();
        expect(notBefore).toBeGreaterThanOrEqual(clock.now.getTime() + 1000);

        deps.now = () => new Date(notBefore);
        expect(await apply()).toBe('applied');
        // The next attempt reads first (the PATCH may have landed), then applies.
        expect(api.gets).toHaveLength(1);
        expect(statuses()).toEqual([['u1', 'Applied', undefined]]);
    });

    it('after a 412 from a concurrent edit keeps the other change and re-applies the same operations on the new eTag', async () => {
        const { admit, apply, api, held, record } = await setup();
        await admit('u1', DEAL_VALUE);
        api.concurrentEdits.push(ELSEWHERE);

        expect(await apply()).toBe('applied');

        expect(api.patches).toHaveLength(2);
        expect(api.patches[1]!.patch).toEqual(DEAL_VALUE);
        expect(api.patches[1]!.eTag).not.toBe(api.patches[0]!.eTag);
        expect(held().details).toMatchObject({ notes: 'Edited at Partner Center', dealValue: 75000 });
        expect(record().partnerReferral!.eTag).toBe(held().eTag);
    });

    it('a 409 on the PATCH is treated as a stale view too: read, then applied once', async () => {
        const { admit, apply, api, held } = await setup();
        await admit('u1', ADD_MEMBER);
        api.patchScript.push(permanentError(409, 'conflict', 'Conflict.'));

        expect(await apply()).toBe('applied');
        expect(api.gets).toHaveLength(1);
        expect(held().team).toHaveLength(2);
    });

    it('Rejects a close when the referral was Closed at Partner Center meanwhile, never overwriting it', async () => {
        const { admit, apply, api, statuses, updatesQueue, held, record } = await setup();
        await admit('u1', CLOSE_WON);
        // Someone closed it as Lost at Partner Center meanwhile: our Won must not overwrite it.
        api.concurrentEdits.push([
            { op: 'replace', path: '/status', value: 'Closed' },
            { op: 'replace', path: '/substatus', value: 'Lost' },
        ]);

        expect(await apply()).toBe('rejected');
        expect(statuses()).toEqual([['u1', 'Rejected', 'ReferralClosed']]);
        expect(api.patches).toHaveLength(1);
        expect(held().substatus).toBe('Lost');
        expect(record().partnerReferral).toMatchObject({ status: 'Closed', substatus: 'Lost', eTag: held().eTag });
        expect(updatesQueue.sent).toEqual([]);
    });

    it('Rejects as IllegalTransition a status move the newer status forbids', async () => {
        const { admit, apply, api, statuses, held, store, record } = await setup();
        // The referral is still New at Partner Center when the update (New → New/Received) is accepted.
        Object.assign(held(), { status: 'New', substatus: 'Pending' });
        store.put({
            ...record(),
            partnerReferral: { ...record().partnerReferral!, status: 'New', substatus: 'Pending' },
        });
        await admit('u1', [{ op: 'replace', path: '/substatus', value: 'Received' }]);
        api.concurrentEdits.push([
            { op: 'replace', path: '/status', value: 'Active' },
            { op: 'replace', path: '/substatus', value: 'Accepted' },
        ]);

        expect(await apply()).toBe('rejected');
        expect(statuses()).toEqual([['u1', 'Rejected', 'IllegalTransition']]);
        expect(held()).toMatchObject({ status: 'Active', substatus: 'Accepted' });
    });

    it('Rejects an update on a permanent 4xx with the API’s code, and the next one proceeds', async () => {
        const { admit, apply, api, statuses, updatesQueue } = await setup();
        await admit('u1', DEAL_VALUE);
        await admit('u2', ADD_MEMBER);
        api.patchScript.push(permanentError(400, 'invalidRequest', 'dealValue is out of range.'));

        expect(await apply()).toBe('rejected');
        expect(statuses()[0]).toEqual(['u1', 'Rejected', 'invalidRequest']);
        expect(updatesQueue.sent.map((message) => message.messageId)).toEqual(['k1:update:u2:apply']);
        expect(await apply()).toBe('applied');
        expect(statuses()[1]).toEqual(['u2', 'Applied', undefined]);
    });

    it('retries a transient failure no earlier than Retry-After through a scheduled copy of the update’s message', async () => {
        const { admit, apply, api, statuses, updatesQueue, record, advance, clock } = await setup();
        await admit('u1', DEAL_VALUE);
        api.patchScript.push(transientError({ status: 503, retryAfterMs: 30_000 }));

        expect(await apply()).toBe('retryScheduled');
        expect(statuses()).toEqual([['u1', 'Pending', undefined]]);
        const update = record().updates![0]!;
        expect(Date.parse(update.notBefore!) - clock.now.getTime()).toBeGreaterThanOrEqual(30_000);
        expect(updatesQueue.sent).toEqual([
            expect.objectContaining({
                messageId: 'k1:update:u1:r2',
                scheduledEnqueueTimeUtc: new Date(update.notBefore!),
                applicationProperties: expect.objectContaining({ attempt: 2 }),
            }),
        ]);

        expect(await apply()).toBe('waitingForRetryTime');
        expect(api.patches).toHaveLength(1);
        advance(30_000);
        expect(await apply()).toBe('applied');
        // A 503 leaves no doubt about a patch: no read first.
        expect(api.gets).toEqual([]);
    });

    it('marks the update Failed once its retry window is over, and the next one proceeds', async () => {
        const { admit, apply, api, statuses, advance, deps, record, clock } = await setup();
        await admit('u1', DEAL_VALUE);
        await admit('u2', ADD_MEMBER);
        const outcomes: string[] = [];
        do {
            api.patchScript.push(transientError({ status: 500 }));
            outcomes.push(await apply());
            const { notBefore } = record().updates![0]!;
            if (notBefore) clock.now = new Date(notBefore);
        } while (outcomes.at(-1) === 'retryScheduled');
        expect(outcomes.at(-1)).toBe('failed');
        // Attempts kept coming until the next one would start past the window (from the first attempt).
        const window = record().updates![0]!.retryWindow!;
        expect(clock.now.getTime() - Date.parse(window.from)).toBeLessThanOrEqual(deps.retry.windowMs);
        expect(outcomes.length).toBeGreaterThan(3);
        expect(statuses()).toEqual([
            ['u1', 'Failed', 'RetriesExhausted'],
            ['u2', 'Pending', undefined],
        ]);
        advance(1);
        expect(await apply()).toBe('applied');
    });

    it('after a second 412 in one attempt retries later, reading the referral first', async () => {
        const { admit, apply, api, record, advance } = await setup();
        await admit('u1', DEAL_VALUE);
        api.concurrentEdits.push(ELSEWHERE, [{ op: 'replace', path: '/details/currency', value: 'EUR' }]);

        expect(await apply()).toBe('retryScheduled');
        expect(record().updates![0]).toMatchObject({ status: 'Pending', uncertain: true });
        advance(60_000);
        expect(await apply()).toBe('applied');
        expect(api.gets).toHaveLength(2);
        expect(api.referrals[0]!.details).toMatchObject({ currency: 'EUR', dealValue: 75000 });
    });

    it('reads the referral after a 204 without a body', async () => {
        const { admit, apply, api, record, held } = await setup();
        await admit('u1', CLOSE_WON);
        api.patchScript.push('noContent');

        expect(await apply()).toBe('applied');
        expect(api.gets).toHaveLength(1);
        expect(record().partnerReferral).toMatchObject({ status: 'Closed', substatus: 'Won', eTag: held().eTag });
    });

    it('waits for another delivery’s lease; a lease run out means a died worker: read first, then apply once', async () => {
        const { admit, apply, api, record, store, updatesQueue, advance, deps, held } = await setup();
        await admit('u1', ADD_MEMBER);
        // A delivery claimed it, sent the PATCH (it landed) and died.
        const claimed = record();
        const leaseUntil = new Date(Date.parse(claimed.updatedAt) + deps.leaseMs).toISOString();
        store.put({
            ...claimed,
            updates: [{ ...claimed.updates![0]!, status: 'Applying', attempts: 1, leaseUntil }],
        });
        await api.patchReferral(held().id, ADD_MEMBER, null, { correlationId: 'c' });

        expect(await apply()).toBe('waitingForLease');
        expect(updatesQueue.sent.map((message) => message.messageId)).toEqual([
            `k1:update:u1:w${Date.parse(leaseUntil)}`,
        ]);
        advance(deps.leaseMs + 1);
        expect(await apply()).toBe('alreadyApplied');
        expect(api.patches).toHaveLength(1);
        expect(held().team).toHaveLength(2);
        expect(record().updates![0]).toMatchObject({ status: 'Applied', attempts: 2 });
    });

    it('leaves an update another delivery claimed after this one’s lease ran out to that delivery', async () => {
        const { admit, api, record, store, deps, log } = await setup();
        await admit('u1', DEAL_VALUE);
        // Between the claim and the answer, another delivery took the update over.
        const original = api.patchReferral.bind(api);
        api.patchReferral = async (...args) => {
            const current = record();
            store.put({ ...current, updates: [{ ...current.updates![0]!, leaseUntil: '2099-01-01T00:00:00.000Z' }] });
            return original(...args);
        };
        expect(await applyNextUpdate('k1', deps, log)).toBe('superseded');
        expect(record().updates![0]!.status).toBe('Applying');
    });
});

describe('queue referral-updates', () => {
    const delivered = (message: { messageId?: unknown; applicationProperties?: Record<string, unknown> }) =>
        invocationContext('recordReferralUpdate', {
            messageId: message.messageId,
            deliveryCount: 1,
            applicationProperties: message.applicationProperties,
        }).context;

    it('admits a published update, then applies it; a run the applier scheduled only applies', async () => {
        const { deps, api, statuses, updatesQueue, held } = await setup();
        const published = { messageId: 'pub-1', applicationProperties: { contractVersion: '1', referralId: 'k1' } };
        const second = { messageId: 'pub-2', applicationProperties: { contractVersion: '1', referralId: 'k1' } };
        api.patchScript.push(transientError({ status: 503, retryAfterMs: 1000 }));

        await recordReferralUpdate(DEAL_VALUE, delivered(published), deps);
        await recordReferralUpdate(ADD_MEMBER, delivered(second), deps);
        expect(statuses()).toEqual([
            ['pub-1', 'Pending', undefined],
            ['pub-2', 'Pending', undefined],
        ]);
        // pub-2's delivery found pub-1 waiting for its retry: it re-sent that retry (the queue keeps one).
        const retry = updatesQueue.sent.at(-1)!;
        expect(retry.messageId).toBe('k1:update:pub-1:r2');

        deps.now = () => new Date(Date.parse(retry.scheduledEnqueueTimeUtc!.toString()));
        await recordReferralUpdate(retry.body, delivered(retry), deps);
        const turn = updatesQueue.sent.at(-1)!;
        expect(turn.messageId).toBe('k1:update:pub-2:apply');
        await recordReferralUpdate(turn.body, delivered(turn), deps);

        expect(statuses()).toEqual([
            ['pub-1', 'Applied', undefined],
            ['pub-2', 'Applied', undefined],
        ]);
        expect(held()).toMatchObject({ details: { dealValue: 75000 } });
        expect(held().team).toHaveLength(2);
    });

    it('a Cosmos DB outage under a published update: a scheduled copy keeps the update key, and the copy admits and applies it once', async () => {
        const { deps, store, statuses, updatesQueue, held } = await setup();
        const published = { messageId: 'pub-1', applicationProperties: { contractVersion: '1', referralId: 'k1' } };
        const outage = new ErrorResponse('Cosmos DB is unavailable');
        outage.code = 503;
        const read = jest.spyOn(store, 'read').mockRejectedValueOnce(outage);

        // Completed (not abandoned ten times and dead-lettered): the copy carries on.
        await expect(recordReferralUpdate(DEAL_VALUE, delivered(published), deps)).resolves.toBeUndefined();
        read.mockRestore();
        const copy = updatesQueue.sent.at(-1)!;
        expect(copy).toMatchObject({
            body: DEAL_VALUE,
            applicationProperties: { referralId: 'k1', updateKey: 'pub-1', outageOrigin: 'pub-1', outageCopy: 1 },
        });
        expect(copy.messageId).not.toBe('pub-1');
        expect(new Date(copy.scheduledEnqueueTimeUtc!).getTime()).toBeGreaterThan(deps.now().getTime());

        await recordReferralUpdate(copy.body, delivered(copy), deps);
        expect(statuses()).toEqual([['pub-1', 'Applied', undefined]]);
        expect(held()).toMatchObject({ details: { dealValue: 75000 } });
    });
});

describe('isReflected', () => {
    const referral = { id: 'r', engagementId: 'e', details: { dealValue: 5 }, team: [{ email: 'a@x', title: null }] };

    it('compares replaced values and finds appended members, ignoring properties Partner Center added', () => {
        expect(isReflected([{ op: 'replace', path: '/details/dealValue', value: 5 }], referral)).toBe(true);
        expect(isReflected([{ op: 'replace', path: '/details/dealValue', value: 6 }], referral)).toBe(false);
        expect(isReflected([{ op: 'add', path: '/team/-', value: { email: 'a@x' } }], referral)).toBe(true);
        expect(isReflected([{ op: 'add', path: '/team/-', value: { email: 'b@x' } }], referral)).toBe(false);
        expect(isReflected([{ op: 'add', path: '/nowhere/-', value: 1 }], referral)).toBe(false);
    });
});
