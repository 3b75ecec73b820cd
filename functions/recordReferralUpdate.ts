import { app, type InvocationContext } from '@azure/functions';

import { intakeDependencies } from '../shared/dependencies';
import { deliveryInfo } from '../shared/pipeline/worker';
import { invocationLogger } from '../shared/platform/logging';
import { SERVICE_BUS_CONNECTION, UPDATES_QUEUE } from '../shared/platform/names';
import type { UpdateAdmissionDependencies } from '../shared/referral/updateAdmission';
import { processUpdateMessage } from '../shared/referral/updateArrival';

/**
 * Queue `referral-updates`: records each update (from a publisher, or the PATCH intake) on its referral, once per
 * update key. Returning completes the message; a throw abandons it.
 */
export async function recordReferralUpdate(
    message: unknown,
    context: InvocationContext,
    deps: UpdateAdmissionDependencies = intakeDependencies(),
): Promise<void> {
    await processUpdateMessage(message, deliveryInfo(context), deps, invocationLogger(context));
}

app.serviceBusQueue('recordReferralUpdate', {
    connection: SERVICE_BUS_CONNECTION,
    queueName: UPDATES_QUEUE,
    handler: (message, context) => recordReferralUpdate(message, context),
});
