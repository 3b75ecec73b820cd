/**
 * Cosmos DB for local development: `@vercel/cosmosdb-server` (in memory, HTTPS with a bundled self-signed
 * certificate) reached through the real `@azure/cosmos` client, with the app's database and container created.
 *
 * Faults (429 with `x-ms-retry-after-ms`, 503, an outage) are injected in front of the server, switched through
 * `/_admin/faults` on the same address (faults.ts); none by default. The requests that reach the server are counted
 * by operation, read through `/_admin/operations` (operations.ts).
 *
 * Clients must turn endpoint discovery off (the server advertises `localhost` as its regional endpoint) and accept
 * the self-signed certificate: the app does both when `COSMOS_DISABLE_TLS_VERIFICATION=true` on a loopback endpoint.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Agent } from 'node:https';
import { type AddressInfo } from 'node:net';

import { CosmosClient } from '@azure/cosmos';
import { createHttpsServer } from '@vercel/cosmosdb-server';

import { COSMOS_CONTAINER, COSMOS_DATABASE, COSMOS_PARTITION_KEY_PATH } from '../../shared/platform/names';
import type { FaultChange } from '../faults/dependencyFaults';
import { type CosmosFaults, cosmosFaultSwitch, interceptCosmosRequest } from './faults';
import { CosmosOperationCounter, type CosmosOperationReport } from './operations';

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
    /** The injected faults, as `/_admin/faults` also sets them. */
    faults: { current(): CosmosFaults; update(change: FaultChange<CosmosFaults>): CosmosFaults; reset(): CosmosFaults };
    /** The requests the server answered, by operation, as `/_admin/operations` also reports them. */
    operations(): CosmosOperationReport;
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
    // The fault layer sees each request first and hands the rest to the server's own handler.
    const faults = cosmosFaultSwitch();
    const counter = new CosmosOperationCounter();
    const handlers = server.listeners('request') as Array<(req: IncomingMessage, res: ServerResponse) => void>;
    server.removeAllListeners('request');
    server.on('request', (request: IncomingMessage, response: ServerResponse) => {
        if (interceptCosmosRequest(faults, request, response) || counter.serve(request, response)) return;
        counter.count(request, response);
        for (const handle of handlers) handle(request, response);
    });
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
        faults,
        operations: () => counter.report(),
        close,
    };
}
