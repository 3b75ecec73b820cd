import { app } from '@azure/functions';

import { stepFunction } from '../shared/pipeline/stepFunction';
import { processReferralMessage } from '../shared/pipeline/worker';
import { REFERRALS_QUEUE, SERVICE_BUS_CONNECTION } from '../shared/platform/names';

/**
 * Queue `referrals`: submits each referral to the Partner API exactly once and records the answer; for a Shared
 * referral, queues the connected Microsoft referral. Returning completes the message; a throw abandons it.
 */
export const submitReferral = stepFunction(processReferralMessage);

app.serviceBusQueue('submitReferral', {
    connection: SERVICE_BUS_CONNECTION,
    queueName: REFERRALS_QUEUE,
    handler: (message, context) => submitReferral(message, context),
});
