/**
 * What the two queue-triggered functions do with a delivery, apart from the Functions plumbing.
 *
 * A Cosmos DB or Service Bus failure inside a step (throttled beyond the SDK's own retries, a 5xx, the network) would
 * abandon the delivery, and Service Bus redelivers at once: a few minutes' outage would use up the message's ten
 * deliveries and dead-letter every referral in flight. Instead the worker sends a scheduled copy of the same message
 * after a back-off and completes the delivery; what the step had written stays valid, and the copy resumes from the
 * record. When not even the copy can be sent, it waits (bounded, well inside the lock) before letting the delivery
 * fail, so the deliveries left are spread over the outage.
 */
import { setTimeout as sleep } from 'node:timers/promises';

import type { ServiceBusMessage } from '@azure/service-bus';

import {
    ATTEMPT_PROPERTY,
    connectionMessage,
    duplicateCheckMessage,
    isDuplicateCheck,
    OUTAGE_COPY_PROPERTY,
    OUTAGE_ORIGIN_PROPERTY,
    parseMessageBody,
    referralKeyOf,
    referralMessage,
    type ScheduledRun,
} from '../messaging/messages';
import { isDependencyOutage, outageRetryAfterMs } from '../platform/dependencyOutage';
import { errorFields, type EventLogger, type LogFields } from '../platform/logging';
import { CONNECTIONS_QUEUE, REFERRALS_QUEUE } from '../platform/names';
import type { MessageSender } from '../platform/serviceBus';
import type { DeliveryInfo } from '../platform/triggers';
import { admit, correlationIdOr } from '../referral/admission';
import { loggablePaths } from '../referral/request/validate';
import { retryDelayMs } from './backoff';
import { connectStep } from './connectStep';
import { checkForDuplicates, type DuplicateCheckOutcome } from './duplicateCheck';
import { runStep, type StepDependencies, type StepOutcome } from './step';
import { submitStep } from './submitStep';

/** Back-off of the copies of a delivery that met an outage: 5 s doubling up to a minute (or Cosmos DB's ask). */
const OUTAGE_BACKOFF = { baseDelayMs: 5_000, maxDelayMs: 60_000 };
/** Copies after which a delivery fails as it used to (about two hours of outage): it dead-letters, with an alert. */
export const MAX_OUTAGE_COPIES = 120;
/**
 * The longest a delivery waits before failing when its copy could not be sent: half the 1-minute lock (which the
 * host renews meanwhile). With the growing back-off, a queue's ten deliveries span about four minutes.
 */
export const MAX_OUTAGE_WAIT_MS = 30_000;

export type DeliveryOutcome = StepOutcome | DuplicateCheckOutcome | 'rescheduled';

/** Waits before a delivery fails (tests pass their own). */
export type Pause = (ms: number) => Promise<unknown>;

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

/** The referral a delivery is for, its correlation id, and the log fields that follow it through the step. */
function deliveryOf(queue: string, delivery: DeliveryInfo, body: unknown) {
    const key = requireReferralKey(queue, delivery, body);
    const correlationId = correlationIdOr(delivery.correlationId, key);
    return { key, correlationId, fields: { referralKey: key, correlationId, deliveryCount: delivery.deliveryCount } };
}

/** A delivery's body with what `deliveryOf` reads from it. */
interface Arrival {
    body: unknown;
    key: string;
    correlationId: string;
    fields: LogFields;
}

/** What one queue's deliveries ask for: the copy that redoes a delivery after an outage, and the work itself. */
interface QueueWork {
    queueName: string;
    /** Where the copy goes: the queue the delivery came from. */
    sender: (deps: StepDependencies) => MessageSender;
    copy: (arrival: Arrival, run: ScheduledRun, delivery: DeliveryInfo) => ServiceBusMessage;
    work: (
        arrival: Arrival,
        deps: StepDependencies,
        log: EventLogger,
        delivery: DeliveryInfo,
    ) => Promise<StepOutcome | DuplicateCheckOutcome>;
}

/** What a queue's deliveries go through: the same outage handling around each queue's own work. */
function queueWorker(queueWork: QueueWork) {
    return async (
        body: unknown,
        delivery: DeliveryInfo,
        deps: StepDependencies,
        log: EventLogger,
        pause: Pause = sleep,
    ): Promise<DeliveryOutcome> => {
        const arrival = { body, ...deliveryOf(queueWork.queueName, delivery, body) };
        return outlastingOutages(
            { queue: queueWork.sender(deps), delivery, fields: arrival.fields, deps, log, pause },
            (run) => queueWork.copy(arrival, run, delivery),
            () => queueWork.work(arrival, deps, log, delivery),
        );
    };
}

