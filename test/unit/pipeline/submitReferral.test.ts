import { createRequestId } from '../../../shared/partnerApi';
import { processReferralMessage, UnprocessableMessageError } from '../../../shared/pipeline/worker';
import { type ReferralRecord, transition } from '../../../shared/referral/record';
import { permanentError, transientError } from '../../support/fakePartnerApi';
import { givenRecord } from '../../support/givenRecord';
import { expectNoPii, independentReferral, PII, referralWithPii, seedReferral } from '../../support/referrals';
import { workerSetup } from '../../support/worker';

type Setup = ReturnType<typeof workerSetup>;

function queued(setup: Setup, key: string, body: Record<string, any> = seedReferral()): ReferralRecord {
    const record = givenRecord({ id: key, request: body, at: setup.clock.now });
    setup.store.put(record);
    return record;
}

function deliver(setup: Setup, key: string, body: unknown, extra: { attempt?: number; deliveryCount?: number } = {}) {
    return processReferralMessage(
        body,
        {
            messageId: key,
            correlationId: 'corr-1',
            deliveryCount: extra.deliveryCount ?? 1,
            applicationProperties: { referralKey: key, attempt: extra.attempt ?? 1, contractVersion: '1' },
        },
        setup.deps,
        setup.log,
    );
}

const recordOf = (setup: Setup, key: string) => setup.store.items.get(key)!.record;

