import { app } from '@azure/functions';

import { stepFunction } from '../shared/pipeline/stepFunction';
import { processConnectionMessage } from '../shared/pipeline/worker';
import { CONNECTIONS_QUEUE, SERVICE_BUS_CONNECTION } from '../shared/platform/names';

/**
 * Queue `referral-connections`: creates the connected referral targeted at Microsoft for a Shared referral, from the
 * engagementId and request stored in Cosmos DB.
 */
export const connectReferral = stepFunction(processConnectionMessage);

app.serviceBusQueue('connectReferral', {
    connection: SERVICE_BUS_CONNECTION,
    queueName: CONNECTIONS_QUEUE,
    handler: (message, context) => connectReferral(message, context),
});
