/**
 * The app's entry point (package.json "main"): app-wide hooks, then every function registration.
 * Nothing here reads configuration or opens a connection: an error at import time would stop every function.
 */
import './functions/createReferral';
import './functions/getReferralStatus';
import './functions/updateReferral';
import './functions/submitReferral';
import './functions/connectReferral';
import './functions/recordReferralUpdate';
import './functions/getOpenApi';
import './functions/resendQueuedReferrals';
import './functions/publishPendingEvents';
import './functions/receivePartnerCenterEvent';
import './functions/syncPartnerCenterEvent';
import './functions/reconcilePartnerCenter';

import { app } from '@azure/functions';

import { closePartnerApi } from './shared/dependencies';
import { closeCosmos } from './shared/platform/cosmos';
import { closeServiceBus } from './shared/platform/serviceBus';

app.hook.appTerminate(async () => {
    await Promise.allSettled([closeServiceBus(), closePartnerApi()]);
    closeCosmos();
});
