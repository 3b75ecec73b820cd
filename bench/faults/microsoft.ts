/**
 * Microsoft's side in the reliability suite (issue 15): while the load runs, the suite plays Microsoft's seller and
 * the Partner Center UI on a share of the referrals (the simulator's `/_admin/referrals/{id}/accept|decline|close`),
 * and the simulator's webhook deliveries are faulted: some dropped, some delivered twice, some held back so that a
 * later event about the referral arrives first. The app must end with Partner Center's state on every record, from
 * its webhooks where they arrive and from its reconciliation where they do not.
 *
 * - Which referrals: by index, only those sure to reach Partner Center (no collision group). Connected referrals:
 *   accepted then closed (Won or Lost, a second later, so a held-back or repeated accept event arrives after the
 *   close's), declined, or accepted. Partner referrals: closed from the UI, only where the app sends no update of
 *   its own (an update after the UI's close would rightly be refused, which the updates invariant does not expect).
 * - When: as soon as the record shows the referral done (Connected / Submitted), during the load, host kills and
 *   outages included; the rest once the pipeline is done.
 * - Settled: no delivery pending at the simulator, nothing left on `partner-center-events`, and a reconciliation run
 *   that completed after the last action with its watermark at or past Partner Center's latest change.
 */
import type { Container } from '@azure/cosmos';

import type {
    MicrosoftAction,
    StoredReferral,
    WebhookDelivery,
    WebhookFaults,
} from '../../local/partner-api-simulator';
import type { QueueStats } from '../../local/servicebus/queueReports';
import { RECONCILIATION_STATE_ID, type ReconciliationState } from '../../shared/partnerCenter/reconciliationState';
import { PARTNER_CENTER_EVENTS_QUEUE } from '../../shared/platform/names';
import { getJson, sleep } from '../support/runtime';
import type { Planned } from './plan';

/** A share of the referral events' deliveries lost, repeated (3 s later) and held back 3 s. */
export const SUITE_WEBHOOK_FAULTS: Omit<WebhookFaults, 'seed'> = {
    rateDrop: 0.2,
    rateDuplicate: 0.2,
    rateDelay: 0.2,
    delayMs: 3000,
};

/** The second action of a sequence comes this long after the first: inside the webhook faults' 3 s. */
const NEXT_ACTION_AFTER_MS = 1000;

export interface PlannedAction {
    action: MicrosoftAction;
    substatus?: 'Won' | 'Lost';
}

/** What Microsoft (or the UI) does to one referral of a planned referral, in order. */
export interface MicrosoftChange {
    key: string;
    role: 'partner' | 'connected';
    actions: PlannedAction[];
}

/** The referral's state once the change's last action is done (what the record must end with). */
export function finalStateOf(change: MicrosoftChange): { status: string; substatus: string } {
    const last = change.actions.at(-1)!;
    if (last.action === 'accept') return { status: 'Active', substatus: 'Accepted' };
    if (last.action === 'decline') return { status: 'Closed', substatus: 'Declined' };
    return { status: 'Closed', substatus: last.substatus ?? 'Won' };
}

export function planMicrosoftChanges(planned: readonly Planned[]): MicrosoftChange[] {
    const changes: MicrosoftChange[] = [];
    const accept: PlannedAction = { action: 'accept' };
    for (const p of planned) {
        if (p.invalid || p.collisionGroup) continue;
        const { key, index } = p;
        if (p.type === 'Shared') {
            const connected = [
                [accept, { action: 'close', substatus: 'Won' }],
                [accept, { action: 'close', substatus: 'Lost' }],
                [{ action: 'decline' }],
                [accept],
            ][(index / 2) % 4] as PlannedAction[];
            changes.push({ key, role: 'connected', actions: connected });
            if (index % 8 === 6 && !p.updates) {
                changes.push({ key, role: 'partner', actions: [{ action: 'close', substatus: 'Lost' }] });
            }
        } else if (index % 4 === 1 && !p.updates) {
            changes.push({ key, role: 'partner', actions: [{ action: 'close', substatus: 'Won' }] });
        }
    }
    return changes;
}

/** What the suite's poller knows of a record: enough to tell when its referrals can be acted on. */
export interface ActionableRecord {
    status: string;
    partnerId?: string;
    connectedId?: string;
}

export interface ActorResult {
    /** Actions the simulator took. */
    actions: number;
    /** Changes never started: their record did not get there. */
    notStarted: string[];
    /** Actions the simulator refused (each a problem: the plan only asks for allowed ones). */
    refused: string[];
    /** When the last action was taken (epoch ms), 0 when none. */
    lastActionAt: number;
}