/**
 * A message on the referrals queue: from the intake (the record exists) or straight from an upstream publisher (the
 * record is created here, Rejected with its problem list when the referral is invalid, and never retried).
 */
export const processReferralMessage = queueWorker({
    queueName: REFERRALS_QUEUE,
    sender: (deps) => deps.referralsQueue,
    copy: ({ key, body, correlationId }, run, delivery) =>
        isDuplicateCheck(delivery)
            ? duplicateCheckMessage({ key, correlationId, run })
            : referralMessage({ key, body: parseMessageBody(body), correlationId, run }),
    // The later duplicate check of a done referral (duplicateCheck.ts) comes on this queue too: not a submission.
    work: (arrival, deps, log, delivery) =>
        isDuplicateCheck(delivery)
            ? checkForDuplicates(arrival.key, arrival.correlationId, attemptOf(delivery), deps, log)
            : submit(arrival, deps, log),
});

async function submit(
    { body, key, correlationId, fields }: Arrival,
    deps: StepDependencies,
    log: EventLogger,
): Promise<StepOutcome> {
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
            return runStep(submitStep, key, correlationId, deps, log);
        case 'admitted':
        case 'repeated':
            // The record admission just read or created: the step decides on it without reading it again.
            return runStep(submitStep, key, correlationId, deps, log, admission.stored);
    }
}

/** A message on the referral-connections queue: create the connected Microsoft referral of a Shared referral. */
export const processConnectionMessage = queueWorker({
    queueName: CONNECTIONS_QUEUE,
    sender: (deps) => deps.connectionsQueue,
    copy: ({ key, correlationId }, run) => connectionMessage({ key, correlationId, run }),
    work: ({ key, correlationId }, deps, log) => runStep(connectStep, key, correlationId, deps, log),
});

/** The delivery's `attempt` property: 1 when absent or unusable (an upstream publisher's message). */
function attemptOf(delivery: DeliveryInfo): number {
    const attempt = Number(delivery.applicationProperties[ATTEMPT_PROPERTY]);
    return Number.isSafeInteger(attempt) && attempt > 0 ? attempt : 1;
}

export interface OutageHandling {
    /** Where the copy goes: the queue the delivery came from. */
    queue: MessageSender;
    delivery: DeliveryInfo;
    fields: LogFields;
    deps: Pick<StepDependencies, 'now' | 'random'>;
    log: EventLogger;
    pause: Pause;
}

/**
 * Runs `work` for a delivery; when Cosmos DB or Service Bus fails under it, sends `copy` of the delivery scheduled
 * after a back-off and completes, or, if that send fails too, waits before letting the delivery fail.
 */
export async function outlastingOutages<T extends string>(
    handling: OutageHandling,
    copy: (run: ScheduledRun) => ServiceBusMessage,
    work: () => Promise<T>,
): Promise<T | 'rescheduled'> {
    try {
        return await work();
    } catch (error) {
        if (!isDependencyOutage(error)) throw error;
        const { queue, delivery, fields, deps, log, pause } = handling;
        const properties = delivery.applicationProperties;
        const previous = Number(properties[OUTAGE_COPY_PROPERTY]);
        const number = Number.isSafeInteger(previous) && previous > 0 ? previous + 1 : 1;
        const origin = properties[OUTAGE_ORIGIN_PROPERTY];
        const attempt = attemptOf(delivery);
        // Redeliveries that could not send a copy count too: each waits longer than the one before.
        const step = Math.max(number, delivery.deliveryCount ?? 1);
        const delayMs = retryDelayMs(step, outageRetryAfterMs(error), OUTAGE_BACKOFF, deps.random);
        const failure = { ...fields, ...errorFields(error), attempt: number, delayMs };
        if (number > MAX_OUTAGE_COPIES) throw error;
        try {
            await queue.send(
                copy({
                    reason: {
                        kind: 'outage',
                        origin: typeof origin === 'string' && origin ? origin : (delivery.messageId ?? ''),
                        copy: number,
                    },
                    attempt,
                    notBefore: new Date(deps.now().getTime() + delayMs),
                }),
            );
        } catch (sendError) {
            if (!isDependencyOutage(sendError)) throw error;
            log.event('error', 'delivery.dependencyUnavailable', failure);
            await pause(Math.min(delayMs, MAX_OUTAGE_WAIT_MS));
            throw error;
        }
        log.event('warn', 'delivery.rescheduled', failure);
        return 'rescheduled';
    }
}
