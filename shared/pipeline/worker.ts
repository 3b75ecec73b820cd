/**
 * What the two queue-triggered functions do with a delivery, apart from the Functions plumbing.
 */
import type { InvocationContext } from '@azure/functions';

import { parseMessageBody, referralKeyOf } from '../messaging/messages';
import type { EventLogger } from '../platform/logging';
import { CONNECTIONS_QUEUE, REFERRALS_QUEUE } from '../platform/names';
import { admit, correlationIdOr } from '../referral/admission';
import { loggablePaths } from '../referral/request/validate';
import { connectStep } from './connectStep';
import { runStep, type StepDependencies, type StepOutcome } from './step';
import { submitStep } from './submitStep';

/** The trigger metadata the worker reads, as the Functions host passes it. */
export interface DeliveryInfo {
    messageId?: string;
    correlationId?: string;
    deliveryCount?: number;
    applicationProperties: Record<string, unknown>;
}

export function deliveryInfo(context: InvocationContext): DeliveryInfo {
    const metadata = context.triggerMetadata ?? {};
    const text = (value: unknown) => (typeof value === 'string' && value ? value : undefined);
    const properties = metadata.applicationProperties;
    return {
        messageId: text(metadata.messageId),
        correlationId: text(metadata.correlationId),
        deliveryCount: typeof metadata.deliveryCount === 'number' ? metadata.deliveryCount : undefined,
        applicationProperties:
            properties && typeof properties === 'object' ? (properties as Record<string, unknown>) : {},
    };
}

export class UnprocessableMessageError extends Error {
    override readonly name = 'UnprocessableMessageError';
}

/** The key the delivery names; a message without a usable one cannot be recorded anywhere. */
function requireReferralKey(queue: string, delivery: DeliveryInfo, body: unknown): string {
    const key = referralKeyOf(queue, { ...delivery, body });
    // Left to dead-letter (after the queue's max delivery count), where it raises an alert.
    if (!key) throw new UnprocessableMessageError('The message has no usable referral key (messageId or referralKey).');
    return key;
}

/**
 * A message on the referrals queue: from the intake (the record exists) or straight from an upstream publisher (the
 * record is created here, Rejected with its problem list when the referral is invalid, and never retried).
 */
export async function processReferralMessage(
    body: unknown,
    delivery: DeliveryInfo,
    deps: StepDependencies,
    log: EventLogger,
): Promise<StepOutcome> {
    const key = requireReferralKey(REFERRALS_QUEUE, delivery, body);
    const correlationId = correlationIdOr(delivery.correlationId, key);
    const fields = { referralKey: key, correlationId, deliveryCount: delivery.deliveryCount };
    const admission = await admit({ key, body: parseMessageBody(body), correlationId, source: 'queue' }, deps);
    switch (admission.outcome) {
        case 'invalid': // only the intake answers an invalid referral without keeping it
        case 'rejected':
            log.event('warn', 'referral.rejected', {
                ...fields,
                to: 'Rejected',
                problemPaths: loggablePaths(admission.problems),
                problemsOmitted: admission.problemsOmitted,
            });
            return 'rejected';
        case 'keyConflict':
            log.event('error', 'referral.keyConflict', fields);
            throw new UnprocessableMessageError(`Referral key ${key} is already used by a different referral.`);
        case 'externalReferenceIdInUse':
            // Kept Rejected (ExternalReferenceIdInUse, naming the holder's key), or an earlier arrival's record.
            log.event('warn', 'referral.externalReferenceIdInUse', { ...fields, to: 'Rejected' });
            return 'rejected';
        case 'tooLarge': // only the intake asks: a message that is on the queue fits it
        case 'admitted':
        case 'repeated':
            return runStep(submitStep, key, correlationId, deps, log);
    }
}

/** A message on the referral-connections queue: create the connected Microsoft referral of a Shared referral. */
export async function processConnectionMessage(
    body: unknown,
    delivery: DeliveryInfo,
    deps: StepDependencies,
    log: EventLogger,
): Promise<StepOutcome> {
    const key = requireReferralKey(CONNECTIONS_QUEUE, delivery, body);
    return runStep(connectStep, key, correlationIdOr(delivery.correlationId, key), deps, log);
}
