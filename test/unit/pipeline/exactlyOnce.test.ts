/**
 * The defects of issue 12 ("Exactly once, for real"), one block each, on the step runner with the fake Partner API:
 * each test fails on the code that adopted the earliest lookup match, trusted one negative lookup, sent the referral
 * key as MS-RequestId and stored any connect answer.
 */
import { type PartnerApiCallContext, PartnerApiError } from '../../../shared/partnerApi';
import { attemptDeadline } from '../../../shared/pipeline/step';
import { processConnectionMessage, processReferralMessage } from '../../../shared/pipeline/worker';
import { permanentError, transientError } from '../../support/fakePartnerApi';
import { givenRecord } from '../../support/givenRecord';
import { seedReferral } from '../../support/referrals';
import { workerSetup } from '../../support/worker';

type Setup = ReturnType<typeof workerSetup>;

function deliver(setup: Setup, key: string, body: unknown, attempt = 1) {
    if (!setup.store.items.has(key)) {
        setup.store.put(givenRecord({ id: key, request: body as Record<string, unknown>, at: setup.clock.now }));
    }
    return processReferralMessage(
        body,
        { messageId: key, correlationId: 'corr-1', applicationProperties: { referralKey: key, attempt } },
        setup.deps,
        setup.log,
    );
}

function connect(setup: Setup, key: string) {
    return processConnectionMessage(
        { id: key },
        { messageId: `${key}:connect`, correlationId: 'corr-1', applicationProperties: { referralKey: key } },
        setup.deps,
        setup.log,
    );
}

const recordOf = (setup: Setup, key: string) => setup.store.items.get(key)!.record;
/** Moves the clock to the record's next allowed attempt. */
const toRetryTime = (setup: Setup, key: string) => (setup.clock.now = new Date(recordOf(setup, key).notBefore!));

function otherCustomer(externalReferenceId: string) {
    const body = seedReferral();
    body.customerProfile.name = 'Another Customer Ltd';
    return { ...body, externalReferenceId };
}

describe('1. another customer’s referral is never adopted', () => {
    it('two keys with one externalReferenceId: the second, its answer lost, is held as ambiguous', async () => {
        const setup = workerSetup();
        expect(await deliver(setup, 'first', otherCustomer('CRM-7'))).toBe('created');
        const second = { ...seedReferral(), externalReferenceId: 'CRM-7' };
        setup.api.script.push(transientError({ kind: 'timeout', outcomeUnknown: true })); // never reached the API
        await deliver(setup, 'second', second);
        toRetryTime(setup, 'second');

        expect(await deliver(setup, 'second', second, 2)).toBe('ambiguous');
        const record = recordOf(setup, 'second');
        expect(record).toMatchObject({
            status: 'Failed',
            partnerReferral: null,
            lastAttemptUncertain: true,
            error: { code: 'AmbiguousPartnerReferral', step: 'submit' },
        });
        expect(setup.connectionsQueue.sent.filter((m) => m.messageId === 'second:connect')).toHaveLength(0);
        expect(setup.lines.some((line) => line.startsWith('error submit.ambiguous'))).toBe(true);
    });

    it('keys differing in case, through a case-insensitive filter: the other one is not adopted', async () => {
        const setup = workerSetup();
        setup.api.ignoresFilter = true; // answers Order-1's referral to a query for order-1, as a case-blind server
        await deliver(setup, 'Order-1', seedReferral());
        setup.api.script.push(transientError({ kind: 'timeout', outcomeUnknown: true }));
        await deliver(setup, 'order-1', seedReferral());
        toRetryTime(setup, 'order-1');

        expect(await deliver(setup, 'order-1', seedReferral(), 2)).toBe('settling');
        toRetryTime(setup, 'order-1');
        expect(await deliver(setup, 'order-1', seedReferral(), 3)).toBe('created');
        expect(recordOf(setup, 'order-1').partnerReferral!.id).not.toBe(recordOf(setup, 'Order-1').partnerReferral!.id);
    });
});

describe('2. a create that commits after the client gave up makes no duplicate', () => {
    it('a negative lookup before PARTNER_API_SETTLE_MS only looks; the late referral is adopted', async () => {
        const setup = workerSetup();
        const body = seedReferral();
        setup.api.script.push('lostAnswer');
        await deliver(setup, 'k1', body);
        const late = setup.api.referrals.splice(0); // not committed yet
        setup.advance(2_000);

        expect(await deliver(setup, 'k1', body, 2)).toBe('settling');
        expect(recordOf(setup, 'k1').lastAttemptUncertain).toBe(true);
        expect(setup.api.creates).toHaveLength(1);

        setup.api.referrals.push(...late); // the original commits, eight seconds late
        toRetryTime(setup, 'k1');
        expect(await deliver(setup, 'k1', body, 3)).toBe('adopted');
        expect(setup.api.creates).toHaveLength(1);
        expect(recordOf(setup, 'k1').partnerReferral!.id).toBe(late[0]!.id);
    });

    it('a create sent late in its attempt (a wait at the rate-limit gate): the window counts from its end', async () => {
        const setup = workerSetup();
        const body = seedReferral();
        const started = setup.clock.now.getTime();
        const create = setup.api.createReferral.bind(setup.api);
        jest.spyOn(setup.api, 'createReferral').mockImplementationOnce((request, context) => {
            setup.advance(100_000); // waited 100 s at the gate; then sent, and its answer lost
            return create(request, context);
        });
        setup.api.script.push('lostAnswer');
        await deliver(setup, 'k1', body);
        const late = setup.api.referrals.splice(0); // not committed yet

        // PARTNER_API_SETTLE_MS (120 s) after the attempt began, but 25 s after the create was sent.
        setup.clock.now = new Date(started + 125_000);
        expect(await deliver(setup, 'k1', body, 2)).toBe('settling');
        expect(setup.api.creates).toHaveLength(1);

        setup.api.referrals.push(...late);
        toRetryTime(setup, 'k1');
        expect(await deliver(setup, 'k1', body, 3)).toBe('adopted');
        expect(setup.api.creates).toHaveLength(1);
    });
});

