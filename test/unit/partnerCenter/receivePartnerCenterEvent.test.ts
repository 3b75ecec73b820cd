/**
 * Partner Center's webhook, through the registered function with real HttpRequest/InvocationContext: real X.509
 * chains issued here with node-forge, served from a loopback HTTP server, and real RSA signatures.
 */
import { sign, X509Certificate } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

import { HttpRequest } from '@azure/functions';

import { receivePartnerCenterEvent } from '../../../functions/receivePartnerCenterEvent';
import { CertificateAuthority } from '../../../local/partner-api-simulator/certificateAuthority';
import { signedWebhookHeaders } from '../../../local/partner-api-simulator/webhookSigning';
import { partnerCenterEventMessageId } from '../../../shared/messaging/messages';
import { CertificateCache } from '../../../shared/partnerCenter/certificateDownload';
import { MAX_WEBHOOK_BODY_BYTES, type WebhookDependencies } from '../../../shared/partnerCenter/webhookReceiver';
import { invocationContext, readResponse } from '../../support/functions';
import { RecordingSender } from '../../support/recordingSender';

const REFERRAL_ID = '1f9d4a4e-8c2b-4f0a-9d43-3e1b2c5a7d10';
const EVENT = {
    EventName: 'referral-updated',
    ResourceUri: `https://api.partnercenter.microsoft.com/engagements/v1/referrals/${REFERRAL_ID}`,
    ResourceName: 'referral',
    AuditUri: null,
    ResourceChangeUtcDate: '2026-11-21T13:00:39.5485487+00:00',
};
const MICROSOFT = 'Microsoft Corporation';
const DAY = 24 * 60 * 60 * 1000;

const root = CertificateAuthority.root({ commonName: 'Test Root CA', organization: 'Test Trust' });
const intermediate = root.issue({ ca: true, subject: { commonName: 'Test Intermediate CA' } });
const leaf = intermediate.issue({
    subject: { commonName: 'pcnotifications-dispatch.microsoft.com', organization: MICROSOFT },
});
const directLeaf = root.issue({ subject: { commonName: 'dispatch', organization: MICROSOFT } });
const rogueRoot = CertificateAuthority.root({ commonName: 'Test Root CA', organization: 'Test Trust' });
const rogueLeaf = rogueRoot.issue({ subject: { commonName: 'dispatch', organization: MICROSOFT } });
const wrongOrganization = root.issue({ subject: { commonName: 'dispatch', organization: 'Contoso Ltd' } });
const expired = root.issue({
    subject: { commonName: 'dispatch', organization: MICROSOFT },
    notBefore: new Date(Date.now() - 10 * DAY),
    notAfter: new Date(Date.now() - DAY),
});
/** Signs as a CA would not: an intermediate without basicConstraints cA must not issue. */
const notACa = root.issue({ subject: { commonName: 'Test Intermediate CA 2' } });
const issuedByNotACa = notACa.issue({ subject: { commonName: 'dispatch', organization: MICROSOFT } });

const SERVED: Record<string, () => Buffer | string> = {
    '/chain.pem': () => leaf.certificatePem + intermediate.certificatePem,
    '/leaf-only.pem': () => leaf.certificatePem,
    '/direct.cer': () => directLeaf.certificateDer,
    '/rogue.pem': () => rogueLeaf.certificatePem + rogueRoot.certificatePem,
    '/wrong-org.pem': () => wrongOrganization.certificatePem,
    '/expired.pem': () => expired.certificatePem,
    '/not-a-ca.pem': () => issuedByNotACa.certificatePem + notACa.certificatePem,
    '/garbage.cer': () => 'not a certificate',
    '/huge.pem': () => 'x'.repeat(200_000),
};

let server: Server;
let origin: string;
const downloads: string[] = [];

