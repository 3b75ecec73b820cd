/**
 * The decisions of `npm run partner:webhooks`: another integration's URL is never replaced without --force (and is
 * named by host and path only), the function key is never printed in full, arguments are checked before anything is
 * called, and `test` reports the validation event's delivery. Partner Center is a recording stand-in here; the
 * integration test (test/integration/operations/partnerWebhooks.test.ts) runs the command against the simulator.
 */
import {
    type Output,
    parseArguments,
    registrationUrl,
    runWebhookCommand,
    USAGE,
    UsageError,
    type WebhookArguments,
} from '../../../scripts/partnerWebhooks';
import { REFERRAL_EVENTS } from '../../../shared/partnerCenter/events';
import {
    hostAndPath,
    maskedUrl,
    planRegistration,
    type ValidationEventResult,
    type WebhookRegistration,
} from '../../../shared/partnerCenter/webhookRegistration';

const KEY = 'Zx9kQ-secret-function-key-0123456789==';
const OURS = `https://cosell.azurewebsites.net/api/partner-center/events?code=${encodeURIComponent(KEY)}`;
const THEIRS = 'https://prod-12.westeurope.logic.azure.com/workflows/abc/triggers/manual?sig=their-secret-signature';

const registered = (url: string, events: readonly string[] = REFERRAL_EVENTS): WebhookRegistration => ({
    SubscriberId: 'subscriber-1',
    WebhookUrl: url,
    WebhookEvents: [...events],
});

class StandInPartnerCenter {
    registrations: Array<{ url: string; existing: boolean }> = [];
    validationReads = 0;
    constructor(
        public current: WebhookRegistration | undefined,
        /** What each read of the validation event answers, in turn (the last one repeats). */
        private readonly validation: ValidationEventResult[] = [],
    ) {}
    read() {
        return Promise.resolve(this.current);
    }
    register(url: string, existing: boolean) {
        this.registrations.push({ url, existing });
        this.current = registered(url);
        return Promise.resolve(this.current);
    }
    sendValidationEvent() {
        return Promise.resolve('correlation-1');
    }
    validationEvent() {
        const answer = this.validation[Math.min(this.validationReads, this.validation.length - 1)]!;
        this.validationReads++;
        return Promise.resolve(answer);
    }
}

function output() {
    const lines: string[] = [];
    let clock = 0;
    const io: Output = {
        out: (line) => lines.push(line),
        sleep: (ms) => {
            clock += ms;
            return Promise.resolve();
        },
        now: () => clock,
    };
    return { io, lines, text: () => lines.join('\n') };
}

const args = (argv: string[]): WebhookArguments => parseArguments(argv);

