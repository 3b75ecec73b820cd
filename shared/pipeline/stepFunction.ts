/**
 * The handler of a queue-triggered step function (submitReferral, connectReferral): the delivery's trigger metadata
 * and an invocation logger around what the worker does with the message. Returning completes the message; a throw
 * abandons it. The collaborators are a parameter with production defaults, so tests pass their own.
 */
import type { InvocationContext } from '@azure/functions';

import { workerDependencies } from '../dependencies';
import { type EventLogger, invocationLogger } from '../platform/logging';
import type { StepDependencies } from './step';
import { type DeliveryInfo, deliveryInfo, type DeliveryOutcome } from './worker';

type ProcessDelivery = (
    body: unknown,
    delivery: DeliveryInfo,
    deps: StepDependencies,
    log: EventLogger,
) => Promise<DeliveryOutcome>;

export function stepFunction(process: ProcessDelivery) {
    return async (
        message: unknown,
        context: InvocationContext,
        deps: StepDependencies = workerDependencies(),
    ): Promise<void> => {
        await process(message, deliveryInfo(context), deps, invocationLogger(context));
    };
}
