/**
 * A local stand-in for an Event Grid custom topic in the CloudEvents 1.0 input schema, on loopback, that the real
 * `@azure/eventgrid` EventGridPublisherClient publishes to with a key (`aeg-sas-key`), and that delivers what it
 * accepts to webhook subscribers as Event Grid does:
 * - `POST /api/events` takes a batch (`application/cloudevents-batch+json`), all or nothing, 200 with an empty body;
 *   a wrong key is 401, a malformed batch 400, and while the fault switch refuses publishes, 503 with Retry-After;
 * - each subscriber is first validated with the CloudEvents webhook handshake (`OPTIONS` with
 *   `WebHook-Request-Origin: eventgrid.azure.net`, answered with a matching `WebHook-Allowed-Origin`); then each
 *   event is POSTed to it on its own (`application/cloudevents+json`, structured mode), retried with a doubling delay
 *   on a failure or a non-2xx answer, and dead-lettered (kept in the admin listing) after MAX_DELIVERY_ATTEMPTS;
 * - `GET /_admin/events`: the events published, in order, and each delivery's state; `GET/PUT /_admin/faults`:
 *   `{ "refuseForMs": 30000 }` refuses publishes for that long (0 stops), GET also counts the publishes refused so
 *   far (`refused`); `PUT /_admin/subscribers`:
 *   `{ "urls": [...] }` replaces the subscribers.
 * Events hold no customer data (the app publishes identifiers and statuses), so the admin listing shows them whole.
 */
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

export const LOCAL_TOPIC_KEY = 'local-event-grid-topic-key';
export const HANDSHAKE_ORIGIN = 'eventgrid.azure.net';
export const MAX_DELIVERY_ATTEMPTS = 8;
const MAX_BATCH_BYTES = 1024 * 1024;
const DELIVERY_TIMEOUT_MS = 10_000;

export interface PublishedEvent {
    specversion: string;
    id: string;
    type: string;
    source: string;
    subject?: string;
    time?: string;
    datacontenttype?: string;
    data?: unknown;
}

export interface Delivery {
    subscriber: string;
    id: string;
    state: 'pending' | 'delivered' | 'deadLettered';
    attempts: number;
}

export interface LocalTopicOptions {
    port?: number;
    host?: string;
    key?: string;
    subscribers?: string[];
    /** The first retry's delay (doubling after that); short in tests. */
    retryDelayMs?: number;
    /** Told of each event accepted (`npm start` prints them). */
    onPublished?: (event: PublishedEvent) => void;
}

export interface LocalTopic {
    /** The endpoint to publish to (EVENT_GRID_TOPIC_ENDPOINT). */
    readonly endpoint: string;
    readonly url: string;
    readonly key: string;
    readonly published: PublishedEvent[];
    readonly deliveries: Delivery[];
    /** Publishes refused by the fault switch so far. */
    readonly refused: number;
    setSubscribers(urls: string[]): void;
    /** Refuses publishes for `ms` from now (0: accepts again). */
    refusePublishes(ms: number): void;
    /** Settles once every delivery so far is delivered or dead-lettered. */
    idle(): Promise<void>;
    close(): Promise<void>;
}

function isCloudEvent(value: unknown): value is PublishedEvent {
    const event = value as Partial<PublishedEvent> | null;
    return (
        typeof event === 'object' &&
        event !== null &&
        event.specversion === '1.0' &&
        [event.id, event.type, event.source].every((field) => typeof field === 'string' && field !== '')
    );
}

async function readBody(request: IncomingMessage): Promise<string | undefined> {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of request as AsyncIterable<Buffer>) {
        size += chunk.length;
        if (size > MAX_BATCH_BYTES) return undefined;
        chunks.push(chunk);
    }
    return Buffer.concat(chunks).toString('utf8');
}

function send(response: ServerResponse, status: number, body?: unknown, headers: Record<string, string> = {}): void {
    response.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', ...headers });
    response.end(body === undefined ? '' : JSON.stringify(body));
}

/** One subscriber's queue: validated once by the handshake, then each event in turn, with retries. */
class Subscription {
    private validated = false;
    private chain: Promise<void> = Promise.resolve();

    constructor(
        readonly url: string,
        private readonly retryDelayMs: number,
        private readonly closed: AbortSignal,
    ) {}

    deliver(event: PublishedEvent, delivery: Delivery): Promise<void> {
        this.chain = this.chain.then(() => this.attempt(event, delivery));
        return this.chain;
    }

    private async handshake(): Promise<boolean> {
        const answer = await fetch(this.url, {
            method: 'OPTIONS',
            headers: { 'WebHook-Request-Origin': HANDSHAKE_ORIGIN },
            signal: AbortSignal.timeout(DELIVERY_TIMEOUT_MS),
        });
        const allowed = answer.headers.get('webhook-allowed-origin');
        return answer.ok && (allowed === '*' || allowed?.toLowerCase() === HANDSHAKE_ORIGIN);
    }

    private async attempt(event: PublishedEvent, delivery: Delivery): Promise<void> {
        while (!this.closed.aborted) {
            delivery.attempts++;
            try {
                this.validated ||= await this.handshake();
                if (this.validated) {
                    const answer = await fetch(this.url, {
                        method: 'POST',
                        headers: { 'content-type': 'application/cloudevents+json; charset=utf-8' },
                        body: JSON.stringify(event),
                        signal: AbortSignal.timeout(DELIVERY_TIMEOUT_MS),
                    });
                    await answer.arrayBuffer();
                    if (answer.ok) {
                        delivery.state = 'delivered';
                        return;
                    }
                }
            } catch {
                // Unreachable or timed out: retried below, as a refusal is.
            }
            if (delivery.attempts >= MAX_DELIVERY_ATTEMPTS) {
                delivery.state = 'deadLettered';
                return;
            }
            await sleep(this.retryDelayMs * 2 ** (delivery.attempts - 1), undefined, { signal: this.closed }).catch(
                () => undefined,
            );
        }
    }
}

