/**
 * A time limit for work that might never end (an identity platform or a Key Vault that does not answer). The work
 * gets a signal to give up with, for clients that honour one; whether it does or not, the caller stops waiting when
 * the time is up, so one hung dependency cannot hold a step attempt (or every later token request) for ever.
 */
export class TimeLimitExceeded extends Error {
    override readonly name = 'TimeLimitExceeded';

    constructor(readonly limitMs: number) {
        super(`Gave up waiting after ${limitMs} ms.`);
    }
}

export async function withinTime<T>(limitMs: number, work: (signal: AbortSignal) => Promise<T>): Promise<T> {
    if (limitMs === Number.POSITIVE_INFINITY) return work(new AbortController().signal);
    const controller = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<never>((_, reject) => {
        timer = setTimeout(
            () => {
                controller.abort();
                reject(new TimeLimitExceeded(limitMs));
            },
            Math.max(0, limitMs),
        );
    });
    const running = work(controller.signal);
    // Settled later or never: nobody may be waiting for it any more, so its failure must not go unhandled.
    running.catch(() => undefined);
    try {
        return await Promise.race([running, expired]);
    } finally {
        clearTimeout(timer);
    }
}
