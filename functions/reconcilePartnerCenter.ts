import { app, type InvocationContext, type Timer } from '@azure/functions';

import { reconciliationDependencies } from '../shared/dependencies';
import { reconcile, type ReconciliationDependencies } from '../shared/partnerCenter/reconciliation';
import { settingAtIndexing } from '../shared/platform/config';
import { invocationLogger } from '../shared/platform/logging';

/**
 * Timer (PARTNER_CENTER_RECONCILE_SCHEDULE, default every 15 minutes): applies every change Partner Center made
 * since the watermark, whether or not its webhook arrived (shared/partnerCenter/reconciliation.ts). `isPastDue`
 * changes nothing: the run works from the watermark, so a late run simply lists more.
 */
export async function reconcilePartnerCenter(
    _timer: Timer,
    context: InvocationContext,
    deps: ReconciliationDependencies = reconciliationDependencies(),
): Promise<void> {
    await reconcile(deps, invocationLogger(context));
}

app.timer('reconcilePartnerCenter', {
    // The host reads the schedule when it indexes the app: the setting's value, or its default.
    schedule: settingAtIndexing('PARTNER_CENTER_RECONCILE_SCHEDULE')!,
    handler: (timer, context) => reconcilePartnerCenter(timer, context),
});
