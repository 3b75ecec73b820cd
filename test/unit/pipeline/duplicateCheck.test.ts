/**
 * The later duplicate check's decisions (shared/pipeline/duplicateCheck.ts): when it is scheduled, what counts as a
 * copy (provably ours, not the kept one, not a stranger with our externalReferenceId), that a re-run adds nothing,
 * and how a failed lookup is retried (Retry-After honoured, bounded).
 */
import { ErrorResponse } from '@azure/cosmos';

import { duplicateCheckMessage } from '../../../shared/messaging/messages';
import { PartnerApiError, type PartnerReferral, THROTTLED_LOCALLY } from '../../../shared/partnerApi';
import { MAX_DUPLICATE_CHECK_ATTEMPTS } from '../../../shared/pipeline/duplicateCheck';
import { processConnectionMessage, processReferralMessage } from '../../../shared/pipeline/worker';
import { statusDocument } from '../../../shared/referral/statusDocument';
import { transientError } from '../../support/fakePartnerApi';
import { givenRecord } from '../../support/givenRecord';
import { independentReferral, seedReferral } from '../../support/referrals';
import { workerSetup } from '../../support/worker';

type Setup = ReturnType<typeof workerSetup>;

const DELAY_MS = 900_000;

function setupWithCheck(): Setup {
    const setup = workerSetup();
    setup.deps.duplicateCheckDelayMs = DELAY_MS;
    return setup;
}

async function submit(setup: Setup, key: string, body: Record<string, any>) {
    setup.store.put(givenRecord({ id: key, request: body, at: setup.clock.now }));
    return processReferralMessage(body, { messageId: key, applicationProperties: {} }, setup.deps, setup.log);
}

function connect(setup: Setup, key: string) {
    return processConnectionMessage(
        { id: key },
        { messageId: `${key}:connect`, applicationProperties: { referralKey: key } },
        setup.deps,
        setup.log,
    );
}

/** Delivers the check message `message` as the host would. */
function deliverCheck(setup: Setup, message: ReturnType<typeof duplicateCheckMessage>) {
    return processReferralMessage(
        message.body,
        {
            messageId: message.messageId as string,
            correlationId: message.correlationId as string,
            applicationProperties: message.applicationProperties as Record<string, unknown>,
        },
        setup.deps,
        setup.log,
    );
}

const checksSent = (setup: Setup) => setup.referralsQueue.sent.filter((m) => m.applicationProperties?.check);

/** The check the done step scheduled, taken off the queue. */
function scheduledCheck(setup: Setup) {
    const [check] = checksSent(setup);
    expect(check).toBeDefined();
    setup.referralsQueue.sent.length = 0;
    return check!;
}

/** The check's last run before it may give up (MAX_DUPLICATE_CHECK_ATTEMPTS), due now. */
function lastCheckRun(setup: Setup) {
    return duplicateCheckMessage({
        key: 'k1',
        correlationId: 'c',
        run: {
            reason: { kind: 'retry', attempt: MAX_DUPLICATE_CHECK_ATTEMPTS },
            attempt: MAX_DUPLICATE_CHECK_ATTEMPTS,
            notBefore: setup.clock.now,
        },
    });
}

/** A copy of the referral's partner referral, as a create committed late would leave at the API. */
function copyOf(setup: Setup, id: string): PartnerReferral {
    const kept = setup.api.referrals.find((r) => r.id === id)!;
    const copy: PartnerReferral = { ...structuredClone(kept), id: `${id}-copy`, engagementId: 'engagement-copy' };
    setup.api.referrals.push(copy);
    return copy;
}

