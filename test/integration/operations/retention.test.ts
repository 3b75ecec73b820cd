/**
 * The ttl reaches the stored document through the real `@azure/cosmos` client (the local server keeps the field but,
 * unlike Cosmos DB, never expires anything: that part is the service's, set up by infra's defaultTtl -1).
 */
import type { Container, CosmosClient } from '@azure/cosmos';

import { type CosmosEmulator, localCosmosClient, startCosmosEmulator } from '../../../local/cosmos/emulator';
import { loadSection } from '../../../shared/platform/config';
import { COSMOS_CONTAINER, COSMOS_DATABASE } from '../../../shared/platform/names';
import { transition } from '../../../shared/referral/record';
import { CosmosReferralStore } from '../../../shared/referral/store';
import { GIVEN_AT, givenRecord } from '../../support/givenRecord';

let emulator: CosmosEmulator;
let client: CosmosClient;
let container: Container;

beforeAll(async () => {
    emulator = await startCosmosEmulator({ port: 0 });
    client = localCosmosClient(emulator.endpoint);
    container = client.database(COSMOS_DATABASE).container(COSMOS_CONTAINER);
});

afterAll(async () => {
    client?.dispose();
    await emulator?.close();
});

it('stores ttl = REFERRAL_TTL_DAYS in seconds on create and on replace', async () => {
    const { ttlSeconds } = loadSection('retention', { REFERRAL_TTL_DAYS: '30' });
    const store = new CosmosReferralStore(
        () => container,
        () => ttlSeconds,
    );
    const created = await store.create(givenRecord({ id: 'ttl-1', source: 'queue', request: null }));
    if (!created.created) throw new Error('expected a new record');
    expect((await container.item('ttl-1', 'ttl-1').read()).resource).toMatchObject({ ttl: 30 * 86_400 });

    await store.replace(transition(created.stored.record, 'Rejected', GIVEN_AT), created.stored.etag);
    expect((await container.item('ttl-1', 'ttl-1').read()).resource).toMatchObject({
        status: 'Rejected',
        ttl: 30 * 86_400,
    });
});

it('stores ttl -1 (kept for ever) when REFERRAL_TTL_DAYS is 0', async () => {
    const { ttlSeconds } = loadSection('retention', { REFERRAL_TTL_DAYS: '0' });
    const store = new CosmosReferralStore(
        () => container,
        () => ttlSeconds,
    );
    await store.create(givenRecord({ id: 'ttl-2', source: 'queue', request: null }));
    expect((await container.item('ttl-2', 'ttl-2').read()).resource).toMatchObject({ ttl: -1 });
});
