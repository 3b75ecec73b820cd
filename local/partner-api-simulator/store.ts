/**
 * The referrals the simulator holds, in creation order, with the server-assigned fields the service adds. Each
 * referral keeps its last few versions with the time they were written, so a reader can be shown the state of some
 * milliseconds ago: the list of a real service lags behind its writes.
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

/** Versions kept per referral for lagging reads; enough for any lag shorter than that many writes. */
const MAX_VERSIONS = 20;

interface Version {
    writtenAt: number;
    referral: StoredReferral;
}

export class ReferralStore {
    private readonly byId = new Map<string, Version[]>();
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

    /** The latest version, or with `lagMs` the latest written at least that long ago (undefined if none was). */
    get(id: string, lagMs = 0): StoredReferral | undefined {
        const versions = this.byId.get(id.toLowerCase());
        return versions && this.visible(versions, lagMs);
    }

    save(referral: StoredReferral): void {
        const key = referral.id.toLowerCase();
        const versions = this.byId.get(key) ?? [];
        versions.push({ writtenAt: this.now(), referral });
        if (versions.length > MAX_VERSIONS) versions.shift();
        this.byId.set(key, versions);
    }

    /** Every referral in creation order, as `get` sees it. */
    all(lagMs = 0): StoredReferral[] {
        return [...this.byId.values()].flatMap((versions) => this.visible(versions, lagMs) ?? []);
    }

    /** How many referrals are held (each has at least one version). */
    count(): number {
        return this.byId.size;
    }

    private visible(versions: Version[], lagMs: number): StoredReferral | undefined {
        if (lagMs <= 0) return versions[versions.length - 1]!.referral;
        const cutoff = this.now() - lagMs;
        return versions.findLast((version) => version.writtenAt <= cutoff)?.referral;
    }

    engagementExists(engagementId: string): boolean {
        const wanted = engagementId.toLowerCase();
        return this.all().some((r) => r.engagementId.toLowerCase() === wanted);
    }

    clear(): void {
        this.byId.clear();
    }
}
