import { app } from '@azure/functions';

import { intakeDependencies } from '../shared/dependencies';
import { httpHandler } from '../shared/platform/http';
import { readReferralStatus } from '../shared/referral/statusDocument';
import type { ReferralStore } from '../shared/referral/store';

/** GET /api/referrals/{id}: the lifecycle status of one referral and the Partner API's identifiers. */
export const getReferralStatus = httpHandler((request, _context, store: ReferralStore = intakeDependencies().store) =>
    readReferralStatus(request.params.id, store),
);

app.http('getReferralStatus', {
    methods: ['GET'],
    route: 'referrals/{id}',
    authLevel: 'function',
    handler: getReferralStatus,
});