describe('3. the lookup does not trust its results', () => {
    it('a list that ignores the filter: strangers in the window are not adopted', async () => {
        const setup = workerSetup();
        setup.api.ignoresFilter = true;
        await deliver(setup, 'stranger', otherCustomer('CRM-1'));
        setup.api.script.push(transientError({ kind: 'network', outcomeUnknown: true }));
        await deliver(setup, 'k1', seedReferral());
        setup.advance(200_000);

        expect(await deliver(setup, 'k1', seedReferral(), 2)).toBe('created');
        expect(recordOf(setup, 'k1').partnerReferral!.id).not.toBe(recordOf(setup, 'stranger').partnerReferral!.id);
    });

    it('a lookup answered 400 retries, still uncertain, and never rejects the referral', async () => {
        const setup = workerSetup();
        setup.api.script.push('lostAnswer');
        await deliver(setup, 'k1', seedReferral());
        // What findCandidates throws for a refused list: every lookup error is transient.
        setup.api.lookupFailures.push(permanentError(400, 'badRequest', 'no such filter').asTransient());
        toRetryTime(setup, 'k1');

        expect(await deliver(setup, 'k1', seedReferral(), 2)).toBe('retryScheduled');
        expect(recordOf(setup, 'k1')).toMatchObject({ status: 'Submitting', lastAttemptUncertain: true });
    });
});

describe('4. MS-RequestId and the answer of the connect', () => {
    it('a connect answered with the partner’s own referral is not stored as the connected one', async () => {
        const setup = workerSetup();
        await deliver(setup, 'k1', seedReferral());
        setup.api.script.push('answerFirst');

        expect(await connect(setup, 'k1')).toBe('retryScheduled');
        const record = recordOf(setup, 'k1');
        expect(record).toMatchObject({
            status: 'Connecting',
            connectedReferral: null,
            lastAttemptUncertain: true,
            error: { code: 'UnexpectedConnectedReferral', step: 'connect' },
        });
        toRetryTime(setup, 'k1');
        setup.advance(120_000);
        expect(await connect(setup, 'k1')).toBe('created');
        expect(recordOf(setup, 'k1').connectedReferral!.id).not.toBe(record.partnerReferral!.id);
    });

    it('the submit and the connect send their own GUIDs, not the referral key', async () => {
        const setup = workerSetup();
        await deliver(setup, 'k1', seedReferral());
        await connect(setup, 'k1');
        const [submit, connected] = setup.api.creates.map((c) => c.context.createRequestId);
        expect(submit).toMatch(/^[0-9a-f-]{36}$/);
        expect(connected).toMatch(/^[0-9a-f-]{36}$/);
        expect(submit).not.toBe(connected);
    });
});

describe('5. one deadline per attempt, before the lease', () => {
    it('every call of the attempt ends before its lease does', async () => {
        const setup = workerSetup();
        await deliver(setup, 'k1', seedReferral());
        const deadline = setup.api.creates[0]!.context.deadline as Date;
        const claimed = recordOf(setup, 'k1').history.find((h) => h.status === 'Submitting')!.at;
        expect(deadline.getTime()).toBeLessThan(Date.parse(claimed) + setup.deps.leaseMs);
        expect(attemptDeadline('2026-01-01T00:01:00.000Z', 8_000).toISOString()).toBe('2026-01-01T00:00:58.000Z');
    });
});

