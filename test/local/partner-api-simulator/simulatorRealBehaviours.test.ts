/**
 * The simulator's opt-in behaviours of real services (issues 12, 14, 17), each through real HTTP against a simulator
 * on an ephemeral loopback port. A controllable clock (the `now` option) makes the time-based ones deterministic.
 */
import { randomUUID } from 'node:crypto';

import { type SimulatorFaults, startPartnerApiSimulator } from '../../../local/partner-api-simulator';
import { seedRequest } from '../../integration/partnerApi/helpers';
import { type Answer, type CallOptions, callSimulator, REFERRALS } from './simulatorHttp';

/** A simulator whose clock moves only when the test says so. */
async function startWithClock(faults: Partial<SimulatorFaults> = {}, pageSize?: number) {
    let clock = Date.parse('2025-03-01T12:00:00Z');
    const simulator = await startPartnerApiSimulator({ faults, pageSize, now: () => clock });
    return {
        simulator,
        advance: (ms: number) => {
            clock += ms;
        },
        call: (method: string, path: string, body?: unknown, options?: CallOptions): Promise<Answer> =>
            callSimulator(simulator.url, method, path, body, options),
    };
}

type Harness = Awaited<ReturnType<typeof startWithClock>>;

const ids = (answer: Answer): string[] => (answer.body.value as { id: string }[]).map((r) => r.id);
const filtered = (expression: string) => `${REFERRALS}?$filter=${encodeURIComponent(expression)}`;

async function waitFor(condition: () => boolean, timeoutMs = 3000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!condition()) {
        if (Date.now() > deadline) throw new Error('condition not met in time');
        await new Promise((resolve) => setTimeout(resolve, 10));
    }
}

