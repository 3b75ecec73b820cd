import { app } from '@azure/functions';

import { workerDependencies } from '../shared/dependencies';
import { processConnectionMessage } from '../shared/pipeline/worker';
import { CONNECTIONS_QUEUE, SERVICE_BUS_CONNECTION } from '../shared/platform/names';
import { queueHandler } from '../shared/platform/triggers';

/**
 * Queue `referral-connections`: creates the connected referral targeted at Microsoft for a Shared referral, from the
 * engagementId and request stored in Cosmos DB.
 */
export const connectReferral = queueHandler(processConnectionMessage, workerDependencies);

app.serviceBusQueue('connectReferral', {
    connection: SERVICE_BUS_CONNECTION,
    queueName: CONNECTIONS_QUEUE,
    handler: connectReferral,
});
