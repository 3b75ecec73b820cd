import { once } from 'node:events';
import { connect, createServer, type Server, type Socket } from 'node:net';

/**
 * A loopback TCP relay in front of a local peer (the broker, the Cosmos emulator), to stage its outage without
 * losing its state: `down()` drops every connection and refuses new ones (ECONNREFUSED, as a peer that is gone),
 * `up()` listens again on the same port. The app connects to the relay's port instead of the peer's.
 */
export interface OutageRelay {
    readonly port: number;
    down(): Promise<void>;
    up(): Promise<void>;
    close(): Promise<void>;
}

export async function startOutageRelay(targetPort: number): Promise<OutageRelay> {
    const sockets = new Set<Socket>();
    const track = (socket: Socket) => {
        sockets.add(socket);
        socket.once('close', () => sockets.delete(socket));
    };
    const relay = (client: Socket) => {
        track(client);
        const peer = connect(targetPort, '127.0.0.1');
        track(peer);
        client.pipe(peer).pipe(client);
        const end = () => {
            client.destroy();
            peer.destroy();
        };
        client.once('error', end).once('close', end);
        peer.once('error', end).once('close', end);
    };
    let server: Server | undefined;
    let port = 0;
    const listen = async () => {
        server = createServer(relay);
        server.listen(port, '127.0.0.1');
        await once(server, 'listening');
        port = (server.address() as { port: number }).port;
    };
    const stop = async () => {
        const closing = server;
        server = undefined;
        if (!closing) return;
        const closed = once(closing, 'close');
        closing.close();
        for (const socket of sockets) socket.destroy();
        await closed;
    };
    await listen();
    return {
        get port() {
            return port;
        },
        down: stop,
        up: async () => {
            if (!server) await listen();
        },
        close: stop,
    };
}
