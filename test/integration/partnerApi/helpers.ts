import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { type PartnerApiCallContext } from '../../../shared/partnerApi';

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

export function context(requestId: string = randomUUID()): PartnerApiCallContext {
    return { requestId, correlationId: randomUUID() };
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
