/** What the simulator records about each API request: identifiers and outcome, never bodies or tokens. */
import { type InjectedFault } from './faults';

export interface RequestLogEntry {
    method: string;
    /** Path and query (ids and filters only: the API carries no customer data in URLs). */
    path: string;
    requestId?: string;
    correlationId?: string;
    /** ISO time the request arrived, and the same in epoch milliseconds. */
    time: string;
    at: number;
    fault: InjectedFault;
    latencyMs: number;
    /** The status answered, or that would have been answered for a lost answer; absent for a hung request. */
    status?: number;
    referralId?: string;
    /** The answer's `Retry-After` in seconds (a 429, a 503), so a client's next request can be checked against it. */
    retryAfterSeconds?: number;
    /** The answer was the one given earlier to a POST with the same `MS-RequestId` (`dedupeOnRequestId`). */
    deduplicated?: true;
}

/** Enough for a full reliability run (2,000 referrals, their updates, lookups, syncs: about 25,000 requests). */
export const MAX_LOG_ENTRIES = 100_000;

export class RequestLog {
    private entries: RequestLogEntry[] = [];

    add(entry: RequestLogEntry): RequestLogEntry {
        this.entries.push(entry);
        if (this.entries.length > MAX_LOG_ENTRIES) this.entries.splice(0, this.entries.length - MAX_LOG_ENTRIES);
        return entry;
    }

    all(): RequestLogEntry[] {
        return this.entries.map((e) => ({ ...e }));
    }

    clear(): void {
        this.entries = [];
    }
}
