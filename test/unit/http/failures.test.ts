/**
 * What every HTTP function answers when something fails underneath it (shared/platform/http.ts `httpHandler`):
 * a Cosmos DB or Service Bus outage is 503 problem+json with Retry-After, anything else 500 problem+json with a
 * correlation id; the error's message (which may quote customer data) reaches neither the caller nor the log.
 */
import { createServer } from 'node:net';

import { ErrorResponse } from '@azure/cosmos';
import { HttpRequest } from '@azure/functions';
import { MessagingError, ServiceBusError } from '@azure/service-bus';

import { createReferral } from '../../../functions/createReferral';
import { getOpenApi } from '../../../functions/getOpenApi';
import { getReferralStatus } from '../../../functions/getReferralStatus';
import { loadSection } from '../../../shared/platform/config';
import { createCosmosClient } from '../../../shared/platform/cosmos';
import { isDependencyOutage } from '../../../shared/platform/dependencyOutage';
import { COSMOS_CONTAINER, COSMOS_DATABASE } from '../../../shared/platform/names';
import { CosmosReferralStore } from '../../../shared/referral/store';
import { invocationContext, postJson, readResponse } from '../../support/functions';
import { MemoryReferralStore } from '../../support/memoryReferralStore';
import { RecordingSender } from '../../support/recordingSender';
import { PII, seedReferral } from '../../support/referrals';

/** A message as an SDK might write it, quoting a customer: it must never be passed on. */
const LEAKY_MESSAGE = `could not write contact ${PII.email}`;

function cosmosError(code: number | undefined): ErrorResponse {
    const error = new ErrorResponse(LEAKY_MESSAGE);
    error.code = code;
    return error;
}

function networkError(code: string): Error {
    return Object.assign(new Error(`connect ${code} 10.0.0.1:443 ${PII.email}`), { code });
}

function getStatus(id: string, headers: Record<string, string> = {}): HttpRequest {
    return new HttpRequest({
        method: 'GET',
        url: `http://localhost:7071/api/referrals/${id}`,
        params: { id },
        headers,
    });
}

function failingStore(error: Error): MemoryReferralStore {
    const store = new MemoryReferralStore();
    store.failWith = error;
    return store;
}

describe('GET /api/referrals/{id} when the store fails', () => {
    it('answers 503 problem+json with Retry-After when Cosmos DB is unavailable, and logs one event', async () => {
        const { context, lines } = invocationContext('getReferralStatus');
        const response = await readResponse(
            await getReferralStatus(
                getStatus('k1', { 'x-correlation-id': 'corr-7' }),
                context,
                failingStore(cosmosError(503)),
            ),
        );

        expect(response.status).toBe(503);
        expect(response.headers.get('content-type')).toBe('application/problem+json');
        expect(response.headers.get('retry-after')).toBe('5');
        expect(response.headers.get('x-correlation-id')).toBe('corr-7');
        expect(response.json).toMatchObject({ type: 'about:blank', title: 'Service Unavailable', status: 503 });
        expect(lines).toHaveLength(1);
        expect(JSON.parse(lines[0]!.replace(/^error /, ''))).toEqual({
            event: 'http.dependencyUnavailable',
            correlationId: 'corr-7',
            errorName: 'Error',
            errorCode: '503',
            httpStatus: 503,
        });
        expect(`${response.text}\n${lines.join('\n')}`).not.toContain(PII.email);
    });

    it('answers 500 problem+json with a new correlation id, and nothing of the error, for anything else', async () => {
        const { context, lines } = invocationContext('getReferralStatus');
        const response = await readResponse(
            await getReferralStatus(
                getStatus('k1', { 'x-correlation-id': 'not valid!' }),
                context,
                failingStore(new TypeError(LEAKY_MESSAGE)),
            ),
        );

        expect(response.status).toBe(500);
        expect(response.headers.get('content-type')).toBe('application/problem+json');
        expect(response.headers.get('retry-after')).toBeNull();
        const correlationId = response.headers.get('x-correlation-id');
        expect(correlationId).toMatch(/^[0-9a-f-]{36}$/);
        expect(response.json).toEqual({
            type: 'about:blank',
            title: 'Internal Server Error',
            status: 500,
            detail: expect.any(String),
            correlationId,
        });
        expect(lines).toHaveLength(1);
        expect(JSON.parse(lines[0]!.replace(/^error /, ''))).toEqual({
            event: 'http.failed',
            correlationId,
            errorName: 'TypeError',
            httpStatus: 500,
        });
        expect(`${response.text}\n${lines.join('\n')}`).not.toContain(PII.email);
    });

    it('answers 503 with Retry-After through a real Cosmos DB client when Cosmos DB cannot be reached', async () => {
        // A loopback port nobody listens on: the connection is refused at once. The client is built as the app builds
        // it for a key (no endpoint discovery), and the SDK does not retry a refused connection, so this is fast.
        const port = await closedLoopbackPort();
        const client = createCosmosClient(
            loadSection('cosmos', {
                CosmosDbConnection: `AccountEndpoint=https://127.0.0.1:${port}/;AccountKey=a2V5;`,
            }),
        );
        const store = new CosmosReferralStore(
            () => client.database(COSMOS_DATABASE).container(COSMOS_CONTAINER),
            () => -1,
        );
        try {
            const { context, lines } = invocationContext('getReferralStatus');
            const response = await readResponse(await getReferralStatus(getStatus('crm-4711'), context, store));

            expect(response.status).toBe(503);
            expect(response.headers.get('content-type')).toBe('application/problem+json');
            expect(response.headers.get('retry-after')).toBe('5');
            expect(lines.join('\n')).toContain('"errorCode":"ECONNREFUSED"');
        } finally {
            client.dispose();
        }
    });
});

