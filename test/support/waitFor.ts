/**
 * Polling for tests that wait on something asynchronous (a queue draining, a referral reaching a status, a child
 * process printing its address). One helper, so every wait fails the same way: after a deadline, naming what it
 * waited for and what it saw last, instead of hanging until Jest's own timeout says nothing useful.
 */

const POLL_INTERVAL_MS = 25;

/**
 * Calls `check` until it returns something other than undefined or false, and returns that. Fails after `timeoutMs`
 * with "Timed out after … waiting for <what>"; `what` may be a function, read at the deadline, to describe the state.
 */
export async function waitFor<T>(
    what: string | (() => string),
    check: () => T | undefined | false | Promise<T | undefined | false>,
    timeoutMs = 20_000,
): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
        const value = await check();
        if (value !== undefined && value !== false) return value;
        if (Date.now() > deadline) {
            throw new Error(`Timed out after ${timeoutMs} ms waiting for ${typeof what === 'string' ? what : what()}`);
        }
        await new Promise((resolve) => setTimeout(resolve, POLL_INTERVAL_MS));
    }
}

/**
 * Waits until `read(key)` shows the referral in `expected` status (a record from the store, or the status document
 * from the HTTP API), and returns what it read.
 */
export async function waitForStatus<T extends { status: string }>(
    read: (key: string) => Promise<T | undefined>,
    key: string,
    expected: string,
    timeoutMs?: number,
): Promise<T> {
    let seen: string | undefined;
    return waitFor(
        () => `${key} to be ${expected} (it is ${seen ?? 'absent'})`,
        async () => {
            const current = await read(key);
            seen = current?.status;
            return current?.status === expected ? current : undefined;
        },
        timeoutMs,
    );
}
