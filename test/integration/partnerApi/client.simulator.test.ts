import { randomUUID } from 'node:crypto';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import { type AddressInfo } from 'node:net';

import { NO_FAULTS, type PartnerApiSimulator, startPartnerApiSimulator } from '../../../local/partner-api-simulator';
import {
    createRequestId,
    isGuid,
    PartnerApiClient,
    type PartnerApiTokenProvider,
    partnerCorrelationId,
    StaticTokenProvider,
    TokenAcquisitionError,
} from '../../../shared/partnerApi';
import { connectedReferral, context, failure, independentReferral, seedRequest } from './helpers';

describe('PartnerApiClient against the Partner API simulator', () => {
    let simulator: PartnerApiSimulator;
    let client: PartnerApiClient;

    beforeAll(async () => {
        simulator = await startPartnerApiSimulator({ pageSize: 3 });
    });

    afterAll(async () => {
        await simulator.close();
    });

    // A client (and so a gate) per test: a 429 in one test pauses its own client's calls, not the next test's.
    beforeEach(() => {
        simulator.admin.reset();
        simulator.admin.setFaults({ ...NO_FAULTS });
        client = new PartnerApiClient({
            baseUrl: simulator.url,
            tokenProvider: new StaticTokenProvider('local-dev-token'),
            timeoutMs: 500,
        });
    });

    afterEach(async () => {
        await client.close();
    });

    it('creates an Independent referral', async () => {
        const created = await client.createReferral(independentReferral('crm-1'), context());
        expect(created).toMatchObject({
            type: 'Independent',
            status: 'Active',
            substatus: 'Accepted',
            externalReferenceId: 'crm-1',
        });
        expect(created.id).toMatch(/^[0-9a-f-]{36}$/);
        expect(created.engagementId).toMatch(/^[0-9a-f-]{36}$/);
        await expect(client.getReferral(created.id, context())).resolves.toMatchObject({
            id: created.id,
            eTag: created.eTag,
        });
    });

    it('creates a Shared referral and its connected Microsoft referral in the same engagement', async () => {
        const own = await client.createReferral(seedRequest(), context());
        expect(own.type).toBe('Shared');
        const connected = await client.createReferral(connectedReferral(own.engagementId), context());
        expect(connected.engagementId).toBe(own.engagementId);
        expect(connected.id).not.toBe(own.id);
        await client.createReferral(independentReferral(), context()); // another engagement, not listed below

        const related = await client.listAllReferrals({ filter: { engagementId: own.engagementId } }, context());
        expect(related.map((r) => r.id).sort()).toEqual([own.id, connected.id].sort());
        const listed = new URL(simulator.admin.requests().at(-1)!.path, simulator.url);
        expect(listed.searchParams.get('$filter')).toBe(`engagementId eq '${own.engagementId}'`);
    });

    it('rejects a connected referral whose engagement does not exist, permanently and without echoing the body', async () => {
        const body = connectedReferral('0ee9d55d-0000-4000-8000-000000000000');
        const error = await failure(client.createReferral(body, context()));
        expect(error).toMatchObject({
            kind: 'http',
            status: 400,
            verdict: 'permanent',
            code: 'invalidRequest',
            target: 'engagementId',
        });
        expect(error.transient).toBe(false);
        expect(error.message).not.toMatch(/Contoso|sue\.smith|Redmond|1234567890/);
    });

    it('filters on externalReferenceId, status and type together', async () => {
        const wanted = await client.createReferral(independentReferral('crm-wanted'), context());
        await client.createReferral(independentReferral('crm-other'), context());
        const page = await client.listReferrals(
            { filter: { externalReferenceId: 'crm-wanted', status: 'Active', type: 'Independent' } },
            context(),
        );
        expect(page.value.map((r) => r.id)).toEqual([wanted.id]);
        const none = await client.listReferrals({ filter: { externalReferenceId: "it's-not-there" } }, context());
        expect(none.value).toEqual([]);
    });

    it('follows @odata.nextLink across pages', async () => {
        const ids: string[] = [];
        for (let i = 0; i < 7; i++)
            ids.push((await client.createReferral(independentReferral(`page-${i}`), context())).id);
        const first = await client.listReferrals({ filter: { type: 'Independent' } }, context());
        expect(first.value).toHaveLength(3);
        expect(first.nextLink).toBeDefined();
        const second = await client.listReferralsNextPage(first.nextLink!, context());
        expect(second.value).toHaveLength(3);
        const all = await client.listAllReferrals(
            { filter: { type: 'Independent' }, orderBy: 'createdDateTime asc' },
            context(),
        );
        expect(all.map((r) => r.id)).toEqual(ids);
        const lastTwo = await client.listAllReferrals({ orderBy: 'createdDateTime desc', top: 2 }, context());
        expect(lastTwo.map((r) => r.id)).toEqual([ids[6], ids[5]]);
    });

    it('answers a missing referral as a permanent itemNotFound', async () => {
        const error = await failure(client.getReferral('00000000-0000-4000-8000-000000000000', context()));
        expect(error).toMatchObject({ status: 404, code: 'itemNotFound', verdict: 'permanent' });
    });

    describe('patchReferral', () => {
        const closeWon = [
            { op: 'replace', path: '/status', value: 'Closed' },
            { op: 'replace', path: '/substatus', value: 'Won' },
        ];

        it('PATCHes with If-Match and Prefer: return=representation, a fresh MS-RequestId per call', async () => {
            const created = await client.createReferral(independentReferral(), context());
            const first = await client.patchReferral(
                created.id,
                [{ op: 'replace', path: '/details/dealValue', value: 1234 }],
                created.eTag!,
                context(),
            );
            expect(first).toMatchObject({ id: created.id, details: { dealValue: 1234 } });
            expect(first!.eTag).not.toBe(created.eTag);
            const second = await client.patchReferral(created.id, closeWon, first!.eTag!, context());
            expect(second).toMatchObject({ status: 'Closed', substatus: 'Won' });
            const patches = simulator.admin.requests().filter((request) => request.method === 'PATCH');
            expect(patches.map((request) => request.status)).toEqual([200, 200]);
            const [a, b] = patches.map((request) => request.requestId);
            expect(isGuid(a!) && isGuid(b!) && a !== b).toBe(true);
        });

        it('a stale eTag is a 412 preconditionFailed; a change after Closed a permanent 400', async () => {
            const created = await client.createReferral(independentReferral(), context());
            const closed = await client.patchReferral(created.id, closeWon, created.eTag!, context());
            const stale = await failure(client.patchReferral(created.id, closeWon, created.eTag!, context()));
            expect(stale).toMatchObject({ status: 412, code: 'preconditionFailed', operation: 'patchReferral' });
            const final = await failure(client.patchReferral(created.id, closeWon, closed!.eTag!, context()));
            expect(final).toMatchObject({ status: 400, verdict: 'permanent' });
        });

        it('a lost PATCH answer is transient with its outcome unknown, and the patch was applied', async () => {
            const created = await client.createReferral(independentReferral(), context());
            simulator.admin.setFaults({ rateLost: 1, methods: ['PATCH'] });
            const error = await failure(client.patchReferral(created.id, closeWon, created.eTag!, context()));
            expect(error).toMatchObject({ verdict: 'transient', outcomeUnknown: true, operation: 'patchReferral' });
            await expect(client.getReferral(created.id, context())).resolves.toMatchObject({ status: 'Closed' });
        });
    });

    describe('faults', () => {
        it('429 is transient and carries Retry-After in milliseconds; the attempt is logged per MS-RequestId', async () => {
            simulator.admin.setFaults({ rate429: 1, retryAfterSeconds: 7 });
            const ctx = context('referral-key-429');
            const error = await failure(client.createReferral(independentReferral(), ctx));
            expect(error).toMatchObject({ status: 429, verdict: 'transient', retryAfterMs: 7000, kind: 'http' });
            const attempts = simulator.admin
                .requests()
                .filter((r) => r.requestId === createRequestId('referral-key-429', 'submit'));
            expect(attempts).toEqual([
                expect.objectContaining({
                    method: 'POST',
                    fault: 'throttled',
                    status: 429,
                    correlationId: ctx.correlationId,
                }),
            ]);
            expect(typeof attempts[0]!.at).toBe('number');
            expect(simulator.admin.referrals()).toHaveLength(0);
        });

        it('500 is transient without Retry-After; 503 is transient with it', async () => {
            simulator.admin.setFaults({ rate5xx: 1, serverErrorStatuses: [500], retryAfterSeconds: 3 });
            const serverError = await failure(client.createReferral(independentReferral(), context()));
            expect(serverError).toMatchObject({ status: 500, verdict: 'transient', code: 'generalException' });
            expect(serverError.retryAfterMs).toBeUndefined();

            simulator.admin.setFaults({ serverErrorStatuses: [503] });
            const unavailable = await failure(client.createReferral(independentReferral(), context()));
            expect(unavailable).toMatchObject({
                status: 503,
                verdict: 'transient',
                code: 'serviceNotAvailable',
                retryAfterMs: 3000,
            });
        });

        it('a hung request ends at the client timeout as a transient timeout whose outcome is unknown', async () => {
            simulator.admin.setFaults({ rateHang: 1 });
            const error = await failure(client.createReferral(independentReferral(), context()));
            expect(error).toMatchObject({
                kind: 'timeout',
                verdict: 'transient',
                code: 'timeout',
                outcomeUnknown: true,
            });
            expect(error.status).toBeUndefined();
        });

        it('a lost answer is a transient network error, and the referral exists all the same', async () => {
            simulator.admin.setFaults({ rateLost: 1 });
            const error = await failure(client.createReferral(independentReferral('crm-lost'), context('key-lost')));
            expect(error).toMatchObject({ kind: 'network', verdict: 'transient', outcomeUnknown: true });
            expect(simulator.admin.referrals().map((r) => r.externalReferenceId)).toEqual(['crm-lost']);
            expect(simulator.admin.requests()[0]).toMatchObject({
                requestId: createRequestId('key-lost', 'submit'),
                fault: 'lost',
                status: 200,
            });

            // The crash-window lookup finds it (GET is outside the default fault scope).
            const found = await client.listReferrals({ filter: { externalReferenceId: 'crm-lost' } }, context());
            expect(found.value).toHaveLength(1);
        });

        it('faults can be scoped to GET as well', async () => {
            simulator.admin.setFaults({ rate429: 1, methods: ['GET'] });
            await client.createReferral(independentReferral(), context()); // POST is now out of scope
            const error = await failure(client.listReferrals({}, context()));
            expect(error.status).toBe(429);
        });

        it('added latency delays but does not fail a call', async () => {
            simulator.admin.setFaults({ latencyMs: 50 });
            await expect(client.createReferral(independentReferral(), context())).resolves.toHaveProperty('id');
            expect(simulator.admin.requests()[0]).toMatchObject({ latencyMs: 50, fault: 'none', status: 200 });
        });
    });

    it('a refused connection is transient and certainly not a create', async () => {
        const closed = await startPartnerApiSimulator();
        const url = closed.url;
        await closed.close();
        const offline = new PartnerApiClient({
            baseUrl: url,
            tokenProvider: new StaticTokenProvider('t'),
            timeoutMs: 500,
        });
        const error = await failure(offline.createReferral(independentReferral(), context()));
        expect(error).toMatchObject({
            kind: 'network',
            verdict: 'transient',
            outcomeUnknown: false,
            code: 'ECONNREFUSED',
        });
        await offline.close();
    });
});

