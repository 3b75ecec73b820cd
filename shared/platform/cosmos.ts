/**
 * One Cosmos DB client per process, created lazily from the `CosmosDbConnection` settings: a managed identity in
 * Azure (`CosmosDbConnection__accountEndpoint` + `__clientId`), or a key for emulators (`CosmosDbConnection`).
 * The database and container are created by infra/ (and by the local emulator wiring), never by the app: with
 * `disableKeyBasedMetadataWriteAccess` the identity could not create them anyway.
 */
import { Agent } from 'node:https';

import { type Container, CosmosClient } from '@azure/cosmos';

import { type AppConfig, getConfig } from './config';
import { createAzureCredential } from './credential';
import { COSMOS_CONTAINER, COSMOS_DATABASE } from './names';

let client: CosmosClient | undefined;

/** A client for the validated `cosmos` settings (tests build one for an address of their own). */
export function createCosmosClient(config: AppConfig['cosmos']): CosmosClient {
    return config.kind === 'identity'
        ? new CosmosClient({ endpoint: config.endpoint, aadCredentials: createAzureCredential(config.clientId) })
        : new CosmosClient({
              endpoint: config.endpoint,
              key: config.key,
              // Emulators advertise "localhost" as their region endpoint; stay on the address we were given.
              connectionPolicy: { enableEndpointDiscovery: false },
              // keepAlive as the SDK's own default agent has: without it every request is a new TLS handshake.
              ...(config.disableTlsVerification
                  ? { agent: new Agent({ rejectUnauthorized: false, keepAlive: true }) }
                  : {}),
          });
}

export function getCosmosClient(): CosmosClient {
    client ??= createCosmosClient(getConfig('cosmos'));
    return client;
}

export function getCosmosContainer(): Container {
    return getCosmosClient().database(COSMOS_DATABASE).container(COSMOS_CONTAINER);
}

export function closeCosmos(): void {
    client?.dispose();
    client = undefined;
}
