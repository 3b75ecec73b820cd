/**
 * The Cosmos DB emulator's fault layer, through the real @azure/cosmos client: a throttle carries
 * `x-ms-retry-after-ms` as Cosmos DB's does, an outage refuses everything until it ends, and the app classifies both
 * as outages with the right wait.
 */
import { Agent } from 'node:https';

import { CosmosClient } from '@azure/cosmos';

import { type CosmosEmulator, startCosmosEmulator } from '../../../local/cosmos/emulator';
import { readCosmosFaults, setCosmosFaults } from '../../../local/cosmos/faults';
import { isDependencyOutage, outageRetryAfterMs } from '../../../shared/platform/dependencyOutage';
import { COSMOS_CONTAINER, COSMOS_DATABASE } from '../../../shared/platform/names';

let emulator: CosmosEmulator;
let client: CosmosClient;

beforeAll(async () => {
    emulator = await startCosmosEmulator({ port: 0 });
    client = new CosmosClient({
        endpoint: emulator.endpoint,
        key: emulator.key,
        agent: new Agent({ rejectUnauthorized: false }),
        // Without the SDK's own throttle retries, so the test sees the 429 itself.
        connectionPolicy: {
            enableEndpointDiscovery: false,
            retryOptions: { maxRetryAttemptCount: 0, fixedRetryIntervalInMilliseconds: 0, maxWaitTimeInSeconds: 0 },
        },
    });
});

afterAll(async () => {
    client?.dispose();
    await emulator?.close();
});

afterEach(() => emulator.faults.reset());

const container = () => client.database(COSMOS_DATABASE).container(COSMOS_CONTAINER);
const read = () => container().item('nope', 'nope').read();

it('throttles with 429 and x-ms-retry-after-ms, which the app reads as an outage to wait out', async () => {
    emulator.faults.update({ rate429: 1, retryAfterMs: 750 });
    const error = await read().then(
        () => undefined,
        (e: unknown) => e,
    );
    expect(error).toMatchObject({ code: 429 });
    expect(isDependencyOutage(error)).toBe(true);
    expect(outageRetryAfterMs(error)).toBe(750);
});

it('refuses every request with 503 during an outage, and serves again after it', async () => {
    emulator.faults.update({ outageMs: 300 });
    const error = await read().then(
        () => undefined,
        (e: unknown) => e,
    );
    expect(error).toMatchObject({ code: 503 });
    expect(isDependencyOutage(error)).toBe(true);
    await new Promise((resolve) => setTimeout(resolve, 400));
    expect((await read()).statusCode).toBe(404);
});

it('draws a seeded fraction: the same seed refuses the same requests', async () => {
    const outcomes = async () => {
        emulator.faults.update({ rate503: 0.5, seed: 7 });
        const codes: unknown[] = [];
        for (let i = 0; i < 12; i++) {
            codes.push(
                await read().then(
                    (r) => r.statusCode,
                    (e: { code?: unknown }) => e.code,
                ),
            );
        }
        return codes;
    };
    const first = await outcomes();
    expect(first).toContain(503);
    expect(first).toContain(404);
    expect(await outcomes()).toEqual(first);
});

it('is switched over HTTP at /_admin/faults on its own address', async () => {
    expect(await setCosmosFaults(emulator.endpoint, { rate503: 0.25, seed: 3 })).toMatchObject({ rate503: 0.25 });
    expect(emulator.faults.current()).toMatchObject({ rate503: 0.25, seed: 3 });
    // The earlier tests' faults, counted.
    expect(await readCosmosFaults(emulator.endpoint)).toMatchObject({
        rate503: 0.25,
        injected: { '429': 1, outage503: 1, '503': expect.any(Number) },
    });
    await expect(setCosmosFaults(emulator.endpoint, { rate503: 2 })).rejects.toThrow(
        /400 .*rate503 must be from 0 to 1/,
    );
});
