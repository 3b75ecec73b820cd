import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { createRequestId, type PartnerApiCallContext, PartnerApiError } from '../../../shared/partnerApi';

const fixtures = join(__dirname, '..', '..', 'fixtures');

export function seedRequest(): Record<string, unknown> {
    return JSON.parse(readFileSync(join(fixtures, 'seed-shared-referral.request.json'), 'utf8')) as Record<
        string,
        unknown
    >;
}

export function seedResponse(): Record<string, unknown> {
    return JSON.parse(readFileSync(join(fixtures, 'seed-shared-referral.response.json'), 'utf8')) as Record<
        string,
        unknown
    >;
}

/** A call's context; with a referral key, the `MS-RequestId` its submit create carries on every retry. */
export function context(referralKey?: string): PartnerApiCallContext {
    return {
        correlationId: randomUUID(),
        ...(referralKey === undefined ? {} : { createRequestId: createRequestId(referralKey, 'submit') }),
    };
}

export function independentReferral(externalReferenceId?: string): Record<string, unknown> {
    return { ...seedRequest(), type: 'Independent', ...(externalReferenceId ? { externalReferenceId } : {}) };
}

/** Step two of a Shared referral: the connected referral to Microsoft, in the engagement of step one. */
export function connectedReferral(engagementId: string): Record<string, unknown> {
    return {
        ...seedRequest(),
        type: 'Shared',
        engagementId,
        target: [{ type: 'BusinessProfileLocation', id: 'msft' }],
    };
}

/** The `PartnerApiError` a call failed with (the test fails if it succeeded or threw something else). */
export async function failure(promise: Promise<unknown>): Promise<PartnerApiError> {
    const error = await promise.then(
        () => undefined,
        (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(PartnerApiError);
    return error as PartnerApiError;
}
