import { app, type HttpRequest, type HttpResponseInit, type InvocationContext } from '@azure/functions';

import { intakeDependencies } from '../shared/dependencies';
import { invocationLogger } from '../shared/platform/logging';
import { acceptReferral, type IntakeDependencies } from '../shared/referral/intake';

/** POST /api/referrals: validates a referral request and queues it for submission to the Partner API. */
export async function createReferral(
    request: HttpRequest,
    context: InvocationContext,
    deps: IntakeDependencies = intakeDependencies(),
): Promise<HttpResponseInit> {
    return acceptReferral(request, deps, invocationLogger(context));
}

app.http('createReferral', {
    methods: ['POST'],
    route: 'referrals',
    authLevel: 'function',
    handler: (request, context) => createReferral(request, context),
});
