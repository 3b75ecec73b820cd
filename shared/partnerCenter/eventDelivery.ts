/**
 * What the `partner-center-events` queue function does with a delivery, apart from the Functions plumbing: GET the
 * referral the event names (the event is thin, and its ResourceUri only carries the id), then apply it through the
 * one sync path (sync.ts).
 *
 * A transient failure (the Partner API's, honouring its Retry-After; Cosmos DB's or Service Bus's) sends the event
 * again, scheduled after a back-off, and completes the delivery, as the referral workers do: a few minutes' outage
 * does not use up the message's deliveries. After MAX_EVENT_ATTEMPTS the event is let go with a warning: the
 * reconciliation (reconciliation.ts) picks the change up from Partner Center's list. A referral Partner Center no
 * longer has, or a permanent refusal, is logged and acknowledged for the same reason.
 */
import { ATTEMPT_PROPERTY, parseMessageBody, partnerCenterEventRetryMessage } from '../messaging/messages';
import { PartnerApiError } from '../partnerApi/errors';
import type { PartnerApiCallContext, PartnerReferral } from '../partnerApi/types';
import { retryDelayMs } from '../pipeline/backoff';
import { type DeliveryInfo, UnprocessableMessageError } from '../pipeline/worker';
import type { RetryConfig } from '../platform/config';
import { isDependencyOutage, outageRetryAfterMs } from '../platform/dependencyOutage';
import { errorFields, type EventLogger } from '../platform/logging';
import type { MessageSender } from '../platform/serviceBus';
import { readPartnerCenterEvent } from './events';
import { type SyncDependencies, type SyncOutcome, syncReferral } from './sync';

/** Runs of one event at most before it is left to the reconciliation. */
export const MAX_EVENT_ATTEMPTS = 10;
/** One run's Partner API calls (a GET and the engagement's list) end by then. */
export const EVENT_RUN_DEADLINE_MS = 60_000;

export interface EventDeliveryDependencies extends SyncDependencies {
    partnerApi: SyncDependencies['partnerApi'] & {
        getReferral(id: string, context: PartnerApiCallContext): Promise<PartnerReferral>;
    };
    /** `partner-center-events`, for the event's later runs. */
    eventsQueue: MessageSender;
    retry: Pick<RetryConfig, 'baseDelayMs' | 'maxDelayMs'>;
    random: () => number;
}

export type EventDeliveryOutcome = SyncOutcome | 'notFound' | 'refused' | 'rescheduled' | 'abandoned';

function isTransient(error: unknown): boolean {
    return error instanceof PartnerApiError ? error.verdict === 'transient' : isDependencyOutage(error);
}

export async function processPartnerCenterEvent(
    body: unknown,
    delivery: DeliveryInfo,
    deps: EventDeliveryDependencies,
    log: EventLogger,
): Promise<EventDeliveryOutcome> {
    const read = readPartnerCenterEvent(parseMessageBody(body));
    // Only the receiver sends here, after reading the event the same way: left to dead-letter, with an alert.
    if (read.kind !== 'referral') throw new UnprocessableMessageError('The message is not a Partner Center event.');
    const { event, referralId } = read;
    const correlationId = delivery.correlationId ?? delivery.messageId ?? referralId;
    const previous = Number(delivery.applicationProperties[ATTEMPT_PROPERTY]);
    const attempt = Number.isSafeInteger(previous) && previous > 0 ? previous : 1;
    const fields = { correlationId, partnerReferralId: referralId, partnerCenterEvent: event.EventName, attempt };
    const context: PartnerApiCallContext = {
        correlationId,
        deadline: deps.now().getTime() + EVENT_RUN_DEADLINE_MS,
    };
    try {
        const referral = await deps.partnerApi.getReferral(referralId, context);
        return await syncReferral(referral, 'webhook', deps, log, context);
    } catch (error) {
        if (error instanceof PartnerApiError && error.status === 404) {
            log.event('warn', 'partnerCenter.referralNotFound', { ...fields, httpStatus: 404 });
            return 'notFound';
        }
        const failure = { ...fields, ...errorFields(error), httpStatus: (error as PartnerApiError).status };
        if (!isTransient(error)) {
            if (!(error instanceof PartnerApiError)) throw error;
            log.event('error', 'partnerCenter.syncRefused', failure);
            return 'refused';
        }
        if (attempt >= MAX_EVENT_ATTEMPTS) {
            log.event('warn', 'partnerCenter.eventAbandoned', failure);
            return 'abandoned';
        }
        const retryAfterMs = error instanceof PartnerApiError ? error.retryAfterMs : outageRetryAfterMs(error);
        const delayMs = retryDelayMs(attempt, retryAfterMs, deps.retry, deps.random);
        // If not even the copy can be sent, the delivery fails and Service Bus delivers it again.
        await deps.eventsQueue.send(
            partnerCenterEventRetryMessage({
                event,
                referralId,
                correlationId,
                attempt: attempt + 1,
                notBefore: new Date(deps.now().getTime() + delayMs),
            }),
        );
        log.event('warn', 'partnerCenter.syncRescheduled', { ...failure, delayMs, retryAfterMs });
        return 'rescheduled';
    }
}
