import { app } from '@azure/functions';

import { webhookDependencies } from '../shared/dependencies';
import { receivePartnerCenterEvent as receive } from '../shared/partnerCenter/webhookReceiver';
import { WEBHOOK_ROUTE } from '../shared/partnerCenter/webhookRegistration';
import { useCaseHandler } from '../shared/platform/http';

/** POST /api/partner-center/events: Partner Center's webhook, verified, then queued on `partner-center-events`. */
export const receivePartnerCenterEvent = useCaseHandler(receive, webhookDependencies);

app.http('receivePartnerCenterEvent', {
    methods: ['POST'],
    route: WEBHOOK_ROUTE,
    // The URL registered with Partner Center carries the function key as ?code=.
    authLevel: 'function',
    handler: receivePartnerCenterEvent,
});
