/**
 * Structured, PII-free logging. A log line is an event name plus fields from a closed list: identifiers, statuses,
 * counts and codes. Nothing that could hold a customer's name, email, phone, address or notes has a field here, so
 * the type checker keeps customer data out of logs and telemetry.
 */
import type { InvocationContext } from '@azure/functions';

import type { LifecycleStatus } from '../referral/record';

export interface LogFields {
    referralKey?: string;
    /** The key of an update of the referral (shared/referral/updates.ts). */
    updateKey?: string;
    correlationId?: string;
    /** The MS-CorrelationId sent for `correlationId` when that is not a GUID (a UUIDv5 of it). */
    partnerCorrelationId?: string;
    from?: LifecycleStatus;
    to?: LifecycleStatus;
    partnerReferralId?: string;
    engagementId?: string;
    attempt?: number;
    deliveryCount?: number;
    durationMs?: number;
    delayMs?: number;
    /** A Retry-After as the dependency asked for it (when we did not honour it as given). */
    retryAfterMs?: number;
    httpStatus?: number;
    /** An error's class name (`ErrorResponse`, `TypeError`): never its message, which may quote customer data. */
    errorName?: string;
    errorCode?: string;
    /** Paths of invalid or unknown properties, never their values. */
    problemPaths?: string[];
    /** How many more problems there were than `problemPaths` lists. */
    problemsOmitted?: number;
    outcome?: string;
    /** How many items a run handled (a sweep's re-sends). */
    count?: number;
    /** The check a Partner Center webhook failed (shared/partnerCenter/webhookVerification.ts): a code only. */
    failedCheck?: string;
    /** The EventName of a Partner Center webhook, when it is one of the known events. */
    partnerCenterEvent?: string;
    /** How a change at Partner Center was seen (shared/partnerCenter/sync.ts). */
    source?: 'webhook' | 'reconciliation';
}

/** An identifier-like name or code (`ErrorResponse`, `503`, `ECONNREFUSED`); anything else is not logged. */
function loggableToken(value: unknown): string | undefined {
    if (typeof value !== 'string' && typeof value !== 'number') return undefined;
    const token = String(value);
    return /^[A-Za-z0-9_.:-]{1,64}$/.test(token) ? token : undefined;
}

/** What a log line may say of an error: its class name and code when identifier-like, never its message. */
export function errorFields(error: unknown): Pick<LogFields, 'errorName' | 'errorCode'> {
    const { name, code } =
        typeof error === 'object' && error !== null ? (error as { name?: unknown; code?: unknown }) : {};
    return { errorName: loggableToken(name), errorCode: loggableToken(code) };
}

/** What a step of the pipeline (shared/pipeline/steps.ts) logs, as `<step>.<what>` (`submit.attempt`). */
const STEP_EVENTS = [
    'waitingForLease',
    'waitingForRetryTime',
    'attempt',
    'contended',
    'adopted',
    /** A lookup found nothing yet, too soon after an uncertain create to believe it: it looks again later. */
    'settling',
    /** A lookup found referrals that may be this one but none provably ours: Failed, for the operator. */
    'ambiguous',
    'created',
    'leaseLost',
    'retryScheduled',
    'retryAfterCapped',
    'held',
    'rejected',
    'failed',
] as const;

function stepEvents<const Step extends string>(step: Step) {
    return STEP_EVENTS.map((what) => `${step}.${what}` as const);
}

/**
 * Every event name the app logs. Alert queries (docs/operations.md) and dashboards match on these names, so a name
 * is changed here, on purpose, and never made up at the call site: `EventLogger.event` takes only these.
 */