beforeAll(async () => {
    server = createServer((req, res) => {
        downloads.push(req.url ?? '');
        if (req.url === '/redirect.pem') {
            res.writeHead(302, { location: `${origin}/chain.pem` }).end();
            return;
        }
        const content = SERVED[req.url ?? ''];
        if (!content) res.writeHead(404).end();
        else res.writeHead(200).end(content());
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

beforeEach(() => {
    downloads.length = 0;
});

function setup(hosts = ['127.0.0.1']) {
    const queue = new RecordingSender();
    const deps: WebhookDependencies = {
        trust: {
            certificates: new CertificateCache(),
            certificateHosts: hosts,
            roots: [new X509Certificate(root.certificatePem)],
            now: () => new Date(),
        },
        eventsQueue: queue,
    };
    const { context, lines } = invocationContext('receivePartnerCenterEvent');
    const call = async (request: HttpRequest) => readResponse(await receivePartnerCenterEvent(request, context, deps));
    return { queue, lines, call };
}

function delivery(body: string, headers: Record<string, string>): HttpRequest {
    return new HttpRequest({
        method: 'POST',
        url: 'http://localhost:7071/api/partner-center/events?code=key',
        body: { string: body },
        headers,
    });
}

/** A delivery signed by `signer` with its certificate at `path` on the loopback server (or at `certificateUrl`). */
function signed(
    options: { signer?: CertificateAuthority; path?: string; certificateUrl?: string; body?: string } = {},
): { body: string; headers: Record<string, string> } {
    const body = options.body ?? JSON.stringify(EVENT);
    const headers = signedWebhookHeaders(body, {
        privateKeyPem: (options.signer ?? leaf).privateKeyPem,
        certificateUrl: options.certificateUrl ?? `${origin}${options.path ?? '/chain.pem'}`,
    });
    return { body, headers };
}

async function expectRefused(request: HttpRequest, check: string, setupHosts?: string[]) {
    const { call, queue, lines } = setup(setupHosts);
    const response = await call(request);
    expect(response.status).toBe(401);
    expect(response.headers.get('content-type')).toBe('application/problem+json');
    expect(queue.sent).toEqual([]);
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!.replace(/^\w+ /, ''))).toEqual({
        event: 'webhook.refused',
        failedCheck: check,
        httpStatus: 401,
    });
    return response;
}

describe('POST /api/partner-center/events: a verified event', () => {
    it('is acknowledged 200 and queued once with the event, its ids and a messageId derived from it', async () => {
        const { call, queue, lines } = setup();
        const { body, headers } = signed();
        const response = await call(delivery(body, headers));
        expect(response.status).toBe(200);
        expect(queue.sent).toHaveLength(1);
        const [message] = queue.sent;
        expect(message).toMatchObject({
            body: EVENT,
            messageId: partnerCenterEventMessageId(EVENT as Parameters<typeof partnerCenterEventMessageId>[0]),
            contentType: 'application/json',
            applicationProperties: { contractVersion: '1', eventName: 'referral-updated', referralId: REFERRAL_ID },
        });
        expect(message!.messageId).toMatch(/^pc-event:[0-9a-f]{64}$/);
        expect(lines.map((line) => JSON.parse(line.replace(/^\w+ /, '')) as { event: string })).toEqual([
            expect.objectContaining({
                event: 'webhook.queued',
                partnerReferralId: REFERRAL_ID,
                partnerCenterEvent: 'referral-updated',
            }),
        ]);
    });

    it('gets the same messageId when delivered again, and the certificate is downloaded once', async () => {
        const { call, queue } = setup();
        const { body, headers } = signed();
        expect((await call(delivery(body, headers))).status).toBe(200);
        expect((await call(delivery(body, headers))).status).toBe(200);
        expect(queue.sent).toHaveLength(2);
        expect(queue.sent[0]!.messageId).toBe(queue.sent[1]!.messageId);
        expect(downloads).toEqual(['/chain.pem']);
    });

    it('gets another messageId for a later change of the same referral', async () => {
        const { call, queue } = setup();
        const later = JSON.stringify({ ...EVENT, ResourceChangeUtcDate: '2026-11-21T13:05:00.0000000+00:00' });
        await call(delivery(...(Object.values(signed()) as [string, Record<string, string>])));
        const second = signed({ body: later });
        await call(delivery(second.body, second.headers));
        expect(new Set(queue.sent.map((m) => m.messageId)).size).toBe(2);
    });

    it('accepts a DER certificate issued by the root itself, and the signature in x-ms-signature', async () => {
        const { call, queue } = setup();
        const body = JSON.stringify(EVENT);
        const headers = signedWebhookHeaders(body, {
            privateKeyPem: directLeaf.privateKeyPem,
            certificateUrl: `${origin}/direct.cer`,
            signatureHeader: true,
        });
        expect(headers.authorization).toBeUndefined();
        expect((await call(delivery(body, headers))).status).toBe(200);
        expect(queue.sent).toHaveLength(1);
    });

    it("acknowledges Partner Center's validation event and events it did not register for, queueing nothing", async () => {
        const { call, queue, lines } = setup();
        for (const name of ['test-created', 'invoice-ready']) {
            const { body, headers } = signed({ body: JSON.stringify({ ...EVENT, EventName: name }) });
            expect((await call(delivery(body, headers))).status).toBe(200);
        }
        expect(queue.sent).toEqual([]);
        expect(lines.map((line) => (JSON.parse(line.replace(/^\w+ /, '')) as { event: string }).event)).toEqual([
            'webhook.validation',
            'webhook.ignored',
        ]);
    });

    it('is a 400 when signed but not a referral event (no id in its ResourceUri, not JSON)', async () => {
        const { call, queue } = setup();
        for (const text of [JSON.stringify({ ...EVENT, ResourceUri: 'https://x/' }), '{"EventName":']) {
            const { body, headers } = signed({ body: text });
            expect((await call(delivery(body, headers))).status).toBe(400);
        }
        expect(queue.sent).toEqual([]);
    });

    it('is a 503 with Retry-After when the queue cannot be reached, so Partner Center delivers it again', async () => {
        const { call, queue } = setup();
        queue.failWith = new Error('unreachable');
        const { body, headers } = signed();
        const response = await call(delivery(body, headers));
        expect(response.status).toBe(503);
        expect(response.headers.get('retry-after')).toBe('5');
    });
});

describe('POST /api/partner-center/events: a request that fails a check is a 401, nothing queued', () => {
    it('a certificate chaining to a rogue root with the same name', async () => {
        const { body, headers } = signed({ signer: rogueLeaf, path: '/rogue.pem' });
        await expectRefused(delivery(body, headers), 'untrustedCertificate');
    });

    it('a chain through a certificate that is not a CA', async () => {
        const { body, headers } = signed({ signer: issuedByNotACa, path: '/not-a-ca.pem' });
        await expectRefused(delivery(body, headers), 'untrustedCertificate');
    });

    it('a leaf served without the intermediate it needs', async () => {
        const { body, headers } = signed({ path: '/leaf-only.pem' });
        await expectRefused(delivery(body, headers), 'untrustedCertificate');
    });

    it('a certificate issued to another organisation', async () => {
        const { body, headers } = signed({ signer: wrongOrganization, path: '/wrong-org.pem' });
        await expectRefused(delivery(body, headers), 'wrongOrganization');
    });

    it('an expired certificate', async () => {
        const { body, headers } = signed({ signer: expired, path: '/expired.pem' });
        await expectRefused(delivery(body, headers), 'certificateNotValidNow');
    });

    it('a certificate URL on another host, without downloading it', async () => {
        const { body, headers } = signed({ certificateUrl: `http://localhost:${new URL(origin).port}/chain.pem` });
        await expectRefused(delivery(body, headers), 'certificateUrlNotAllowed');
        expect(downloads).toEqual([]);
    });

    it('http on an allowed host that is not loopback', async () => {
        const { body, headers } = signed({ certificateUrl: 'http://certs.example/chain.pem' });
        await expectRefused(delivery(body, headers), 'certificateUrlNotAllowed', ['certs.example', '127.0.0.1']);
    });

    it('a certificate URL that redirects (even to the same host), is not a certificate, or is too large', async () => {
        for (const [path, check] of [
            ['/redirect.pem', 'certificateUnavailable'],
            ['/missing.pem', 'certificateUnavailable'],
            ['/huge.pem', 'certificateUnavailable'],
            ['/garbage.cer', 'certificateUnreadable'],
        ] as const) {
            const { body, headers } = signed({ path });
            await expectRefused(delivery(body, headers), check);
        }
        expect(downloads).not.toContain('/chain.pem');
    });

    it('a tampered body', async () => {
        const { headers } = signed();
        const tampered = JSON.stringify({ ...EVENT, EventName: 'referral-created' });
        await expectRefused(delivery(tampered, headers), 'badSignature');
    });

    it('a signature made with another key than the certificate it names (forged)', async () => {
        const { body, headers } = signed({ signer: rogueLeaf, path: '/chain.pem' });
        await expectRefused(delivery(body, headers), 'badSignature');
    });

    it('no signature at all, or one that is not base64', async () => {
        const { body, headers } = signed();
        const { authorization: _, ...unsigned } = headers;
        await expectRefused(delivery(body, unsigned), 'missingSignature');
        await expectRefused(delivery(body, { ...unsigned, authorization: 'Signature %%%' }), 'missingSignature');
        await expectRefused(delivery(body, { ...unsigned, authorization: 'Bearer abc' }), 'missingSignature');
    });

    it('a missing or unknown algorithm', async () => {
        const { body, headers } = signed();
        const { 'x-ms-signature-algorithm': _, ...without } = headers;
        await expectRefused(delivery(body, without), 'unsupportedAlgorithm');
        await expectRefused(
            delivery(body, { ...without, 'x-ms-signature-algorithm': 'rsa-sha1' }),
            'unsupportedAlgorithm',
        );
    });

    it('a missing certificate URL', async () => {
        const { body, headers } = signed();
        const { 'x-ms-certificate-url': _, ...without } = headers;
        await expectRefused(delivery(body, without), 'missingCertificateUrl');
    });

    it('never logs the body or a header value', async () => {
        const { body, headers } = signed({ signer: rogueLeaf, path: '/chain.pem' });
        const { lines, call } = setup();
        await call(delivery(body, headers));
        const text = lines.join('\n');
        for (const value of [REFERRAL_ID, headers.authorization!.slice(10, 40), origin, 'referral-updated']) {
            expect(text).not.toContain(value);
        }
    });
});

describe('POST /api/partner-center/events: the body', () => {
    it('is refused with 413 over the bound, before any check', async () => {
        const { call, queue } = setup();
        const big = 'x'.repeat(MAX_WEBHOOK_BODY_BYTES + 1);
        const signature = sign('sha256', Buffer.from(big), leaf.privateKeyPem).toString('base64');
        const response = await call(
            delivery(big, {
                authorization: `Signature ${signature}`,
                'x-ms-signature-algorithm': 'rsa-sha256',
                'x-ms-certificate-url': `${origin}/chain.pem`,
            }),
        );
        expect(response.status).toBe(413);
        expect(queue.sent).toEqual([]);
        expect(downloads).toEqual([]);
    });
});
