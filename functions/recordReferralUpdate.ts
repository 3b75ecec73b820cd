import { app, type InvocationContext } from '@azure/functions';

import { updateWorkerDependencies } from '../shared/dependencies';
import { processUpdateDelivery } from '../shared/pipeline/updateDelivery';
import type { UpdateStepDependencies } from '../shared/pipeline/updateStep';
import { deliveryInfo } from '../shared/pipeline/worker';
import { invocationLogger } from '../shared/platform/logging';
import { SERVICE_BUS_CONNECTION, UPDATES_QUEUE } from '../shared/platform/names';

/**
 * Queue `referral-updates`: records each update (from a publisher, or the PATCH intake) on its referral, once per
 * update key, then applies its referral's updates at Partner Center in order, each exactly once. Returning completes
 * the message; a throw abandons it.
 */
export async function recordReferralUpdate(
    message: unknown,
    context: InvocationContext,
    deps: UpdateStepDependencies = updateWorkerDependencies(),
): Promise<void> {
    await processUpdateDelivery(message, deliveryInfo(context), deps, invocationLogger(context));
}

app.serviceBusQueue('recordReferralUpdate', {
    connection: SERVICE_BUS_CONNECTION,
    queueName: UPDATES_QUEUE,
    handler: (message, context) => recordReferralUpdate(message, context),
});
