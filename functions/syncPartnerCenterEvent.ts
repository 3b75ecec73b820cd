import { app } from '@azure/functions';

import { eventDeliveryDependencies } from '../shared/dependencies';
import { processPartnerCenterEvent } from '../shared/partnerCenter/eventDelivery';
import { PARTNER_CENTER_EVENTS_QUEUE, SERVICE_BUS_CONNECTION } from '../shared/platform/names';
import { queueHandler } from '../shared/platform/triggers';

/**
 * Queue `partner-center-events`: reads the referral a verified webhook event names from the Partner API and applies
 * Partner Center's state to the records that track its engagement (shared/partnerCenter/sync.ts).
 */
export const syncPartnerCenterEvent = queueHandler(processPartnerCenterEvent, eventDeliveryDependencies);

app.serviceBusQueue('syncPartnerCenterEvent', {
    connection: SERVICE_BUS_CONNECTION,
    queueName: PARTNER_CENTER_EVENTS_QUEUE,
    handler: syncPartnerCenterEvent,
});
