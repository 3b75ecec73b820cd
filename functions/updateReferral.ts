import { app } from '@azure/functions';

import { updateIntakeDependencies } from '../shared/dependencies';
import { useCaseHandler } from '../shared/platform/http';
import { acceptUpdate } from '../shared/referral/updateIntake';

/** PATCH /api/referrals/{id}: validates an update (JSON Patch), records it on the referral and queues it. */
export const updateReferral = useCaseHandler(acceptUpdate, updateIntakeDependencies);

app.http('updateReferral', {
    methods: ['PATCH'],
    route: 'referrals/{id}',
    authLevel: 'function',
    handler: updateReferral,
});
