import type { RequestLogEntry } from '../../local/partner-api-simulator/requestLog';
import { createRequestId } from '../../shared/partnerApi/requestIds';

/** The creates of a referral key in the simulator's log: its submit and its connect, each with its own MS-RequestId. */
export function createsFor(requests: readonly RequestLogEntry[], key: string): RequestLogEntry[] {
    const ids = new Set([createRequestId(key, 'submit'), createRequestId(key, 'connect')]);
    return requests.filter((r) => r.method === 'POST' && r.requestId !== undefined && ids.has(r.requestId));
}
