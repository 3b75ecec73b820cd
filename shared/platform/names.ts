/**
 * Names that the code, the local runtime and infra/ must agree on. A contract test reads infra/ against these.
 */

/** The Functions connection names: `<name>__fullyQualifiedNamespace` / `<name>__accountEndpoint` style settings. */
export const SERVICE_BUS_CONNECTION = 'ServiceBusConnection';
export const COSMOS_CONNECTION = 'CosmosDbConnection';

/** Queue of referral requests: written by the HTTP intake and by upstream publishers, read by submitReferral. */
export const REFERRALS_QUEUE = 'referrals';
/** Queue of follow-up work for Shared referrals, read by connectReferral. */
export const CONNECTIONS_QUEUE = 'referral-connections';
/** Queue of referral updates (JSON Patch): written by the PATCH intake and by upstream publishers. */
export const UPDATES_QUEUE = 'referral-updates';
/** Queue of Partner Center's webhook events, verified: written by the webhook receiver, read by the sync worker. */
export const PARTNER_CENTER_EVENTS_QUEUE = 'partner-center-events';
export const QUEUE_NAMES = [REFERRALS_QUEUE, CONNECTIONS_QUEUE, UPDATES_QUEUE, PARTNER_CENTER_EVENTS_QUEUE] as const;

export const COSMOS_DATABASE = 'referrals';
export const COSMOS_CONTAINER = 'referrals';
export const COSMOS_PARTITION_KEY_PATH = '/id';

/** Application property on every queue message that names the version of the message contract. */
export const CONTRACT_VERSION_PROPERTY = 'contractVersion';
export const CONTRACT_VERSION = '1';
