/**
 * What the two queue-triggered functions do with a delivery, apart from the Functions plumbing.
 */
import type { InvocationContext } from '@azure/functions';

import { isValidKey, parseMessageBody, REFERRAL_KEY_PROPERTY } from '../messaging/messages';
import type { EventLogger } from '../platform/logging';
import { newRecord, transition } from '../referral/record';
import { requestHash } from '../referral/request/canonicalJson';
import { loggablePaths, validateReferral } from '../referral/request/validate';
import type { StoredRecord } from '../referral/store';
import { runStep, type StepDependencies, type StepOutcome } from './step';
import { connectStep, submitStep } from './steps';

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

function referralKeyOf(delivery: DeliveryInfo, fallback?: unknown): string {
    const key = delivery.applicationProperties[REFERRAL_KEY_PROPERTY] ?? delivery.messageId ?? fallback;
    // Not recordable anywhere: the message is left to dead-letter (after the queue's max delivery count) and alert.
    if (typeof key !== 'string' || !isValidKey(key)) {
        throw new UnprocessableMessageError('The message has no usable referral key (messageId or referralKey).');
    }
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
    const key = referralKeyOf(delivery);
    const correlationId = delivery.correlationId && isValidKey(delivery.correlationId) ? delivery.correlationId : key;
    const fields = { referralKey: key, correlationId, deliveryCount: delivery.deliveryCount };
    const referral = parseMessageBody(body);
    const hash = requestHash(referral);

    let stored: StoredRecord | undefined = await deps.store.read(key);
    if (!stored) {
        const now = deps.now();
        const validation = validateReferral(referral);
        let record = newRecord({
            id: key,
            source: 'queue',
            correlationId,
            requestHash: hash,
            request: validation.ok ? validation.referral : null,
            at: now,
        });
        if (!validation.ok) {
            record = transition(record, 'Rejected', now, {
                error: {
                    code: 'InvalidReferral',
                    message: 'The referral is not valid.',
                    problems: validation.problems,
                },
            });
        }
        const created = await deps.store.create(record);
        if (created.created && !validation.ok) {
            log.event('warn', 'referral.rejected', {
                ...fields,
                to: 'Rejected',
                problemPaths: loggablePaths(validation.problems),
            });
            return 'rejected';
        }
        stored = created.created ? created.stored : created.existing;
    }
    if (stored.record.requestHash !== hash) {
        log.event('error', 'referral.keyConflict', fields);
        throw new UnprocessableMessageError(`Referral key ${key} is already used by a different referral.`);
    }
    return runStep(submitStep, key, correlationId, deps, log);
}

/** A message on the referral-connections queue: create the connected Microsoft referral of a Shared referral. */
export async function processConnectionMessage(
    body: unknown,
    delivery: DeliveryInfo,
    deps: StepDependencies,
    log: EventLogger,
): Promise<StepOutcome> {
    const parsed = parseMessageBody(body) as { id?: unknown } | undefined;
    const key = referralKeyOf(delivery, parsed?.id);
    const correlationId = delivery.correlationId && isValidKey(delivery.correlationId) ? delivery.correlationId : key;
    return runStep(connectStep, key, correlationId, deps, log);
}
