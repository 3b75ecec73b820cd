/**
 * The production collaborators of the functions, created once per process on first use. Handlers take them as a
 * parameter with these defaults, so tests pass their own (a local store, a recording sender) and real requests.
 */
import { randomUUID } from 'node:crypto';

import type { IntakeDependencies } from './intake';
import { CONNECTIONS_QUEUE, REFERRALS_QUEUE } from './names';
import { CosmosReferralStore } from './referralStore';
import { queueSender } from './serviceBus';

let intake: IntakeDependencies | undefined;

export function intakeDependencies(): IntakeDependencies {
    intake ??= {
        store: new CosmosReferralStore(),
        referralsQueue: queueSender(REFERRALS_QUEUE),
        newKey: randomUUID,
        now: () => new Date(),
    };
    return intake;
}

export const connectionsQueue = () => queueSender(CONNECTIONS_QUEUE);
