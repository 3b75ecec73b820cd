/**
 * The one place that decides which local peers run and what settings the local host gets for them.
 *
 * Every value the user already set in the environment wins, so the same setting names point the app at real Azure
 * or at Microsoft's Docker emulators; a peer whose setting is set by the user is not started at all:
 * - `ServiceBusConnection` or `ServiceBusConnection__fullyQualifiedNamespace` set: no local broker;
 * - `CosmosDbConnection` or `CosmosDbConnection__accountEndpoint` set: no local Cosmos DB;
 * - `PARTNER_API_BASE_URL` set: no Partner API simulator (the app then uses `PARTNER_API_AUTH`/`PARTNER_API_TOKEN`);
 * - `EVENT_GRID_TOPIC_ENDPOINT` set: no local Event Grid topic.
 */
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { COSMOS_EMULATOR_KEY } from '../cosmos/constants';
import { LOCAL_TOPIC_KEY } from '../eventgrid/topic';
import { DEFAULT_LOCAL_FUNCTION_KEY } from '../host/auth';

type Env = Record<string, string | undefined>;

export const DEFAULT_PORTS = {
    /** The local Functions host (`PORT`), as `func start` uses. */
    host: 7071,
    /** The Service Bus dev broker (`SERVICEBUS_PORT`): AMQP, the port Microsoft's emulator uses too. */
    serviceBus: 5672,
    /** The broker's HTTP admin endpoint (`SERVICEBUS_ADMIN_PORT`): queue counts and dead letters. */
    serviceBusAdmin: 5673,
    /** Cosmos DB (`COSMOS_EMULATOR_PORT`): the port of Microsoft's Cosmos DB emulator. */
    cosmos: 8081,
    /** The Partner API simulator (`PARTNER_API_SIMULATOR_PORT`). */
    partnerApiSimulator: 7090,
    /** The local Event Grid topic (`EVENT_GRID_TOPIC_PORT`). */
    eventGridTopic: 7092,
} as const;

export const PORT_SETTINGS = {
    host: 'PORT',
    serviceBus: 'SERVICEBUS_PORT',
    serviceBusAdmin: 'SERVICEBUS_ADMIN_PORT',
    cosmos: 'COSMOS_EMULATOR_PORT',
    partnerApiSimulator: 'PARTNER_API_SIMULATOR_PORT',
    eventGridTopic: 'EVENT_GRID_TOPIC_PORT',
} as const;

export type LocalPorts = { [K in keyof typeof DEFAULT_PORTS]: number };

/** Loopback only: the peers have no real authentication. */
export const LOCAL_PEER_HOST = '127.0.0.1';

function isSet(env: Env, name: string): boolean {
    return (env[name]?.trim() ?? '') !== '';
}

function port(env: Env, name: string, fallback: number): number {
    if (!isSet(env, name)) return fallback;
    const value = Number(env[name]);
    if (!Number.isInteger(value) || value < 0 || value > 65535)
        throw new Error(`${name} must be a port number (0-65535)`);
    return value;
}

export function localPorts(env: Env = process.env): LocalPorts {
    return {
        host: port(env, PORT_SETTINGS.host, DEFAULT_PORTS.host),
        serviceBus: port(env, PORT_SETTINGS.serviceBus, DEFAULT_PORTS.serviceBus),
        serviceBusAdmin: port(env, PORT_SETTINGS.serviceBusAdmin, DEFAULT_PORTS.serviceBusAdmin),
        cosmos: port(env, PORT_SETTINGS.cosmos, DEFAULT_PORTS.cosmos),
        partnerApiSimulator: port(env, PORT_SETTINGS.partnerApiSimulator, DEFAULT_PORTS.partnerApiSimulator),
        eventGridTopic: port(env, PORT_SETTINGS.eventGridTopic, DEFAULT_PORTS.eventGridTopic),
    };
}

export interface PeerSelection {
    serviceBus: boolean;
    cosmos: boolean;
    partnerApiSimulator: boolean;
    eventGridTopic: boolean;
}

export function peersToStart(env: Env = process.env): PeerSelection {
    return {
        serviceBus: !isSet(env, 'ServiceBusConnection') && !isSet(env, 'ServiceBusConnection__fullyQualifiedNamespace'),
        cosmos: !isSet(env, 'CosmosDbConnection') && !isSet(env, 'CosmosDbConnection__accountEndpoint'),
        partnerApiSimulator: !isSet(env, 'PARTNER_API_BASE_URL'),
        eventGridTopic: !isSet(env, 'EVENT_GRID_TOPIC_ENDPOINT'),
    };
}

