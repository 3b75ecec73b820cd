/**
 * Replay: puts referrals that stopped back on their way, through the same queues and workers, exactly once.
 *
 * Three kinds of stopped work:
 * - a `Failed` referral (a step ran out of attempts): its record moves Failed → Queued (submit failed) or
 *   Failed → Submitted (connect failed) with a conditional write, attempts reset, and the step's message is sent;
 * - a dead-lettered message (the function kept throwing: a store outage, a message it could not read): the message's
 *   referral is looked up and sent on again, and the dead-lettered copy is removed;
 * - a referral stuck `Queued` (its message never reached the queue, see referral/outbox.ts): its message is sent
 *   again, as the outbox's sweep would on its next run.
 *
 * The record decides everything, as in the workers: a referral that is already done is only reported; one still in
 * progress gets its step's message again (a redundant delivery is harmless: the worker reads the record first). A
 * referral whose last attempt may have reached the Partner API (`lastAttemptUncertain`) restarts *in* its working
 * state (the restart rules are the record's: `restarted` in referral/record.ts), so the worker looks it up before
 * creating it again. The messages are the steps' own; every message a replay sends has a messageId derived from the record's state (or the
 * dead-lettered message's sequence number): running the same replay twice sends the same messageId, which the queue's
 * duplicate detection drops. Nothing here reads or prints customer data: keys, statuses and codes only.
 */
import { parseMessageBody, referralKeyOf, referralMessage } from '../messaging/messages';
import { connectStep } from '../pipeline/connectStep';
import type { StepDefinition } from '../pipeline/step';
import { submitStep } from '../pipeline/submitStep';
import { REFERRALS_QUEUE } from '../platform/names';
import type { MessageSender } from '../platform/serviceBus';
import { correlationIdOr, isKeyConflict } from '../referral/admission';
import { stuckReferrals } from '../referral/outbox';
import {
    currentStep,
    failedStep,
    isTerminal,
    type LifecycleStatus,
    type ReferralRecord,
    restarted,
    type StepName,
} from '../referral/record';
import { type ReferralStore, updateWithRetry } from '../referral/store';

/** A message in a dead-letter queue, as far as replay needs it (the body is handed on, never shown). */
export interface DeadLetteredMessage {
    /** The queue whose dead-letter queue holds it. */
    queue: string;
    sequenceNumber: string;
    messageId?: string;
    correlationId?: string;
    body: unknown;
    applicationProperties: Record<string, unknown>;
    reason?: string;
    enqueuedAt?: Date;
}

export interface DeadLetterQueue {
    readonly queue: string;
    /** Every message, without locking or removing any. */
    peek(): Promise<DeadLetteredMessage[]>;
    /**
     * Receives every message under a lock and hands it to `handle`: true removes it (complete), false leaves it in
     * the dead-letter queue. A throw from `handle` leaves that message and stops.
     */
    drain(handle: (message: DeadLetteredMessage) => Promise<boolean>): Promise<void>;
}

/** The keys of the records in status Failed. */
export interface FailedRecordQuery {
    failedKeys(): Promise<string[]>;
}

export interface ReplayDependencies {
    store: ReferralStore;
    failed: FailedRecordQuery;
    deadLetters: DeadLetterQueue[];
    referralsQueue: MessageSender;
    connectionsQueue: MessageSender;
    now: () => Date;
    /** A Queued record is stuck this long after its last change (INTAKE_RESEND_AFTER_MS, as for the sweep). */
    resendAfterMs: number;
}

export type ReplayOutcome =
    /** A Failed referral was restarted and its message sent. */
    | 'requeued'
    /** A referral still in progress (its message was lost to the dead-letter queue): its message was sent again. */
    | 'resent'
    /** A dead-lettered referral that never got a record: the message was published again under a new messageId. */
    | 'republished'
    /** Nothing to do: the referral is Submitted/Connected/Rejected (a dead-lettered copy is removed). */
    | 'alreadyDone'
    /** The dead-lettered message cannot be replayed (no usable key, or the key belongs to another referral). */
    | 'unreplayable'
    | 'notFound';

export interface ReplayItem {
    source: 'failed' | 'deadLetter' | 'queued';
    key: string | undefined;
    /** For dead-lettered messages: which queue, and its identifiers (not its body). */
    queue?: string;
    messageId?: string;
    sequenceNumber?: string;
    reason?: string;
    /** The record's status before the replay, if there is a record. */
    status?: LifecycleStatus;
    /** Which step a Failed referral failed in. */
    step?: 'submit' | 'connect';
    errorCode?: string;
    outcome: ReplayOutcome;
    /** Why, for unreplayable items. */
    detail?: string;
}

export interface ReplayOptions {
    /** Only these referral keys (default: every Failed or stuck Queued referral and every dead-lettered message). */
    keys?: string[];
    /** Report what would happen; write and send nothing, remove nothing. */
    dryRun?: boolean;
    /** Called once per item, when it is done (for a progress bar). */
    onItem?: (item: ReplayItem) => void;
}

/** What replaying a record came to, without the item's source and key. */
type RecordReplay = Pick<ReplayItem, 'status' | 'step' | 'errorCode' | 'outcome'>;

const STEPS: Record<StepName, StepDefinition> = { submit: submitStep, connect: connectStep };

