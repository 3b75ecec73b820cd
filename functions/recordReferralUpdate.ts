import { app } from '@azure/functions';

import { updateWorkerDependencies } from '../shared/dependencies';
import { processUpdateDelivery } from '../shared/pipeline/updateDelivery';
import { SERVICE_BUS_CONNECTION, UPDATES_QUEUE } from '../shared/platform/names';
import { queueHandler } from '../shared/platform/triggers';

/**
 * Queue `referral-updates`: records each update (from a publisher, or the PATCH intake) on its referral, once per
 * update key, then applies its referral's updates at Partner Center in order, each exactly once.
 */
export const recordReferralUpdate = queueHandler(processUpdateDelivery, updateWorkerDependencies);

app.serviceBusQueue('recordReferralUpdate', {
    connection: SERVICE_BUS_CONNECTION,
    queueName: UPDATES_QUEUE,
    handler: recordReferralUpdate,
});
