/**
 * What a failed Partner API attempt leaves on the record, decided without a store, a queue or a clock.
 */
import { PartnerApiError } from '../../../shared/partnerApi';
import { decideFailure } from '../../../shared/pipeline/step';
import { newRecord, type ReferralRecord, transition } from '../../../shared/referral/record';
import { permanentError, transientError } from '../../support/fakePartnerApi';

const NOW = new Date('2026-11-21T12:00:00.000Z');
const RETRY = { maxAttempts: 4, baseDelayMs: 1000, maxDelayMs: 60_000 };
const half = () => 0.5;

/** A record claimed for attempt `attempts` of the submit step. */
function submitting(attempts: number): ReferralRecord {
    const queued = newRecord({
        id: 'k1',
        source: 'http',
        correlationId: 'c1',
        requestHash: 'h',
        request: null,
        at: new Date('2026-11-21T11:00:00.000Z'),
    });
    return transition(queued, 'Submitting', NOW, {
        attempts,
        leaseUntil: '2026-11-21T12:01:30.000Z',
        stepStartedAt: '2026-11-21T11:59:00.000Z',
    });
}

describe('decideFailure', () => {
    it('rejects the referral on a permanent 4xx, with the API code and message', () => {
        const decision = decideFailure(
            submitting(1),
            permanentError(400, 'invalidRequest', 'bad target'),
            false,
            RETRY,
            NOW,
            half,
        );
        expect(decision.outcome).toBe('rejected');
        expect(decision.delayMs).toBeUndefined();
        expect(decision.next).toMatchObject({
            status: 'Rejected',
            leaseUntil: null,
            error: { code: 'invalidRequest', message: 'bad target' },
        });
    });

    it.each([401, 403])('never rejects for an auth problem (HTTP %i, even marked permanent): retries', (status) => {
        const error = new PartnerApiError({ kind: 'http', verdict: 'permanent', operation: 'createReferral', status });
        const decision = decideFailure(submitting(1), error, false, RETRY, NOW, half);
        expect(decision.outcome).toBe('retryScheduled');
        expect(decision.next.status).toBe('Submitting');
        expect(decision.next.error?.code).toBe(`HTTP${status}`);
    });

    it('fails the referral when the attempts are used up, keeping whether the last one is uncertain', () => {
        const error = transientError({ status: 503, code: 'serviceUnavailable' });
        const decision = decideFailure(submitting(RETRY.maxAttempts), error, true, RETRY, NOW, half);
        expect(decision.outcome).toBe('failed');
        expect(decision.next).toMatchObject({
            status: 'Failed',
            leaseUntil: null,
            lastAttemptUncertain: true,
            error: {
                code: 'RetriesExhausted',
                message: `Gave up after 4 attempts; last error serviceUnavailable: ${error.message}`,
            },
        });
    });

    it('schedules a retry after the back-off, releasing the lease and keeping the step in progress', () => {
        // Attempt 2: 2000 ms exponential, half fixed plus half of it times random 0.5 → 1500 ms.
        const decision = decideFailure(submitting(2), transientError({ status: 500 }), false, RETRY, NOW, half);
        expect(decision).toEqual({
            outcome: 'retryScheduled',
            delayMs: 1500,
            next: expect.objectContaining({
                status: 'Submitting',
                attempts: 2,
                leaseUntil: null,
                notBefore: '2026-11-21T12:00:01.500Z',
                lastAttemptUncertain: false,
                error: expect.objectContaining({ code: 'HTTP500' }),
            }),
        });
    });

    it('never retries before Retry-After, however short the back-off', () => {
        const decision = decideFailure(
            submitting(1),
            transientError({ status: 429, retryAfterMs: 30_000 }),
            false,
            RETRY,
            NOW,
            half,
        );
        expect(decision.delayMs).toBe(30_000);
        expect(decision.next.notBefore).toBe('2026-11-21T12:00:30.000Z');
    });

    it('is pure: the same inputs give the same decision, and the record passed in is unchanged', () => {
        const record = submitting(1);
        const copy = structuredClone(record);
        const error = transientError({ kind: 'timeout', outcomeUnknown: true });
        expect(decideFailure(record, error, true, RETRY, NOW, half)).toEqual(
            decideFailure(record, error, true, RETRY, NOW, half),
        );
        expect(record).toEqual(copy);
    });
});
