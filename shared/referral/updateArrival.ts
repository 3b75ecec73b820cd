/**
 * What the `referral-updates` queue function does with a delivery: admit the update onto its referral's record
 * (updateAdmission.ts, the same path the PATCH intake takes), idempotently by update key. An invalid update, or one
 * for a referral that takes no more updates, is kept Rejected on the record and completed: never retried. A message
 * that can be recorded nowhere (no usable keys, a key conflict, a full record) is left to dead-letter.
 *
 * An update for a referral without a record is left to dead-letter too, after the queue's delivery count rather
 * than at once: a publisher may send the referral and its first update together, and the referral's own message may
 * still be on its way. `npm run replay` sends a dead-lettered update again.
 *
 * Applying the admitted update to Partner Center is the applier's, after this admission (see the module comment of
 * updates.ts for what the record holds).
 */
import { parseMessageBody, updatedReferralKeyOf, updateKeyOf } from '../messaging/messages';
import { UnprocessableMessageError } from '../pipeline/worker';
import type { EventLogger } from '../platform/logging';
import type { DeliveryInfo } from '../platform/triggers';
import { correlationIdOr } from './admission';
import { loggableUpdatePaths } from './request/patch';
import { admitUpdate, type UpdateAdmission, type UpdateAdmissionDependencies } from './updateAdmission';

export async function processUpdateMessage(
    body: unknown,
    delivery: DeliveryInfo,
    deps: UpdateAdmissionDependencies,
    log: EventLogger,
): Promise<UpdateAdmission['outcome']> {
    const referralKey = updatedReferralKeyOf(delivery);
    const updateKey = updateKeyOf(delivery);
    if (!referralKey || !updateKey) {
        throw new UnprocessableMessageError('The update message has no usable referralId property or update key.');
    }
    const correlationId = correlationIdOr(delivery.correlationId, updateKey);
    const fields = { referralKey, updateKey, correlationId, deliveryCount: delivery.deliveryCount };
    const arrival = { referralKey, updateKey, body: parseMessageBody(body), correlationId, source: 'queue' as const };
    const admission = await admitUpdate(arrival, deps);
    switch (admission.outcome) {
        case 'admitted':
            log.event('info', 'update.accepted', { ...fields, outcome: admission.update.status });
            return admission.outcome;
        case 'repeated':
            log.event('info', 'update.repeated', { ...fields, outcome: admission.update.status });
            return admission.outcome;
        case 'rejected':
            log.event('warn', 'update.rejected', {
                ...fields,
                outcome: admission.update.error?.code,
                problemPaths: loggableUpdatePaths(admission.problems),
                problemsOmitted: admission.problemsOmitted,
            });
            return admission.outcome;
        case 'unknownReferral':
            log.event('warn', 'update.unknownReferral', fields);
            throw new UnprocessableMessageError(`Referral ${referralKey} has no record (yet): the update waits.`);
        case 'keyConflict':
            log.event('error', 'update.keyConflict', fields);
            throw new UnprocessableMessageError(`Update key ${updateKey} is already used by a different update.`);
        case 'full':
        case 'invalid': // only the intake answers an invalid update without keeping it
        case 'final': // likewise
            log.event('error', 'update.refused', { ...fields, outcome: admission.outcome });
            throw new UnprocessableMessageError(`Referral ${referralKey} cannot record update ${updateKey}.`);
    }
}