describe('POST /api/referrals when something fails', () => {
    function deps(store: MemoryReferralStore, newKey: () => string = () => 'generated-1') {
        return { store, referralsQueue: new RecordingSender(), newKey, now: () => new Date('2026-11-21T10:00:00Z') };
    }

    it('answers 503 problem+json with Retry-After when the store is unavailable', async () => {
        const { context } = invocationContext('createReferral');
        const response = await readResponse(
            await createReferral(
                postJson('http://localhost:7071/api/referrals', seedReferral()),
                context,
                deps(failingStore(cosmosError(429))),
            ),
        );
        expect(response.status).toBe(503);
        expect(response.headers.get('content-type')).toBe('application/problem+json');
        expect(response.headers.get('retry-after')).toBe('5');
    });

    it("answers 500 problem+json with the caller's correlation id when the handler throws", async () => {
        const { context, lines } = invocationContext('createReferral');
        const response = await readResponse(
            await createReferral(
                postJson('http://localhost:7071/api/referrals', seedReferral(), { 'x-correlation-id': 'corr-8' }),
                context,
                deps(new MemoryReferralStore(), () => {
                    throw new RangeError(LEAKY_MESSAGE);
                }),
            ),
        );
        expect(response.status).toBe(500);
        expect(response.headers.get('content-type')).toBe('application/problem+json');
        expect(response.json).toMatchObject({ status: 500, correlationId: 'corr-8' });
        expect(lines.filter((line) => line.includes('"event":"http.failed"'))).toHaveLength(1);
        expect(`${response.text}\n${lines.join('\n')}`).not.toContain(PII.email);
    });
});

describe('GET /api/openapi.json when building the document fails', () => {
    it('answers 500 problem+json', async () => {
        const { context } = invocationContext('getOpenApi');
        const response = await readResponse(
            await getOpenApi(
                new HttpRequest({ method: 'GET', url: 'http://localhost/api/openapi.json' }),
                context,
                () => {
                    throw new Error(LEAKY_MESSAGE);
                },
            ),
        );
        expect(response.status).toBe(500);
        expect(response.headers.get('content-type')).toBe('application/problem+json');
        expect(response.text).not.toContain(PII.email);
    });
});

describe('which errors are a dependency outage (503) and which are not (500)', () => {
    it.each([408, 429, 449, 500, 502, 503, 504, undefined])('a Cosmos DB answer with code %p is', (code) => {
        expect(isDependencyOutage(cosmosError(code))).toBe(true);
    });

    it.each([400, 403, 404, 409, 412])('a Cosmos DB answer with code %p is not', (code) => {
        expect(isDependencyOutage(cosmosError(code))).toBe(false);
    });

    it('Service Bus errors are', () => {
        expect(isDependencyOutage(new ServiceBusError(LEAKY_MESSAGE, 'ServiceBusy'))).toBe(true);
        expect(isDependencyOutage(new MessagingError(LEAKY_MESSAGE))).toBe(true);
    });

    it('the Service Bus SDK giving up (an AggregateError of its tries) is, when every try was an outage', () => {
        const busy = () => new ServiceBusError(LEAKY_MESSAGE, 'GeneralError');
        expect(isDependencyOutage(new AggregateError([busy(), busy()]))).toBe(true);
        expect(isDependencyOutage(new AggregateError([busy(), new TypeError('a bug')]))).toBe(false);
        expect(isDependencyOutage(new AggregateError([]))).toBe(false);
    });

    it.each(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'ENOTFOUND', 'EAI_AGAIN'])(
        'a network error %s is, also as a cause',
        (code) => {
            expect(isDependencyOutage(networkError(code))).toBe(true);
            expect(isDependencyOutage(new Error('request failed', { cause: networkError(code) }))).toBe(true);
        },
    );

    it('an abort or a timeout is', () => {
        expect(isDependencyOutage(new DOMException('aborted', 'AbortError'))).toBe(true);
        expect(isDependencyOutage(Object.assign(new Error('slow'), { name: 'TimeoutError' }))).toBe(true);
    });

    it('a bug, a bad setting or a thrown non-error is not', () => {
        expect(isDependencyOutage(new TypeError('x is undefined'))).toBe(false);
        expect(isDependencyOutage(networkError('EACCES'))).toBe(false);
        expect(isDependencyOutage('ECONNREFUSED')).toBe(false);
        expect(isDependencyOutage(undefined)).toBe(false);
    });
});

async function closedLoopbackPort(): Promise<number> {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as { port: number };
    await new Promise((resolve) => server.close(resolve));
    return port;
}
