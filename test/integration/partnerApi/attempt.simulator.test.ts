/**
 * The client's attempt-level behaviour on the wire, against the Partner API simulator: one deadline bounds the
 * whole attempt (calls, pages, token), creates carry their deterministic MS-RequestId, and candidate lookups work
 * whether the service honours, refuses or ignores the `externalReferenceId` filter. A small loopback proxy in front
 * of the simulator plays the less kind service.
 */
import { createServer, type Server } from 'node:http';
import { type AddressInfo } from 'node:net';

import { NO_FAULTS, type PartnerApiSimulator, startPartnerApiSimulator } from '../../../local/partner-api-simulator';
import {
    createRequestId,
    PartnerApiClient,
    type PartnerApiTokenProvider,
    StaticTokenProvider,
} from '../../../shared/partnerApi';
import { fingerprint, judgeCandidates } from '../../../shared/referral/ownership';
import { connectedReferral, context, failure, independentReferral, seedRequest } from './helpers';

type ListBehaviour = 'honour' | 'refuseExternalId' | 'ignoreFilter' | 'forbidden';

/** Forwards to the simulator, treating the list's `$filter` as a less kind service would. */
async function startProxy(target: string, behaviour: () => ListBehaviour): Promise<{ url: string; server: Server }> {
    const server = createServer((req, res) => {
        const url = new URL(req.url ?? '/', target);
        const mode = behaviour();
        const filter = url.searchParams.get('$filter') ?? '';
        const refuse = (status: number, code: string) =>
            res
                .writeHead(status, { 'content-type': 'application/json' })
                .end(JSON.stringify({ error: { code, message: 'refused by the proxy' } }));
        if (mode === 'forbidden') return refuse(403, 'accessDenied');
        if (mode === 'refuseExternalId' && filter.includes('externalReferenceId')) return refuse(400, 'invalidRequest');
        if (mode === 'ignoreFilter') url.searchParams.delete('$filter');
        void fetch(url, { headers: { authorization: 'Bearer t' } }).then(async (answer) => {
            res.writeHead(answer.status, { 'content-type': 'application/json' }).end(await answer.text());
        });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

describe('one attempt against the simulator', () => {
    let simulator: PartnerApiSimulator;
    let client: PartnerApiClient;
    let proxy: { url: string; server: Server };
    let proxied: PartnerApiClient;
    let behaviour: ListBehaviour = 'honour';

    beforeAll(async () => {
        simulator = await startPartnerApiSimulator({ pageSize: 3 });
        client = new PartnerApiClient({ baseUrl: simulator.url, tokenProvider: new StaticTokenProvider('t') });
        proxy = await startProxy(simulator.url, () => behaviour);
        proxied = new PartnerApiClient({ baseUrl: proxy.url, tokenProvider: new StaticTokenProvider('t') });
    });

    afterAll(async () => {
        await Promise.all([client.close(), proxied.close()]);
        proxy.server.closeAllConnections();
        await new Promise<void>((resolve) => proxy.server.close(() => resolve()));
        await simulator.close();
    });

    beforeEach(() => {
        behaviour = 'honour';
        simulator.admin.reset();
        simulator.admin.setFaults({ ...NO_FAULTS });
    });

    describe('deadline', () => {
        it('ends a create the API is slow to answer at the deadline, outcome unknown', async () => {
            simulator.admin.setFaults({ latencyMs: 1500 });
            const started = Date.now();
            const error = await failure(
                client.createReferral(independentReferral('slow'), { ...context('k-slow'), deadline: started + 200 }),
            );
            expect(error).toMatchObject({
                kind: 'timeout',
                code: 'deadlineExceeded',
                verdict: 'transient',
                outcomeUnknown: true,
                requestId: createRequestId('k-slow', 'submit'),
            });
            expect(Date.now() - started).toBeLessThan(1000);
        });

        it('a deadline already past sends nothing: certainly no create', async () => {
            const error = await failure(
                client.createReferral(independentReferral(), {
                    ...context('k-late'),
                    deadline: new Date(Date.now() - 1),
                }),
            );
            expect(error).toMatchObject({ code: 'deadlineExceeded', outcomeUnknown: false });
            expect(simulator.admin.requests()).toHaveLength(0);
        });

        it('bounds every page of a list, not each page on its own', async () => {
            for (let i = 0; i < 7; i++) await client.createReferral(independentReferral(`p-${i}`), context());
            simulator.admin.setFaults({ latencyMs: 120, methods: ['GET'] });
            const started = Date.now();
            const error = await failure(
                client.listAllReferrals({ filter: { type: 'Independent' } }, { ...context(), deadline: started + 300 }),
            );
            expect(error).toMatchObject({
                code: 'deadlineExceeded',
                outcomeUnknown: false,
                operation: 'listReferrals',
            });
            // Each page alone fits easily; without the deadline the same list succeeds.
            await expect(client.listAllReferrals({ filter: { type: 'Independent' } }, context())).resolves.toHaveLength(
                7,
            );
        });

        it('bounds token acquisition: a provider that hangs fails the call at the deadline, nothing sent', async () => {
            const hanging: PartnerApiTokenProvider = {
                mode: 'refresh-token',
                getToken: () => new Promise(() => undefined),
                invalidate: () => undefined,
            };
            const stuck = new PartnerApiClient({ baseUrl: simulator.url, tokenProvider: hanging });
            const started = Date.now();
            const error = await failure(
                stuck.createReferral(independentReferral(), { ...context('k-token'), deadline: started + 200 }),
            );
            expect(error).toMatchObject({ kind: 'timeout', code: 'deadlineExceeded', outcomeUnknown: false });
            expect(Date.now() - started).toBeLessThan(1000);
            expect(simulator.admin.requests()).toHaveLength(0);
            await stuck.close();
        });
    });

    describe('MS-RequestId of a create', () => {
        it('the submit and the connect of one referral send their own ids', async () => {
            const own = await client.createReferral(seedRequest(), {
                createRequestId: createRequestId('key-1', 'submit'),
                correlationId: 'c',
            });
            await client.createReferral(connectedReferral(own.engagementId), {
                createRequestId: createRequestId('key-1', 'connect'),
                correlationId: 'c',
            });
            expect(simulator.admin.requests().map((r) => r.requestId)).toEqual([
                createRequestId('key-1', 'submit'),
                createRequestId('key-1', 'connect'),
            ]);
        });

        it('refuses a createRequestId that is not a GUID', async () => {
            await expect(
                client.createReferral(independentReferral(), { correlationId: 'c', createRequestId: 'key-1' }),
            ).rejects.toThrow(TypeError);
            expect(simulator.admin.requests()).toHaveLength(0);
        });
    });

    describe('findCandidates', () => {
        async function createSeveral() {
            const since = Date.now();
            const ours = independentReferral('Order-1');
            const created = await client.createReferral(ours, context());
            await client.createReferral(independentReferral('order-1'), context());
            for (let i = 0; i < 5; i++) await client.createReferral(independentReferral(`other-${i}`), context());
            await client.createReferral(seedRequest(), context()); // Shared: another type
            return { since, ours, created };
        }

        const judge = (ours: object, candidates: Parameters<typeof judgeCandidates>[1]) =>
            judgeCandidates(
                { fingerprint: fingerprint(ours), externalReferenceId: 'Order-1', type: 'Independent' },
                candidates,
            );

        it('uses the externalReferenceId filter where the service honours it', async () => {
            const { since, ours, created } = await createSeveral();
            const found = await proxied.findCandidates(
                { externalReferenceId: 'Order-1', type: 'Independent', since },
                context(),
            );
            expect(found.strategy).toBe('filter');
            expect(judge(ours, found.candidates)).toEqual({ verdict: 'ours', referral: created });
            const filter = new URL(simulator.admin.requests().at(-1)!.path, simulator.url).searchParams;
            expect(filter.get('$filter')).toBe("externalReferenceId eq 'Order-1' and type eq 'Independent'");
            expect(filter.get('$orderby')).toBe('createdDateTime desc');
        });

        it('falls back to the documented newest-first query when the filter is refused, following nextLinks', async () => {
            const { since, ours, created } = await createSeveral();
            behaviour = 'refuseExternalId';
            const found = await proxied.findCandidates(
                { externalReferenceId: 'Order-1', type: 'Independent', since },
                context(),
            );
            expect(found.strategy).toBe('recent');
            // Every Independent referral of the window (the seven made above), over three pages of three.
            const independent = simulator.admin.referrals().filter((r) => r.type === 'Independent');
            expect(independent.length).toBeGreaterThanOrEqual(7);
            expect(found.candidates.map((c) => c.id).sort()).toEqual(independent.map((r) => r.id).sort());
            expect(judge(ours, found.candidates)).toEqual({ verdict: 'ours', referral: created });
        });

        it('a service that ignores the filter returns strangers: only ours is judged ours', async () => {
            const { since, ours, created } = await createSeveral();
            behaviour = 'ignoreFilter';
            const found = await proxied.findCandidates(
                { externalReferenceId: 'Order-1', type: 'Independent', since },
                context(),
            );
            expect(found.candidates.length).toBeGreaterThan(1);
            expect(judge(ours, found.candidates)).toEqual({ verdict: 'ours', referral: created });
        });

        it('stops at the window: referrals older than since (less the clock skew) are not read', async () => {
            for (let i = 0; i < 6; i++) await client.createReferral(independentReferral(`old-${i}`), context());
            await new Promise((resolve) => setTimeout(resolve, 20));
            const since = Date.now();
            const newest = await client.createReferral(independentReferral('new-1'), context());
            behaviour = 'refuseExternalId';
            const found = await proxied.findCandidates(
                { externalReferenceId: 'new-1', type: 'Independent', since, clockSkewMs: 0 },
                context(),
            );
            expect(found).toEqual({ strategy: 'recent', candidates: [newest] });
            // The first page (three, newest first) already reached referrals older than the window: no second page.
            const lists = simulator.admin.requests().filter((r) => r.method === 'GET');
            expect(lists).toHaveLength(1);
        });

        it('a window not read to its end within maxPages is a transient error, never "not there"', async () => {
            for (let i = 0; i < 7; i++) await client.createReferral(independentReferral(`w-${i}`), context());
            behaviour = 'refuseExternalId';
            const error = await failure(
                proxied.findCandidates(
                    { externalReferenceId: 'w-0', type: 'Independent', since: 0, maxPages: 2 },
                    context(),
                ),
            );
            expect(error).toMatchObject({ verdict: 'transient', code: 'lookupIncomplete' });
        });

        it('finds the connected referral by engagement', async () => {
            const since = Date.now();
            const own = await client.createReferral(seedRequest(), context());
            const connected = await client.createReferral(connectedReferral(own.engagementId), context());
            const found = await proxied.findCandidates({ engagementId: own.engagementId, since }, context());
            expect(found.strategy).toBe('filter');
            expect(found.candidates.map((r) => r.id).sort()).toEqual([own.id, connected.id].sort());
        });

        it('any lookup failure is transient, even a 403', async () => {
            behaviour = 'forbidden';
            const error = await failure(
                proxied.findCandidates({ externalReferenceId: 'x', type: 'Independent', since: Date.now() }, context()),
            );
            expect(error).toMatchObject({ status: 403, verdict: 'transient', code: 'accessDenied' });
        });
    });
});

describe('a 409 on create', () => {
    it('is transient, with outcome unknown and conflict set: the step looks up rather than Rejecting', async () => {
        const server = createServer((req, res) => {
            req.resume();
            res.writeHead(409, { 'content-type': 'application/json' }).end(
                JSON.stringify({ error: { code: 'conflict', message: 'A referral with this id exists.' } }),
            );
        });
        await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
        const client = new PartnerApiClient({
            baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
            tokenProvider: new StaticTokenProvider('t'),
        });
        try {
            const error = await failure(client.createReferral(independentReferral(), context('k-409')));
            expect(error).toMatchObject({ status: 409, verdict: 'transient', outcomeUnknown: true, conflict: true });
            const listed = await failure(client.listReferrals({}, context()));
            expect(listed).toMatchObject({ status: 409, verdict: 'permanent', conflict: false });
        } finally {
            await client.close();
            server.closeAllConnections();
            await new Promise<void>((resolve) => server.close(() => resolve()));
        }
    });
});
