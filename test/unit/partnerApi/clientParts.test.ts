import {
    buildReferralFilter,
    MAX_API_MESSAGE_LENGTH,
    parseRetryAfterMs,
    PartnerApiError,
    verdictForStatus,
} from '../../../shared/partnerApi';

describe('parseRetryAfterMs', () => {
    const now = Date.parse('2025-01-01T00:00:00Z');

    it('reads seconds', () => {
        expect(parseRetryAfterMs('7', now)).toBe(7000);
        expect(parseRetryAfterMs(['2'], now)).toBe(2000);
        expect(parseRetryAfterMs('1.5', now)).toBe(1500);
    });

    it('reads an HTTP date relative to now, never negative', () => {
        expect(parseRetryAfterMs('Wed, 01 Jan 2025 00:00:30 GMT', now)).toBe(30_000);
        expect(parseRetryAfterMs('Tue, 31 Dec 2024 23:59:00 GMT', now)).toBe(0);
    });

    it('ignores what it cannot read', () => {
        expect(parseRetryAfterMs(undefined, now)).toBeUndefined();
        expect(parseRetryAfterMs('soon', now)).toBeUndefined();
        expect(parseRetryAfterMs('', now)).toBeUndefined();
    });
});

describe('verdictForStatus', () => {
    it.each([408, 429, 500, 502, 503, 504])('%i is transient', (status) =>
        expect(verdictForStatus(status)).toBe('transient'),
    );
    it.each([400, 401, 403, 404, 409, 412, 422])('%i is permanent', (status) =>
        expect(verdictForStatus(status)).toBe('permanent'),
    );
});

describe('buildReferralFilter', () => {
    it('joins the fields with and, quoting and escaping values', () => {
        expect(buildReferralFilter({ type: 'Shared', engagementId: 'e-1', externalReferenceId: "o'brien" })).toBe(
            "engagementId eq 'e-1' and externalReferenceId eq 'o''brien' and type eq 'Shared'",
        );
        expect(buildReferralFilter({})).toBeUndefined();
    });

    it('filters on updatedDateTime with an unquoted date-time literal', () => {
        expect(buildReferralFilter({ type: 'Shared', updatedSince: new Date('2026-11-21T12:00:00Z') })).toBe(
            "type eq 'Shared' and updatedDateTime ge 2026-11-21T12:00:00.000Z",
        );
    });
});

describe('PartnerApiError', () => {
    it('keeps the API message but truncates it to 1024 characters', () => {
        const error = new PartnerApiError({
            kind: 'http',
            verdict: 'permanent',
            operation: 'createReferral',
            status: 400,
            code: 'invalidRequest',
            apiMessage: 'x'.repeat(5000),
        });
        expect(error.apiMessage).toHaveLength(MAX_API_MESSAGE_LENGTH);
        expect(error.message.length).toBeLessThan(1200);
        expect(error.message).toMatch(
            /^Partner API createReferral failed \(permanent\): HTTP 400: invalidRequest - x+/,
        );
        expect(error.transient).toBe(false);
    });
});
