import { app, type InvocationContext, type Timer } from '@azure/functions';

import { referralStore } from '../shared/dependencies';
import { getConfig, settingAtIndexing } from '../shared/platform/config';
import { invocationLogger } from '../shared/platform/logging';
import { type EventPublishingStore, publishLeftoverEvents } from '../shared/referral/eventOutbox';

/**
 * Timer (EVENT_SWEEP_SCHEDULE, default every minute at :30): publishes the outcome events still pending on records
 * EVENT_RESEND_AFTER_MS after their change (the writer died, or Event Grid was down; shared/referral/eventOutbox.ts).
 * Without EVENT_GRID_TOPIC_ENDPOINT it does nothing.
 */
export async function publishPendingEvents(
    _timer: Timer,
    context: InvocationContext,
    store: EventPublishingStore = referralStore(),
    resendAfterMs: number = getConfig('events').resendAfterMs,
): Promise<void> {
    await publishLeftoverEvents(store, resendAfterMs, () => new Date(), invocationLogger(context));
}

app.timer('publishPendingEvents', {
    // The host reads the schedule when it indexes the app: the setting's value, or its default.
    schedule: settingAtIndexing('EVENT_SWEEP_SCHEDULE')!,
    handler: publishPendingEvents,
});
