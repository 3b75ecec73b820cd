import { app, type InvocationContext, type Timer } from '@azure/functions';

import { outboxDependencies } from '../shared/dependencies';
import { settingAtIndexing } from '../shared/platform/config';
import { invocationLogger } from '../shared/platform/logging';
import { type OutboxDependencies, resendStuckReferrals } from '../shared/referral/outbox';

/**
 * Timer (INTAKE_SWEEP_SCHEDULE, default every minute): sends the message of every referral still Queued
 * INTAKE_RESEND_AFTER_MS after its last change again (the intake's outbox, shared/referral/outbox.ts). `isPastDue`
 * changes nothing: the sweep works from the records, not from the schedule, so a late run simply finds more.
 */
export async function resendQueuedReferrals(
    _timer: Timer,
    context: InvocationContext,
    deps: OutboxDependencies = outboxDependencies(),
): Promise<void> {
    await resendStuckReferrals(deps, invocationLogger(context));
}

app.timer('resendQueuedReferrals', {
    // The host reads the schedule when it indexes the app: the setting's value, or its default.
    schedule: settingAtIndexing('INTAKE_SWEEP_SCHEDULE')!,
    handler: (timer, context) => resendQueuedReferrals(timer, context),
});
