import { HttpRequest } from '@azure/functions';

import { createReferral } from '../../../functions/createReferral';
import { type IntakeDependencies, MAX_BODY_BYTES } from '../../../shared/referral/intake';
import { invocationContext, postJson, readResponse } from '../../support/functions';
import { MemoryReferralStore } from '../../support/memoryReferralStore';
import { RecordingSender } from '../../support/recordingSender';
import { expectNoPii, PII, referralWithPii, seedReferral } from '../../support/referrals';

const URL = 'http://localhost:7071/api/referrals';

function setup() {
    const store = new MemoryReferralStore();
    const queue = new RecordingSender();
    let keys = 0;
    const deps: IntakeDependencies = {
        store,
        referralsQueue: queue,
        newKey: () => `generated-${++keys}`,
        now: () => new Date('2026-11-21T10:00:00Z'),
    };
    const { context, lines } = invocationContext('createReferral');
    const call = async (request: HttpRequest) => readResponse(await createReferral(request, context, deps));
    return { store, queue, deps, lines, call };
}

describe('POST /api/referrals', () => {
    it('queues the seed example: 202, one message with the documented properties, a remembered key', async () => {
        const { call, queue, store } = setup();
        const seed = seedReferral();
        const response = await call(
            postJson(URL, seed, { 'idempotency-key': 'crm-4711', 'x-correlation-id': 'corr-1' }),
        );

        expect(response.status).toBe(202);
        expect(response.json).toEqual({
            id: 'crm-4711',
            status: 'Queued',
            statusUrl: '/api/referrals/crm-4711',
            warnings: [],
        });
        expect(response.headers.get('location')).toBe('/api/referrals/crm-4711');
        expect(queue.sent).toHaveLength(1);
        expect(queue.sent[0]).toEqual({
            body: seed,
            messageId: 'crm-4711',
            correlationId: 'corr-1',
            contentType: 'application/json',
            applicationProperties: { contractVersion: '1', referralKey: 'crm-4711', attempt: 1 },
        });
        const stored = store.items.get('crm-4711')!.record;
        expect(stored).toMatchObject({ status: 'Queued', type: 'Shared', source: 'http', correlationId: 'corr-1' });
        expect(stored.updatedAt).toBe('2026-11-21T10:00:00.000Z');
    });

    it('uses a new key when the caller gives none, and a new correlation id when the given one is unusable', async () => {
        const { call, queue } = setup();
        const response = await call(postJson(URL, seedReferral(), { 'x-correlation-id': 'not valid!' }));
        expect(response.status).toBe(202);
        expect(response.json!.id).toBe('generated-1');
        expect(queue.sent[0]!.messageId).toBe('generated-1');
        expect(queue.sent[0]!.correlationId).toMatch(/^[0-9a-f-]{36}$/);
    });

    it('reports unknown properties as warnings and queues the body with them unchanged', async () => {
        const { call, queue } = setup();
        const body = { ...seedReferral(), solutionArea: 'AI Business Solutions' };
        const response = await call(postJson(URL, body));
        expect(response.status).toBe(202);
        expect(response.json!.warnings).toEqual([{ path: 'solutionArea', message: expect.any(String) }]);
        expect(queue.sent[0]!.body).toEqual(body);
    });

    describe('idempotency', () => {
        it('answers a repeat with the same id and sends nothing new', async () => {
            const { call, queue } = setup();
            const headers = { 'idempotency-key': 'repeat-1' };
            const first = await call(postJson(URL, seedReferral(), headers));
            const second = await call(postJson(URL, seedReferral(), headers));
            expect(second.status).toBe(202);
            expect(second.json!.id).toBe(first.json!.id);
            expect(queue.sent).toHaveLength(1);
        });

        it('treats the same body with its keys in another order as the same request', async () => {
            const { call, queue } = setup();
            const reordered = Object.fromEntries(Object.entries(seedReferral()).reverse());
            await call(postJson(URL, seedReferral(), { 'idempotency-key': 'k' }));
            expect((await call(postJson(URL, reordered, { 'idempotency-key': 'k' }))).status).toBe(202);
            expect(queue.sent).toHaveLength(1);
        });

        it('answers 409 for the same key with a different body, and sends nothing', async () => {
            const { call, queue } = setup();
            await call(postJson(URL, seedReferral(), { 'idempotency-key': 'k' }));
            const changed = seedReferral();
            changed.details.dealValue = 1;
            const response = await call(postJson(URL, changed, { 'idempotency-key': 'k' }));
            expect(response.status).toBe(409);
            expect(response.headers.get('content-type')).toBe('application/problem+json');
            expect(queue.sent).toHaveLength(1);
        });

        it('answers 409 naming the key that holds an externalReferenceId, never echoing it, and sends nothing', async () => {
            const { call, queue, store, lines } = setup();
            const first = { ...seedReferral(), externalReferenceId: 'CRM-Opp-0042' };
            await call(postJson(URL, first, { 'idempotency-key': 'first-key' }));
            const second = { ...referralWithPii(), externalReferenceId: 'CRM-Opp-0042' };
            const response = await call(postJson(URL, second, { 'idempotency-key': 'second-key' }));
            expect(response.status).toBe(409);
            expect(response.headers.get('content-type')).toBe('application/problem+json');
            expect(response.json).toMatchObject({
                detail: expect.stringContaining('first-key'),
                errors: [{ path: 'externalReferenceId', message: expect.stringContaining('first-key') }],
            });
            expect(response.text).not.toContain('CRM-Opp-0042');
            expectNoPii(response.text);
            expect(store.items.has('second-key')).toBe(false);
            expect(queue.sent.map((m) => m.messageId)).toEqual(['first-key']);
            expect(lines.some((line) => line.includes('"event":"referral.externalReferenceIdInUse"'))).toBe(true);
            expect(lines.join('\n')).not.toContain('CRM-Opp-0042');
        });

        it('remembers a key for good, whatever the record has become', async () => {
            const { call, queue, store } = setup();
            await call(postJson(URL, seedReferral(), { 'idempotency-key': 'k' }));
            store.items.get('k')!.record.status = 'Connected';
            const response = await call(postJson(URL, seedReferral(), { 'idempotency-key': 'k' }));
            expect(response.json).toMatchObject({ id: 'k', status: 'Connected' });
            expect(queue.sent).toHaveLength(1);
        });

        it('accepts the same key published straight to the queue first (record created by the worker)', async () => {
            const { call, queue, store } = setup();
            await call(postJson(URL, seedReferral(), { 'idempotency-key': 'k' }));
            const record = store.items.get('k')!.record;
            store.items.clear();
            store.put({ ...record, source: 'queue', status: 'Submitted' });
            expect((await call(postJson(URL, seedReferral(), { 'idempotency-key': 'k' }))).status).toBe(202);
            expect(queue.sent).toHaveLength(1);
        });
    });

    describe('bad input', () => {
        it.each([
            ['a text body', 'text/plain'],
            ['a form', 'application/x-www-form-urlencoded'],
        ])('answers 415 to %s', async (_name, contentType) => {
            const { call, queue } = setup();
            const response = await call(postJson(URL, seedReferral(), { 'content-type': contentType }));
            expect(response.status).toBe(415);
            expect(queue.sent).toHaveLength(0);
        });

        it('answers 415 without a content type', async () => {
            const { call } = setup();
            const request = new HttpRequest({ method: 'POST', url: URL, body: { string: '{}' } });
            expect((await call(request)).status).toBe(415);
        });

        it('accepts a JSON content type with parameters or a +json suffix', async () => {
            const { call } = setup();
            for (const contentType of ['application/json; charset=utf-8', 'application/vnd.referral+json']) {
                expect((await call(postJson(URL, seedReferral(), { 'content-type': contentType }))).status).toBe(202);
            }
        });

        it('answers 413 to a body over the limit, declared or not', async () => {
            const { call, queue } = setup();
            const huge = { ...seedReferral(), padding: 'x'.repeat(MAX_BODY_BYTES) };
            expect((await call(postJson(URL, huge))).status).toBe(413);
            const declared = postJson(URL, seedReferral(), { 'content-length': String(MAX_BODY_BYTES + 1) });
            expect((await call(declared)).status).toBe(413);
            expect(queue.sent).toHaveLength(0);
        });

        it('answers 400 to malformed JSON without quoting it', async () => {
            const { call } = setup();
            const response = await call(postJson(URL, `{"customerProfile": {"name": "${PII.customerName}"`));
            expect(response.status).toBe(400);
            expect(response.json).toMatchObject({ status: 400, detail: 'The body is not valid JSON.' });
            expectNoPii(response.text);
        });

        it('answers 400 to a body that is not UTF-8', async () => {
            const { call } = setup();
            const bytes = new Uint8Array([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d]);
            const request = new HttpRequest({
                method: 'POST',
                url: URL,
                body: { bytes },
                headers: { 'content-type': 'application/json' },
            });
            expect((await call(request)).json).toMatchObject({ status: 400, detail: 'The body is not valid UTF-8.' });
        });

        it.each(['', 'has space', 'x'.repeat(129), 'semi;colon'])('answers 400 to Idempotency-Key %p', async (key) => {
            const { call, queue } = setup();
            const response = await call(postJson(URL, seedReferral(), { 'idempotency-key': key }));
            expect(response.status).toBe(400);
            expect(response.json!.errors).toEqual([{ path: 'headers.Idempotency-Key', message: expect.any(String) }]);
            expect(queue.sent).toHaveLength(0);
        });

        it('answers 400 with every schema problem, as problem+json', async () => {
            const { call, queue, store } = setup();
            const body = seedReferral();
            delete body.consent;
            body.type = 'Both';
            const response = await call(postJson(URL, body));
            expect(response.status).toBe(400);
            expect(response.headers.get('content-type')).toBe('application/problem+json');
            expect(response.json).toMatchObject({
                title: 'Bad Request',
                status: 400,
                errors: [
                    { path: 'type', message: 'must be one of: Independent, Shared' },
                    { path: 'consent', message: 'is required' },
                ],
            });
            expect(queue.sent).toHaveLength(0);
            expect(store.items.size).toBe(0);
        });

        it('never echoes customer data in the answer or the logs', async () => {
            const { call, lines } = setup();
            const body = referralWithPii();
            body.customerProfile.team[0].email = `${PII.email}@@`;
            body.customerProfile.address.country = PII.street;
            body.details.dealValue = PII.phone;
            const response = await call(postJson(URL, body));
            expect(response.status).toBe(400);
            expectNoPii(response.text);
            expectNoPii(lines.join('\n'));
            expect(lines.join('\n')).toContain('customerProfile.team[0].email');
        });

        it('keeps customer data out of the logs of an accepted referral too, unknown property names included', async () => {
            const { call, lines } = setup();
            const body = referralWithPii();
            body.customerProfile[PII.email] = true;
            const response = await call(postJson(URL, body));
            expect(response.status).toBe(202);
            // The caller gets their own property name back in the warning; the logs do not.
            expect(response.text).toContain(PII.email);
            expect(lines.length).toBeGreaterThan(0);
            expectNoPii(lines.join('\n'));
        });
    });

    describe('when a dependency is down', () => {
        it.each([
            ['a generated key', {}, 'generated-1'],
            ["the caller's key", { 'idempotency-key': 'kept-1' }, 'kept-1'],
        ])(
            'answers 202 when the send fails, and keeps the Queued record (%s) for the sweep',
            async (_name, headers: Record<string, string>, key) => {
                const { call, queue, store, lines } = setup();
                queue.failWith = new Error('ECONNREFUSED');
                const response = await call(postJson(URL, seedReferral(), headers));
                expect(response.status).toBe(202);
                expect(response.json).toMatchObject({ id: key, status: 'Queued', statusUrl: `/api/referrals/${key}` });
                expect(store.items.get(key)!.record).toMatchObject({ status: 'Queued', request: seedReferral() });
                expect(lines.join('\n')).toContain('referral.queueUnavailable');
            },
        );

        it("answers a retry with the caller's key 202 with the same id, and leaves the send to the sweep", async () => {
            const { call, queue, store } = setup();
            queue.failWith = new Error('ECONNREFUSED');
            const headers = { 'idempotency-key': 'retry-me' };
            expect((await call(postJson(URL, seedReferral(), headers))).status).toBe(202);

            queue.failWith = undefined;
            const retry = await call(postJson(URL, seedReferral(), headers));
            expect(retry.status).toBe(202);
            expect(retry.json!.id).toBe('retry-me');
            expect(queue.sent).toHaveLength(0);
            expect(store.items.size).toBe(1);
        });

        it('answers 503 with Retry-After when the store cannot be reached, keeps nothing and sends nothing', async () => {
            const { call, queue, store } = setup();
            store.failWith = new Error('Cosmos unreachable');
            const requests: Array<Record<string, string>> = [{}, { 'idempotency-key': 'k' }];
            for (const headers of requests) {
                const response = await call(postJson(URL, seedReferral(), headers));
                expect(response.status).toBe(503);
                expect(response.headers.get('retry-after')).toBe('5');
            }
            expect(queue.sent).toHaveLength(0);
            expect(store.items.size).toBe(0);
        });
    });

    it('handles two concurrent first requests with one key: one record, both 202, one referral', async () => {
        const { call, store, queue } = setup();
        const headers = { 'idempotency-key': 'race' };
        const [a, b] = await Promise.all([
            call(postJson(URL, seedReferral(), headers)),
            call(postJson(URL, seedReferral(), headers)),
        ]);
        expect([a.status, b.status]).toEqual([202, 202]);
        expect(store.items.size).toBe(1);
        // The request that created the record sends; the other finds it (any copy would share the messageId, which
        // the queue's duplicate detection drops).
        expect(new Set(queue.sent.map((m) => m.messageId))).toEqual(new Set(['race']));
    });
});
