import { app, type InvocationContext } from '@azure/functions';

import { eventDeliveryDependencies } from '../shared/dependencies';
import { type EventDeliveryDependencies, processPartnerCenterEvent } from '../shared/partnerCenter/eventDelivery';
import { deliveryInfo } from '../shared/pipeline/worker';
import { invocationLogger } from '../shared/platform/logging';
import { PARTNER_CENTER_EVENTS_QUEUE, SERVICE_BUS_CONNECTION } from '../shared/platform/names';

/**
 * Queue `partner-center-events`: reads the referral a verified webhook event names from the Partner API and applies
 * Partner Center's state to the records that track its engagement (shared/partnerCenter/sync.ts). Returning
 * completes the message; a throw abandons it.
 */
export async function syncPartnerCenterEvent(
    message: unknown,
    context: InvocationContext,
    deps: EventDeliveryDependencies = eventDeliveryDependencies(),
): Promise<void> {
    await processPartnerCenterEvent(message, deliveryInfo(context), deps, invocationLogger(context));
}

app.serviceBusQueue('syncPartnerCenterEvent', {
    connection: SERVICE_BUS_CONNECTION,
    queueName: PARTNER_CENTER_EVENTS_QUEUE,
    handler: (message, context) => syncPartnerCenterEvent(message, context),
});