describe('the duplicate check', () => {
    it('is scheduled DUPLICATE_CHECK_DELAY_MS after an Independent referral is submitted, under its own messageId', async () => {
        const setup = setupWithCheck();
        expect(await submit(setup, 'k1', independentReferral())).toBe('created');
        const check = scheduledCheck(setup);
        expect(check.messageId).toBe('k1:duplicate-check');
        expect(check.body).toEqual({ id: 'k1' });
        expect(check.scheduledEnqueueTimeUtc).toEqual(new Date(setup.clock.now.getTime() + DELAY_MS));
        expect(check.applicationProperties).toMatchObject({ referralKey: 'k1', attempt: 1, check: 'duplicates' });
    });

    it('is scheduled for a Shared referral only once it is connected', async () => {
        const setup = setupWithCheck();
        expect(await submit(setup, 'k1', seedReferral())).toBe('created');
        expect(checksSent(setup)).toHaveLength(0);
        expect(await connect(setup, 'k1')).toBe('created');
        expect(scheduledCheck(setup).messageId).toBe('k1:duplicate-check');
    });

    it('finds nothing for a referral without copies, and writes nothing', async () => {
        const setup = setupWithCheck();
        await submit(setup, 'k1', independentReferral());
        const check = scheduledCheck(setup);
        const before = setup.store.items.get('k1')!;
        setup.advance(DELAY_MS);

        expect(await deliverCheck(setup, check)).toBe('clean');
        expect(setup.store.items.get('k1')).toEqual(before);
        expect(setup.api.creates).toHaveLength(1);
        expect(setup.api.patches).toHaveLength(0);
    });

    it('reports a copy of the partner referral on the record, the status document and as an alert; a re-run adds nothing', async () => {
        const setup = setupWithCheck();
        await submit(setup, 'k1', independentReferral());
        const check = scheduledCheck(setup);
        const kept = setup.store.items.get('k1')!.record.partnerReferral!;
        const copy = copyOf(setup, kept.id);
        setup.advance(DELAY_MS);

        expect(await deliverCheck(setup, check)).toBe('found');
        const record = setup.store.items.get('k1')!.record;
        const reported = {
            id: copy.id,
            engagementId: copy.engagementId,
            of: 'partnerReferral',
            foundAt: setup.clock.now.toISOString(),
            status: 'Open',
            closedAt: null,
        };
        expect(record.duplicates).toEqual([reported]);
        expect(record.partnerReferral).toEqual(kept);
        expect(record.status).toBe('Submitted');
        expect(statusDocument(record).duplicates).toEqual([reported]);
        const alerts = setup.lines.filter((line) => line.startsWith('error duplicateCheck.found'));
        expect(alerts).toHaveLength(1);
        expect(alerts[0]).toContain(copy.id);
        expect(alerts[0]).not.toContain('Contoso');

        setup.advance(60_000);
        expect(await deliverCheck(setup, check)).toBe('clean');
        expect(setup.store.items.get('k1')!.record.duplicates).toEqual([reported]);
        expect(setup.lines.filter((line) => line.startsWith('error duplicateCheck.found'))).toHaveLength(1);
        expect(setup.api.creates).toHaveLength(1);
    });

    it('does not report a stranger with our externalReferenceId and other content', async () => {
        const setup = setupWithCheck();
        await submit(setup, 'k1', { ...independentReferral(), externalReferenceId: 'CRM-1' });
        const check = scheduledCheck(setup);
        const kept = setup.store.items.get('k1')!.record.partnerReferral!;
        const stranger = copyOf(setup, kept.id);
        stranger.customerProfile = { ...(stranger.customerProfile as object), name: 'Another Customer Ltd' };
        setup.advance(DELAY_MS);

        expect(await deliverCheck(setup, check)).toBe('clean');
        expect(setup.store.items.get('k1')!.record.duplicates).toBeUndefined();
    });

    it('reports a second Microsoft-targeted referral in the engagement as a copy of the connected one', async () => {
        const setup = setupWithCheck();
        await submit(setup, 'k1', seedReferral());
        await connect(setup, 'k1');
        const check = scheduledCheck(setup);
        const { partnerReferral, connectedReferral } = setup.store.items.get('k1')!.record;
        const connected = setup.api.referrals.find((r) => r.id === connectedReferral!.id)!;
        setup.api.referrals.push({ ...structuredClone(connected), id: 'connected-copy' });
        setup.advance(DELAY_MS);

        expect(await deliverCheck(setup, check)).toBe('found');
        const record = setup.store.items.get('k1')!.record;
        expect(record.duplicates).toEqual([
            expect.objectContaining({
                id: 'connected-copy',
                engagementId: partnerReferral!.engagementId,
                of: 'connectedReferral',
            }),
        ]);
        // Both lookups: the externalReferenceId, then the engagement.
        expect(setup.api.lookups.map((l) => Object.keys(l.filter).sort())).toEqual([
            ['externalReferenceId', 'type'],
            ['engagementId', 'type'],
        ]);
    });

    it('does nothing for a referral that is not done (a replay under way)', async () => {
        const setup = setupWithCheck();
        setup.store.put(givenRecord({ id: 'k1', request: independentReferral(), at: setup.clock.now }));
        const check = duplicateCheckMessage({
            key: 'k1',
            correlationId: 'c',
            run: { attempt: 1, notBefore: setup.clock.now },
        });
        expect(await deliverCheck(setup, check)).toBe('notDone');
        expect(setup.api.lookups).toHaveLength(0);
    });

    it('retries a failed lookup no earlier than its Retry-After, then gives up with an alert', async () => {
        const setup = setupWithCheck();
        await submit(setup, 'k1', independentReferral());
        let check = scheduledCheck(setup);
        setup.advance(DELAY_MS);
        setup.api.lookupFailures.push(transientError({ status: 429, retryAfterMs: 30_000 }));

        expect(await deliverCheck(setup, check)).toBe('retryScheduled');
        const retry = scheduledCheck(setup);
        expect(retry.messageId).toBe('k1:duplicate-check:r2');
        expect(retry.applicationProperties).toMatchObject({ attempt: 2, check: 'duplicates' });
        expect(retry.scheduledEnqueueTimeUtc!.getTime()).toBeGreaterThanOrEqual(setup.clock.now.getTime() + 30_000);

        check = lastCheckRun(setup);
        setup.api.lookupFailures.push(transientError({ status: 503 }));
        expect(await deliverCheck(setup, check)).toBe('abandoned');
        expect(checksSent(setup)).toHaveLength(0);
        expect(setup.lines.some((line) => line.startsWith('error duplicateCheck.abandoned'))).toBe(true);
    });

    it('keeps a check going past its last run while only the rate limit stops it (a 429, the gate)', async () => {
        const setup = setupWithCheck();
        await submit(setup, 'k1', independentReferral());
        scheduledCheck(setup);
        setup.advance(DELAY_MS);
        const lastRun = lastCheckRun(setup);
        setup.api.lookupFailures.push(transientError({ status: 429, retryAfterMs: 5_000 }));
        expect(await deliverCheck(setup, lastRun)).toBe('retryScheduled');
        const afterThrottle = scheduledCheck(setup);
        expect(afterThrottle.applicationProperties).toMatchObject({ attempt: MAX_DUPLICATE_CHECK_ATTEMPTS + 1 });
        expect(afterThrottle.scheduledEnqueueTimeUtc!.getTime()).toBeGreaterThanOrEqual(
            setup.clock.now.getTime() + 5_000,
        );

        setup.api.lookupFailures.push(
            new PartnerApiError({
                kind: 'throttled',
                verdict: 'transient',
                operation: 'listReferrals',
                code: THROTTLED_LOCALLY,
                retryAfterMs: 2_000,
            }),
        );
        expect(await deliverCheck(setup, afterThrottle)).toBe('retryScheduled');
        const afterGate = scheduledCheck(setup);
        expect(setup.lines.some((line) => line.startsWith('error duplicateCheck.abandoned'))).toBe(false);

        // The limit lifted, the lookups answer: the check ends as any other.
        expect(await deliverCheck(setup, afterGate)).toBe('clean');
    });

    it('outlasts a Cosmos DB outage with a copy of the check, not of a submission', async () => {
        const setup = setupWithCheck();
        await submit(setup, 'k1', independentReferral());
        const check = scheduledCheck(setup);
        const outage = new ErrorResponse('Cosmos DB said no');
        outage.code = 503;
        jest.spyOn(setup.store, 'read').mockRejectedValueOnce(outage);

        expect(await deliverCheck(setup, check)).toBe('rescheduled');
        const copy = scheduledCheck(setup);
        expect(copy.messageId).toMatch(/^k1:duplicate-check:o1-[0-9a-f]{16}$/);
        expect(copy.applicationProperties).toMatchObject({ check: 'duplicates', attempt: 1 });
    });
});
