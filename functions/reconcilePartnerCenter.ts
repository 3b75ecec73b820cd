import { app } from '@azure/functions';

import { reconciliationDependencies } from '../shared/dependencies';
import { reconcile } from '../shared/partnerCenter/reconciliation';
import { settingAtIndexing } from '../shared/platform/config';
import { timerHandler } from '../shared/platform/triggers';

/**
 * Timer (PARTNER_CENTER_RECONCILE_SCHEDULE, default every 15 minutes): applies every change Partner Center made
 * since the watermark, whether or not its webhook arrived (shared/partnerCenter/reconciliation.ts).
 */
export const reconcilePartnerCenter = timerHandler(reconcile, reconciliationDependencies);

app.timer('reconcilePartnerCenter', {
    // The host reads the schedule when it indexes the app: the setting's value, or its default.
    schedule: settingAtIndexing('PARTNER_CENTER_RECONCILE_SCHEDULE')!,
    handler: reconcilePartnerCenter,
});