describe('Partner API simulator: behaviours of real services', () => {
    let harness: Harness;

    afterEach(async () => {
        await harness.simulator.close();
    });

    describe('creates that commit after the client gave up (rateLateCommit, commitDelayMs)', () => {
        it('holds the POST, lets the client time out, then creates the referral anyway', async () => {
            harness = await startWithClock({ rateLateCommit: 1, commitDelayMs: 300 });
            const { simulator, call } = harness;
            await expect(call('POST', REFERRALS, seedRequest(), { timeoutMs: 50 })).rejects.toMatchObject({
                name: 'TimeoutError',
            });
            expect(simulator.admin.referrals()).toHaveLength(0);
            expect(ids(await call('GET', REFERRALS))).toEqual([]);

            await waitFor(() => simulator.admin.referrals().length === 1);
            expect(ids(await call('GET', REFERRALS))).toEqual([simulator.admin.referrals()[0]!.id]);
            expect(simulator.admin.requests()[0]).toMatchObject({ method: 'POST', fault: 'lateCommit', status: 200 });
        });

        it('answers a client that waits long enough, and a reset cancels what is still held', async () => {
            harness = await startWithClock({ rateLateCommit: 1, commitDelayMs: 100 });
            const { simulator, call } = harness;
            const patient = await call('POST', REFERRALS, seedRequest());
            expect(patient.status).toBe(200);
            expect(simulator.admin.referrals().map((r) => r.id)).toEqual([patient.body.id]);

            simulator.admin.setFaults({ commitDelayMs: 200 });
            await expect(call('POST', REFERRALS, seedRequest(), { timeoutMs: 20 })).rejects.toThrow();
            simulator.admin.reset();
            await new Promise((resolve) => setTimeout(resolve, 300));
            expect(simulator.admin.referrals()).toHaveLength(0);
        });
    });

    describe('lists that lag behind writes (listLagMs, lagGetById)', () => {
        it('shows a create in lists only listLagMs later, and the previous version of an update until then', async () => {
            harness = await startWithClock({ listLagMs: 5000 });
            const { simulator, call, advance } = harness;
            const created = (await call('POST', REFERRALS, seedRequest())).body;
            expect(ids(await call('GET', REFERRALS))).toEqual([]);
            expect(ids(await call('GET', filtered(`engagementId eq '${created.engagementId}'`)))).toEqual([]);
            expect((await call('GET', `${REFERRALS}/${created.id}`)).status).toBe(200);

            simulator.admin.setFaults({ lagGetById: true });
            expect((await call('GET', `${REFERRALS}/${created.id}`)).status).toBe(404);

            advance(5000);
            expect(ids(await call('GET', REFERRALS))).toEqual([created.id]);
            expect((await call('GET', `${REFERRALS}/${created.id}`)).body.eTag).toBe(created.eTag);

            const patch = [{ op: 'replace', path: '/details/dealValue', value: 250000 }];
            const updated = await call('PATCH', `${REFERRALS}/${created.id}`, patch, {
                headers: { prefer: 'return=representation' },
            });
            expect(updated.status).toBe(200);
            advance(4999);
            const stale = await call('GET', REFERRALS);
            expect(stale.body.value[0]).toMatchObject({ eTag: created.eTag });
            expect(stale.body.value[0].details.dealValue).not.toBe(250000);
            advance(1);
            expect((await call('GET', REFERRALS)).body.value[0]).toMatchObject({ eTag: updated.body.eTag });
        });
    });

    describe('$filter on externalReferenceId and on documented fields', () => {
        async function createOrders(call: Harness['call']) {
            const upper = (await call('POST', REFERRALS, { ...seedRequest(), externalReferenceId: 'Order-1' })).body;
            const lower = (await call('POST', REFERRALS, { ...seedRequest(), externalReferenceId: 'order-1' })).body;
            return { upper, lower };
        }

        it('compares strings exactly by default, and ignoring case with filterIgnoresCase', async () => {
            harness = await startWithClock();
            const { simulator, call } = harness;
            const { upper, lower } = await createOrders(call);
            expect(ids(await call('GET', filtered("externalReferenceId eq 'Order-1'")))).toEqual([upper.id]);
            // GUIDs and enum values bind case-insensitively whatever the setting.
            expect(
                ids(await call('GET', filtered(`status eq 'active' and engagementId eq '${lower.engagementId}'`))),
            ).toEqual([lower.id]);

            simulator.admin.setFaults({ filterIgnoresCase: true });
            expect(ids(await call('GET', filtered("externalReferenceId eq 'Order-1'")))).toEqual([upper.id, lower.id]);
        });

        it('refuses the filter with the documented error body, or ignores it and lists everything', async () => {
            harness = await startWithClock({ externalReferenceIdFilter: 'refuse' });
            const { simulator, call } = harness;
            const { upper, lower } = await createOrders(call);
            const refused = await call('GET', filtered("externalReferenceId eq 'Order-1' and type eq 'Shared'"));
            expect(refused.status).toBe(400);
            expect(refused.body).toEqual({
                error: { code: 'invalidRequest', message: expect.any(String) as string, target: '$filter' },
            });
            expect(refused.text).not.toContain('Order-1');
            expect(ids(await call('GET', filtered("type eq 'Shared'")))).toEqual([upper.id, lower.id]);

            simulator.admin.setFaults({ externalReferenceIdFilter: 'ignore' });
            expect(ids(await call('GET', filtered("externalReferenceId eq 'Order-9'")))).toEqual([upper.id, lower.id]);
            const independent = await call('POST', REFERRALS, { ...seedRequest(), type: 'Independent' });
            expect(
                ids(await call('GET', filtered("externalReferenceId eq 'Order-9' and type eq 'Independent'"))),
            ).toEqual([independent.body.id]);
        });

        it('keeps a listing on the filter mode it began with, page after page', async () => {
            harness = await startWithClock({ externalReferenceIdFilter: 'ignore' }, 2);
            const { simulator, call } = harness;
            const ours = (await call('POST', REFERRALS, { ...seedRequest(), externalReferenceId: 'Order-1' })).body;
            const others: string[] = [];
            for (let i = 0; i < 4; i++) others.push((await call('POST', REFERRALS, seedRequest())).body.id);

            const first = await call(
                'GET',
                `${filtered("externalReferenceId eq 'Order-1'")}&$orderby=createdDateTime%20desc`,
            );
            expect(ids(first)).toEqual([others[3], others[2]]);
            // The mode changes mid-listing; the rest of the listing still ignores the filter, as its first page did.
            simulator.admin.setFaults({ externalReferenceIdFilter: 'supported' });
            const seen = ids(first);
            let next = first.body['@odata.nextLink'] as string | undefined;
            while (next) {
                const page = await call('GET', next.slice(simulator.url.length));
                seen.push(...ids(page));
                next = page.body['@odata.nextLink'] as string | undefined;
            }
            expect(seen).toEqual([...others].reverse().concat(ours.id));
        });

        it('answers the documented fallback query: status/type/updatedDateTime ge, newest first, paged', async () => {
            harness = await startWithClock({}, 2);
            const { call, advance } = harness;
            const before = (await call('POST', REFERRALS, seedRequest())).body;
            advance(60_000);
            const since = new Date(Date.parse(before.createdDateTime) + 30_000).toISOString();
            const created: string[] = [];
            for (let i = 0; i < 3; i++) {
                advance(1000);
                created.push((await call('POST', REFERRALS, seedRequest())).body.id);
            }
            await call('POST', REFERRALS, { ...seedRequest(), type: 'Independent' });

            const query =
                `${filtered(`status eq 'Active' and type eq 'Shared' and updatedDateTime ge ${since}`)}` +
                '&$orderby=createdDateTime%20desc';
            const seen: string[] = [];
            let next: string | undefined = query;
            while (next) {
                const page = await call('GET', next);
                expect(page.status).toBe(200);
                expect(page.body.value.length).toBeLessThanOrEqual(2);
                seen.push(...ids(page));
                const link = page.body['@odata.nextLink'] as string | undefined;
                next = link === undefined ? undefined : link.slice(harness.simulator.url.length);
            }
            expect(seen).toEqual([...created].reverse());
            expect(ids(await call('GET', filtered(`createdDateTime lt '${since}'`)))).toEqual([before.id]);
        });
    });

    describe('MS-RequestId and MS-CorrelationId (validateRequestIds, dedupeOnRequestId)', () => {
        it('answers 400 naming the header that is not a GUID, and creates nothing', async () => {
            harness = await startWithClock({ validateRequestIds: true });
            const { simulator, call } = harness;
            const badRequestId = await call('POST', REFERRALS, seedRequest(), {
                headers: { 'ms-requestid': 'referral-key-1', 'ms-correlationid': randomUUID() },
            });
            expect(badRequestId.status).toBe(400);
            expect(badRequestId.body.error).toMatchObject({ code: 'invalidRequest', target: 'MS-RequestId' });
            expect(badRequestId.text).not.toContain('referral-key-1');
            const badCorrelation = await call('GET', REFERRALS, undefined, {
                headers: { 'ms-correlationid': 'corr-1' },
            });
            expect(badCorrelation.body.error).toMatchObject({ code: 'invalidRequest', target: 'MS-CorrelationId' });
            expect(simulator.admin.referrals()).toHaveLength(0);

            const good = await call('POST', REFERRALS, seedRequest(), {
                headers: { 'ms-requestid': randomUUID(), 'ms-correlationid': randomUUID() },
            });
            expect(good.status).toBe(200);
            expect((await call('POST', REFERRALS, seedRequest())).status).toBe(200);
        });

        it("answers a POST repeating an MS-RequestId with the first one's answer, within the window", async () => {
            harness = await startWithClock({ dedupeOnRequestId: true, dedupeWindowMs: 60_000 });
            const { simulator, call, advance } = harness;
            const requestId = randomUUID();
            const submit = await call('POST', REFERRALS, seedRequest(), { headers: { 'ms-requestid': requestId } });
            const connected = {
                ...seedRequest(),
                engagementId: submit.body.engagementId,
                target: [{ type: 'BusinessProfileLocation', id: 'msft' }],
            };
            const repeated = await call('POST', REFERRALS, connected, {
                headers: { 'ms-requestid': requestId.toUpperCase() },
            });
            expect(repeated.status).toBe(200);
            expect(repeated.body).toEqual(submit.body);
            expect(simulator.admin.referrals()).toHaveLength(1);
            expect(simulator.admin.requests()[1]).toMatchObject({ deduplicated: true, status: 200 });

            const fresh = await call('POST', REFERRALS, connected, { headers: { 'ms-requestid': randomUUID() } });
            expect(fresh.body.id).not.toBe(submit.body.id);
            advance(60_001);
            const late = await call('POST', REFERRALS, seedRequest(), { headers: { 'ms-requestid': requestId } });
            expect(late.body.id).not.toBe(submit.body.id);
            expect(simulator.admin.referrals()).toHaveLength(3);
        });
    });

    describe('409 on create and the token-bucket rate limit', () => {
        it('answers 409 conflict without creating (rateConflict)', async () => {
            harness = await startWithClock({ rateConflict: 1 });
            const conflict = await harness.call('POST', REFERRALS, seedRequest());
            expect(conflict.status).toBe(409);
            expect(conflict.body.error).toMatchObject({ code: 'conflict', target: 'referral' });
            expect(harness.simulator.admin.referrals()).toHaveLength(0);
            expect(harness.simulator.admin.requests()[0]).toMatchObject({ fault: 'conflict', status: 409 });
        });

        it('throttles per tenant with Retry-After until the next token is free', async () => {
            harness = await startWithClock({ rateLimitPerSecond: 2 });
            const { simulator, call, advance } = harness;
            const jwt = (tid: string) => `Bearer x.${Buffer.from(JSON.stringify({ tid })).toString('base64url')}.sig`;
            const get = (authorization = 'Bearer any') =>
                call('GET', REFERRALS, undefined, { headers: { authorization } });
            expect((await get()).status).toBe(200);
            expect((await get()).status).toBe(200);
            const throttled = await get();
            expect(throttled.status).toBe(429);
            expect(throttled.headers['retry-after']).toBe('1');
            expect(throttled.body.error.code).toBe('tooManyRequests');
            expect(simulator.admin.requests()[2]).toMatchObject({
                fault: 'rateLimited',
                status: 429,
                retryAfterSeconds: 1,
            });
            // Another tenant has its own bucket; tokens refill at the rate.
            expect((await get(jwt('tenant-b'))).status).toBe(200);
            advance(500);
            expect((await get()).status).toBe(200);
            expect((await get()).status).toBe(429);

            // 0.4 token after a second at 0.4/s: the next one is free in 1.5 s, answered as 2 (rounded up).
            simulator.admin.setFaults({ rateLimitPerSecond: 0.4, rateLimitBurst: 1 });
            expect((await get()).status).toBe(200);
            advance(1000);
            expect((await get()).headers['retry-after']).toBe('2');
        });

        it('lets a client that honours Retry-After use the whole limit', async () => {
            harness = await startWithClock({ rateLimitPerSecond: 5 });
            const { call, advance } = harness;
            const seconds = 20;
            let elapsedMs = 0;
            let accepted = 0;
            while (elapsedMs < seconds * 1000) {
                const answer = await call('GET', `${REFERRALS}?$top=1`);
                if (answer.status === 200) accepted++;
                else {
                    const waitMs = Number(answer.headers['retry-after']) * 1000;
                    advance(waitMs);
                    elapsedMs += waitMs;
                }
            }
            expect(accepted / (5 * seconds)).toBeGreaterThanOrEqual(0.95);
        });
    });

    describe('PATCH to the contract', () => {
        const member = { firstName: 'Jane', lastName: 'Doe', email: 'jane@contoso.example' };

        async function created(call: Harness['call']) {
            return (await call('POST', REFERRALS, seedRequest())).body as Record<string, any>;
        }
        const patchOptions = (headers: Record<string, string> = {}): CallOptions => ({
            headers: { 'content-type': 'application/json-patch+json', ...headers },
        });

        it('applies add (- appends) and replace, with a new eTag and updatedDateTime on every write', async () => {
            harness = await startWithClock();
            const { call, advance } = harness;
            const referral = await created(call);
            const path = `${REFERRALS}/${referral.id}`;
            advance(1000);
            const quiet = await call('PATCH', path, [{ op: 'add', path: '/team/-', value: member }], patchOptions());
            expect(quiet.status).toBe(204);
            expect(quiet.text).toBe('');
            const afterAdd = (await call('GET', path)).body;
            expect(afterAdd.team).toHaveLength(referral.team.length + 1);
            expect(afterAdd.team.at(-1)).toEqual(member);
            expect(afterAdd.eTag).not.toBe(referral.eTag);
            expect(afterAdd.updatedDateTime > referral.updatedDateTime).toBe(true);

            advance(1000);
            const represented = await call(
                'PATCH',
                path,
                [{ op: 'replace', path: '/details/dealValue', value: 10000 }],
                patchOptions({ prefer: 'return=representation', 'if-match': afterAdd.eTag }),
            );
            expect(represented.status).toBe(200);
            expect(represented.body.details.dealValue).toBe(10000);
            expect(represented.body.eTag).not.toBe(afterAdd.eTag);
            expect(represented.body.updatedDateTime > afterAdd.updatedDateTime).toBe(true);
            const stale = await call('PATCH', path, [{ op: 'replace', path: '/name', value: 'x' }], {
                headers: { 'if-match': afterAdd.eTag },
            });
            expect(stale.status).toBe(412);
            expect(stale.body.error.code).toBe('preconditionFailed');
        });

        it('follows the transition table with the substatus of the new status, and Closed is final', async () => {
            harness = await startWithClock();
            const { call } = harness;
            const referral = await created(call);
            const path = `${REFERRALS}/${referral.id}`;
            const status = (value: string, substatus?: string) => [
                { op: 'replace', path: '/status', value },
                ...(substatus ? [{ op: 'replace', path: '/substatus', value: substatus }] : []),
            ];
            expect((await call('PATCH', path, status('New', 'Pending'))).body.error.target).toBe('status');
            expect((await call('PATCH', path, status('Closed'))).body.error.target).toBe('substatus');
            expect((await call('PATCH', path, status('Active', 'Won'))).body.error.target).toBe('substatus');
            expect((await call('PATCH', path, status('Active', 'Accepted'))).status).toBe(204);

            const won = await call(
                'PATCH',
                path,
                status('Closed', 'Won'),
                patchOptions({ prefer: 'return=representation' }),
            );
            expect(won.status).toBe(200);
            expect(won.body).toMatchObject({
                status: 'Closed',
                substatus: 'Won',
                closedDateTime: won.body.updatedDateTime,
            });
            for (const change of [
                status('Closed', 'Lost'),
                status('Closed', 'Won'),
                [{ op: 'replace', path: '/details/dealValue', value: 1 }],
            ]) {
                const refused = await call('PATCH', path, change, { headers: { 'if-match': won.body.eTag } });
                expect(refused.status).toBe(400);
            }
            expect((await call('GET', path)).body.eTag).toBe(won.body.eTag);
        });

        it('injects PATCH faults: a lost answer after applying, a concurrent edit, 429 and 503', async () => {
            harness = await startWithClock({ methods: ['PATCH'], rateLost: 1 });
            const { simulator, call } = harness;
            const referral = await created(call);
            const path = `${REFERRALS}/${referral.id}`;
            await expect(call('PATCH', path, [{ op: 'add', path: '/team/-', value: member }])).rejects.toThrow();
            expect(simulator.admin.referrals()[0]!.team).toHaveLength(referral.team.length + 1);

            simulator.admin.setFaults({ rateLost: 0, rateConcurrentEdit: 1 });
            const before = simulator.admin.referrals()[0]!;
            const raced = await call('PATCH', path, [{ op: 'replace', path: '/details/dealValue', value: 5 }], {
                headers: { 'if-match': before.eTag },
            });
            expect(raced.status).toBe(412);
            const edited = simulator.admin.referrals()[0]!;
            expect(edited.eTag).not.toBe(before.eTag);
            expect(edited.details).toEqual(before.details);
            const unconditional = await call('PATCH', path, [{ op: 'replace', path: '/details/dealValue', value: 5 }]);
            expect(unconditional.status).toBe(204);

            simulator.admin.setFaults({ rateConcurrentEdit: 0, rate429: 1, retryAfterSeconds: 4 });
            const throttled = await call('PATCH', path, [{ op: 'replace', path: '/name', value: 'x' }]);
            expect(throttled).toMatchObject({ status: 429, headers: expect.objectContaining({ 'retry-after': '4' }) });
            simulator.admin.setFaults({ rate429: 0, rate5xx: 1, serverErrorStatuses: [503] });
            const unavailable = await call('PATCH', path, [{ op: 'replace', path: '/name', value: 'x' }]);
            expect(unavailable).toMatchObject({
                status: 503,
                headers: expect.objectContaining({ 'retry-after': '4' }),
            });
            expect(simulator.admin.referrals()[0]!.name).toBe(referral.name);
        });
    });

    it('keeps every new behaviour off by default and settable through the admin endpoint', async () => {
        harness = await startWithClock();
        const { call } = harness;
        const defaults = (await call('GET', '/_admin/faults')).body;
        expect(defaults).toMatchObject({
            rateLateCommit: 0,
            rateConflict: 0,
            rateConcurrentEdit: 0,
            listLagMs: 0,
            lagGetById: false,
            externalReferenceIdFilter: 'supported',
            filterIgnoresCase: false,
            validateRequestIds: false,
            dedupeOnRequestId: false,
            rateLimitPerSecond: 0,
        });
        const changed = await call('PUT', '/_admin/faults', { externalReferenceIdFilter: 'refuse', listLagMs: 10 });
        expect(changed.body).toMatchObject({ externalReferenceIdFilter: 'refuse', listLagMs: 10, rate429: 0 });
        for (const bad of [
            { externalReferenceIdFilter: 'sometimes' },
            { dedupeOnRequestId: 'yes' },
            { listLagMs: -1 },
        ]) {
            expect((await call('PUT', '/_admin/faults', bad)).status).toBe(400);
        }
    });
});
