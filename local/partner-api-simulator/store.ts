/**
 * The referrals the simulator holds, in creation order, with the server-assigned fields the service adds.
 */
import { randomUUID } from 'node:crypto';

import { type Json } from './validation';

export interface StoredReferral extends Json {
    id: string;
    engagementId: string;
    eTag: string;
    createdDateTime: string;
    updatedDateTime: string;
}

export class ReferralStore {
    private readonly byId = new Map<string, StoredReferral>();
    private tick = 0;

    constructor(private readonly now: () => number) {}

    /** UTC with 7 fractional digits, as the service writes them; the last 4 digits keep stamps unique and ordered. */
    timestamp(): string {
        this.tick = (this.tick + 1) % 10000;
        return new Date(this.now()).toISOString().replace('Z', `${String(this.tick).padStart(4, '0')}Z`);
    }

    /** Cosmos-style quoted eTag, as in the documented answer: "\"00006d10-0000-0000-0000-5c70aa630000\"". */
    newETag(): string {
        return `"${randomUUID()}"`;
    }

    get(id: string): StoredReferral | undefined {
        return this.byId.get(id.toLowerCase());
    }

    save(referral: StoredReferral): void {
        this.byId.set(referral.id.toLowerCase(), referral);
    }

    all(): StoredReferral[] {
        return [...this.byId.values()];
    }

    engagementExists(engagementId: string): boolean {
        const wanted = engagementId.toLowerCase();
        return this.all().some((r) => r.engagementId.toLowerCase() === wanted);
    }

    clear(): void {
        this.byId.clear();
    }
}
