import { app } from '@azure/functions';

import { workerDependencies } from '../shared/dependencies';
import { processReferralMessage } from '../shared/pipeline/worker';
import { REFERRALS_QUEUE, SERVICE_BUS_CONNECTION } from '../shared/platform/names';
import { queueHandler } from '../shared/platform/triggers';

/**
 * Queue `referrals`: submits each referral to the Partner API exactly once and records the answer; for a Shared
 * referral, queues the connected Microsoft referral.
 */
export const submitReferral = queueHandler(processReferralMessage, workerDependencies);

app.serviceBusQueue('submitReferral', {
    connection: SERVICE_BUS_CONNECTION,
    queueName: REFERRALS_QUEUE,
    handler: submitReferral,
});
