/**
 * What the `partner-center-events` queue function does with a delivery, apart from the Functions plumbing: GET the
 * referral the event names (the event is thin, and its ResourceUri only carries the id), then apply it through the
 * one sync path (sync.ts).
 *
 * A transient failure (the Partner API's, honouring its Retry-After; Cosmos DB's or Service Bus's) sends the event
 * again, scheduled after a back-off, and completes the delivery, as the referral workers do: a few minutes' outage
 * does not use up the message's deliveries. After MAX_EVENT_ATTEMPTS the event is let go with a warning: the
 * reconciliation (reconciliation.ts) picks the change up from Partner Center's list. A referral Partner Center no
 * longer has, or a permanent refusal, is logged and acknowledged for the same reason. A record whose submit or
 * connect step is under way is left alone (sync.ts): the event runs again once the step's lease ends.
 */
import { ATTEMPT_PROPERTY, parseMessageBody, partnerCenterEventRetryMessage } from '../messaging/messages';
import { PartnerApiError } from '../partnerApi/errors';
import type { PartnerApiCallContext, PartnerReferral } from '../partnerApi/types';
import { retryDelayMs } from '../pipeline/backoff';
import { UnprocessableMessageError } from '../pipeline/worker';
import type { RetryConfig } from '../platform/config';
import { isDependencyOutage, outageRetryAfterMs } from '../platform/dependencyOutage';
import { errorFields, type EventLogger } from '../platform/logging';
import type { MessageSender } from '../platform/serviceBus';
import type { DeliveryInfo } from '../platform/triggers';
import { readPartnerCenterEvent } from './events';
import { type SyncDependencies, type SyncOutcome, syncReferral } from './sync';

/** Runs of one event at most before it is left to the reconciliation. */
export const MAX_EVENT_ATTEMPTS = 10;
/** After a step's lease: the event runs again this long after it ends. */
export const LEASE_MARGIN_MS = 1_000;
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

export type EventDeliveryOutcome = Exclude<SyncOutcome, 'busy'> | 'notFound' | 'refused' | 'rescheduled' | 'abandoned';

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
        background: true,
    };
    /** Sends the event again, `delayMs` from now, as its next attempt (a failed send fails the delivery). */
    const runAgain = async (delayMs: number) =>
        deps.eventsQueue.send(
            partnerCenterEventRetryMessage({
                event,
                referralId,
                correlationId,
                attempt: attempt + 1,
                notBefore: new Date(deps.now().getTime() + delayMs),
            }),
        );
    try {
        const referral = await deps.partnerApi.getReferral(referralId, context);
        const synced = await syncReferral(referral, 'webhook', deps, log, context);
        if (synced.outcome !== 'busy') return synced.outcome;
        if (attempt >= MAX_EVENT_ATTEMPTS) {
            log.event('warn', 'partnerCenter.eventAbandoned', fields);
            return 'abandoned';
        }
        const delayMs = Math.max(0, synced.retryAt!.getTime() - deps.now().getTime()) + LEASE_MARGIN_MS;
        await runAgain(delayMs);
        log.event('info', 'partnerCenter.syncRescheduled', { ...fields, delayMs });
        return 'rescheduled';
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
        await runAgain(delayMs);
        log.event('warn', 'partnerCenter.syncRescheduled', { ...failure, delayMs, retryAfterMs });
        return 'rescheduled';
    }
}
