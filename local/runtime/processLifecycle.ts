/**
 * Clean shutdown for the runtime's processes: SIGINT (Ctrl-C), SIGTERM, or the parent going away (the IPC channel
 * closes when `npm start` dies) all run `stop` once, then exit. A second signal while stopping exits at once.
 */
export function onShutdown(name: string, stop: () => Promise<void>): void {
    let stopping = false;
    const shutdown = (reason: string) => {
        if (stopping) {
            console.error(`[${name}] ${reason} again: exiting without waiting.`);
            process.exit(1);
        }
        stopping = true;
        console.log(`[${name}] ${reason}: stopping...`);
        stop().then(
            () => process.exit(0),
            (error: unknown) => {
                console.error(
                    `[${name}] failed to stop cleanly: ${error instanceof Error ? error.message : String(error)}`,
                );
                process.exit(1);
            },
        );
    };
    process.on('SIGINT', () => shutdown('SIGINT'));
    process.on('SIGTERM', () => shutdown('SIGTERM'));
    if (process.send) process.on('disconnect', () => shutdown('parent process gone'));
}

/** Tells the parent (`npm start`) that this process is ready, when there is a parent listening. */
export function reportReady(message: Record<string, unknown>): void {
    process.send?.({ type: 'ready', ...message });
}

/** The message a parent sends to ask for this process's CPU time, and the answer's type. */
export const CPU_USAGE_REQUEST = 'cpuUsage';

/**
 * Answers a parent's `{ type: 'cpuUsage' }` with `process.cpuUsage()` (µs of user and system CPU time so far): the
 * benchmarks measure the host's CPU per request with it, which wall time on shared cores cannot show.
 */
export function answerCpuUsage(): void {
    if (!process.send) return;
    process.on('message', (message: { type?: unknown }) => {
        if (message?.type === CPU_USAGE_REQUEST) process.send?.({ type: CPU_USAGE_REQUEST, usage: process.cpuUsage() });
    });
}

export function errorText(error: unknown): string {
    return error instanceof Error ? error.message : String(error);
}