/** Sends the message of the record's current step, with a messageId fixed by the record's state. */
async function sendStep(deps: ReplayDependencies, record: ReferralRecord): Promise<void> {
    const step = STEPS[currentStep(record)];
    await step.queue(deps).send(step.message(record, { kind: 'replay', updatedAt: record.updatedAt }, deps.now()));
}

/** Replays one referral by its record: restarts it if Failed, re-sends its step if in progress, else reports. */
export async function replayRecord(key: string, deps: ReplayDependencies, dryRun = false): Promise<RecordReplay> {
    return updateWithRetry<RecordReplay>(deps.store, key, {
        missing: () => ({ outcome: 'notFound' }),
        contended: () => new Error(`Referral ${key} kept changing during the replay; run it again.`),
        async decide(record) {
            const before = { status: record.status, errorCode: record.error?.code };
            if (record.status === 'Failed') {
                const step = failedStep(record);
                if (!record.request) return { answer: { ...before, step, outcome: 'unreplayable' } };
                if (dryRun) return { answer: { ...before, step, outcome: 'requeued' } };
                return {
                    write: restarted(record, deps.now()),
                    afterWrite: async (written) => {
                        await sendStep(deps, written.record);
                        return { ...before, step, outcome: 'requeued' };
                    },
                };
            }
            if (isTerminal(record)) return { answer: { ...before, outcome: 'alreadyDone' } };
            if (!dryRun) await sendStep(deps, record);
            return { answer: { ...before, outcome: 'resent' } };
        },
    });
}

/** Replays one dead-lettered message; true when the dead-lettered copy can go. */
export async function replayDeadLetter(
    message: DeadLetteredMessage,
    deps: ReplayDependencies,
    dryRun = false,
): Promise<ReplayItem> {
    const key = referralKeyOf(message.queue, message);
    const item: ReplayItem = {
        source: 'deadLetter',
        key,
        queue: message.queue,
        messageId: message.messageId,
        sequenceNumber: message.sequenceNumber,
        reason: message.reason,
        outcome: 'unreplayable',
    };
    if (!key) return { ...item, detail: 'the message names no usable referral key' };
    const stored = await deps.store.read(key);
    if (stored) {
        if (message.queue === REFERRALS_QUEUE && isKeyConflict(stored.record, parseMessageBody(message.body))) {
            return { ...item, status: stored.record.status, detail: 'the key belongs to a different referral' };
        }
        return { ...item, ...(await replayRecord(key, deps, dryRun)) };
    }
    if (message.queue !== REFERRALS_QUEUE) {
        return { ...item, detail: 'no referral has this key, and only the referrals queue can start one' };
    }
    // Never recorded (the worker failed before it could write): publish it again, under a messageId of its own.
    if (!dryRun) {
        await deps.referralsQueue.send(
            referralMessage({
                key,
                body: parseMessageBody(message.body),
                correlationId: correlationIdOr(message.correlationId, key),
                run: {
                    reason: { kind: 'replayDeadLetter', sequenceNumber: message.sequenceNumber },
                    attempt: 1,
                    notBefore: deps.now(),
                },
            }),
        );
    }
    return { ...item, outcome: 'republished' };
}

const REMOVABLE: ReadonlySet<ReplayOutcome> = new Set(['requeued', 'resent', 'republished', 'alreadyDone']);

/** What a replay would do, item by item, without changing anything. */
export async function listReplayable(deps: ReplayDependencies, options: Omit<ReplayOptions, 'dryRun'> = {}) {
    return replay(deps, { ...options, dryRun: true });
}

/**
 * Replays every dead-lettered message, Failed referral and stuck Queued referral (or those of `keys`). Dead-lettered
 * messages go first: when one names a Failed referral, the referral is restarted once, and its own Failed entry then
 * reports it as in progress (its message is re-sent under the same messageId, which the queue drops).
 */
export async function replay(deps: ReplayDependencies, options: ReplayOptions = {}): Promise<ReplayItem[]> {
    const wanted = options.keys ? new Set(options.keys) : undefined;
    const dryRun = options.dryRun ?? false;
    const items: ReplayItem[] = [];
    const done = (item: ReplayItem) => {
        items.push(item);
        options.onItem?.(item);
    };
    const handled = new Set<string>();

    for (const queue of deps.deadLetters) {
        const handle = async (message: DeadLetteredMessage): Promise<boolean> => {
            const key = referralKeyOf(message.queue, message);
            if (wanted && (!key || !wanted.has(key))) return false;
            const item = await replayDeadLetter(message, deps, dryRun);
            if (key) handled.add(key);
            done(item);
            return !dryRun && REMOVABLE.has(item.outcome);
        };
        if (dryRun) {
            for (const message of await queue.peek()) await handle(message);
        } else {
            await queue.drain(handle);
        }
    }

    const failedKeys = wanted ? [...wanted] : await deps.failed.failedKeys();
    for (const key of failedKeys) {
        // Replayed from the dead-letter queue above already (in a dry run it would still read Failed): once is enough.
        if (handled.has(key)) continue;
        const result = await replayRecord(key, deps, dryRun);
        if (wanted || result.outcome !== 'notFound') done({ source: 'failed', key, ...result });
    }

    // With `keys`, the loop above took each key by its record, whatever its status.
    if (!wanted) {
        for await (const { id } of stuckReferrals(deps.store, deps.resendAfterMs, deps.now())) {
            if (handled.has(id)) continue;
            done({ source: 'queued', key: id, ...(await replayRecord(id, deps, dryRun)) });
        }
    }
    return items;
}