describe('5. the lease is renewed while a long attempt runs (and lost, the attempt stops)', () => {
    const LEASE_MS = 300; // renewed every 100 ms of real time

    /** Makes the next create take `ms` of real time (the fake clock moves on by as much), or end on an abort. */
    function slowCreate(setup: Setup, ms: number): PartnerApiCallContext[] {
        const create = setup.api.createReferral.bind(setup.api);
        const contexts: PartnerApiCallContext[] = [];
        setup.api.createReferral = async (body, context) => {
            contexts.push(context);
            await new Promise<void>((resolve) => {
                const timer = setTimeout(resolve, ms);
                context.signal?.addEventListener('abort', () => (clearTimeout(timer), resolve()));
                setup.advance(ms);
            });
            if (context.signal?.aborted)
                throw transientError({ kind: 'timeout', code: 'aborted', outcomeUnknown: true });
            return create(body, context);
        };
        return contexts;
    }

    it('a create slower than the lease: the lease and the deadline move on, and the answer is recorded', async () => {
        const setup = workerSetup();
        setup.deps.leaseMs = LEASE_MS;
        slowCreate(setup, 3 * LEASE_MS);
        setup.store.put(givenRecord({ id: 'k1', request: seedReferral(), at: setup.clock.now }));
        const claimedLease = setup.clock.now.getTime() + LEASE_MS;
        const renewals: string[] = [];
        setup.store.beforeWrite = (operation, id) => {
            if (operation === 'replace') renewals.push(setup.store.items.get(id)!.record.leaseUntil ?? 'none');
        };

        expect(await deliver(setup, 'k1', seedReferral())).toBe('created');
        // Claim, at least one renewal, the answer: written in turn with each new etag, never superseded.
        expect(renewals.length).toBeGreaterThanOrEqual(3);
        const deadline = setup.api.creates[0]!.context.deadline as Date;
        expect(deadline.getTime()).toBeGreaterThan(claimedLease);
        const record = recordOf(setup, 'k1');
        expect(record.status).toBe('Submitted');
        // The attempt's start stays the claim's time: only leaseUntil moved.
        expect(record.history.find((h) => h.status === 'Submitting')!.at).toBe('2026-11-21T12:00:00.000Z');
    });

    it('a renewal refused because another delivery took the step aborts the attempt’s calls', async () => {
        const setup = workerSetup();
        setup.deps.leaseMs = LEASE_MS;
        const contexts = slowCreate(setup, 10 * LEASE_MS);
        setup.store.put(givenRecord({ id: 'k1', request: seedReferral(), at: setup.clock.now }));
        let replaces = 0;
        setup.store.beforeWrite = (operation, id) => {
            // After the claim, another delivery takes the step over (its lease ran out meanwhile).
            if (operation === 'replace' && ++replaces === 2) setup.store.put({ ...recordOf(setup, id), attempts: 2 });
        };
        const started = Date.now();
        expect(await deliver(setup, 'k1', seedReferral())).toBe('superseded');
        expect(Date.now() - started).toBeLessThan(10 * LEASE_MS);
        expect(contexts[0]!.signal!.aborted).toBe(true);
        expect(setup.api.creates).toHaveLength(0);
        expect(recordOf(setup, 'k1').attempts).toBe(2);
        expect(setup.lines.some((line) => line.startsWith('warn submit.leaseLost'))).toBe(true);
        expect(setup.referralsQueue.sent).toHaveLength(0);
    });
});

describe('6. status rules', () => {
    it('a permanent 4xx in the connect keeps the partner referral and says which step failed', async () => {
        const setup = workerSetup();
        await deliver(setup, 'k1', seedReferral());
        setup.api.script.push(permanentError(400, 'invalidTarget', 'no'));
        expect(await connect(setup, 'k1')).toBe('rejected');
        expect(recordOf(setup, 'k1')).toMatchObject({
            status: 'Rejected',
            partnerReferral: { id: setup.api.referrals[0]!.id },
            error: { code: 'invalidTarget', step: 'connect' },
        });
    });

    it('a 409 on create is looked up, not rejected', async () => {
        const setup = workerSetup();
        // Committed by an earlier request whose answer never came; the service now answers the create 409.
        await setup.api.createReferral({ ...seedReferral(), externalReferenceId: 'k1' }, { correlationId: 'c' });
        setup.api.creates.length = 0;
        setup.api.script.push(
            new PartnerApiError({
                kind: 'http',
                verdict: 'transient',
                operation: 'createReferral',
                status: 409,
                outcomeUnknown: true,
                conflict: true,
            }),
        );
        expect(await deliver(setup, 'k1', seedReferral())).toBe('retryScheduled');
        expect(recordOf(setup, 'k1')).toMatchObject({ status: 'Submitting', lastAttemptUncertain: true });
        toRetryTime(setup, 'k1');
        expect(await deliver(setup, 'k1', seedReferral(), 2)).toBe('adopted');
        expect(setup.api.creates).toHaveLength(1);
        expect(setup.api.referrals).toHaveLength(1);
    });

    it('an adopted Shared referral without an engagementId is Failed with MissingEngagementId, not left Submitted', async () => {
        const setup = workerSetup();
        setup.api.script.push('lostAnswer');
        await deliver(setup, 'k1', seedReferral());
        delete (setup.api.referrals[0] as { engagementId?: string }).engagementId;
        toRetryTime(setup, 'k1');

        expect(await deliver(setup, 'k1', seedReferral(), 2)).toBe('failed');
        expect(recordOf(setup, 'k1')).toMatchObject({
            status: 'Failed',
            partnerReferral: { id: setup.api.referrals[0]!.id },
            error: { code: 'MissingEngagementId', step: 'submit' },
        });
        expect(setup.connectionsQueue.sent).toHaveLength(0);
    });
});
