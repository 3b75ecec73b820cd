/**
 * POST /api/partner-center/events: Partner Center's webhook. Every request is verified (webhookVerification.ts)
 * before its body is parsed; one that fails any check is a 401 with nothing queued and one log line naming the
 * check, never a header value or the body. A verified referral event is queued on `partner-center-events` and
 * acknowledged 200 at once: the sync worker reads the referral from the Partner API later, since the event is thin.
 *
 * Partner Center re-delivers an event it saw fail (and after 10 failures gives up on it), so the answer is 200
 * whenever the event is safely queued or deliberately ignored; its messageId (messages.ts) lets duplicate detection
 * drop a re-delivery. Only a queue that cannot be reached is a 503, which Partner Center retries.
 */
import { randomUUID } from 'node:crypto';

import type { HttpRequest, HttpResponseInit } from '@azure/functions';

import { partnerCenterEventMessage } from '../messaging/messages';
import { json, parseJsonBytes, problem, readBoundedBody, RETRY_AFTER_SECONDS } from '../platform/http';
import type { EventLogger } from '../platform/logging';
import type { MessageSender } from '../platform/serviceBus';
import { readPartnerCenterEvent } from './events';
import { verifyWebhook, type WebhookTrust } from './webhookVerification';

/** Far above Partner Center's events (a few hundred bytes). */
export const MAX_WEBHOOK_BODY_BYTES = 64 * 1024;

export interface WebhookDependencies {
    trust: WebhookTrust;
    eventsQueue: MessageSender;
}

const acknowledged = (): HttpResponseInit => json(200, { received: true });

export async function receivePartnerCenterEvent(
    request: HttpRequest,
    deps: WebhookDependencies,
    log: EventLogger,
): Promise<HttpResponseInit> {
    const read = await readBoundedBody(
        request,
        MAX_WEBHOOK_BODY_BYTES,
        `The body is larger than ${MAX_WEBHOOK_BODY_BYTES} bytes, far more than a Partner Center event.`,
    );
    if (!read.ok) return read.response;
    const verdict = await verifyWebhook(request.headers, read.bytes, deps.trust);
    if (!verdict.ok) {
        log.event('warn', 'webhook.refused', { failedCheck: verdict.failed, httpStatus: 401 });
        return problem(401, 'The request is not a verified Partner Center webhook.');
    }

    const parsed = parseJsonBytes(read.bytes);
    const event = parsed.ok ? readPartnerCenterEvent(parsed.body) : ({ kind: 'invalid' } as const);
    switch (event.kind) {
        case 'invalid':
            log.event('warn', 'webhook.invalid', { httpStatus: 400 });
            return parsed.ok ? problem(400, 'The body is not a Partner Center referral event.') : parsed.response;
        case 'validation':
            log.event('info', 'webhook.validation', { httpStatus: 200 });
            return acknowledged();
        case 'other':
            log.event('info', 'webhook.ignored', { httpStatus: 200 });
            return acknowledged();
        case 'referral':
            break;
    }
    const correlationId = randomUUID();
    const fields = {
        correlationId,
        partnerReferralId: event.referralId,
        partnerCenterEvent: event.event.EventName,
    };
    try {
        await deps.eventsQueue.send(
            partnerCenterEventMessage({ event: event.event, referralId: event.referralId, correlationId }),
        );
    } catch {
        log.event('error', 'webhook.queueUnavailable', { ...fields, httpStatus: 503 });
        return problem(503, 'The event could not be queued right now.', {
            headers: { 'retry-after': String(RETRY_AFTER_SECONDS) },
        });
    }
    log.event('info', 'webhook.queued', { ...fields, httpStatus: 200 });
    return acknowledged();
}
