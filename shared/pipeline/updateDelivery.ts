/**
 * What the `referral-updates` queue function does with a delivery, apart from the Functions plumbing. A Cosmos DB or
 * Service Bus outage under it is outlasted as on the other queues (worker.ts): a scheduled copy of the delivery,
 * not ten redeliveries in seconds and an update dead-lettered.
 */
import { setTimeout as sleep } from 'node:timers/promises';

import {
    isUpdateRun,
    UPDATE_KEY_PROPERTY,
    updateDeliveryCopy,
    updatedReferralKeyOf,
    updateKeyOf,
} from '../messaging/messages';
import type { EventLogger } from '../platform/logging';
import type { DeliveryInfo } from '../platform/triggers';
import { processUpdateMessage } from '../referral/updateArrival';
import { applyNextUpdate, type UpdateStepDependencies, type UpdateStepOutcome } from './updateStep';
import { outlastingOutages, type Pause, UnprocessableMessageError } from './worker';

/**
 * A message on the referral-updates queue: admit the update it carries (updateArrival.ts), then apply the oldest
 * unsettled update of its referral (updateStep.ts; not necessarily this one: they apply in acceptance order). A run
 * the applier scheduled for itself carries no update to admit: it only applies.
 */
export async function processUpdateDelivery(
    body: unknown,
    delivery: DeliveryInfo,
    deps: UpdateStepDependencies,
    log: EventLogger,
    pause: Pause = sleep,
): Promise<UpdateStepOutcome | 'rejected' | 'rescheduled'> {
    const fields = {
        referralKey: updatedReferralKeyOf(delivery),
        updateKey: updateKeyOf(delivery),
        correlationId: delivery.correlationId,
        deliveryCount: delivery.deliveryCount,
    };
    return outlastingOutages(
        { queue: deps.updatesQueue, delivery, fields, deps, log, pause },
        // A publisher's update is keyed by its messageId: the copy, with an id of its own, names the key outright.
        (run) =>
            updateDeliveryCopy(
                {
                    ...delivery,
                    body,
                    messageId: delivery.messageId ?? '',
                    applicationProperties: isUpdateRun(delivery)
                        ? delivery.applicationProperties
                        : { ...delivery.applicationProperties, [UPDATE_KEY_PROPERTY]: fields.updateKey },
                },
                run,
            ),
        () => processDelivery(body, delivery, deps, log),
    );
}

async function processDelivery(
    body: unknown,
    delivery: DeliveryInfo,
    deps: UpdateStepDependencies,
    log: EventLogger,
): Promise<UpdateStepOutcome | 'rejected'> {
    const key = updatedReferralKeyOf(delivery);
    if (isUpdateRun(delivery)) {
        if (!key) throw new UnprocessableMessageError('The update run has no usable referralId property.');
        return applyNextUpdate(key, deps, log);
    }
    const admitted = await processUpdateMessage(body, delivery, deps, log);
    // Admitted or repeated; a kept Rejected update has nothing to apply.
    return admitted === 'rejected' ? admitted : applyNextUpdate(key!, deps, log);
}
