/**
 * The registration client's answers to Partner Center's refusals (a loopback server plays them): each error says
 * what to do (403: the permission; 429: when to try again) in a bounded message, and no registration is a 404, not
 * an error.
 */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

import { StaticTokenProvider } from '../../../shared/partnerApi/tokenProviders';
import { WebhookApiError, WebhookRegistrationApi } from '../../../shared/partnerCenter/webhookRegistration';

let server: Server;
let baseUrl: string;
let answer: { status: number; headers?: Record<string, string>; body?: unknown };
const seen: Array<{ method?: string; url?: string; headers: IncomingHttpHeaders }> = [];

beforeAll(async () => {
    server = createServer((req, res) => {
        seen.push({ method: req.method, url: req.url, headers: req.headers });
        req.resume().on('end', () => {
            res.writeHead(answer.status, { 'content-type': 'application/json', ...answer.headers });
            res.end(answer.body === undefined ? '' : JSON.stringify(answer.body));
        });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

beforeEach(() => {
    seen.length = 0;
});

const api = () =>
    new WebhookRegistrationApi({ baseUrl, tokens: new StaticTokenProvider('the-token'), timeoutMs: 5_000 });

it('reads no registration as undefined, and sends the bearer token', async () => {
    answer = { status: 404, body: { error: { code: 'itemNotFound' } } };
    await expect(api().read()).resolves.toBeUndefined();
    expect(seen[0]).toMatchObject({ method: 'GET', url: '/webhooks/v1/registration' });
    expect(seen[0]!.headers.authorization).toBe('Bearer the-token');
});

it('explains a 403 as the missing permission on Partner Center API', async () => {
    answer = { status: 403, body: { error: { code: 'forbidden', message: 'x'.repeat(10_000) } } };
    const failure = api().register('https://app.example/api/partner-center/events?code=k', false);
    await expect(failure).rejects.toBeInstanceOf(WebhookApiError);
    await expect(failure).rejects.toMatchObject({
        status: 403,
        code: 'forbidden',
        message: expect.stringMatching(
            /^POST \/webhooks\/v1\/registration answered 403 \(forbidden\): .*may not manage webhooks/,
        ),
    });
    expect(((await failure.catch((error: Error) => error)) as Error).message.length).toBeLessThan(400);
});

it('says when to try again after 429, and that a 5xx is worth retrying', async () => {
    answer = { status: 429, headers: { 'retry-after': '41' } };
    await expect(api().sendValidationEvent()).rejects.toMatchObject({ message: expect.stringContaining('after 41 s') });
    answer = { status: 503 };
    await expect(api().read()).rejects.toMatchObject({ message: expect.stringContaining('try again later') });
});

it('reads the correlation id as documented (a string) or wrapped, and the attempts of its delivery', async () => {
    answer = { status: 200, body: 'c-1' };
    await expect(api().sendValidationEvent()).resolves.toBe('c-1');
    answer = { status: 200, body: { correlationId: 'c-2' } };
    await expect(api().sendValidationEvent()).resolves.toBe('c-2');
    answer = {
        status: 200,
        body: {
            correlationId: 'c-2',
            status: 'completed',
            results: [{ responseCode: 'OK', responseMessage: '', systemError: '', dateTimeUtc: 't' }],
        },
    };
    await expect(api().validationEvent('c-2')).resolves.toEqual({
        correlationId: 'c-2',
        status: 'completed',
        results: [{ responseCode: 'OK', responseMessage: '', systemError: '', dateTimeUtc: 't' }],
    });
    expect(seen.at(-1)!.url).toBe('/webhooks/v1/registration/validationEvents/c-2');
});
