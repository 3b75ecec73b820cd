import { app } from '@azure/functions';

import { updateIntakeDependencies } from '../shared/dependencies';
import { httpHandler } from '../shared/platform/http';
import { invocationLogger } from '../shared/platform/logging';
import { acceptUpdate, type UpdateIntakeDependencies } from '../shared/referral/updateIntake';

/** PATCH /api/referrals/{id}: validates an update (JSON Patch), records it on the referral and queues it. */
export const updateReferral = httpHandler(
    (request, context, deps: UpdateIntakeDependencies = updateIntakeDependencies()) =>
        acceptUpdate(request, deps, invocationLogger(context)),
);

app.http('updateReferral', {
    methods: ['PATCH'],
    route: 'referrals/{id}',
    authLevel: 'function',
    handler: (request, context) => updateReferral(request, context),
});
