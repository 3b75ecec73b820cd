import { app } from '@azure/functions';

import { outboxDependencies } from '../shared/dependencies';
import { settingAtIndexing } from '../shared/platform/config';
import { timerHandler } from '../shared/platform/triggers';
import { resendStuckReferrals } from '../shared/referral/outbox';

/**
 * Timer (INTAKE_SWEEP_SCHEDULE, default every minute): sends the message of every referral still Queued
 * INTAKE_RESEND_AFTER_MS after its last change again (the intake's outbox, shared/referral/outbox.ts).
 */
export const resendQueuedReferrals = timerHandler(resendStuckReferrals, outboxDependencies);

app.timer('resendQueuedReferrals', {
    // The host reads the schedule when it indexes the app: the setting's value, or its default.
    schedule: settingAtIndexing('INTAKE_SWEEP_SCHEDULE')!,
    handler: resendQueuedReferrals,
});
