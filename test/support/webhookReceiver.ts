/**
 * A loopback stand-in for the app's webhook endpoint: it checks every delivery with the app's own verifier
 * (shared/partnerCenter/webhookVerification.ts), trusting the simulator's test root and loopback certificate URLs,
 * records the body and the verdict, and answers the statuses it is given, in turn (200 once they run out).
 */
import { X509Certificate } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

import { CertificateCache } from '../../shared/partnerCenter/certificateDownload';
import { verifyWebhook, type WebhookVerdict } from '../../shared/partnerCenter/webhookVerification';

export interface ReceivedWebhook {
    body: Record<string, unknown>;
    verdict: WebhookVerdict;
}

export interface WebhookReceiver {
    /** `http://127.0.0.1:<port>` */
    origin: string;
    received: ReceivedWebhook[];
    /** Statuses to answer, in turn; 200 once they run out. */
    answers: number[];
    close(): Promise<void>;
}

export async function startWebhookReceiver(rootCertificatePem: string): Promise<WebhookReceiver> {
    const trust = {
        certificates: new CertificateCache(),
        certificateHosts: ['127.0.0.1'],
        roots: [new X509Certificate(rootCertificatePem)],
        now: () => new Date(),
    };
    const receiver: Omit<WebhookReceiver, 'origin' | 'close'> = { received: [], answers: [] };
    const server = createServer((req, res) => {
        const chunks: Buffer[] = [];
        req.on('data', (chunk: Buffer) => chunks.push(chunk));
        req.on('end', () => {
            const bytes = Buffer.concat(chunks);
            const headers = { get: (name: string) => (req.headers[name] as string | undefined) ?? null };
            void verifyWebhook(headers, bytes, trust).then((verdict) => {
                receiver.received.push({
                    body: JSON.parse(bytes.toString('utf8')) as Record<string, unknown>,
                    verdict,
                });
                res.writeHead(receiver.answers.shift() ?? 200).end();
            });
        });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return Object.assign(receiver, {
        origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
        close: () => new Promise<void>((resolve) => server.close(() => resolve())),
    });
}
