/**
 * The local host serves the fixture app's HTTP triggers as the Functions host would: routes and parameters,
 * methods, function keys, responses, a generic 500, and the app's hooks around every invocation.
 */
import { join } from 'node:path';

import { type HostLogLevel } from '../../../local/host/hostLog';
import { type LocalHost, startLocalHost } from '../../../local/host/localHost';
import { probe } from './fixtures/host-app/probe';

const KEY = 'test-function-key';
const lines: { level: HostLogLevel; line: string }[] = [];
let host: LocalHost;

beforeAll(async () => {
    host = await startLocalHost({
        entry: join(__dirname, 'fixtures', 'host-app', 'index.ts'),
        port: 0,
        functionKey: KEY,
        // The queue triggers are exercised by hostServiceBus.test.ts; here they stay off, as in Azure.
        env: {
            'AzureWebJobs.inbox.Disabled': 'true',
            'AzureWebJobs.poison.Disabled': 'true',
            'AzureWebJobs.busy.Disabled': 'true',
        },
        logSink: (level, line) => lines.push({ level, line }),
    });
});

afterAll(async () => {
    await host?.close();
});

function get(path: string, init: RequestInit = {}): Promise<Response> {
    return fetch(`${host.url}${path}`, init);
}

describe('routes', () => {
    it('passes route parameters, including an optional one, to request.params', async () => {
        const response = await get('/api/items/abc%20d/details?x=1', { headers: { 'x-functions-key': KEY } });
        expect(response.status).toBe(200);
        const body = (await response.json()) as Record<string, unknown>;
        expect(body.params).toEqual({ id: 'abc d', part: 'details' });
        expect(body.query).toEqual({ x: '1' });
        expect(body.functionName).toBe('getItem');
        expect(body.triggerType).toBe('httpTrigger');

        const withoutOptional = await get('/api/items/42', { headers: { 'x-functions-key': KEY } });
        expect(((await withoutOptional.json()) as { params: unknown }).params).toEqual({ id: '42' });
    });

    it('honours an int constraint', async () => {
        expect(await (await get('/api/numbers/17')).json()).toEqual({ n: 17 });
        expect((await get('/api/numbers/seventeen')).status).toBe(404);
    });

    it('answers 404 for an unknown route and outside the route prefix', async () => {
        expect((await get('/api/nothing-here')).status).toBe(404);
        expect((await get('/items/1')).status).toBe(404);
    });

    it('answers 405 with Allow for a method the route does not accept', async () => {
        const response = await get('/api/numbers/1', { method: 'POST' });
        expect(response.status).toBe(405);
        expect(response.headers.get('allow')).toBe('GET');
    });

    it('picks the function by method when routes share a template', async () => {
        expect((await get('/api/items/7', { method: 'DELETE' })).status).toBe(204);
        expect((await get('/api/items', { method: 'PUT', body: 'x' })).status).toBe(201);
    });
});

describe('function keys', () => {
    it('answers 401 without a key or with a wrong one', async () => {
        expect((await get('/api/items/1')).status).toBe(401);
        expect((await get('/api/items/1', { headers: { 'x-functions-key': 'wrong' } })).status).toBe(401);
        expect((await get('/api/items/1?code=wrong')).status).toBe(401);
    });

    it('accepts the key in the x-functions-key header or the code query parameter', async () => {
        expect((await get('/api/items/1', { headers: { 'x-functions-key': KEY } })).status).toBe(200);
        expect((await get(`/api/items/1?code=${KEY}`)).status).toBe(200);
    });

    it('needs the key for authLevel admin too', async () => {
        expect((await get('/api/admin-thing')).status).toBe(401);
        expect(await (await get(`/api/admin-thing?code=${KEY}`)).text()).toBe('admin ok');
    });

    it('needs no key for authLevel anonymous', async () => {
        expect((await get('/api/numbers/3')).status).toBe(200);
    });
});

describe('requests and responses', () => {
    it('hands the body to the handler and writes status, headers, cookies and body back', async () => {
        const response = await get('/api/items', {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ name: 'widget' }),
        });
        expect(response.status).toBe(201);
        expect(response.headers.get('x-fixture')).toBe('yes');
        expect(response.headers.get('content-type')).toBe('application/json');
        expect(response.headers.get('set-cookie')).toMatch(/^session=abc; HttpOnly/);
        expect(await response.json()).toEqual({ name: 'widget' });
    });

    it('answers a throwing handler with a generic 500, and logs the error for the operator only', async () => {
        const response = await get('/api/explode');
        expect(response.status).toBe(500);
        const text = await response.text();
        expect(text).not.toContain('secret');
        const logged = lines.filter((l) => l.line.includes("'Functions.explode'"));
        expect(logged).toHaveLength(1);
        expect(logged[0]!.line).toMatch(/Failed, Id=[0-9a-f-]{36}, Duration=\d+ms, Error=Error/);
        // As in Azure, the message goes to the host log (the answer above has none of it).
        expect(lines.filter((l) => l.line.includes('secret detail')).map((l) => l.level)).toEqual(['error']);
    });

    it('writes one host line per invocation, and context logs prefixed with the function name', async () => {
        lines.length = 0;
        await get('/api/items/9', { headers: { 'x-functions-key': KEY } });
        expect(lines.map((l) => l.line)).toEqual([
            '[getItem] looking up an item',
            expect.stringMatching(
                /^\[host\] Executed 'Functions.getItem' \(Succeeded, Id=[0-9a-f-]{36}, Duration=\d+ms, Status=200\)$/,
            ),
        ]);
    });
});

describe('hooks', () => {
    it('ran appStart once before serving', () => {
        expect(probe.appStartCount).toBe(1);
    });

    it('runs pre and post invocation hooks around each invocation, sharing hookData', async () => {
        probe.hookEvents.length = 0;
        await get('/api/numbers/5');
        expect(probe.hookEvents).toEqual(['pre:numbers', 'post:numbers:m-numbers']);
    });

    it('lets a preInvocation hook replace the handler', async () => {
        expect(await (await get('/api/replacedByHook')).json()).toEqual({ handledBy: 'preInvocation hook' });
    });

    it('lets a postInvocation hook clear the error and replace the result', async () => {
        const response = await get('/api/rescuedByHook');
        expect(response.status).toBe(299);
        expect(await response.text()).toBe('rescued');
    });

    it('lists the functions it serves', () => {
        expect(host.functions.map((f) => f.name)).toEqual(expect.arrayContaining(['getItem', 'createItem', 'probe']));
        expect(host.functions.some((f) => f.name === 'inbox')).toBe(false);
    });
});
