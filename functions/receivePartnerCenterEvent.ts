import { app } from '@azure/functions';

import { webhookDependencies } from '../shared/dependencies';
import {
    receivePartnerCenterEvent as receive,
    type WebhookDependencies,
} from '../shared/partnerCenter/webhookReceiver';
import { WEBHOOK_ROUTE } from '../shared/partnerCenter/webhookRegistration';
import { httpHandler } from '../shared/platform/http';
import { invocationLogger } from '../shared/platform/logging';

/** POST /api/partner-center/events: Partner Center's webhook, verified, then queued on `partner-center-events`. */
export const receivePartnerCenterEvent = httpHandler(
    (request, context, deps: WebhookDependencies = webhookDependencies()) =>
        receive(request, deps, invocationLogger(context)),
);

app.http('receivePartnerCenterEvent', {
    methods: ['POST'],
    route: WEBHOOK_ROUTE,
    // The URL registered with Partner Center carries the function key as ?code=.
    authLevel: 'function',
    handler: (request, context) => receivePartnerCenterEvent(request, context),
});
