/**
 * The production collaborators of the functions, created once per process on first use. Handlers take them as a
 * parameter with these defaults, so tests pass their own (a local store, a recording sender) and real requests.
 */
import { randomUUID, X509Certificate } from 'node:crypto';
import { rootCertificates } from 'node:tls';

import { createPartnerApiClient, type PartnerApiClient } from './partnerApi';
import { CertificateCache } from './partnerCenter/certificateDownload';
import type { EventDeliveryDependencies } from './partnerCenter/eventDelivery';
import type { ReconciliationDependencies } from './partnerCenter/reconciliation';
import { CosmosReconciliationStateStore } from './partnerCenter/reconciliationState';
import type { SyncDependencies } from './partnerCenter/sync';
import { HeldStates } from './partnerCenter/sync';
import type { WebhookDependencies } from './partnerCenter/webhookReceiver';
import type { StepDependencies } from './pipeline/step';
import type { UpdateStepDependencies } from './pipeline/updateStep';
import { getConfig } from './platform/config';
import { createEventGridPublisher } from './platform/eventGrid';
import { consoleLogger } from './platform/logging';
import { CONNECTIONS_QUEUE, PARTNER_CENTER_EVENTS_QUEUE, REFERRALS_QUEUE, UPDATES_QUEUE } from './platform/names';
import { queueSender } from './platform/serviceBus';
import { EventOutbox, EventPublishingStore } from './referral/eventOutbox';
import type { IntakeDependencies } from './referral/intake';
import type { OutboxDependencies } from './referral/outbox';
import { CosmosReferralStore } from './referral/store';
import type { UpdateIntakeDependencies } from './referral/updateIntake';

let store: EventPublishingStore | undefined;
let intake: IntakeDependencies | undefined;
let outbox: OutboxDependencies | undefined;
let updateIntake: UpdateIntakeDependencies | undefined;
let worker: StepDependencies | undefined;
let updateWorker: UpdateStepDependencies | undefined;
let partnerApi: PartnerApiClient | undefined;
let webhook: WebhookDependencies | undefined;
let eventDelivery: EventDeliveryDependencies | undefined;
let reconciliation: ReconciliationDependencies | undefined;

/**
 * The one store every function writes records through: Cosmos DB, with the outcome events of each change published
 * after its write (shared/referral/eventOutbox.ts), or, without EVENT_GRID_TOPIC_ENDPOINT, none (said once, here).
 */
export function referralStore(): EventPublishingStore {
    if (!store) {
        const config = getConfig('events');
        const now = () => new Date();
        if (!config.topic) consoleLogger.event('info', 'events.disabled', {});
        const outbox = config.topic
            ? new EventOutbox(createEventGridPublisher(config.topic), config.source, now, consoleLogger)
            : undefined;
        store = new EventPublishingStore(new CosmosReferralStore(), outbox);
    }
    return store;
}

export function intakeDependencies(): IntakeDependencies {
    intake ??= {
        store: referralStore(),
        referralsQueue: queueSender(REFERRALS_QUEUE),
        newKey: randomUUID,
        now: () => new Date(),
    };
    return intake;
}

/** The PATCH intake's: the intake's store, clock and keys, and a sender to `referral-updates`. */
export function updateIntakeDependencies(): UpdateIntakeDependencies {
    if (!updateIntake) {
        const { store, newKey, now } = intakeDependencies();
        updateIntake = { store, newKey, now, updatesQueue: queueSender(UPDATES_QUEUE) };
    }
    return updateIntake;
}

export function outboxDependencies(): OutboxDependencies {
    if (!outbox) {
        const { store, referralsQueue, now } = intakeDependencies();
        outbox = { store, referralsQueue, now, resendAfterMs: getConfig('outbox').resendAfterMs };
    }
    return outbox;
}

