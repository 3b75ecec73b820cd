import { app, type InvocationContext } from '@azure/functions';

import { workerDependencies } from '../shared/dependencies';
import type { StepDependencies } from '../shared/pipeline/step';
import { deliveryInfo, processConnectionMessage } from '../shared/pipeline/worker';
import { invocationLogger } from '../shared/platform/logging';
import { CONNECTIONS_QUEUE, SERVICE_BUS_CONNECTION } from '../shared/platform/names';

/**
 * Queue `referral-connections`: creates the connected referral targeted at Microsoft for a Shared referral, from the
 * engagementId and request stored in Cosmos DB.
 */
export async function connectReferral(
    message: unknown,
    context: InvocationContext,
    deps: StepDependencies = workerDependencies(),
): Promise<void> {
    await processConnectionMessage(message, deliveryInfo(context), deps, invocationLogger(context));
}

app.serviceBusQueue('connectReferral', {
    connection: SERVICE_BUS_CONNECTION,
    queueName: CONNECTIONS_QUEUE,
    handler: (message, context) => connectReferral(message, context),
});
