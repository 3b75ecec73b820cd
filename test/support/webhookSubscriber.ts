/**
 * An Event Grid webhook subscriber for tests, on loopback: answers the CloudEvents validation handshake (unless told
 * not to) by echoing WebHook-Request-Origin in WebHook-Allowed-Origin, records each event POSTed to it, and fails
 * the first `failFirst` deliveries with a 500.
 */
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ReceivedEvent {
    contentType?: string;
    event: { id: string; type: string; subject?: string; data?: Record<string, unknown> } & Record<string, unknown>;
}

export interface WebhookSubscriber {
    url: string;
    received: ReceivedEvent[];
    /** The WebHook-Request-Origin of each handshake. */
    handshakes: Array<string | undefined>;
    close(): Promise<void>;
}

export async function startWebhookSubscriber(
    options: { handshake?: boolean; failFirst?: number } = {},
): Promise<WebhookSubscriber> {
    const received: ReceivedEvent[] = [];
    const handshakes: Array<string | undefined> = [];
    let failures = options.failFirst ?? 0;
    const server: Server = createServer((request: IncomingMessage, response) => {
        if (request.method === 'OPTIONS') {
            const origin = request.headers['webhook-request-origin'] as string | undefined;
            handshakes.push(origin);
            if (options.handshake === false) response.writeHead(403).end();
            else response.writeHead(200, { 'WebHook-Allowed-Origin': origin ?? '' }).end();
            return;
        }
        const chunks: Buffer[] = [];
        request.on('data', (chunk: Buffer) => chunks.push(chunk));
        request.on('end', () => {
            if (failures > 0) {
                failures--;
                response.writeHead(500).end();
                return;
            }
            received.push({
                contentType: request.headers['content-type'],
                event: JSON.parse(Buffer.concat(chunks).toString('utf8')) as ReceivedEvent['event'],
            });
            response.writeHead(200).end();
        });
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    return {
        url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/events`,
        received,
        handshakes,
        close: () =>
            new Promise<void>((resolve) => {
                server.close(() => resolve());
                server.closeAllConnections();
            }),
    };
}
