/**
 * The Cosmos DB emulator's operation counts, through the real @azure/cosmos client: each document operation the SDK
 * makes is counted once under its own name, refusals (409, 412) among them, with the request charge answered, and
 * `/_admin/operations` serves the same counts to another process.
 */
import { type CosmosClient } from '@azure/cosmos';

import { type CosmosEmulator, localCosmosClient, startCosmosEmulator } from '../../../local/cosmos/emulator';
import { type CosmosOperationReport, readCosmosOperations } from '../../../local/cosmos/operations';
import { COSMOS_CONTAINER, COSMOS_DATABASE } from '../../../shared/platform/names';

let emulator: CosmosEmulator;
let client: CosmosClient;

beforeAll(async () => {
    emulator = await startCosmosEmulator({ port: 0 });
    client = localCosmosClient(emulator.endpoint);
});

afterAll(async () => {
    client?.dispose();
    await emulator?.close();
});

const documentCounts = (report: CosmosOperationReport) => {
    const { metadata: _metadata, ...documents } = report.operations;
    return documents;
};

it('counts reads, queries (and their plans), creates, replaces, patches and deletes, and the refused ones', async () => {
    const container = client.database(COSMOS_DATABASE).container(COSMOS_CONTAINER);
    // The SDK's first call reads the account and container metadata: counted apart.
    await container.read();
    const before = emulator.operations();

    const { resource } = await container.items.create({ id: 'ops-1', n: 1 });
    await container.items.create({ id: 'ops-1', n: 1 }).catch(() => undefined);
    await container.item('ops-1', 'ops-1').read();
    await container.item('ops-1', 'ops-1').replace({ id: 'ops-1', n: 2 });
    await container
        .item('ops-1', 'ops-1')
        .replace({ id: 'ops-1', n: 3 }, { accessCondition: { type: 'IfMatch', condition: resource!._etag } })
        .catch(() => undefined);
    await container.item('ops-1', 'ops-1').patch([{ op: 'set', path: '/n', value: 4 }]);
    await container.items.query('SELECT * FROM c WHERE c.n = 4').fetchAll();
    await container.item('ops-1', 'ops-1').delete();

    const after = await readCosmosOperations(emulator.endpoint);
    const delta = Object.fromEntries(
        Object.entries(documentCounts(after)).map(([op, n]) => [op, n - before.operations[op as 'read']]),
    );
    expect(delta).toEqual({ read: 1, query: 1, queryPlan: 1, create: 2, upsert: 0, replace: 2, patch: 1, delete: 1 });
    expect(after.refused.create - before.refused.create).toBe(1);
    expect(after.refused.replace - before.refused.replace).toBe(1);
    // The local server answers a request charge of 1 on every request.
    expect(after.requestCharge).toBeGreaterThan(before.requestCharge);
});
