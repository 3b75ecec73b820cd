import { startBroker } from './broker';
import { APP_QUEUES } from './queues';

/** Runs the development broker on its own: `node dist/local/servicebus/cli.js`. */

function portFrom(name: string, fallback: number): number {
    const raw = process.env[name];
    if (raw === undefined || raw === '') return fallback;
    const port = Number(raw);
    if (!Number.isInteger(port) || port < 0 || port > 65535)
        throw new Error(`${name} must be a port number, got "${raw}".`);
    return port;
}

async function main(): Promise<void> {
    const broker = await startBroker({
        queues: APP_QUEUES,
        port: portFrom('SERVICEBUS_PORT', 5672),
        adminPort: portFrom('SERVICEBUS_ADMIN_PORT', 5673),
    });
    console.log(`Service Bus dev broker listening on 127.0.0.1:${broker.port}`);
    console.log(`Queues: ${APP_QUEUES.map((q) => q.name).join(', ')}`);
    console.log(`Admin: http://127.0.0.1:${broker.adminPort}/queues`);
    console.log(`Connection string: ${broker.connectionString}`);

    let stopping = false;
    const stop = (signal: string): void => {
        if (stopping) return;
        stopping = true;
        console.log(`${signal}: stopping (messages in memory are discarded)`);
        broker.close().then(
            () => process.exit(0),
            (error: unknown) => {
                console.error('Failed to stop cleanly:', error);
                process.exit(1);
            },
        );
    };
    process.on('SIGINT', () => stop('SIGINT'));
    process.on('SIGTERM', () => stop('SIGTERM'));
}

main().catch((error: unknown) => {
    console.error('Service Bus dev broker failed to start:', error);
    process.exit(1);
});