/** Where the running peers answer; what `npm run emulators` reports once it is up. */
export interface PeerEndpoints {
    serviceBusConnectionString?: string;
    cosmosEndpoint?: string;
    partnerApiUrl?: string;
    /** The PEM file of the simulator's webhook test root (it signs Microsoft's webhooks with a leaf of it). */
    webhookRootsFile?: string;
    /** The local Event Grid topic's publish endpoint (its key is LOCAL_TOPIC_KEY). */
    eventGridTopicEndpoint?: string;
}

export function serviceBusConnectionString(port: number, host: string = LOCAL_PEER_HOST): string {
    // The form of Microsoft's emulator: `UseDevelopmentEmulator=true` makes the SDK use plain AMQP (no TLS).
    return `Endpoint=sb://${host}:${port};SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=SAS_KEY_VALUE;UseDevelopmentEmulator=true;`;
}

export function cosmosEndpoint(port: number, host: string = LOCAL_PEER_HOST): string {
    return `https://${host}:${port}/`;
}

export function partnerApiUrl(port: number, host: string = LOCAL_PEER_HOST): string {
    return `http://${host}:${port}`;
}

/** The reconciliation's schedule on the local runtime (in Azure: every 15 minutes). */
export const LOCAL_RECONCILE_SCHEDULE = '*/30 * * * * *';

export function eventGridTopicEndpoint(port: number, host: string = LOCAL_PEER_HOST): string {
    return `http://${host}:${port}/api/events`;
}

/** Where the emulators write the simulator's webhook test root: one file per simulator port, so a host started alone finds it. */
export function webhookRootsFile(port: number): string {
    return join(tmpdir(), `cosell-referrals-simulator-webhook-root-${port}.pem`);
}

/** Endpoints of peers on their configured ports (a host started alone assumes `npm run emulators` on defaults). */
export function defaultPeerEndpoints(env: Env = process.env): PeerEndpoints {
    const ports = localPorts(env);
    return {
        serviceBusConnectionString: serviceBusConnectionString(ports.serviceBus),
        cosmosEndpoint: cosmosEndpoint(ports.cosmos),
        partnerApiUrl: partnerApiUrl(ports.partnerApiSimulator),
        webhookRootsFile: webhookRootsFile(ports.partnerApiSimulator),
        eventGridTopicEndpoint: eventGridTopicEndpoint(ports.eventGridTopic),
    };
}

/**
 * The settings the host process adds to its environment: only names the user has not set, and only for peers that
 * run locally.
 */
export function hostSettings(
    env: Env = process.env,
    peers: PeerEndpoints = defaultPeerEndpoints(env),
): Record<string, string> {
    const selection = peersToStart(env);
    const computed: Record<string, string> = {};
    if (selection.serviceBus && peers.serviceBusConnectionString) {
        computed.ServiceBusConnection = peers.serviceBusConnectionString;
    }
    if (selection.cosmos && peers.cosmosEndpoint) {
        computed.CosmosDbConnection = `AccountEndpoint=${peers.cosmosEndpoint};AccountKey=${COSMOS_EMULATOR_KEY};`;
        // The local server's certificate is self-signed; the app allows this only for a loopback endpoint.
        computed.COSMOS_DISABLE_TLS_VERIFICATION = 'true';
    }
    if (selection.partnerApiSimulator && peers.partnerApiUrl) {
        computed.PARTNER_API_BASE_URL = peers.partnerApiUrl;
        // The app sends no token in this mode; the simulator is started with acceptMissingToken.
        computed.PARTNER_API_AUTH = 'none';
    }
    if (selection.partnerApiSimulator && peers.webhookRootsFile) {
        // The simulator signs Microsoft's webhooks with a certificate of its test root, served on loopback.
        computed.PARTNER_CENTER_WEBHOOK_TRUSTED_ROOTS = peers.webhookRootsFile;
        computed.PARTNER_CENTER_WEBHOOK_CERT_HOSTS = LOCAL_PEER_HOST;
        // Against the simulator a change made with its webhook dropped shows within half a minute, not 15.
        computed.PARTNER_CENTER_RECONCILE_SCHEDULE = LOCAL_RECONCILE_SCHEDULE;
    }
    if (selection.eventGridTopic && peers.eventGridTopicEndpoint) {
        computed.EVENT_GRID_TOPIC_ENDPOINT = peers.eventGridTopicEndpoint;
        computed.EVENT_GRID_TOPIC_KEY = LOCAL_TOPIC_KEY;
    }
    computed.LOCAL_FUNCTION_KEY = DEFAULT_LOCAL_FUNCTION_KEY;
    const settings: Record<string, string> = {};
    for (const [name, value] of Object.entries(computed)) {
        if (!isSet(env, name)) settings[name] = value;
    }
    return settings;
}
