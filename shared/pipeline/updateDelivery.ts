/**
 * What the `referral-updates` queue function does with a delivery, apart from the Functions plumbing.
 */
import { isUpdateRun, updatedReferralKeyOf } from '../messaging/messages';
import type { EventLogger } from '../platform/logging';
import { processUpdateMessage } from '../referral/updateArrival';
import { applyNextUpdate, type UpdateStepDependencies, type UpdateStepOutcome } from './updateStep';
import { type DeliveryInfo, UnprocessableMessageError } from './worker';

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
