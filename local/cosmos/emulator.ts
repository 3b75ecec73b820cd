/**
 * Cosmos DB for local development: `@vercel/cosmosdb-server` (in memory, HTTPS with a bundled self-signed
 * certificate) reached through the real `@azure/cosmos` client, with the app's database and container created.
 *
 * Clients must turn endpoint discovery off (the server advertises `localhost` as its regional endpoint) and accept
 * the self-signed certificate: the app does both when `COSMOS_DISABLE_TLS_VERIFICATION=true` on a loopback endpoint.
 */
import { Agent } from 'node:https';
import { type AddressInfo } from 'node:net';

import { CosmosClient } from '@azure/cosmos';
import { createHttpsServer } from '@vercel/cosmosdb-server';

import { COSMOS_CONTAINER, COSMOS_DATABASE, COSMOS_PARTITION_KEY_PATH } from '../../shared/platform/names';

/** The well-known key of Microsoft's Cosmos DB emulator; the local server accepts any key, this keeps docs alike. */
export const COSMOS_EMULATOR_KEY =
    'C2y6yDjf5/R+ob0N8A7Cgv30VRDJIWEHLM+4QDU5DE2nQ9nDuVTqobD4b8mGGyPMbIZnqyMsEcaGQy67XIw/Jw==';

export const DEFAULT_COSMOS_PORT = 8081;

export interface CosmosEmulatorOptions {
    /** 0 picks a free port. Default 8081, the port of Microsoft's emulator. */
    port?: number;
    /** Default 127.0.0.1. */
    host?: string;
}

export interface CosmosEmulator {
    endpoint: string;
    key: string;
    /** `AccountEndpoint=...;AccountKey=...;`, the form the app's `CosmosDbConnection` setting takes. */
    connectionString: string;
    port: number;
    close(): Promise<void>;
}

/** A client for the local server: self-signed TLS accepted, endpoint discovery off. Loopback only. */
export function localCosmosClient(endpoint: string, key: string = COSMOS_EMULATOR_KEY): CosmosClient {
    return new CosmosClient({
        endpoint,
        key,
        agent: new Agent({ rejectUnauthorized: false }),
        connectionPolicy: { enableEndpointDiscovery: false },
    });
}

export async function createAppContainer(client: CosmosClient): Promise<void> {
    const { database } = await client.databases.createIfNotExists({ id: COSMOS_DATABASE });
    await database.containers.createIfNotExists({
        id: COSMOS_CONTAINER,
        partitionKey: { paths: [COSMOS_PARTITION_KEY_PATH] },
    });
}

export async function startCosmosEmulator(options: CosmosEmulatorOptions = {}): Promise<CosmosEmulator> {
    const host = options.host ?? '127.0.0.1';
    // The server answers `connection: close` unless told otherwise: a new TLS handshake per Cosmos request.
    const server = createHttpsServer({ keepAlive: true });
    await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(options.port ?? DEFAULT_COSMOS_PORT, host, () => {
            server.off('error', reject);
            resolve();
        });
    });
    const port = (server.address() as AddressInfo).port;
    const endpoint = `https://${host}:${port}/`;
    const close = () =>
        new Promise<void>((resolve) => {
            server.close(() => resolve());
            server.closeAllConnections();
        });
    const client = localCosmosClient(endpoint);
    try {
        await createAppContainer(client);
    } catch (error) {
        await close();
        throw error;
    } finally {
        client.dispose();
    }
    return {
        endpoint,
        key: COSMOS_EMULATOR_KEY,
        connectionString: `AccountEndpoint=${endpoint};AccountKey=${COSMOS_EMULATOR_KEY};`,
        port,
        close,
    };
}