export async function startLocalTopic(options: LocalTopicOptions = {}): Promise<LocalTopic> {
    const key = options.key ?? LOCAL_TOPIC_KEY;
    const retryDelayMs = options.retryDelayMs ?? 1_000;
    const closing = new AbortController();
    const published: PublishedEvent[] = [];
    const deliveries: Delivery[] = [];
    const inFlight = new Set<Promise<void>>();
    let subscriptions: Subscription[] = [];
    let refusingUntil = 0;
    let refused = 0;

    const setSubscribers = (urls: string[]) => {
        subscriptions = urls.map((url) => new Subscription(url, retryDelayMs, closing.signal));
    };
    setSubscribers(options.subscribers ?? []);

    const accept = (event: PublishedEvent) => {
        published.push(event);
        options.onPublished?.(event);
        for (const subscription of subscriptions) {
            const delivery: Delivery = { subscriber: subscription.url, id: event.id, state: 'pending', attempts: 0 };
            deliveries.push(delivery);
            const running = subscription.deliver(event, delivery);
            inFlight.add(running);
            void running.finally(() => inFlight.delete(running));
        }
    };

    const publish = async (request: IncomingMessage, response: ServerResponse) => {
        if (request.headers['aeg-sas-key'] !== key) {
            send(response, 401, { error: { code: 'Unauthorized', message: 'The request has no valid aeg-sas-key.' } });
            return;
        }
        const waitMs = refusingUntil - Date.now();
        if (waitMs > 0) {
            refused++;
            send(
                response,
                503,
                { error: { code: 'ServiceUnavailable', message: 'Refusing publishes (fault).' } },
                {
                    'retry-after': String(Math.ceil(waitMs / 1000)),
                },
            );
            return;
        }
        const text = await readBody(request);
        let batch: unknown;
        try {
            batch = text === undefined ? undefined : JSON.parse(text);
        } catch {
            batch = undefined;
        }
        const contentType = request.headers['content-type'] ?? '';
        if (!contentType.startsWith('application/cloudevents-batch+json') || !Array.isArray(batch)) {
            send(response, 400, {
                error: { code: 'BadRequest', message: 'Expected a CloudEvents batch (JSON array).' },
            });
            return;
        }
        if (!batch.every(isCloudEvent)) {
            send(response, 400, {
                error: { code: 'BadRequest', message: 'Each event needs specversion 1.0, id, type, source.' },
            });
            return;
        }
        for (const event of batch) accept(event);
        send(response, 200);
    };

    const admin = async (path: string, request: IncomingMessage, response: ServerResponse) => {
        if (path === '/_admin/events' && request.method === 'GET') {
            send(response, 200, { published, deliveries });
        } else if (path === '/_admin/faults' && request.method === 'GET') {
            send(response, 200, {
                refusingUntil: refusingUntil > Date.now() ? new Date(refusingUntil).toISOString() : null,
                refused,
            });
        } else if (path === '/_admin/faults' && request.method === 'PUT') {
            const body = JSON.parse((await readBody(request)) ?? '{}') as { refuseForMs?: unknown };
            if (typeof body.refuseForMs !== 'number' || body.refuseForMs < 0) {
                send(response, 400, { error: 'Expected { "refuseForMs": <milliseconds, 0 to stop> }.' });
                return;
            }
            refusingUntil = Date.now() + body.refuseForMs;
            send(response, 200, { refuseForMs: body.refuseForMs });
        } else if (path === '/_admin/subscribers' && request.method === 'PUT') {
            const body = JSON.parse((await readBody(request)) ?? '{}') as { urls?: unknown };
            if (!Array.isArray(body.urls) || !body.urls.every((url) => typeof url === 'string')) {
                send(response, 400, { error: 'Expected { "urls": [<webhook URL>, ...] }.' });
                return;
            }
            setSubscribers(body.urls);
            send(response, 200, { urls: body.urls });
        } else {
            send(response, 404, {
                error: 'Not found. Try POST /api/events, GET /_admin/events, GET/PUT /_admin/faults, PUT /_admin/subscribers.',
            });
        }
    };

    const server: Server = createServer((request, response) => {
        const path = new URL(request.url ?? '/', 'http://localhost').pathname.replace(/\/+$/, '');
        const handled =
            path === '/api/events' && request.method === 'POST'
                ? publish(request, response)
                : admin(path, request, response);
        handled.catch(() => {
            if (!response.headersSent) send(response, 400, { error: 'Unreadable request.' });
        });
    });
    const host = options.host ?? '127.0.0.1';
    server.listen(options.port ?? 0, host);
    await Promise.race([
        once(server, 'listening'),
        once(server, 'error').then(([error]) => {
            throw error as Error;
        }),
    ]);
    const url = `http://${host}:${(server.address() as AddressInfo).port}`;
    return {
        endpoint: `${url}/api/events`,
        url,
        key,
        published,
        deliveries,
        get refused() {
            return refused;
        },
        setSubscribers,
        refusePublishes(ms) {
            refusingUntil = Date.now() + ms;
        },
        async idle() {
            while (inFlight.size > 0) await Promise.allSettled([...inFlight]);
        },
        close: () => {
            closing.abort();
            return new Promise<void>((resolve) => {
                server.close(() => resolve());
                server.closeAllConnections();
            });
        },
    };
}
