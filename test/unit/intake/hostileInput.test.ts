/** POST /api/referrals against input built to hurt: every answer is a clear 4xx or a small 202. */
import { createReferral } from '../../../functions/createReferral';
import { referralMessage } from '../../../shared/messaging/messages';
import { MAX_MESSAGE_BYTES, messageSize } from '../../../shared/messaging/messageSize';
import { type IntakeDependencies, MAX_BODY_BYTES } from '../../../shared/referral/intake';
import { invocationContext, postJson, readResponse } from '../../support/functions';
import { MemoryReferralStore } from '../../support/memoryReferralStore';
import { RecordingSender } from '../../support/recordingSender';
import { seedReferral } from '../../support/referrals';

const URL = 'http://localhost:7071/api/referrals';
const ANSWER_LIMIT = 16_000;

function setup() {
    const store = new MemoryReferralStore();
    const queue = new RecordingSender();
    const deps: IntakeDependencies = {
        store,
        referralsQueue: queue,
        newKey: () => 'generated-1',
        now: () => new Date('2026-11-21T10:00:00Z'),
    };
    const { context, lines } = invocationContext('createReferral');
    const call = async (text: string) => readResponse(await createReferral(postJson(URL, text), context, deps));
    return { store, queue, lines, call };
}

/** The seed referral as JSON text with `extra` spliced in as its last properties. */
function seedWith(extra: string): string {
    return JSON.stringify(seedReferral()).replace(/}$/, `,${extra}}`);
}

describe('POST /api/referrals with hostile input', () => {
    it('answers 413 when the body is under the limit but the message it makes is not (1e20 sends as 21 digits)', async () => {
        const { call, queue, store } = setup();
        const numbers = Array.from({ length: 3000 }, () => '1e20').join(',');
        const text = seedWith(`"padding":"${'a'.repeat(200_000)}","numbers":[${numbers}]`);
        expect(Buffer.byteLength(text)).toBeLessThan(MAX_BODY_BYTES);
        const sent = referralMessage({ key: 'generated-1', body: JSON.parse(text), correlationId: 'c' });
        expect(Buffer.byteLength(JSON.stringify(sent.body))).toBeGreaterThan(MAX_MESSAGE_BYTES);

        const response = await call(text);
        expect(response.status).toBe(413);
        expect(response.headers.get('content-type')).toBe('application/problem+json');
        expect(response.json!.detail).toContain(String(MAX_MESSAGE_BYTES));
        expect(queue.sent).toHaveLength(0);
        expect(store.items.size).toBe(0);
    });

    it('measures a message by what is sent: body bytes after re-serialising, properties and headroom', () => {
        const small = referralMessage({ key: 'k', body: { n: 1e20 }, correlationId: 'c' });
        expect(messageSize(small)).toBeGreaterThan(Buffer.byteLength('{"n":100000000000000000000}'));
        expect(messageSize(small)).toBeLessThan(2048);
        const accented = referralMessage({ key: 'k', body: { name: 'é'.repeat(1000) }, correlationId: 'c' });
        expect(messageSize(accented)).toBeGreaterThan(2000);
    });

    it('answers 400 with the path for a number too large to be finite (1e309), documented or not', async () => {
        const { call, queue } = setup();
        const text = seedWith('"partnerScore":1e309').replace(/"dealValue":[^,}]+/, '"dealValue":-1e309');
        const response = await call(text);
        expect(response.status).toBe(400);
        expect(response.json!.errors).toEqual([
            { path: 'details.dealValue', message: 'must be a finite number' },
            { path: 'partnerScore', message: 'must be a finite number' },
        ]);
        expect(queue.sent).toHaveLength(0);
    });

    it('answers 400 for a right-to-left override in the customer name', async () => {
        const { call } = setup();
        const body = seedReferral();
        body.customerProfile.name = 'Contoso\u202Egnp.exe';
        const response = await call(JSON.stringify(body));
        expect(response.status).toBe(400);
        expect(response.json!.errors).toEqual([{ path: 'customerProfile.name', message: expect.any(String) }]);
    });

    it('answers 400 for a 40 KB body nested 20,000 deep', async () => {
        const { call } = setup();
        const response = await call(seedWith(`"extra":${'['.repeat(20_000)}${']'.repeat(20_000)}`));
        expect(response.status).toBe(400);
        expect(response.json!.errors).toEqual([{ path: expect.any(String), message: 'nests deeper than 32 levels' }]);
    });

    it('keeps the answer and the log line small for 250 KB of unknown properties in one object', async () => {
        const { call, lines } = setup();
        const names = Array.from({ length: 22_700 }, (_, i) => `"u${String(i).padStart(5, '0')}":0`).join(',');
        const text = seedWith(names);
        expect(text.length).toBeGreaterThan(250_000);
        expect(text.length).toBeLessThan(MAX_BODY_BYTES);
        const response = await call(text);
        expect(response.status).toBe(400);
        expect(response.text.length).toBeLessThan(ANSWER_LIMIT);
        expect(Math.max(...lines.map((line) => line.length))).toBeLessThan(ANSWER_LIMIT);
    });

    it('answers a small 202 for 250 KB of unknown properties spread across the team, listing 50 warnings', async () => {
        const { call, lines, queue } = setup();
        const body = seedReferral();
        const member = body.customerProfile.team[0];
        body.customerProfile.team = Array.from({ length: 100 }, (_, m) => {
            const extra = Object.fromEntries(Array.from({ length: 90 }, (_, i) => [`unknownName${m}x${i}`, 1]));
            return { ...member, ...extra };
        });
        const text = JSON.stringify(body);
        expect(text.length).toBeGreaterThan(200_000);
        const response = await call(text);
        expect(response.status).toBe(202);
        expect(response.text.length).toBeLessThan(ANSWER_LIMIT);
        expect(response.json!.warnings).toHaveLength(50);
        expect(response.json!.warningsOmitted).toBe(9000 - 50);
        const accepted = lines.find((line) => line.includes('referral.accepted'))!;
        expect(accepted.length).toBeLessThan(ANSWER_LIMIT);
        expect(accepted).toContain('"problemsOmitted":8950');
        expect(queue.sent[0]!.body).toEqual(body);
    });

    it('keeps the 400 small for 239 KB of bad emails, in one list or spread over the allowed ones', async () => {
        const { call } = setup();
        const many = seedReferral();
        many.customerProfile.team = Array.from({ length: 17_001 }, () => ({ email: 'x' }));
        const manyText = JSON.stringify(many);
        expect(manyText.length).toBeGreaterThan(239_000);
        expect(manyText.length).toBeLessThan(MAX_BODY_BYTES);
        const refused = await call(manyText);
        expect(refused.status).toBe(400);
        expect(refused.text.length).toBeLessThan(ANSWER_LIMIT);

        const allowed = seedReferral();
        const badEmail = `${'x'.repeat(250)}@`;
        allowed.customerProfile.team = Array.from({ length: 100 }, () => ({ email: badEmail }));
        allowed.team = Array.from({ length: 100 }, () => ({ email: badEmail }));
        const response = await call(JSON.stringify(allowed));
        expect(response.status).toBe(400);
        expect(response.text.length).toBeLessThan(ANSWER_LIMIT);
        expect(response.json!.errors).toHaveLength(50);
        expect(response.json!.errorsOmitted).toBe(150);
    });
});