describe('npm run partner:webhooks', () => {
    describe('register', () => {
        it("refuses to replace another integration's URL without --force, naming it by host and path only", async () => {
            const partnerCenter = new StandInPartnerCenter(registered(THEIRS));
            const { io, text } = output();
            const code = await runWebhookCommand(args(['register', '--url', OURS]), partnerCenter, io);
            expect(code).toBe(2);
            expect(partnerCenter.registrations).toEqual([]);
            expect(text()).toContain('prod-12.westeurope.logic.azure.com/workflows/abc/triggers/manual');
            expect(text()).toContain('--force');
            expect(text()).not.toContain('their-secret-signature');
        });

        it('replaces it with --force, over the existing registration (PUT)', async () => {
            const partnerCenter = new StandInPartnerCenter(registered(THEIRS));
            const { io, text } = output();
            expect(await runWebhookCommand(args(['register', '--url', OURS, '--force']), partnerCenter, io)).toBe(0);
            expect(partnerCenter.registrations).toEqual([{ url: OURS, existing: true }]);
            expect(text()).toContain('Replaced prod-12.westeurope.logic.azure.com/workflows/abc/triggers/manual');
            expect(text()).not.toContain('their-secret-signature');
        });

        it('creates a registration when there is none (POST), and never prints the key in full', async () => {
            const partnerCenter = new StandInPartnerCenter(undefined);
            const { io, text } = output();
            expect(await runWebhookCommand(args(['register', '--url', OURS]), partnerCenter, io)).toBe(0);
            expect(partnerCenter.registrations).toEqual([{ url: OURS, existing: false }]);
            expect(text()).toContain('cosell.azurewebsites.net/api/partner-center/events?code=Zx9k***');
            expect(text()).not.toContain(KEY.slice(0, 8));
            expect(text()).not.toContain(encodeURIComponent(KEY).slice(0, 8));
        });

        it("updates this app's own registration (a new key, missing events) without --force", async () => {
            const oldKey = OURS.replace(/code=.*/, 'code=old-key');
            for (const current of [registered(oldKey), registered(OURS, ['referral-created'])]) {
                const partnerCenter = new StandInPartnerCenter(current);
                const { io, text } = output();
                expect(await runWebhookCommand(args(['register', '--url', OURS]), partnerCenter, io)).toBe(0);
                expect(partnerCenter.registrations).toEqual([{ url: OURS, existing: true }]);
                expect(text()).toContain('Updated the registration');
            }
        });

        it('changes nothing when this URL is registered for every event already', async () => {
            const partnerCenter = new StandInPartnerCenter(registered(OURS));
            const { io, text } = output();
            expect(await runWebhookCommand(args(['register', '--url', OURS]), partnerCenter, io)).toBe(0);
            expect(partnerCenter.registrations).toEqual([]);
            expect(text()).toContain('Nothing changed');
        });

        it('derives the URL from --host (or WEBSITE_HOSTNAME) and --code', () => {
            expect(registrationUrl(args(['register', '--host', 'cosell.azurewebsites.net', '--code', KEY]), {})).toBe(
                OURS,
            );
            expect(
                registrationUrl(args(['register', '--code', KEY]), { WEBSITE_HOSTNAME: 'cosell.azurewebsites.net' }),
            ).toBe(OURS);
            expect(() => registrationUrl(args(['register']), {})).toThrow(UsageError);
        });

        it('refuses a URL Partner Center could not use: plain http off loopback, no function key', () => {
            const insecure = OURS.replace('https:', 'http:');
            expect(() => registrationUrl(args(['register', '--url', insecure]), {})).toThrow(/https/);
            expect(() =>
                registrationUrl(args(['register', '--url', 'https://cosell.azurewebsites.net/api/x']), {}),
            ).toThrow(/code=/);
            expect(registrationUrl(args(['register', '--url', 'http://127.0.0.1:7071/api/x?code=k']), {})).toBe(
                'http://127.0.0.1:7071/api/x?code=k',
            );
        });
    });

    describe('status', () => {
        it('shows the registration with its key masked, and the referral events it misses', async () => {
            const partnerCenter = new StandInPartnerCenter(registered(OURS, ['referral-created', 'referral-updated']));
            const { io, text } = output();
            expect(await runWebhookCommand(args(['status']), partnerCenter, io)).toBe(0);
            expect(text()).toContain('code=Zx9k***');
            expect(text()).not.toContain(KEY.slice(0, 8));
            expect(text()).toContain('Not registered for: related-referral-created, related-referral-updated');
        });

        it('says when nothing is registered', async () => {
            const { io, text } = output();
            expect(await runWebhookCommand(args(['status']), new StandInPartnerCenter(undefined), io)).toBe(0);
            expect(text()).toContain('No webhook is registered');
        });
    });

    describe('test', () => {
        const pending: ValidationEventResult = { correlationId: 'correlation-1', status: 'pending', results: [] };

        it('waits for the delivery and shows each attempt', async () => {
            const partnerCenter = new StandInPartnerCenter(registered(OURS), [
                pending,
                {
                    correlationId: 'correlation-1',
                    status: 'completed',
                    results: [{ responseCode: 'OK', dateTimeUtc: '2026-11-30T10:00:00Z' }],
                },
            ]);
            const { io, text } = output();
            expect(await runWebhookCommand(args(['test']), partnerCenter, io)).toBe(0);
            expect(partnerCenter.validationReads).toBe(2);
            expect(text()).toContain('2026-11-30T10:00:00Z  OK');
            expect(text()).toContain('Delivered');
            expect(text()).not.toContain(KEY.slice(0, 8));
        });

        it('exits 2 when the delivery failed, or none was reported in time', async () => {
            const failed: ValidationEventResult = {
                correlationId: 'correlation-1',
                status: 'failed',
                results: [{ responseCode: 'Unauthorized', dateTimeUtc: 't1' }],
            };
            const first = output();
            expect(
                await runWebhookCommand(args(['test']), new StandInPartnerCenter(registered(OURS), [failed]), first.io),
            ).toBe(2);
            expect(first.text()).toContain('t1  Unauthorized');
            expect(first.text()).toContain('Not delivered');

            const never = new StandInPartnerCenter(registered(OURS), [pending]);
            const second = output();
            expect(await runWebhookCommand(args(['test', '--wait', '10']), never, second.io)).toBe(2);
            expect(never.validationReads).toBe(6);
            expect(second.text()).toContain('No delivery reported within 10 s');
        });

        it('needs a registration first', async () => {
            const { io } = output();
            expect(await runWebhookCommand(args(['test']), new StandInPartnerCenter(undefined), io)).toBe(2);
        });
    });

    it('checks its arguments', () => {
        expect(parseArguments(['register', '--url', OURS, '--force'])).toMatchObject({
            command: 'register',
            force: true,
        });
        for (const argv of [
            [],
            ['status', 'test'],
            ['status', '--force'],
            ['register', '--url'],
            ['register', '--url', OURS, '--code', KEY],
            ['test', '--wait', 'soon'],
            ['nonsense'],
        ]) {
            expect(() => parseArguments(argv)).toThrow(UsageError);
        }
        expect(USAGE.split('\n')[0]).toMatch(/^Usage: npm run partner:webhooks -- status \| register/);
    });
});

describe('the registration decisions', () => {
    it("tells this app's endpoint (same origin and path, any key) from another integration's", () => {
        expect(planRegistration(undefined, OURS, false)).toEqual({ action: 'create' });
        expect(planRegistration(registered(OURS), OURS, false)).toEqual({ action: 'unchanged' });
        expect(planRegistration(registered(OURS.replace(/code=.*/, 'code=x')), OURS, false)).toEqual({
            action: 'update',
        });
        const elsewhere = registered(OURS.replace('cosell.', 'other.'));
        expect(planRegistration(elsewhere, OURS, false)).toEqual({
            action: 'refuse',
            replaces: 'other.azurewebsites.net/api/partner-center/events',
        });
        expect(planRegistration(elsewhere, OURS, true)).toMatchObject({ action: 'replace' });
    });

    it('masks the key and names a URL by host and path', () => {
        expect(maskedUrl('https://h.example/api/e?code=abcdefgh&x=1')).toBe('https://h.example/api/e?code=abcd***&x=1');
        expect(maskedUrl('https://h.example/api/e')).toBe('https://h.example/api/e');
        expect(hostAndPath('https://h.example:8443/p/q?sig=s')).toBe('h.example:8443/p/q');
        expect(maskedUrl('not a url')).toBe('(not a URL)');
    });
});