describe('submitReferral', () => {
    it('submits a queued Shared referral once, records the answer, and queues the connection before completing', async () => {
        const setup = workerSetup();
        const body = seedReferral();
        queued(setup, 'k1', body);

        expect(await deliver(setup, 'k1', body)).toBe('created');

        expect(setup.api.creates).toHaveLength(1);
        expect(setup.api.creates[0]!.body).toEqual({ ...body, externalReferenceId: 'k1' });
        expect(setup.api.creates[0]!.context).toEqual({
            correlationId: 'corr-1',
            createRequestId: createRequestId('k1', 'submit'),
            // Safely before the claim's lease (90 s) runs out.
            deadline: new Date(setup.clock.now.getTime() + 90_000 - 15_000),
            // Aborts the attempt's calls if its lease is lost (another delivery took the step).
            signal: expect.any(AbortSignal),
        });
        const record = recordOf(setup, 'k1');
        expect(record.status).toBe('Submitted');
        expect(record.partnerReferral).toEqual({
            id: setup.api.referrals[0]!.id,
            engagementId: setup.api.referrals[0]!.engagementId,
            status: 'Active',
            substatus: 'Accepted',
            eTag: setup.api.referrals[0]!.eTag,
            createdDateTime: expect.any(String),
            // The fake answers without one; the simulator and Partner Center send it.
            updatedDateTime: null,
        });
        expect(record.history.map((h) => h.status)).toEqual(['Queued', 'Submitting', 'Submitted']);
        expect(record).toMatchObject({ attempts: 1, leaseUntil: null, error: null });
        expect(setup.connectionsQueue.sent).toEqual([
            expect.objectContaining({ messageId: 'k1:connect', body: { id: 'k1' }, correlationId: 'corr-1' }),
        ]);
    });

    it('reads the record once per delivery: the step decides on the record admission read', async () => {
        const setup = workerSetup();
        const body = independentReferral();
        queued(setup, 'k1', body);
        const reads = jest.spyOn(setup.store, 'read');

        expect(await deliver(setup, 'k1', body)).toBe('created');
        expect(reads).toHaveBeenCalledTimes(1);
        expect(recordOf(setup, 'k1').status).toBe('Submitted');
    });

    it('reads again when the record changed after admission read it: the claim is refused, never written over it', async () => {
        const setup = workerSetup();
        const body = independentReferral();
        queued(setup, 'k1', body);
        const reads = jest.spyOn(setup.store, 'read');
        let raced = false;
        setup.store.beforeWrite = (operation, id) => {
            if (operation !== 'replace' || raced) return;
            raced = true;
            // Another writer between admission's read and the claim: a new etag.
            setup.store.put({ ...setup.store.items.get(id)!.record, correlationId: 'corr-other' });
        };

        expect(await deliver(setup, 'k1', body)).toBe('created');
        expect(reads).toHaveBeenCalledTimes(2);
        expect(recordOf(setup, 'k1')).toMatchObject({ status: 'Submitted', correlationId: 'corr-other', attempts: 1 });
        expect(setup.api.creates).toHaveLength(1);
    });

    it("keeps the caller's externalReferenceId", async () => {
        const setup = workerSetup();
        const body = { ...independentReferral(), externalReferenceId: 'CRM-0042' };
        queued(setup, 'k1', body);
        await deliver(setup, 'k1', body);
        expect(setup.api.creates[0]!.body.externalReferenceId).toBe('CRM-0042');
    });

    it('submits an Independent referral without a connection', async () => {
        const setup = workerSetup();
        const body = independentReferral();
        queued(setup, 'k1', body);
        await deliver(setup, 'k1', body);
        expect(recordOf(setup, 'k1').status).toBe('Submitted');
        expect(setup.connectionsQueue.sent).toHaveLength(0);
    });

    it('creates the record for a message published straight to the queue', async () => {
        const setup = workerSetup();
        expect(await deliver(setup, 'upstream-1', seedReferral())).toBe('created');
        expect(recordOf(setup, 'upstream-1')).toMatchObject({ source: 'queue', status: 'Submitted', type: 'Shared' });
    });

    it('accepts a published body sent as JSON text', async () => {
        const setup = workerSetup();
        await deliver(setup, 'upstream-1', JSON.stringify(independentReferral()));
        expect(recordOf(setup, 'upstream-1').status).toBe('Submitted');
    });

    it('rejects an invalid published referral with its problem list, without calling the API, for good', async () => {
        const setup = workerSetup();
        const body = referralWithPii();
        delete body.consent;
        body.customerProfile.address.country = PII.street;
        expect(await deliver(setup, 'bad-1', body)).toBe('rejected');
        expect(await deliver(setup, 'bad-1', body, { deliveryCount: 2 })).toBe('notApplicable');

        expect(setup.api.creates).toHaveLength(0);
        const record = recordOf(setup, 'bad-1');
        expect(record.status).toBe('Rejected');
        expect(record.request).toBeNull();
        expect(record.error).toEqual({
            code: 'InvalidReferral',
            message: 'The referral is not valid.',
            problems: [
                { path: 'customerProfile.address.country', message: expect.any(String) },
                { path: 'consent', message: 'is required' },
            ],
        });
        expectNoPii(JSON.stringify(record) + setup.lines.join('\n'));
    });

    it('does nothing more for a redelivered message once Submitted (but repeats the idempotent connection send)', async () => {
        const setup = workerSetup();
        const body = seedReferral();
        queued(setup, 'k1', body);
        await deliver(setup, 'k1', body);
        expect(await deliver(setup, 'k1', body, { deliveryCount: 2 })).toBe('alreadyDone');
        expect(setup.api.creates).toHaveLength(1);
        expect(setup.connectionsQueue.sent.map((m) => m.messageId)).toEqual(['k1:connect', 'k1:connect']);
    });

    it('refuses a message whose key already belongs to a different referral', async () => {
        const setup = workerSetup();
        queued(setup, 'k1', seedReferral());
        await expect(deliver(setup, 'k1', independentReferral())).rejects.toBeInstanceOf(UnprocessableMessageError);
        expect(setup.api.creates).toHaveLength(0);
    });

    it('refuses a message without a usable key', async () => {
        const setup = workerSetup();
        const outcome = processReferralMessage(
            seedReferral(),
            { applicationProperties: {}, messageId: 'has space' },
            setup.deps,
            setup.log,
        );
        await expect(outcome).rejects.toBeInstanceOf(UnprocessableMessageError);
    });

    describe('transient failures', () => {
        it('re-sends the message scheduled no earlier than Retry-After, and completes this one', async () => {
            const setup = workerSetup();
            const body = seedReferral();
            queued(setup, 'k1', body);
            setup.api.script.push(transientError({ status: 429, retryAfterMs: 30_000, code: 'tooManyRequests' }));

            expect(await deliver(setup, 'k1', body)).toBe('retryScheduled');

            const record = recordOf(setup, 'k1');
            expect(record).toMatchObject({
                status: 'Submitting',
                attempts: 1,
                leaseUntil: null,
                error: { code: 'tooManyRequests' },
            });
            const notBefore = Date.parse(record.notBefore!);
            expect(notBefore - setup.clock.now.getTime()).toBeGreaterThanOrEqual(30_000);
            expect(setup.referralsQueue.sent).toEqual([
                expect.objectContaining({
                    messageId: 'k1:r2',
                    body,
                    scheduledEnqueueTimeUtc: new Date(notBefore),
                    applicationProperties: expect.objectContaining({ referralKey: 'k1', attempt: 2 }),
                }),
            ]);
        });

        it('backs off exponentially when there is no Retry-After', async () => {
            const setup = workerSetup();
            const body = seedReferral();
            queued(setup, 'k1', body);
            const delays: number[] = [];
            for (let attempt = 1; attempt <= 3; attempt++) {
                setup.api.script.push(transientError({ status: 503 }));
                await deliver(setup, 'k1', body, { attempt });
                const record = recordOf(setup, 'k1');
                delays.push(Date.parse(record.notBefore!) - setup.clock.now.getTime());
                setup.clock.now = new Date(record.notBefore!);
            }
            // random() is 0.5: three quarters of 1 s, 2 s, 4 s.
            expect(delays).toEqual([750, 1500, 3000]);
        });

        it('does not call the API for a delivery that comes before the retry time', async () => {
            const setup = workerSetup();
            const body = seedReferral();
            queued(setup, 'k1', body);
            setup.api.script.push(transientError({ status: 429, retryAfterMs: 30_000 }));
            await deliver(setup, 'k1', body);
            setup.advance(10_000);

            expect(await deliver(setup, 'k1', body, { deliveryCount: 2 })).toBe('waitingForRetryTime');
            expect(setup.api.creates).toHaveLength(1);
            // The same messageId as the scheduled retry: the queue keeps one.
            expect(setup.referralsQueue.sent.map((m) => m.messageId)).toEqual(['k1:r2', 'k1:r2']);

            setup.advance(25_000);
            expect(await deliver(setup, 'k1', body, { attempt: 2 })).toBe('created');
            expect(recordOf(setup, 'k1')).toMatchObject({
                status: 'Submitted',
                attempts: 2,
                error: null,
                notBefore: null,
            });
        });

        it('marks the referral Failed once its retry window (5 minutes here) has passed', async () => {
            const setup = workerSetup();
            const body = seedReferral();
            queued(setup, 'k1', body);
            for (let attempt = 1; attempt <= 4; attempt++) {
                setup.api.script.push(transientError({ status: 503, code: 'serviceNotAvailable' }));
                await deliver(setup, 'k1', body, { attempt });
                setup.advance(120_000);
            }
            const record = recordOf(setup, 'k1');
            expect(record.status).toBe('Failed');
            expect(record.error).toMatchObject({ code: 'RetriesExhausted' });
            expect(setup.referralsQueue.sent).toHaveLength(3);
            expect(await deliver(setup, 'k1', body, { attempt: 5 })).toBe('notApplicable');
        });

        it('holds (and alerts) on an auth failure instead of rejecting the referral', async () => {
            const setup = workerSetup();
            const body = seedReferral();
            queued(setup, 'k1', body);
            setup.api.script.push(permanentError(401, 'unauthenticated', 'token expired'));
            expect(await deliver(setup, 'k1', body)).toBe('held');
            expect(setup.lines.some((l) => l.startsWith('error partnerApi.authFailed'))).toBe(true);
            expect(recordOf(setup, 'k1')).toMatchObject({ status: 'Submitting', error: { code: 'WaitingForConsent' } });
            expect(setup.referralsQueue.sent.map((m) => m.messageId)).toEqual(['k1:r2']);
        });

        it('never fails a referral for auth failures, however long they last, and then retries within its window', async () => {
            const setup = workerSetup();
            const body = seedReferral();
            queued(setup, 'k1', body);
            // Ten auth failures an hour apart (twelve times the 5-minute window), then a transient one.
            for (let attempt = 1; attempt <= 10; attempt++) {
                setup.api.script.push(permanentError(401, 'unauthenticated', 'token expired'));
                expect(await deliver(setup, 'k1', body, { attempt })).toBe('held');
                setup.advance(3_600_000);
            }
            setup.api.script.push(transientError({ status: 503 }));
            expect(await deliver(setup, 'k1', body, { attempt: 11 })).toBe('retryScheduled');
            expect(await deliver(setup, 'k1', body, { attempt: 12 })).toBe('waitingForRetryTime');
        });
    });

    describe('the crash window', () => {
        it('after a lost answer, finds the referral the first attempt created and adopts it', async () => {
            const setup = workerSetup();
            const body = seedReferral();
            queued(setup, 'k1', body);
            setup.api.script.push('lostAnswer');
            expect(await deliver(setup, 'k1', body)).toBe('retryScheduled');
            expect(recordOf(setup, 'k1').lastAttemptUncertain).toBe(true);
            setup.clock.now = new Date(recordOf(setup, 'k1').notBefore!);

            expect(await deliver(setup, 'k1', body, { attempt: 2 })).toBe('adopted');
            expect(setup.api.creates).toHaveLength(1);
            expect(setup.api.referrals).toHaveLength(1);
            expect(setup.api.lookups[0]!.filter).toEqual({ externalReferenceId: 'k1', type: 'Shared' });
            expect(recordOf(setup, 'k1')).toMatchObject({
                status: 'Submitted',
                partnerReferral: { id: setup.api.referrals[0]!.id },
            });
        });

        it('after a worker died holding the step, looks up first once its lease has run out', async () => {
            const setup = workerSetup();
            const body = seedReferral();
            const record = queued(setup, 'k1', body);
            // The dead worker claimed the step and created the referral, then never wrote the answer.
            setup.store.put(
                transition(record, 'Submitting', setup.clock.now, {
                    attempts: 1,
                    stepStartedAt: setup.clock.now.toISOString(),
                    leaseUntil: new Date(setup.clock.now.getTime() + 90_000).toISOString(),
                }),
            );
            await setup.api.createReferral(
                { ...body, externalReferenceId: 'k1' },
                { createRequestId: createRequestId('k1', 'submit'), correlationId: 'c' },
            );

            setup.advance(30_000);
            expect(await deliver(setup, 'k1', body, { deliveryCount: 2 })).toBe('waitingForLease');
            expect(setup.referralsQueue.sent[0]!.scheduledEnqueueTimeUtc!.getTime()).toBeGreaterThan(
                setup.clock.now.getTime() + 60_000,
            );

            setup.advance(61_000);
            expect(await deliver(setup, 'k1', body, { deliveryCount: 3 })).toBe('adopted');
            expect(setup.api.referrals).toHaveLength(1);
        });

        it('stays uncertain when the lookup itself fails, so the next attempt looks again before creating', async () => {
            const setup = workerSetup();
            const body = seedReferral();
            queued(setup, 'k1', body);
            setup.api.script.push('lostAnswer');
            await deliver(setup, 'k1', body);
            setup.api.lookupFailures.push(transientError({ status: 429, retryAfterMs: 5000 }));
            setup.clock.now = new Date(recordOf(setup, 'k1').notBefore!);

            expect(await deliver(setup, 'k1', body, { attempt: 2 })).toBe('retryScheduled');
            expect(recordOf(setup, 'k1').lastAttemptUncertain).toBe(true);
            setup.clock.now = new Date(recordOf(setup, 'k1').notBefore!);

            expect(await deliver(setup, 'k1', body, { attempt: 3 })).toBe('adopted');
            expect(setup.api.lookups).toHaveLength(2);
            expect(setup.api.referrals).toHaveLength(1);
        });

        it('looks up first after a replay of a referral whose last attempt was uncertain', async () => {
            const setup = workerSetup();
            const body = seedReferral();
            const record = queued(setup, 'k1', body);
            await setup.api.createReferral(
                { ...body, externalReferenceId: 'k1' },
                { createRequestId: createRequestId('k1', 'submit'), correlationId: 'c' },
            );
            // Failed with an unknown outcome, then replayed back to Queued a day later.
            setup.store.put({ ...record, lastAttemptUncertain: true, stepStartedAt: setup.clock.now.toISOString() });
            setup.advance(24 * 3600_000);

            expect(await deliver(setup, 'k1', body)).toBe('adopted');
            expect(setup.api.referrals).toHaveLength(1);
        });

        it('creates the referral when a lookup made after the settling time finds nothing', async () => {
            const setup = workerSetup();
            const body = seedReferral();
            queued(setup, 'k1', body);
            const firstAttempt = setup.clock.now.getTime();
            setup.api.script.push(transientError({ kind: 'timeout', outcomeUnknown: true }));
            await deliver(setup, 'k1', body);
            setup.api.referrals.length = 0; // the timed-out call never reached the API
            setup.clock.now = new Date(recordOf(setup, 'k1').notBefore!);
            expect(await deliver(setup, 'k1', body, { attempt: 2 })).toBe('settling');
            expect(Date.parse(recordOf(setup, 'k1').notBefore!)).toBe(firstAttempt + 120_000);
            setup.clock.now = new Date(recordOf(setup, 'k1').notBefore!);
            expect(await deliver(setup, 'k1', body, { attempt: 3 })).toBe('created');
            expect(setup.api.lookups).toHaveLength(2);
        });
    });

    describe('permanent failures', () => {
        it('rejects with the API error code, keeping customer data out of the stored message and logs', async () => {
            const setup = workerSetup();
            const body = referralWithPii();
            queued(setup, 'k1', body);
            setup.api.script.push(permanentError(400, 'invalidRequest', `Contact ${PII.email} is not a valid member`));
            expect(await deliver(setup, 'k1', body)).toBe('rejected');
            const record = recordOf(setup, 'k1');
            expect(record.status).toBe('Rejected');
            expect(record.error).toEqual({
                code: 'invalidRequest',
                message: 'Contact [redacted] is not a valid member',
                step: 'submit',
            });
            expectNoPii(JSON.stringify(record.error) + setup.lines.join('\n'));
            expect(await deliver(setup, 'k1', body, { deliveryCount: 2 })).toBe('notApplicable');
            expect(setup.api.creates).toHaveLength(1);
        });
    });

    describe('races between deliveries', () => {
        it('409 on create: a concurrent first delivery created the record; this one carries on with it', async () => {
            const setup = workerSetup();
            const body = independentReferral();
            setup.store.beforeWrite = (operation, id) => {
                if (operation !== 'create') return;
                setup.store.beforeWrite = undefined;
                setup.store.put(
                    givenRecord({ id, source: 'queue', correlationId: 'other', request: body, at: setup.clock.now }),
                );
            };
            expect(await deliver(setup, 'k1', body)).toBe('created');
            expect(setup.api.creates).toHaveLength(1);
        });

        it('412 on the claim: another delivery claimed the step first; this one waits instead of calling the API', async () => {
            const setup = workerSetup();
            const body = independentReferral();
            const record = queued(setup, 'k1', body);
            setup.store.beforeWrite = (operation) => {
                if (operation !== 'replace') return;
                setup.store.beforeWrite = undefined;
                setup.store.put(
                    transition(record, 'Submitting', setup.clock.now, {
                        attempts: 1,
                        leaseUntil: new Date(setup.clock.now.getTime() + 90_000).toISOString(),
                    }),
                );
            };
            expect(await deliver(setup, 'k1', body)).toBe('waitingForLease');
            expect(setup.api.creates).toHaveLength(0);
        });

        it('412 when recording the answer because another writer changed the record (an update accepted): the step is still ours, the answer is recorded and the change kept', async () => {
            const setup = workerSetup();
            const body = seedReferral();
            queued(setup, 'k1', body);
            let replaces = 0;
            setup.store.beforeWrite = (operation, id) => {
                if (operation === 'replace' && ++replaces === 2) {
                    const current = setup.store.items.get(id)!.record;
                    setup.store.put({ ...current, correlationId: 'changed-by-another-writer' });
                }
            };
            expect(await deliver(setup, 'k1', body)).toBe('created');
            const record = recordOf(setup, 'k1');
            expect(record.status).toBe('Submitted');
            expect(record.partnerReferral?.id).toEqual(expect.any(String));
            expect(record.correlationId).toBe('changed-by-another-writer');
            expect(setup.api.creates).toHaveLength(1);
        });

        it('412 when recording the answer: the lease was lost; the new holder will adopt the referral by lookup', async () => {
            const setup = workerSetup();
            const body = seedReferral();
            queued(setup, 'k1', body);
            let replaces = 0;
            setup.store.beforeWrite = (operation, id) => {
                if (operation === 'replace' && ++replaces === 2) {
                    const current = setup.store.items.get(id)!.record;
                    // Another delivery's claim: the next attempt, under a lease of its own.
                    setup.store.put({
                        ...current,
                        attempts: current.attempts + 1,
                        leaseUntil: new Date(setup.clock.now.getTime() + 90_000).toISOString(),
                    });
                }
            };
            expect(await deliver(setup, 'k1', body)).toBe('superseded');
            expect(recordOf(setup, 'k1').status).toBe('Submitting');
            expect(setup.connectionsQueue.sent).toHaveLength(0);
        });
    });
});
