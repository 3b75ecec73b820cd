import { request } from 'undici';

import { type PartnerApiSimulator, startPartnerApiSimulator } from '../../../local/partner-api-simulator';
import { seedRequest, seedResponse } from '../../integration/partnerApi/helpers';
import { waitFor } from '../../support/waitFor';
import { type Answer, callSimulator, REFERRALS } from './simulatorHttp';

/** A value that must never come back in an error body. */
const SECRET = 'ZZ-do-not-echo-4711';

describe('Partner API simulator', () => {
    let simulator: PartnerApiSimulator;

    async function call(
        method: string,
        path: string,
        body?: unknown,
        headers: Record<string, string> = {},
    ): Promise<Answer> {
        return callSimulator(simulator.url, method, path, body, { headers });
    }

    beforeAll(async () => {
        simulator = await startPartnerApiSimulator();
    });

    afterAll(async () => {
        await simulator.close();
    });

    beforeEach(() => simulator.admin.reset());

    it("accepts the seed's request and answers in the seed's response shape", async () => {
        const { status, body } = await call('POST', REFERRALS, seedRequest());
        expect(status).toBe(200);
        const seed = seedResponse();
        for (const [key, value] of Object.entries(seed)) {
            expect(body).toHaveProperty(key);
            if (value !== null) expect(typeof body[key]).toBe(typeof value);
        }
        for (const block of [
            'name',
            'statusReason',
            'qualification',
            'type',
            'target',
            'customerProfile',
            'consent',
            'team',
            'inviteContext',
        ]) {
            expect(body[block]).toEqual(seed[block]);
        }
        expect(body.details).toMatchObject(seed.details as object);
        expect(body).toMatchObject({
            status: 'Active',
            substatus: 'Accepted',
            direction: 'Outgoing',
            externalReferenceId: null,
        });
        expect(body.eTag).toMatch(/^"[0-9a-f-]+"$/);
        expect(body.createdDateTime).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}Z$/);
        expect(body.acceptedDateTime).toBe(body.createdDateTime);
        expect(body.links.self.uri).toBe(`${simulator.url}${REFERRALS}/${body.id}`);
        expect(body.links.relatedReferrals.uri).toBe(
            `${simulator.url}${REFERRALS}?$filter=engagementId eq '${body.engagementId}'`,
        );
        expect(Object.keys(body).slice(0, 4)).toEqual(['id', 'engagementId', 'organizationId', 'organizationName']);
    });

    it.each(['type', 'customerProfile', 'consent', 'details'])('rejects a referral without %s', async (block) => {
        const referral = seedRequest();
        delete referral[block];
        const { status, body } = await call('POST', REFERRALS, referral);
        expect(status).toBe(400);
        expect(body).toEqual({
            error: { code: 'invalidRequest', message: expect.any(String) as string, target: block },
        });
        expect(simulator.admin.referrals()).toHaveLength(0);
    });

    const badEnums: [string, (r: any) => void][] = [
        ['type', (r) => (r.type = SECRET)],
        ['status', (r) => (r.status = SECRET)],
        ['substatus', (r) => (r.substatus = SECRET)],
        ['qualification', (r) => (r.qualification = SECRET)],
        ['target[0].type', (r) => (r.target[0].type = SECRET)],
        ['customerProfile.size', (r) => (r.customerProfile.size = SECRET)],
        ['customerProfile.ids[0].profileType', (r) => (r.customerProfile.ids = [{ profileType: SECRET, id: '1' }])],
        ['details.requirements.solutions[0].type', (r) => (r.details.requirements.solutions[0].type = SECRET)],
        ['inviteContext.assistanceRequestCode', (r) => (r.inviteContext.assistanceRequestCode = SECRET)],
        ['consent.consentToContact', (r) => (r.consent.consentToContact = SECRET)],
    ];

    it.each(badEnums)('rejects a bad %s with the documented error body, without echoing it', async (target, spoil) => {
        const referral = seedRequest();
        spoil(referral);
        const { status, body, text } = await call('POST', REFERRALS, referral);
        expect(status).toBe(400);
        expect(body).toEqual({ error: { code: 'invalidRequest', message: expect.any(String) as string, target } });
        expect(text).not.toContain(SECRET);
        expect(text).not.toMatch(/Contoso|sue\.smith/);
    });

    it('rejects a status/substatus pair the transition table does not allow', async () => {
        const { status, body } = await call('POST', REFERRALS, { ...seedRequest(), status: 'New', substatus: 'Won' });
        expect(status).toBe(400);
        expect(body.error.target).toBe('substatus');
    });

    it('reads property names case-insensitively and answers in camelCase', async () => {
        const { status, body } = await call('POST', REFERRALS, {
            ...seedRequest(),
            consent: {
                ConsentToToShareInfoWithOthers: true,
                ConsentToContact: true,
                consentToShareReferralWithMicrosoftSellers: true,
                ConsentToMicrosoftToContactSpecificPartners: false,
            },
            ExternalReferenceID: 'crm-7',
            type: 'independent',
        });
        expect(status).toBe(200);
        expect(body.consent).toEqual({
            consentToToShareInfoWithOthers: true,
            consentToContact: true,
            consentToShareReferralWithMicrosoftSellers: true,
            consentToMicrosoftToContactSpecificPartners: false,
        });
        expect(body.externalReferenceId).toBe('crm-7');
        expect(body.type).toBe('Independent');
    });

    it('lists with $filter (quoted or unquoted GUIDs, and), $orderby, $top and $skip', async () => {
        const first = (await call('POST', REFERRALS, { ...seedRequest(), externalReferenceId: 'a' })).body;
        const second = (
            await call('POST', REFERRALS, { ...seedRequest(), type: 'Independent', externalReferenceId: 'b' })
        ).body;
        const connected = (
            await call('POST', REFERRALS, {
                ...seedRequest(),
                engagementId: first.engagementId,
                target: [{ type: 'BusinessProfileLocation', id: 'msft' }],
            })
        ).body;
        const list = async (query: string) => (await call('GET', `${REFERRALS}?${query}`)).body;
        const ids = (page: any) => page.value.map((r: { id: string }) => r.id);

        expect(
            ids(await list(`$filter=${encodeURIComponent(`engagementId eq ${first.engagementId.toUpperCase()}`)}`)),
        ).toEqual([first.id, connected.id]);
        const both = encodeURIComponent(
            `(type eq 'Shared' and substatus eq 'Accepted') and externalReferenceId eq 'a'`,
        );
        expect(ids(await list(`$filter=${both}`))).toEqual([first.id]);
        expect(
            ids(await list(`$filter=${encodeURIComponent("status eq 'Active' and type eq 'Independent'")}`)),
        ).toEqual([second.id]);
        expect(ids(await list('$orderby=createdDateTime%20desc'))).toEqual([connected.id, second.id, first.id]);
        const page = await list('$top=1&$skip=1');
        expect(ids(page)).toEqual([second.id]);
        expect(page['@odata.count']).toBe(3);
        expect(page['@odata.nextLink']).toBeUndefined();

        const unsupported = await call(
            'GET',
            `${REFERRALS}?$filter=${encodeURIComponent("team/any(t:t/email eq 'x')")}`,
        );
        expect(unsupported.status).toBe(400);
        expect(unsupported.body.error).toMatchObject({ code: 'invalidRequest', target: '$filter' });
    });

    it('pages by 100 at most with @odata.nextLink', async () => {
        for (let i = 0; i < 101; i++) await call('POST', REFERRALS, { ...seedRequest(), type: 'Independent' });
        const first = (await call('GET', REFERRALS)).body;
        expect(first.value).toHaveLength(100);
        const next = new URL(first['@odata.nextLink'] as string);
        const second = (await call('GET', next.pathname + next.search)).body;
        expect(second.value).toHaveLength(1);
        expect(second['@odata.nextLink']).toBeUndefined();
    });

    describe('PUT and PATCH', () => {
        async function created() {
            return (await call('POST', REFERRALS, seedRequest())).body as Record<string, any>;
        }
        function withoutLinks(referral: Record<string, unknown>) {
            const copy = { ...referral };
            delete copy.links;
            return copy;
        }

        it('PUT needs If-Match, answers 412 on a stale eTag, rejects links', async () => {
            const referral = await created();
            const path = `${REFERRALS}/${referral.id}`;
            expect((await call('PUT', path, withoutLinks(referral))).status).toBe(400);
            const stale = await call('PUT', path, withoutLinks(referral), { 'if-match': '"stale"' });
            expect(stale.status).toBe(412);
            expect(stale.body.error.code).toBe('preconditionFailed');
            const withLinks = await call('PUT', path, referral, { 'if-match': referral.eTag });
            expect(withLinks.status).toBe(400);
            expect(withLinks.body.error.target).toBe('links');

            const updated = await call(
                'PUT',
                path,
                { ...withoutLinks(referral), statusReason: 'Budget approved' },
                { 'if-match': referral.eTag },
            );
            expect(updated.status).toBe(200);
            expect(updated.body.statusReason).toBe('Budget approved');
            expect(updated.body.eTag).not.toBe(referral.eTag);
            expect(updated.body.id).toBe(referral.id);
        });

        it('PUT follows the status transition table and keeps Closed terminal', async () => {
            const referral = await created();
            const path = `${REFERRALS}/${referral.id}`;
            const back = await call(
                'PUT',
                path,
                { ...withoutLinks(referral), status: 'New', substatus: 'Pending' },
                { 'if-match': referral.eTag },
            );
            expect(back.status).toBe(400);
            expect(back.body.error.target).toBe('status');
            const won = await call(
                'PUT',
                path,
                { ...withoutLinks(referral), status: 'Closed', substatus: 'Won' },
                { 'if-match': referral.eTag },
            );
            expect(won.status).toBe(200);
            const again = await call(
                'PUT',
                path,
                { ...withoutLinks(won.body), substatus: 'Lost' },
                { 'if-match': won.body.eTag },
            );
            expect(again.status).toBe(400);
        });

        it('PATCH applies add/replace, answers 204 or the representation, and honours If-Match', async () => {
            const referral = await created();
            const path = `${REFERRALS}/${referral.id}`;
            const patched = await call('PATCH', path, [{ op: 'replace', path: '/details/dealValue', value: 10000 }]);
            expect(patched.status).toBe(204);
            const represented = await call(
                'PATCH',
                path,
                [
                    {
                        op: 'add',
                        path: '/team/-',
                        value: { firstName: 'Jane', lastName: 'Doe', email: 'jane@contoso.example' },
                    },
                ],
                { prefer: 'return=representation' },
            );
            expect(represented.status).toBe(200);
            expect(represented.body.details.dealValue).toBe(10000);
            expect(represented.body.team).toHaveLength(2);
            const removal = await call('PATCH', path, [{ op: 'remove', path: '/team/0' }]);
            expect(removal.status).toBe(400);
            const stale = await call('PATCH', path, [{ op: 'replace', path: '/name', value: 'x' }], {
                'if-match': referral.eTag,
            });
            expect(stale.status).toBe(412);
            const readOnly = await call('PATCH', path, [{ op: 'replace', path: '/engagementId', value: 'x' }]);
            expect(readOnly.status).toBe(400);
        });
    });

    describe('authentication', () => {
        it('answers 401 without a bearer token, with the documented error body', async () => {
            const response = await request(simulator.url + REFERRALS);
            expect(response.statusCode).toBe(401);
            expect(await response.body.json()).toEqual({
                error: { code: 'unauthenticated', message: expect.any(String) as string, target: 'Authorization' },
            });
            expect((await call('GET', REFERRALS, undefined, { authorization: 'Bearer ' })).status).toBe(401);
        });

        it('with acceptMissingToken lets requests without Authorization through (PARTNER_API_AUTH=none)', async () => {
            const open = await startPartnerApiSimulator({ acceptMissingToken: true });
            try {
                expect((await request(`${open.url}${REFERRALS}`)).statusCode).toBe(200);
                const malformed = await request(`${open.url}${REFERRALS}`, { headers: { authorization: 'Basic abc' } });
                expect(malformed.statusCode).toBe(401);
                await malformed.body.dump();
            } finally {
                await open.close();
            }
        });
    });

    describe('admin endpoint', () => {
        it('sets faults, lists referrals and requests (no bodies), and resets', async () => {
            const put = await call('PUT', '/_admin/faults', { rate429: 1, retryAfterSeconds: 9 });
            expect(put.body).toMatchObject({ rate429: 1, retryAfterSeconds: 9, methods: ['POST'] });
            const throttled = await call('POST', REFERRALS, seedRequest(), {
                'ms-requestid': 'key-1',
                'ms-correlationid': 'corr-1',
            });
            expect(throttled.status).toBe(429);
            expect(throttled.headers['retry-after']).toBe('9');
            expect(throttled.body.error.code).toBeDefined();
            await call('PUT', '/_admin/faults', { rate429: 0 });
            await call('POST', REFERRALS, seedRequest(), { 'ms-requestid': 'key-1', 'ms-correlationid': 'corr-2' });

            const requests = (await call('GET', '/_admin/requests')).body.value;
            expect(requests).toEqual([
                expect.objectContaining({
                    method: 'POST',
                    path: REFERRALS,
                    requestId: 'key-1',
                    correlationId: 'corr-1',
                    fault: 'throttled',
                    status: 429,
                    retryAfterSeconds: 9,
                }),
                expect.objectContaining({ requestId: 'key-1', correlationId: 'corr-2', fault: 'none', status: 200 }),
            ]);
            expect(requests[1]).not.toHaveProperty('retryAfterSeconds');
            expect(JSON.stringify(requests)).not.toMatch(/Contoso|any-token/);
            expect((await call('GET', '/_admin/referrals')).body.value).toHaveLength(1);
            expect((await call('GET', '/_admin/referrals/count')).body).toEqual({ count: 1 });
            expect((await call('PUT', '/_admin/faults', { rate429: 2 })).status).toBe(400);

            expect((await call('POST', '/_admin/reset')).status).toBe(204);
            expect((await call('GET', '/_admin/referrals')).body.value).toEqual([]);
            expect((await call('GET', '/_admin/requests')).body.value).toEqual([]);
            expect((await call('GET', '/_admin/referrals/count')).body).toEqual({ count: 0 });
        });

        it('replays the same faults for the same seed', async () => {
            const run = async () => {
                simulator.admin.reset();
                simulator.admin.setFaults({ rate429: 0.3, rate5xx: 0.3, rateLost: 0, seed: 42 });
                const statuses: number[] = [];
                for (let i = 0; i < 12; i++) statuses.push((await call('POST', REFERRALS, seedRequest())).status);
                return statuses;
            };
            const first = await run();
            expect(await run()).toEqual(first);
            expect(new Set(first).size).toBeGreaterThan(1);
            simulator.admin.setFaults({ rate429: 0, rate5xx: 0 });
        });
    });

    it('closes promptly while a request hangs', async () => {
        const hanging = await startPartnerApiSimulator({ faults: { rateHang: 1 } });
        const pending = request(`${hanging.url}${REFERRALS}`, {
            method: 'POST',
            headers: { authorization: 'Bearer t', 'content-type': 'application/json' },
            body: JSON.stringify(seedRequest()),
        }).catch((error: unknown) => error);
        await waitFor('the request to arrive', () => hanging.admin.requests().length > 0);
        await hanging.close();
        expect(await pending).toBeInstanceOf(Error);
        expect(hanging.admin.requests()[0]).toMatchObject({ fault: 'hang' });
        expect(hanging.admin.requests()[0]!.status).toBeUndefined();
    });
});
