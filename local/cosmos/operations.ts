/**
 * What the local Cosmos DB emulator was asked to do: every request that reached the server (after the fault layer:
 * an injected 429 or 503 is counted there instead), by document operation, with the request charge the server
 * answered. `GET /_admin/operations` on the emulator's own address reads the counts; a benchmark takes them before
 * and after a run and subtracts. Counts only: no ids, no bodies.
 *
 * The operation is read off the REST call the SDK makes: `POST .../docs` is a create (an upsert with
 * `x-ms-documentdb-is-upsert`, a query with `x-ms-documentdb-isquery` or a query content type, the query plan the
 * SDK asks for before a cross-partition query with `x-ms-cosmos-is-query-plan-request`), and on
 * `.../docs/{id}` GET is a read, PUT a replace, PATCH a patch, DELETE a delete. Anything else (the account,
 * databases, containers, partition key ranges) is `metadata`.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

import { emulatorAdmin } from './faults';

export const COSMOS_OPERATIONS_PATH = '/_admin/operations';

export const COSMOS_OPERATIONS = [
    'read',
    'query',
    'queryPlan',
    'create',
    'upsert',
    'replace',
    'patch',
    'delete',
    'metadata',
] as const;
export type CosmosOperation = (typeof COSMOS_OPERATIONS)[number];

export interface CosmosOperationReport {
    /** Requests answered, by operation. */
    operations: Record<CosmosOperation, number>;
    /** Of those, answered with a status of 400 or more (a 409 on create, a 412 on a conditional replace, a 404). */
    refused: Record<CosmosOperation, number>;
    /** Sum of the `x-ms-request-charge` answered (request units; the local server answers a constant 1). */
    requestCharge: number;
}

const DOCUMENTS = /^\/dbs\/[^/]+\/colls\/[^/]+\/docs\/?$/;
const DOCUMENT = /^\/dbs\/[^/]+\/colls\/[^/]+\/docs\/[^/]+\/?$/;

export function cosmosOperationOf(request: IncomingMessage): CosmosOperation {
    const path = (request.url ?? '').split('?')[0] ?? '';
    const header = (name: string) => String(request.headers[name] ?? '').toLowerCase();
    if (DOCUMENTS.test(path) && request.method === 'POST') {
        if (header('x-ms-cosmos-is-query-plan-request') === 'true') return 'queryPlan';
        if (header('x-ms-documentdb-isquery') === 'true' || header('content-type').includes('query+json')) {
            return 'query';
        }
        return header('x-ms-documentdb-is-upsert') === 'true' ? 'upsert' : 'create';
    }
    if (DOCUMENT.test(path)) {
        const byMethod: Record<string, CosmosOperation> = {
            GET: 'read',
            PUT: 'replace',
            PATCH: 'patch',
            DELETE: 'delete',
        };
        return byMethod[request.method ?? ''] ?? 'metadata';
    }
    return 'metadata';
}

const zeroes = () =>
    Object.fromEntries(COSMOS_OPERATIONS.map((operation) => [operation, 0])) as Record<CosmosOperation, number>;

export class CosmosOperationCounter {
    private readonly operations = zeroes();
    private readonly refused = zeroes();
    private requestCharge = 0;

    /** Counts `request` once its answer is sent. */
    count(request: IncomingMessage, response: ServerResponse): void {
        const operation = cosmosOperationOf(request);
        response.once('finish', () => {
            this.operations[operation]++;
            if (response.statusCode >= 400) this.refused[operation]++;
            const charge = Number(response.getHeader('x-ms-request-charge'));
            if (Number.isFinite(charge)) this.requestCharge += charge;
        });
    }

    report(): CosmosOperationReport {
        return {
            operations: { ...this.operations },
            refused: { ...this.refused },
            requestCharge: Math.round(this.requestCharge * 100) / 100,
        };
    }

    /** Answers `GET /_admin/operations`; returns false for any other request. */
    serve(request: IncomingMessage, response: ServerResponse): boolean {
        if ((request.url ?? '').split('?')[0] !== COSMOS_OPERATIONS_PATH) return false;
        const status = request.method === 'GET' ? 200 : 405;
        response.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
        response.end(JSON.stringify(status === 200 ? this.report() : { error: 'Only GET is supported.' }));
        return true;
    }
}

/** The counts of the emulator at `endpoint` (another process's). */
export function readCosmosOperations(endpoint: string): Promise<CosmosOperationReport> {
    return emulatorAdmin(endpoint, COSMOS_OPERATIONS_PATH, 'GET');
}
