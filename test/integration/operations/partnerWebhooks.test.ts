/**
 * `npm run partner:webhooks` end to end (scripts/partnerWebhooks.ts `main`: arguments, PARTNER_CENTER_API_BASE_URL
 * and the token settings, the registration client) against the Partner API simulator's registration API on
 * loopback, with a loopback receiver standing in for the app's webhook (test/support/webhookReceiver.ts): it checks
 * every delivery with the app's own verifier, so the validation event must be signed like any webhook.
 */
import { type PartnerApiSimulator, startPartnerApiSimulator } from '../../../local/partner-api-simulator';
import { main } from '../../../scripts/partnerWebhooks';
import { REFERRAL_EVENTS } from '../../../shared/partnerCenter/events';
import { startWebhookReceiver, type WebhookReceiver } from '../../support/webhookReceiver';

const TOKEN = 'partner-center-api-token';
const FUNCTION_KEY = 'k3y-0f-the-webhook-function-do-not-print';

let simulator: PartnerApiSimulator;
let receiver: WebhookReceiver;

beforeAll(async () => {
    simulator = await startPartnerApiSimulator({
        acceptToken: (token) => token === TOKEN,
        webhooks: { attempts: 2, retryDelayMs: 20 },
    });
    receiver = await startWebhookReceiver(simulator.microsoft.rootCertificatePem);
});

afterAll(async () => {
    await simulator.close();
    await receiver.close();
});

beforeEach(() => {
    simulator.admin.reset();
    receiver.received.length = 0;
    receiver.answers.length = 0;
});

/** Runs the command as `npm run partner:webhooks -- <argv>` would, with these settings. */
async function command(argv: string[], settings: Record<string, string> = {}, local = false) {
    const lines: string[] = [];
    const env: Record<string, string> = {
        ...(local ? {} : { PARTNER_CENTER_API_BASE_URL: simulator.url }),
        PARTNER_API_AUTH: 'static',
        PARTNER_API_TOKEN: TOKEN,
        ...settings,
    };
    const code = await main(argv, env, {
        out: (line) => lines.push(line),
        err: (line) => lines.push(line),
        sleep: () => new Promise((resolve) => setTimeout(resolve, 25)),
        now: Date.now,
    });
    const text = lines.join('\n');
    // Whatever the command did, the function key never appears in full.
    expect(text).not.toContain(FUNCTION_KEY.slice(0, 8));
    return { code, text };
}

const appUrl = () => `${receiver.origin}/api/partner-center/events?code=${FUNCTION_KEY}`;

it('registers the app, shows the registration and delivers the validation event', async () => {
    const before = await command(['status']);
    expect(before).toMatchObject({ code: 0, text: expect.stringContaining('No webhook is registered') });

    const registered = await command(['register', '--url', appUrl()]);
    expect(registered.code).toBe(0);
    expect(simulator.microsoft.state().registration).toMatchObject({
        WebhookUrl: appUrl(),
        WebhookEvents: [...REFERRAL_EVENTS],
    });

    const status = await command(['status']);
    expect(status.code).toBe(0);
    expect(status.text).toContain(`${receiver.origin}/api/partner-center/events?code=k3y-***`);
    expect(status.text).toContain(REFERRAL_EVENTS.join(', '));

    const again = await command(['register', '--url', appUrl()]);
    expect(again).toMatchObject({ code: 0, text: expect.stringContaining('Nothing changed') });

    const tested = await command(['test']);
    expect(tested.code).toBe(0);
    expect(tested.text).toMatch(/\d{4}-\d\d-\d\dT\S+ {2}OK/);
    expect(tested.text).toContain('Delivered');
    expect(receiver.received).toEqual([
        { body: expect.objectContaining({ EventName: 'test-created' }), verdict: { ok: true } },
    ]);
});

it("refuses to replace another integration's registration without --force, and replaces it with", async () => {
    // Another integration (e.g. a Power Automate flow) registered first, straight through the API.
    const theirs = 'https://prod-01.westeurope.logic.azure.com/workflows/f1/triggers/manual/run?sig=their-signature';
    const response = await fetch(`${simulator.url}/webhooks/v1/registration`, {
        method: 'POST',
        headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
        body: JSON.stringify({ WebhookUrl: theirs, WebhookEvents: REFERRAL_EVENTS }),
    });
    expect(response.status).toBe(200);

    const refused = await command(['register', '--url', appUrl()]);
    expect(refused.code).toBe(2);
    expect(refused.text).toContain('prod-01.westeurope.logic.azure.com/workflows/f1/triggers/manual/run');
    expect(refused.text).not.toContain('their-signature');
    expect(simulator.microsoft.state().registration?.WebhookUrl).toBe(theirs);

    const forced = await command(['register', '--url', appUrl(), '--force']);
    expect(forced.code).toBe(0);
    expect(simulator.microsoft.state().registration?.WebhookUrl).toBe(appUrl());
});

it('reports a validation event the app did not accept', async () => {
    expect((await command(['register', '--url', appUrl()])).code).toBe(0);
    receiver.answers.push(401, 401);
    const tested = await command(['test']);
    expect(tested.code).toBe(2);
    expect(tested.text.match(/ {2}Unauthorized/g)).toHaveLength(2);
    expect(tested.text).toContain('Not delivered');
});

it('says what the token lacks when Partner Center refuses it, and exits 1', async () => {
    const refused = await command(['status'], { PARTNER_API_TOKEN: 'a-token-for-another-resource' });
    expect(refused.code).toBe(1);
    expect(refused.text).toContain('answered 401');
    expect(refused.text).toContain('https://api.partnercenter.microsoft.com');
    expect(refused.text).toContain('docs/partner-api-auth.md');
});

it('refuses settings that cannot work: no token off loopback, and usage errors exit 64', async () => {
    const noToken = await command(['status'], {
        PARTNER_CENTER_API_BASE_URL: 'https://api.partnercenter.microsoft.com',
        PARTNER_API_AUTH: 'none',
    });
    expect(noToken).toMatchObject({ code: 1, text: expect.stringContaining('only allowed for a simulator') });
    expect((await command(['register', '--url', appUrl().replace(/\?.*/, '')])).code).toBe(64);
    expect(simulator.microsoft.state().registration).toBeNull();
});

it('--local finds the simulator, the host and its function key from the local runtime settings', async () => {
    const local = {
        PARTNER_API_SIMULATOR_PORT: String(simulator.port),
        PORT: new URL(receiver.origin).port,
        LOCAL_FUNCTION_KEY: FUNCTION_KEY,
    };
    expect((await command(['register', '--local'], local, true)).code).toBe(0);
    expect(simulator.microsoft.state().registration?.WebhookUrl).toBe(appUrl());
    const tested = await command(['test', '--local'], local, true);
    expect(tested).toMatchObject({ code: 0, text: expect.stringContaining('Delivered') });
});