describe('PartnerApiClient authentication', () => {
    class RotatingTokens implements PartnerApiTokenProvider {
        readonly mode = 'static' as const;
        invalidations = 0;
        constructor(private readonly tokens: string[]) {}
        getToken(): Promise<string> {
            return Promise.resolve(this.tokens[Math.min(this.invalidations, this.tokens.length - 1)]!);
        }
        invalidate(): void {
            this.invalidations += 1;
        }
    }

    let simulator: PartnerApiSimulator;

    beforeAll(async () => {
        simulator = await startPartnerApiSimulator({ acceptToken: (token) => token.startsWith('good') });
    });

    afterAll(async () => {
        await simulator.close();
    });

    beforeEach(() => simulator.admin.reset());

    it('after a 401 drops the token and retries once with a fresh one', async () => {
        const tokens = new RotatingTokens(['expired', 'good-1']);
        const client = new PartnerApiClient({ baseUrl: simulator.url, tokenProvider: tokens });
        await expect(client.createReferral(independentReferral(), context('key-401'))).resolves.toHaveProperty('id');
        expect(tokens.invalidations).toBe(1);
        expect(simulator.admin.requests().map((r) => r.status)).toEqual([401, 200]);
        await client.close();
    });

    it('a second 401 is permanent', async () => {
        const tokens = new RotatingTokens(['expired', 'still-bad']);
        const client = new PartnerApiClient({ baseUrl: simulator.url, tokenProvider: tokens });
        const error = await failure(client.createReferral(independentReferral(), context()));
        expect(error).toMatchObject({ status: 401, verdict: 'permanent', code: 'unauthenticated' });
        expect(simulator.admin.requests()).toHaveLength(2);
        await client.close();
    });

    it('a token provider failure becomes a PartnerApiError with the operator action', async () => {
        const failing: PartnerApiTokenProvider = {
            mode: 'refresh-token',
            getToken: () =>
                Promise.reject(new TokenAcquisitionError('mfa-required', 'Run the consent again with MFA.', false)),
            invalidate: () => undefined,
        };
        const client = new PartnerApiClient({ baseUrl: simulator.url, tokenProvider: failing });
        const error = await failure(client.createReferral(independentReferral(), context()));
        expect(error).toMatchObject({ kind: 'auth', verdict: 'permanent', code: 'mfa-required' });
        expect(error.message).toContain('Run the consent again with MFA.');
        expect(simulator.admin.requests()).toHaveLength(0);
        await client.close();
    });
});