/**
 * Takes each change's actions once its record is done (`readyStatus`), until every change is started or the records
 * stop moving (`settled`) or the deadline passes.
 */
export async function actAsMicrosoft(options: {
    simulatorUrl: string;
    changes: readonly MicrosoftChange[];
    readyStatus: (key: string) => string;
    recordOf: (key: string) => ActionableRecord | undefined;
    settled: () => boolean;
    pastDeadline: () => boolean;
}): Promise<ActorResult> {
    const result: ActorResult = { actions: 0, notStarted: [], refused: [], lastActionAt: 0 };
    const waiting = new Set(options.changes);
    const running: Promise<void>[] = [];
    const run = async (change: MicrosoftChange, id: string) => {
        for (const [i, planned] of change.actions.entries()) {
            if (i > 0) await sleep(NEXT_ACTION_AFTER_MS);
            const response = await fetch(`${options.simulatorUrl}/_admin/referrals/${id}/${planned.action}`, {
                method: 'POST',
                headers: { 'content-type': 'application/json' },
                body: JSON.stringify(planned.substatus ? { substatus: planned.substatus } : {}),
                signal: AbortSignal.timeout(10_000),
            });
            await response.body?.cancel();
            result.lastActionAt = Date.now();
            if (response.ok) result.actions++;
            else result.refused.push(`${change.key} ${change.role} ${planned.action}: ${response.status}`);
        }
    };
    for (;;) {
        // Read before the sweep: a change not ready when the records had settled never will be.
        const settled = options.settled();
        for (const change of waiting) {
            const record = options.recordOf(change.key);
            const id = change.role === 'partner' ? record?.partnerId : record?.connectedId;
            if (record?.status !== options.readyStatus(change.key) || !id) continue;
            waiting.delete(change);
            running.push(run(change, id));
        }
        if (waiting.size === 0 || settled || options.pastDeadline()) break;
        await sleep(250);
    }
    await Promise.all(running);
    result.notStarted = [...waiting].map((change) => `${change.key} ${change.role}`);
    return result;
}

export interface WebhookState {
    injected: { dropped: number; duplicated: number; delayed: number };
    pending: number;
    deliveries: WebhookDelivery[];
}

/**
 * Deliveries that arrived after a delivery of a later change to the same referral (a held-back event, or a repeated
 * one): what the app must not let move a record back.
 */
export function overtakenDeliveries(deliveries: readonly WebhookDelivery[]): number {
    const arrivals = deliveries.flatMap((d) => {
        const delivered = d.attempts.find((a) => a.status !== undefined && a.status < 300);
        if (!d.referralId || !delivered) return [];
        const changedAt = (JSON.parse(d.body) as { ResourceChangeUtcDate: string }).ResourceChangeUtcDate;
        return [{ referralId: d.referralId, changedAt, arrivedAt: delivered.at }];
    });
    return arrivals.filter((a) =>
        arrivals.some((b) => b.referralId === a.referralId && b.changedAt > a.changedAt && b.arrivedAt < a.arrivedAt),
    ).length;
}

/** What is still under way, or undefined once Partner Center's changes have all reached the app (module comment). */
export async function partnerCenterUnsettled(options: {
    simulatorUrl: string;
    container: Container;
    queueStats: () => Promise<Record<string, QueueStats>>;
    lastActionAt: number;
}): Promise<string | undefined> {
    const webhooks = await getJson<WebhookState>(`${options.simulatorUrl}/_admin/webhooks`);
    if (webhooks.pending > 0) return `${webhooks.pending} webhook deliveries pending`;
    const queue = (await options.queueStats())[PARTNER_CENTER_EVENTS_QUEUE];
    const queued = queue ? queue.active + queue.scheduled + queue.locked : 0;
    if (queued > 0) return `${queued} events on ${PARTNER_CENTER_EVENTS_QUEUE}`;
    const referrals = (await getJson<{ value: StoredReferral[] }>(`${options.simulatorUrl}/_admin/referrals`)).value;
    const latestChange = Math.max(0, ...referrals.map((r) => Date.parse(r.updatedDateTime)));
    const { resource: state } = await options.container
        .item(RECONCILIATION_STATE_ID, RECONCILIATION_STATE_ID)
        .read<ReconciliationState>();
    const run = state?.lastRun;
    if (!state?.watermark || !run) return 'no reconciliation run yet';
    if (run.outcome !== 'complete' || Date.parse(run.endedAt) <= options.lastActionAt)
        return `no complete reconciliation since the last action (last: ${run.outcome} at ${run.endedAt})`;
    if (Date.parse(state.watermark) < latestChange)
        return `the reconciliation's watermark ${state.watermark} is before the latest change`;
    return undefined;
}
