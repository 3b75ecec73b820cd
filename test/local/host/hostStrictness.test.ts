/**
 * The local host fails where Microsoft's Node worker fails, and logs what Azure logs: unknown hook types and function
 * registrations after start-up are refused; a failed invocation's message and stack reach the host log; appTerminate
 * hooks' logs do not.
 */
import { join } from 'node:path';

import { app } from '@azure/functions';

import { registry } from '../../../local/host/functionsCore';
import type { HostLogLevel } from '../../../local/host/hostLog';
import { type LocalHost, startLocalHost } from '../../../local/host/localHost';
import { strictProbe } from './fixtures/strict-app';

const FIXTURE = join(__dirname, 'fixtures', 'strict-app');
const lines: { level: HostLogLevel; line: string }[] = [];
let host: LocalHost;

it('refuses an app that registers a log hook', async () => {
    await expect(
        startLocalHost({ entry: join(FIXTURE, 'logHook.ts'), port: 0, logSink: () => undefined }),
    ).rejects.toThrow(/Unrecognized hook "log"/);
    expect(registry.functions.has('neverServed')).toBe(false);
    expect(() => app.hook.log(() => undefined)).toThrow(/Unrecognized hook "log"/);
});

describe('a started host', () => {
    beforeAll(async () => {
        host = await startLocalHost({
            entry: join(FIXTURE, 'index.ts'),
            port: 0,
            logSink: (level, line) => lines.push({ level, line }),
        });
    });

    afterAll(() => host?.close());

    it('refuses a function registered after start-up, and does not serve it', async () => {
        expect(() =>
            app.http('late', { methods: ['GET'], authLevel: 'anonymous', handler: () => ({ status: 204 }) }),
        ).toThrow(/A function can only be registered during app startup/);
        expect((await fetch(`${host.url}/api/late`)).status).toBe(404);
    });

    it("logs a failed invocation's error message and stack, and answers without them", async () => {
        lines.length = 0;
        const response = await fetch(`${host.url}/api/fail`);
        expect(response.status).toBe(500);
        expect(await response.text()).not.toContain('fixture failure message');
        const failure = lines.find((l) => l.line.includes('Exception while executing function: Functions.fail'));
        expect(failure?.level).toBe('error');
        expect(failure?.line).toMatch(
            /Result: Failure\nException: fixture failure message\nStack: RangeError: fixture failure message\n\s+at /,
        );
    });

    it('delivers nothing the app logs from an appTerminate hook', async () => {
        expect((await fetch(`${host.url}/api/remember`)).status).toBe(204);
        expect(lines.some((l) => l.line.includes('logged during an invocation'))).toBe(true);
        await host.close();
        expect(strictProbe.terminated).toBe(true);
        expect(lines.some((l) => l.line.includes('logged from appTerminate'))).toBe(false);
        expect(lines.some((l) => l.line.includes('Host stopped.'))).toBe(true);
    });
});
