import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

import { serveFaults } from '../faults/dependencyFaults';
import type { BrokerFaultSwitch } from './faults';
import type { DeadLetterEntry, QueueOperations, QueueStats } from './queueReports';

export interface AdminSource {
    stats(): Record<string, QueueStats>;
    /** Sends, receives and settlements per queue (`GET /operations`). */
    operations(): Record<string, QueueOperations>;
    /** undefined when no such queue exists. */
    deadLetters(queue: string): DeadLetterEntry[] | undefined;
    /** The broker's injected faults: `GET`/`PUT /faults`. */
    faults?: BrokerFaultSwitch;
}

export interface AdminServer {
    readonly port: number;
    close(): Promise<void>;
}

/**
 * Counters for tests and benchmarks running in another process, and the switch of injected faults (`/faults`, the
 * only thing that may be PUT). Always bound to loopback, and dead-letter listings never include bodies or
 * application properties: they hold customer data.
 */
export async function startAdminServer(source: AdminSource, port: number): Promise<AdminServer> {
    const server: Server = createServer((request, response) => {
        const send = (status: number, body: unknown): void => {
            response.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
            response.end(JSON.stringify(body));
        };
        const path = new URL(request.url ?? '/', 'http://localhost').pathname.replace(/\/+$/, '');
        if (path === '/faults' && source.faults) {
            void serveFaults(source.faults, request, response);
            return;
        }
        if (request.method !== 'GET') {
            response.setHeader('allow', 'GET');
            send(405, { error: 'Only GET is supported.' });
            return;
        }
        if (path === '/queues') {
            send(200, source.stats());
            return;
        }
        if (path === '/operations') {
            send(200, source.operations());
            return;
        }
        const match = /^\/queues\/([^/]+)\/deadletter$/.exec(path);
        if (match) {
            const entries = source.deadLetters(decodeURIComponent(match[1]!));
            if (entries) {
                send(200, entries);
                return;
            }
        }
        send(404, {
            error: 'Not found. Try GET /queues, GET /operations, GET /queues/<name>/deadletter or GET/PUT /faults.',
        });
    });
    server.listen(port, '127.0.0.1');
    await Promise.race([
        once(server, 'listening'),
        once(server, 'error').then(([error]) => {
            throw error as Error;
        }),
    ]);
    return {
        port: (server.address() as AddressInfo).port,
        close: () =>
            new Promise<void>((resolve) => {
                server.close(() => resolve());
                server.closeAllConnections();
            }),
    };
}
