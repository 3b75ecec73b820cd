import { app, type HttpRequest, type HttpResponseInit, type InvocationContext } from '@azure/functions';

import { intakeDependencies } from '../shared/dependencies';
import { readReferralStatus } from '../shared/referral/statusDocument';
import type { ReferralStore } from '../shared/referral/store';

/** GET /api/referrals/{id}: the lifecycle status of one referral and the Partner API's identifiers. */
export async function getReferralStatus(
    request: HttpRequest,
    _context: InvocationContext,
    store: ReferralStore = intakeDependencies().store,
): Promise<HttpResponseInit> {
    return readReferralStatus(request.params.id, store);
}

app.http('getReferralStatus', {
    methods: ['GET'],
    route: 'referrals/{id}',
    authLevel: 'function',
    handler: (request, context) => getReferralStatus(request, context),
});
