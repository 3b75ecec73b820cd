import { app } from '@azure/functions';

import { intakeDependencies } from '../shared/dependencies';
import { useCaseHandler } from '../shared/platform/http';
import { acceptReferral } from '../shared/referral/intake';

/** POST /api/referrals: validates a referral request and queues it for submission to the Partner API. */
export const createReferral = useCaseHandler(acceptReferral, intakeDependencies);

app.http('createReferral', { methods: ['POST'], route: 'referrals', authLevel: 'function', handler: createReferral });
