/**
 * The simulator playing Microsoft: the webhook registration API, accept/decline/close as Microsoft's seller or the
 * Partner Center UI, the 14-day expiry on the fast clock, and signed webhooks that the app's own verifier accepts
 * (a loopback receiver here checks each delivery with shared/partnerCenter/webhookVerification.ts).
 */
import { type PartnerApiSimulator, startPartnerApiSimulator } from '../../../local/partner-api-simulator';
import { connectedReferral, seedRequest } from '../../integration/partnerApi/helpers';
import { waitFor } from '../../support/waitFor';
import { type ReceivedWebhook, startWebhookReceiver, type WebhookReceiver } from '../../support/webhookReceiver';
import { callSimulator, REFERRALS } from './simulatorHttp';

const REGISTRATION = '/webhooks/v1/registration';
const EVENTS = ['referral-created', 'referral-updated', 'related-referral-created', 'related-referral-updated'];

describe("Partner API simulator: Microsoft's side", () => {
    let simulator: PartnerApiSimulator;
    let receiver: WebhookReceiver;
    let receiverUrl: string;
    let received: ReceivedWebhook[];

    const call = (method: string, path: string, body?: unknown) => callSimulator(simulator.url, method, path, body);

    beforeAll(async () => {
        simulator = await startPartnerApiSimulator({ webhooks: { attempts: 3, retryDelayMs: 50 } });
        receiver = await startWebhookReceiver(simulator.microsoft.rootCertificatePem);
        received = receiver.received;
        receiverUrl = `${receiver.origin}/api/partner-center/events?code=k`;
    });

    afterAll(async () => {
        await simulator.close();
        await receiver.close();
    });

    beforeEach(async () => {
        simulator.admin.reset();
        received.length = 0;
        receiver.answers.length = 0;
        await call('POST', REGISTRATION, { WebhookUrl: receiverUrl, WebhookEvents: EVENTS });
    });

    /** A Shared referral and its connected referral (Microsoft's invitation). */
    async function engagement() {
        const partner = (await call('POST', REFERRALS, seedRequest())).body as Record<string, string>;
        const connected = (await call('POST', REFERRALS, connectedReferral(partner.engagementId!))).body as Record<
            string,
            string
        >;
        return { partner, connected };
    }

    it('registers, reads and updates the webhook URL; lists the events; needs a token', async () => {
        simulator.admin.reset();
        expect((await call('GET', REGISTRATION)).status).toBe(404);
        const created = await call('POST', REGISTRATION, {
            WebhookUrl: 'https://a.example/hook',
            WebhookEvents: EVENTS,
        });
        expect(created.status).toBe(200);
        expect(created.body).toEqual({
            SubscriberId: expect.any(String),
            WebhookUrl: 'https://a.example/hook',
            WebhookEvents: EVENTS,
            SignatureTokenToMsSignatureHeader: false,
        });
        const updated = await call('PUT', REGISTRATION, {
            WebhookUrl: 'https://b.example/hook',
            WebhookEvents: EVENTS,
        });
        expect(updated.body).toMatchObject({
            SubscriberId: created.body.SubscriberId,
            WebhookUrl: 'https://b.example/hook',
        });
        expect((await call('GET', REGISTRATION)).body).toEqual(updated.body);
        expect((await call('GET', `${REGISTRATION}/events`)).body).toEqual([...EVENTS, 'test-created']);
        expect((await call('POST', REGISTRATION, { WebhookUrl: 'ftp://x', WebhookEvents: EVENTS })).status).toBe(400);
        expect((await call('POST', REGISTRATION, { WebhookUrl: 'https://x', WebhookEvents: ['nope'] })).status).toBe(
            400,
        );
        const anonymous = await callSimulator(simulator.url, 'GET', REGISTRATION, undefined, {
            headers: { authorization: '' },
        });
        expect(anonymous.status).toBe(401);
    });

    it('creates the connected referral as an invitation: New/Pending, expiring in 14 days', async () => {
        const { partner, connected } = await engagement();
        expect(partner).toMatchObject({ status: 'Active', substatus: 'Accepted' });
        expect(connected).toMatchObject({ status: 'New', substatus: 'Pending', acceptedDateTime: null });
        expect(Date.parse(connected.expirationDateTime!) - Date.parse(connected.createdDateTime!)).toBeGreaterThan(
            14 * 86_400_000 - 1000,
        );
    });

    it("accepts as Microsoft's seller: new eTag and updatedDateTime, and a signed related-referral-updated", async () => {
        const { connected } = await engagement();
        const accepted = await call('POST', `/_admin/referrals/${connected.id}/accept`);
        expect(accepted.status).toBe(200);
        expect(accepted.body).toMatchObject({ id: connected.id, status: 'Active', substatus: 'Accepted' });
        expect(accepted.body.eTag).not.toBe(connected.eTag);
        expect(accepted.body.updatedDateTime > connected.updatedDateTime!).toBe(true);
        expect((await call('GET', `${REFERRALS}/${connected.id}`)).body).toMatchObject({ status: 'Active' });

        await waitFor('the webhook', () => received.length === 1);
        expect(received[0]).toEqual({
            verdict: { ok: true },
            body: {
                EventName: 'related-referral-updated',
                ResourceUri: `https://api.partnercenter.microsoft.com/engagements/v1/referrals/${connected.id}`,
                ResourceName: 'referral',
                AuditUri: null,
                ResourceChangeUtcDate: (accepted.body.updatedDateTime as string).replace(/Z$/, '+00:00'),
            },
        });
        expect((await call('POST', `/_admin/referrals/${connected.id}/accept`)).status).toBe(409);
        const badClose = await call('POST', `/_admin/referrals/${connected.id}/close`, { substatus: 'Maybe' });
        expect(badClose.status).toBe(400);
    });

    it("declines as Microsoft's seller, and closes the partner's referral as the Partner Center UI would", async () => {
        const { partner, connected } = await engagement();
        expect((await call('POST', `/_admin/referrals/${connected.id}/decline`)).body).toMatchObject({
            status: 'Closed',
            substatus: 'Declined',
        });
        const closed = await call('POST', `/_admin/referrals/${partner.id}/close`, { substatus: 'Lost' });
        expect(closed.body).toMatchObject({ status: 'Closed', substatus: 'Lost', closedDateTime: expect.any(String) });
        expect((await call('POST', `/_admin/referrals/${partner.id}/close`)).status).toBe(409);
        await waitFor('two webhooks', () => received.length === 2);
        expect(received.map((r) => [r.body.EventName, r.verdict.ok])).toEqual([
            ['related-referral-updated', true],
            ['referral-updated', true],
        ]);
    });

    it('delivers again after a failed attempt, and gives up after the last', async () => {
        const { partner, connected } = await engagement();
        receiver.answers.push(500);
        await call('POST', `/_admin/referrals/${connected.id}/accept`);
        await waitFor('the redelivery', () => received.length === 2);
        expect(received[0]!.body).toEqual(received[1]!.body);

        receiver.answers.push(503, 503, 503);
        await call('POST', `/_admin/referrals/${partner.id}/close`);
        const state = await waitFor('the delivery to fail', async () => {
            const { body } = await call('GET', '/_admin/webhooks');
            const last = (body.deliveries as Array<{ outcome: string; attempts: unknown[] }>).at(-1)!;
            return last.outcome === 'failed' && last;
        });
        expect(state.attempts).toHaveLength(3);
        expect(received).toHaveLength(5);
    });

    it('drops every delivery while told to, the change itself still happening', async () => {
        const { connected } = await engagement();
        expect((await call('PUT', '/_admin/webhooks', { dropDeliveries: true })).body.dropDeliveries).toBe(true);
        await call('POST', `/_admin/referrals/${connected.id}/accept`);
        const { body } = await call('GET', '/_admin/webhooks');
        expect(body.deliveries).toEqual([expect.objectContaining({ outcome: 'dropped', referralId: connected.id })]);
        await new Promise((resolve) => setTimeout(resolve, 200));
        expect(received).toEqual([]);
        expect((await call('GET', `${REFERRALS}/${connected.id}`)).body.status).toBe('Active');
        await call('PUT', '/_admin/webhooks', { dropDeliveries: false });
    });

    describe('seeded delivery faults', () => {
        const NONE = { rateDrop: 0, rateDuplicate: 0, rateDelay: 0 };
        afterEach(() => call('PUT', '/_admin/webhooks', NONE));
        const webhookState = async () =>
            (await call('GET', '/_admin/webhooks')).body as {
                injected: Record<string, number>;
                pending: number;
                deliveries: Array<{ fault?: string; outcome: string; referralId?: string; body: string }>;
            };

        it('delivers an event twice: the same body again, delayMs later', async () => {
            await call('PUT', '/_admin/webhooks', { ...NONE, rateDuplicate: 1, delayMs: 100 });
            const { connected } = await engagement();
            await call('POST', `/_admin/referrals/${connected.id}/accept`);
            await waitFor('both copies', () => received.length === 2);
            expect(received[1]!.body).toEqual(received[0]!.body);
            expect(received.map((r) => r.verdict.ok)).toEqual([true, true]);
            const state = await waitFor('both settled', async () => {
                const current = await webhookState();
                return current.pending === 0 && current;
            });
            expect(state.deliveries.map((d) => [d.fault, d.outcome])).toEqual([
                ['duplicated', 'delivered'],
                ['copy', 'delivered'],
            ]);
            expect(state.injected).toEqual({ dropped: 0, duplicated: 1, delayed: 0 });
        });

        it('holds a delivery back, so the next change about the referral arrives first', async () => {
            const { connected } = await engagement();
            await call('PUT', '/_admin/webhooks', { ...NONE, rateDelay: 1, delayMs: 400 });
            const accepted = await call('POST', `/_admin/referrals/${connected.id}/accept`);
            await call('PUT', '/_admin/webhooks', NONE);
            const closed = await call('POST', `/_admin/referrals/${connected.id}/close`);
            await waitFor('both events', () => received.length === 2);
            const changedAt = (answer: typeof accepted) =>
                (answer.body.updatedDateTime as string).replace(/Z$/, '+00:00');
            expect(received.map((r) => r.body.ResourceChangeUtcDate)).toEqual([changedAt(closed), changedAt(accepted)]);
            await waitFor('both settled', async () => (await webhookState()).pending === 0);
            expect((await webhookState()).injected).toEqual({ dropped: 0, duplicated: 0, delayed: 1 });
        });

        it('drops a share, seeded: the same seed draws the same faults', async () => {
            const drawn = async () => {
                simulator.admin.reset();
                received.length = 0;
                await call('POST', REGISTRATION, { WebhookUrl: receiverUrl, WebhookEvents: EVENTS });
                await call('PUT', '/_admin/webhooks', {
                    rateDrop: 0.4,
                    rateDuplicate: 0.2,
                    rateDelay: 0.2,
                    delayMs: 0,
                    seed: 5,
                });
                for (let i = 0; i < 10; i++) {
                    const { partner } = await engagement();
                    await call('POST', `/_admin/referrals/${partner.id}/close`);
                }
                const state = await waitFor('the rest delivered', async () => {
                    const current = await webhookState();
                    return current.pending === 0 && current;
                });
                return {
                    injected: state.injected,
                    faults: state.deliveries.map((d) => d.fault ?? 'none'),
                    received: received.length,
                };
            };
            const first = await drawn();
            expect(first.injected.dropped).toBeGreaterThan(0);
            expect(first.faults.filter((f) => f === 'dropped')).toHaveLength(first.injected.dropped!);
            expect(first.received).toBe(10 - first.injected.dropped! + first.injected.duplicated!);
            expect(await drawn()).toEqual(first);
        });

        it('refuses rates outside 0..1, rates adding up to more than 1, and unknown fields', async () => {
            for (const body of [{ rateDrop: 2 }, { rateDrop: 0.6, rateDelay: 0.6 }, { delayMs: -1 }, { nope: 1 }, {}]) {
                expect((await call('PUT', '/_admin/webhooks', body)).status).toBe(400);
            }
            expect((await webhookState()).injected).toEqual({ dropped: 0, duplicated: 0, delayed: 0 });
        });
    });

    it('expires an unanswered invitation after 14 days on the fast clock', async () => {
        const { partner, connected } = await engagement();
        expect((await call('POST', '/_admin/clock/advance', { days: 13 })).body.expired).toEqual([]);
        const advanced = await call('POST', '/_admin/clock/advance', { days: 2 });
        expect(advanced.body.expired).toEqual([connected.id]);
        const expired = (await call('GET', `${REFERRALS}/${connected.id}`)).body;
        expect(expired).toMatchObject({ status: 'Closed', substatus: 'Expired' });
        expect(Date.parse(expired.updatedDateTime as string)).toBeGreaterThan(Date.now() + 14 * 86_400_000);
        expect((await call('GET', `${REFERRALS}/${partner.id}`)).body.status).toBe('Active');
        await waitFor('the webhook', () => received.length === 1);
        expect(received[0]!.body.EventName).toBe('related-referral-updated');
        expect((await call('POST', '/_admin/clock/advance', { days: -1 })).status).toBe(400);
    });

    it('sends the validation event and shows its delivery', async () => {
        const { body } = await call('POST', `${REGISTRATION}/validationEvents`);
        await waitFor('the validation event', () => received.length === 1);
        expect(received[0]!.body.EventName).toBe('test-created');
        expect(received[0]!.verdict).toEqual({ ok: true });
        const result = await waitFor('its result', async () => {
            const answer = await call('GET', `${REGISTRATION}/validationEvents/${body.correlationId as string}`);
            return answer.body.status === 'delivered' && answer.body;
        });
        expect(result.results).toEqual([
            { responseCode: 'OK', responseMessage: '', systemError: '', dateTimeUtc: expect.any(String) },
        ]);
    });

    it('reports a failed validation delivery, and sends at most 2 validation events a minute', async () => {
        receiver.answers.push(500, 500, 500);
        const first = await call('POST', `${REGISTRATION}/validationEvents`);
        const result = await waitFor('its failure', async () => {
            const answer = await call('GET', `${REGISTRATION}/validationEvents/${first.body.correlationId as string}`);
            return answer.body.status === 'failed' && answer.body;
        });
        expect(result.results).toEqual(
            Array.from({ length: 3 }, () => expect.objectContaining({ responseCode: 'InternalServerError' })),
        );
        expect((await call('POST', `${REGISTRATION}/validationEvents`)).status).toBe(200);
        const third = await call('POST', `${REGISTRATION}/validationEvents`);
        expect(third.status).toBe(429);
        expect(Number(third.headers['retry-after'])).toBeGreaterThan(0);
    });

    it('deletes the registration', async () => {
        expect((await call('DELETE', REGISTRATION)).status).toBe(204);
        expect((await call('GET', REGISTRATION)).status).toBe(404);
        expect((await call('DELETE', REGISTRATION)).status).toBe(404);
    });

    it('signs in x-ms-signature when the registration asks for it', async () => {
        await call('POST', REGISTRATION, {
            WebhookUrl: receiverUrl,
            WebhookEvents: EVENTS,
            SignatureTokenToMsSignatureHeader: true,
        });
        const { connected } = await engagement();
        await call('POST', `/_admin/referrals/${connected.id}/accept`);
        await waitFor('the webhook', () => received.length === 1);
        expect(received[0]!.verdict).toEqual({ ok: true });
    });
});