describe('PartnerApiClient request headers', () => {
    it('sends Authorization, Accept, Content-Type, MS-RequestId and MS-CorrelationId', async () => {
        const seen: { method?: string; headers: IncomingHttpHeaders; clientPort?: number }[] = [];
        const server = createServer((req, res) => {
            seen.push({ method: req.method, headers: req.headers, clientPort: req.socket.remotePort });
            req.resume();
            req.on('end', () => {
                res.writeHead(200, { 'content-type': 'application/json' }).end(
                    JSON.stringify({ id: 'r-1', engagementId: 'e-1', value: [] }),
                );
            });
        });
        await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
        const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
        const client = new PartnerApiClient({ baseUrl: url, tokenProvider: new StaticTokenProvider('header-token') });
        try {
            const correlationId = randomUUID();
            const submitId = createRequestId('referral-key', 'submit');
            await client.createReferral(independentReferral(), { correlationId, createRequestId: submitId });
            await client.getReferral('r-1', { correlationId: 'corr-2' });
            await client.getReferral('r-1', { correlationId: 'corr-2' });
            await client.getReferral('r-1', { correlationId });
            expect(seen[0]).toMatchObject({
                method: 'POST',
                headers: expect.objectContaining({
                    authorization: 'Bearer header-token',
                    accept: 'application/json',
                    'content-type': 'application/json',
                    'ms-requestid': submitId,
                    'ms-correlationid': correlationId,
                }) as unknown,
            });
            expect(seen[1]!.headers).toMatchObject({
                authorization: 'Bearer header-token',
                'ms-correlationid': partnerCorrelationId('corr-2'),
            });
            // Both are GUIDs, as documented: a non-GUID correlation id is mapped (stably), every GET gets a new id.
            const requestIds = seen.map((s) => s.headers['ms-requestid'] as string);
            const correlationIds = seen.map((s) => s.headers['ms-correlationid'] as string);
            expect([...requestIds, ...correlationIds].every(isGuid)).toBe(true);
            expect(new Set(requestIds).size).toBe(4);
            expect(correlationIds).toEqual([correlationId, correlationIds[1], correlationIds[1], correlationId]);
            // Keep-alive: connections are reused (undici may open a second one right after a POST).
            expect(new Set(seen.map((s) => s.clientPort)).size).toBeLessThan(seen.length);
        } finally {
            await client.close();
            server.closeAllConnections();
            await new Promise<void>((resolve) => server.close(() => resolve()));
        }
    });
});
