/**
 * The intake's outbox: the Cosmos DB record is written before the message is sent, so a record still `Queued` some
 * time after its last change may never have reached the queue (Service Bus was down, or the process died between
 * the write and the send). A timer sweep (functions/resendQueuedReferrals.ts) sends such a record's message again.
 *
 * The record itself is the outbox entry: no "sent" mark is written after the send (that would be a third write on
 * every request, and a crash between send and mark would leave the same doubt). A record is stuck when it is still
 * `Queued` `INTAKE_RESEND_AFTER_MS` after its last change; the worker moves a delivered one on within seconds.
 *
 * The first re-send (the record Queued for one to two INTAKE_RESEND_AFTER_MS) is the very message the intake sends
 * (`intakeMessage`: messageId = the referral key), so if the intake's send did reach the queue, the queue drops the
 * re-send. A record still Queued after that was not moved on by whatever delivered that message (or the message
 * never got anywhere): each later interval re-sends it under a messageId of its own (`<key>:s<round>`), which the
 * queue cannot mistake for the consumed one, once per interval however many sweeps run in it. The worker reads the
 * record first, so an extra delivery changes nothing: a record whose message merely waits on a busy queue is re-sent
 * harmlessly. The sweep keeps no state of its own: it is safe to run twice, or on two instances.
 */
import type { ServiceBusMessage } from '@azure/service-bus';

import { referralMessage } from '../messaging/messages';
import type { EventLogger } from '../platform/logging';
import type { MessageSender } from '../platform/serviceBus';
import type { QueuedReferral, ReferralStore } from './store';

/** Records read per query page. */
export const SWEEP_PAGE_SIZE = 100;
/** Re-sends per run at most, so one run stays short; the next run goes on with the rest. */
export const MAX_RESENDS_PER_RUN = 1_000;

/** The message the intake sends for a referral: the one and only form, so a re-send is the same message. */
export function intakeMessage(referral: Pick<QueuedReferral, 'id' | 'correlationId'> & { body: unknown }) {
    return referralMessage({ key: referral.id, body: referral.body, correlationId: referral.correlationId });
}

/**
 * The message of a Queued record, rebuilt from it (the stored request is the body as received, unchanged): the
 * intake's own in the first resend interval, then one messageId per interval (see the module comment).
 */
export function resendMessage(referral: QueuedReferral, resendAfterMs: number, now: Date): ServiceBusMessage {
    const round = Math.floor((now.getTime() - Date.parse(referral.updatedAt)) / resendAfterMs);
    const body = referral.request;
    if (round <= 1) return intakeMessage({ id: referral.id, correlationId: referral.correlationId, body });
    return referralMessage({
        key: referral.id,
        body,
        correlationId: referral.correlationId,
        run: { reason: { kind: 'resend', round }, attempt: 1, notBefore: now },
    });
}

export interface OutboxDependencies {
    store: ReferralStore;
    referralsQueue: MessageSender;
    /** INTAKE_RESEND_AFTER_MS. */
    resendAfterMs: number;
    now: () => Date;
}

/**
 * The records stuck `Queued` (see the module comment), in the store's order, `limit` at most.
 */
export async function* stuckReferrals(
    store: ReferralStore,
    resendAfterMs: number,
    now: Date,
    limit = Number.POSITIVE_INFINITY,
): AsyncGenerator<QueuedReferral> {
    let listed = 0;
    const updatedBefore = new Date(now.getTime() - resendAfterMs);
    for await (const page of store.listQueued(updatedBefore, SWEEP_PAGE_SIZE)) {
        for (const referral of page) {
            if (listed++ >= limit) return;
            yield referral;
        }
    }
}

export interface SweepResult {
    resent: number;
    /** Why the run ended: every stuck record was sent, the per-run bound was reached, or a send failed. */
    outcome: 'complete' | 'limitReached' | 'sendFailed';
}

/**
 * Sends the message of every stuck record again, up to MAX_RESENDS_PER_RUN. The first failed send ends the run:
 * Service Bus is most likely down, and the next run tries again. Store failures are thrown (the run fails, is
 * logged by the host, and the next occurrence runs as usual).
 */
export async function resendStuckReferrals(deps: OutboxDependencies, log: EventLogger): Promise<SweepResult> {
    const started = deps.now();
    let resent = 0;
    let outcome: SweepResult['outcome'] = 'complete';
    for await (const referral of stuckReferrals(deps.store, deps.resendAfterMs, started, MAX_RESENDS_PER_RUN + 1)) {
        if (resent === MAX_RESENDS_PER_RUN) {
            outcome = 'limitReached';
            break;
        }
        const fields = { referralKey: referral.id, correlationId: referral.correlationId };
        try {
            await deps.referralsQueue.send(resendMessage(referral, deps.resendAfterMs, started));
        } catch {
            log.event('error', 'outbox.sendFailed', fields);
            outcome = 'sendFailed';
            break;
        }
        resent++;
        log.event('warn', 'outbox.resent', {
            ...fields,
            delayMs: started.getTime() - Date.parse(referral.updatedAt),
        });
    }
    log.event(outcome === 'sendFailed' ? 'error' : 'info', 'outbox.swept', {
        outcome,
        count: resent,
        durationMs: deps.now().getTime() - started.getTime(),
    });
    return { resent, outcome };
}
