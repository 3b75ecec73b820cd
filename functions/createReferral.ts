import { app } from '@azure/functions';

import { intakeDependencies } from '../shared/dependencies';
import { httpHandler } from '../shared/platform/http';
import { invocationLogger } from '../shared/platform/logging';
import { acceptReferral, type IntakeDependencies } from '../shared/referral/intake';

/** POST /api/referrals: validates a referral request and queues it for submission to the Partner API. */
export const createReferral = httpHandler((request, context, deps: IntakeDependencies = intakeDependencies()) =>
    acceptReferral(request, deps, invocationLogger(context)),
);

app.http('createReferral', {
    methods: ['POST'],
    route: 'referrals',
    authLevel: 'function',
    handler: (request, context) => createReferral(request, context),
});
