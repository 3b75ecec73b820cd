import { app, type InvocationContext } from '@azure/functions';

import { workerDependencies } from '../shared/dependencies';
import type { StepDependencies } from '../shared/pipeline/step';
import { deliveryInfo, processReferralMessage } from '../shared/pipeline/worker';
import { invocationLogger } from '../shared/platform/logging';
import { REFERRALS_QUEUE, SERVICE_BUS_CONNECTION } from '../shared/platform/names';

/**
 * Queue `referrals`: submits each referral to the Partner API exactly once and records the answer; for a Shared
 * referral, queues the connected Microsoft referral. Returning completes the message; a throw abandons it.
 */
export async function submitReferral(
    message: unknown,
    context: InvocationContext,
    deps: StepDependencies = workerDependencies(),
): Promise<void> {
    await processReferralMessage(message, deliveryInfo(context), deps, invocationLogger(context));
}

app.serviceBusQueue('submitReferral', {
    connection: SERVICE_BUS_CONNECTION,
    queueName: REFERRALS_QUEUE,
    handler: (message, context) => submitReferral(message, context),
});
