/**
 * What a failed Partner API attempt leaves on the record, decided without a store, a queue or a clock.
 */
import { PartnerApiError } from '../../../shared/partnerApi';
import { decideFailure } from '../../../shared/pipeline/step';
import { newRecord, type ReferralRecord, transition } from '../../../shared/referral/record';
import { permanentError, transientError } from '../../support/fakePartnerApi';

const NOW = new Date('2026-11-21T12:00:00.000Z');
/** A one-hour window from the step's start (11:59): the claim at 12:00 is a minute into it. */
const RETRY = { windowMs: 3_600_000, baseDelayMs: 1000, maxDelayMs: 60_000 };
const HOUR = 3_600_000;
const half = () => 0.5;

/** A record claimed for attempt `attempts` of the submit step, which began at 11:59. */
function submitting(attempts: number): ReferralRecord {
    const queued = newRecord({
        id: 'k1',
        source: 'http',
        correlationId: 'c1',
        requestHash: 'h',
        request: null,
        at: new Date('2026-11-21T11:00:00.000Z'),
    });
    return transition(queued, 'Submitting', new Date('2026-11-21T11:59:00.000Z'), {
        attempts,
        leaseUntil: '2026-11-21T12:01:30.000Z',
        stepStartedAt: '2026-11-21T11:59:00.000Z',
    });
}

/** `ms` after the step began (11:59). */
function at(ms: number): Date {
    return new Date(Date.parse('2026-11-21T11:59:00.000Z') + ms);
}
const iso = (ms: number) => at(ms).toISOString();

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

    it.each([401, 403])('never rejects for an auth problem (HTTP %i, even marked permanent): holds', (status) => {
        const error = new PartnerApiError({ kind: 'http', verdict: 'permanent', operation: 'createReferral', status });
        const decision = decideFailure(submitting(1), error, false, RETRY, NOW, half);
        expect(decision.outcome).toBe('held');
        expect(decision.next.status).toBe('Submitting');
        expect(decision.next.error?.code).toBe('WaitingForConsent');
        expect(decision.next.error?.message).toContain(`HTTP${status}`);
    });

    it('keeps retrying with capped back-off until the window has passed, however many attempts that takes', () => {
        const error = transientError({ status: 503, code: 'serviceUnavailable' });
        // Attempt 40, 50 minutes into the hour: the back-off is capped at maxDelayMs (45 s with jitter 0.5).
        const late = decideFailure(submitting(40), error, false, RETRY, at(50 * 60_000), half);
        expect(late).toMatchObject({ outcome: 'retryScheduled', delayMs: 45_000 });
    });

    it('fails the referral once the next attempt would fall after the window, keeping whether it is uncertain', () => {
        const error = transientError({ status: 503, code: 'serviceUnavailable' });
        const decision = decideFailure(submitting(41), error, true, RETRY, at(HOUR - 30_000), half);
        expect(decision.outcome).toBe('failed');
        expect(decision.next).toMatchObject({
            status: 'Failed',
            leaseUntil: null,
            lastAttemptUncertain: true,
            error: {
                code: 'RetriesExhausted',
                message: `Gave up after 41 attempts over the retry window; last error serviceUnavailable: ${error.message}`,
            },
        });
    });

    it('does not count the time held for auth failures against the window', () => {
        const auth = new PartnerApiError({ kind: 'auth', verdict: 'transient', operation: 'createReferral' });
        const held = decideFailure(submitting(3), auth, false, RETRY, at(30 * 60_000), half).next;
        expect(held.retryWindow).toEqual({ from: '2026-11-21T11:59:00.000Z', heldMs: 0, heldSince: iso(30 * 60_000) });
        // Consent fixed 10 hours later; then the API fails transiently: 40 minutes of the window are left.
        const claimed = { ...held, attempts: 4 };
        const later = decideFailure(claimed, transientError({ status: 500 }), false, RETRY, at(10 * HOUR), half);
        expect(later.outcome).toBe('retryScheduled');
        expect(later.next.retryWindow).toEqual({ from: '2026-11-21T11:59:00.000Z', heldMs: 10 * HOUR - 30 * 60_000 });
        const end = { ...later.next, attempts: 5 };
        expect(
            decideFailure(end, transientError({ status: 500 }), false, RETRY, at(10 * HOUR + 25 * 60_000), half),
        ).toMatchObject({ outcome: 'retryScheduled' });
        expect(
            decideFailure(end, transientError({ status: 500 }), false, RETRY, at(10 * HOUR + 31 * 60_000), half),
        ).toMatchObject({ outcome: 'failed' });
    });

    it('holds an auth failure past the window too: it is never the referral that fails for it', () => {
        const auth = new PartnerApiError({
            kind: 'http',
            verdict: 'transient',
            operation: 'listReferrals',
            status: 401,
        });
        const decision = decideFailure(submitting(200), auth, true, RETRY, at(30 * HOUR), half);
        expect(decision).toMatchObject({ outcome: 'held', delayMs: 45_000 });
        expect(decision.next.lastAttemptUncertain).toBe(true);
    });

    it('starts a fresh window for a new run of the step (a replay), whatever an earlier run left', () => {
        const replayed = { ...submitting(1), retryWindow: { from: '2026-11-20T00:00:00.000Z', heldMs: 0 } };
        const decision = decideFailure(replayed, transientError({ status: 500 }), false, RETRY, NOW, half);
        expect(decision.outcome).toBe('retryScheduled');
        expect(decision.next.retryWindow).toEqual({ from: '2026-11-21T11:59:00.000Z', heldMs: 0 });
    });

    it('caps Retry-After at an hour: a longer one is retried at the cap', () => {
        const error = transientError({ status: 503, retryAfterMs: 86_400_000 });
        const decision = decideFailure(submitting(1), error, false, { ...RETRY, windowMs: 24 * HOUR }, NOW, half);
        expect(decision).toMatchObject({ outcome: 'retryScheduled', delayMs: HOUR });
        expect(decision.next.notBefore).toBe('2026-11-21T13:00:00.000Z');
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