export const LOG_EVENTS = [
    // The HTTP intake (POST /api/referrals).
    'referral.invalid',
    'referral.accepted',
    'referral.repeated',
    'referral.keyConflict',
    /** Another key holds the referral's externalReferenceId (admission.ts): 409, or Rejected from the queue. */
    'referral.externalReferenceIdInUse',
    'referral.storeUnavailable',
    'referral.queueUnavailable',
    // The intake's outbox sweep (shared/referral/outbox.ts).
    'outbox.resent',
    'outbox.sendFailed',
    'outbox.swept',
    // Updates: the PATCH intake and the referral-updates queue (shared/referral/updateAdmission.ts).
    'update.accepted',
    'update.repeated',
    'update.invalid',
    'update.refused',
    'update.keyConflict',
    'update.rejected',
    'update.unknownReferral',
    'update.storeUnavailable',
    'update.queueUnavailable',
    // The applier (shared/pipeline/updateStep.ts).
    'update.waitingForCreate',
    'update.waitingForLease',
    'update.waitingForRetryTime',
    'update.attempt',
    'update.applied',
    'update.applyRejected',
    'update.applyFailed',
    'update.retryScheduled',
    'update.leaseLost',
    // Outcome events to Event Grid (shared/referral/eventOutbox.ts).
    /** Events are off (no EVENT_GRID_TOPIC_ENDPOINT): said once per process. */
    'events.disabled',
    'events.published',
    'events.publishFailed',
    /** Publishing holds off after failures (back-off); the sweep publishes later. */
    'events.heldOff',
    'events.swept',
    /** A change's events have stayed unpublished longer than EVENTS_OVERDUE_AFTER_MS: alert. */
    'events.overdue',
    // Partner Center's webhooks (shared/partnerCenter/webhookReceiver.ts).
    'webhook.refused',
    'webhook.queued',
    'webhook.validation',
    'webhook.ignored',
    'webhook.invalid',
    'webhook.queueUnavailable',
    // Partner Center's changes applied to the records (shared/partnerCenter/sync.ts, eventDelivery.ts).
    /** A change to a referral no record tracks (another integration's, or the UI's): acknowledged, ignored. */
    'partnerCenter.untracked',
    'partnerCenter.synced',
    /** A record's submit/connect step was under way: the change is applied again once its lease ends. */
    'partnerCenter.stepInProgress',
    'partnerCenter.referralNotFound',
    'partnerCenter.syncRescheduled',
    /** An event let go after its runs were used up: the reconciliation picks the change up. */
    'partnerCenter.eventAbandoned',
    'partnerCenter.syncRefused',
    // The reconciliation (shared/partnerCenter/reconciliation.ts).
    'reconciliation.completed',
    /** The Partner API or Cosmos DB failed part-way: the watermark kept what was applied, the next run goes on. */
    'reconciliation.failed',
    'reconciliation.skipped',
    'reconciliation.leaseLost',
    // Queue arrivals and the steps.
    'referral.rejected',
    'referral.transition',
    ...stepEvents('submit'),
    ...stepEvents('connect'),
    'partnerApi.authFailed',
    // The later duplicate check of a done referral (shared/pipeline/duplicateCheck.ts).
    'duplicateCheck.clean',
    /** A copy of a done referral at Partner Center (an alert): reported on the record, for `npm run duplicates`. */
    'duplicateCheck.found',
    'duplicateCheck.notDone',
    'duplicateCheck.retryScheduled',
    /** The check's lookups kept failing: the referral went unchecked (an alert). */
    'duplicateCheck.abandoned',
    // A delivery that met a Cosmos DB or Service Bus failure (shared/pipeline/worker.ts).
    'delivery.rescheduled',
    'delivery.dependencyUnavailable',
    // Any HTTP function whose handler threw (shared/platform/http.ts).
    'http.dependencyUnavailable',
    'http.failed',
    // The Partner API token, outside any invocation (shared/operations/tokenHealth.ts).
    'partnerApi.tokenHealth',
    'partnerApi.refreshTokenExpiring',
    'partnerApi.tokenCache.newerKept',
    'partnerApi.tokenCache.saved',
    'partnerApi.tokenCache.saveFailed',
    'partnerApi.tokenCache.unavailable',
    'partnerApi.tokenCache.oldVersionsDisabled',
    'partnerApi.tokenCache.disableFailed',
] as const;

export type LogEvent = (typeof LOG_EVENTS)[number];

export type LogLevel = 'info' | 'warn' | 'error';

export interface EventLogger {
    event(level: LogLevel, name: LogEvent, fields: LogFields): void;
}

/**
 * Logs outside any invocation (a store's follow-up publication, start-up notices) to the console, which the
 * Functions host collects as the app's logs.
 */
export const consoleLogger: EventLogger = {
    event(level, name, fields) {
        const line = JSON.stringify({ event: name, ...fields });
        /* eslint-disable no-console -- outside an invocation there is no InvocationContext; see above */
        if (level === 'error') console.error(line);
        else if (level === 'warn') console.warn(line);
        else console.info(line);
        /* eslint-enable no-console */
    },
};

/** Logs through the invocation context, so the Functions host correlates the line with the invocation. */
export function invocationLogger(context: InvocationContext): EventLogger {
    return {
        event(level, name, fields) {
            const line = JSON.stringify({ event: name, ...fields });
            if (level === 'error') context.error(line);
            else if (level === 'warn') context.warn(line);
            else context.info(line);
        },
    };
}

/** Shorter values are redacted only as whole words, so a surname like "Li" goes but "Link" stays intact. */
const SHORT_VALUE_LENGTH = 4;

function escapeRegExp(text: string): string {
    return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * Removes every string the request carried from a text that came back from elsewhere (an API error message may
 * quote a submitted value, in any letter case). Values under 4 characters (a surname like "Ng", a short phone
 * extension) are removed where they stand as whole words; single characters are left, since they identify no one
 * and removing them would garble the text.
 */
export function redactSubmittedValues(text: string, request: unknown): string {
    const values = new Set<string>();
    const pending: unknown[] = [request];
    while (pending.length > 0) {
        const node = pending.pop();
        if (typeof node === 'string') {
            const value = node.trim();
            if (value.length >= 2) values.add(value);
        } else if (node && typeof node === 'object') {
            for (const child of Object.values(node)) pending.push(child);
        }
    }
    if (values.size === 0) return text;
    // Longest first, so a value containing another is removed whole.
    const alternatives = [...values]
        .sort((a, b) => b.length - a.length)
        .map((value) =>
            value.length < SHORT_VALUE_LENGTH
                ? `(?<![\\p{L}\\p{N}])${escapeRegExp(value)}(?![\\p{L}\\p{N}])`
                : escapeRegExp(value),
        );
    return text.replace(new RegExp(alternatives.join('|'), 'giu'), '[redacted]');
}