/** The webhook receiver's: its trust (certificate hosts, roots, the certificate cache) and `partner-center-events`. */
export function webhookDependencies(): WebhookDependencies {
    if (!webhook) {
        const config = getConfig('partnerCenterWebhooks');
        webhook = {
            trust: {
                certificates: new CertificateCache(),
                certificateHosts: config.certificateHosts,
                roots: config.trustedRoots ?? rootCertificates.map((pem) => new X509Certificate(pem)),
                now: () => new Date(),
            },
            eventsQueue: queueSender(PARTNER_CENTER_EVENTS_QUEUE),
        };
    }
    return webhook;
}

function partnerApiClient(): PartnerApiClient {
    partnerApi ??= createPartnerApiClient();
    return partnerApi;
}

export function workerDependencies(): StepDependencies {
    if (!worker) {
        worker = {
            store: referralStore(),
            // Resolved per call, so a configuration problem fails the delivery (and is retried), not the import.
            partnerApi: {
                createReferral: (referral, context) => partnerApiClient().createReferral(referral, context),
                findCandidates: (query, context) => partnerApiClient().findCandidates(query, context),
            },
            referralsQueue: queueSender(REFERRALS_QUEUE),
            connectionsQueue: queueSender(CONNECTIONS_QUEUE),
            updatesQueue: queueSender(UPDATES_QUEUE),
            retry: getConfig('retry'),
            // One attempt is at most a lookup and a create, each bounded by the call timeout (STEP_LEASE_MS).
            leaseMs: getConfig('lease').leaseMs,
            settleMs: getConfig('settling').settleMs,
            duplicateCheckDelayMs: getConfig('settling').duplicateCheckDelayMs,
            now: () => new Date(),
            random: Math.random,
        };
    }
    return worker;
}

/** The referral-updates queue function's: the worker's store, settings and clock; PATCH and GET at the Partner API. */
export function updateWorkerDependencies(): UpdateStepDependencies {
    if (!updateWorker) {
        const { store, retry, leaseMs, now, random } = workerDependencies();
        updateWorker = {
            store,
            retry,
            leaseMs,
            now,
            random,
            partnerApi: {
                getReferral: (id, context) => partnerApiClient().getReferral(id, context),
                patchReferral: (id, patch, eTag, context) => partnerApiClient().patchReferral(id, patch, eTag, context),
            },
            updatesQueue: queueSender(UPDATES_QUEUE),
        };
    }
    return updateWorker;
}

/** The sync path's (shared/partnerCenter/sync.ts): the worker's store and clock, the engagement's referrals. */
function syncDependencies(): SyncDependencies {
    const { store, now } = workerDependencies();
    return {
        store,
        now,
        partnerApi: {
            listEngagementReferrals: (engagementId, context) =>
                partnerApiClient().listAllReferrals({ filter: { engagementId } }, context),
        },
    };
}

/** The partner-center-events queue function's: the sync path, the referral's GET, and the queue for later runs. */
export function eventDeliveryDependencies(): EventDeliveryDependencies {
    if (!eventDelivery) {
        const sync = syncDependencies();
        const { retry, random } = workerDependencies();
        eventDelivery = {
            ...sync,
            partnerApi: {
                ...sync.partnerApi,
                getReferral: (id, context) => partnerApiClient().getReferral(id, context),
            },
            eventsQueue: queueSender(PARTNER_CENTER_EVENTS_QUEUE),
            retry,
            random,
        };
    }
    return eventDelivery;
}

/** The reconciliation timer's: its watermark document, the sync path, and the list of changed referrals. */
export function reconciliationDependencies(): ReconciliationDependencies {
    if (!reconciliation) {
        const sync = syncDependencies();
        reconciliation = {
            state: new CosmosReconciliationStateStore(),
            sync,
            now: sync.now,
            leaseMs: getConfig('partnerCenterReconciliation').leaseMs,
            heldStates: new HeldStates(),
            partnerApi: {
                changedSince: (since, context, maxPages) =>
                    partnerApiClient().referralPages(
                        { filter: { updatedSince: since }, orderBy: 'updatedDateTime asc' },
                        context,
                        maxPages,
                    ),
            },
        };
    }
    return reconciliation;
}

export async function closePartnerApi(): Promise<void> {
    const client = partnerApi;
    partnerApi = undefined;
    await client?.close();
}
