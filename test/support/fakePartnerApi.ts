import { randomUUID } from 'node:crypto';

import {
    type CandidateLookup,
    type CandidateQuery,
    type PartnerApiCallContext,
    PartnerApiError,
    type PartnerReferral,
} from '../../shared/partnerApi';
import type { PartnerReferralsApi } from '../../shared/pipeline/step';
import type { PartnerReferralUpdatesApi } from '../../shared/pipeline/updateStep';
import { applyPatch, type JsonPatch } from '../../shared/referral/request/jsonPatch';

type Behaviour = PartnerApiError | 'ok' | 'lostAnswer' | 'answerFirst';
/** 'lostAnswer' applies the patch and fails as if the connection broke; 'noContent' applies it and answers 204. */
type PatchBehaviour = PartnerApiError | 'ok' | 'lostAnswer' | 'noContent';

/**
 * A PartnerReferralsApi for handler unit tests: keeps what it "created", and answers each create with the next
 * scripted behaviour ('ok' by default). 'lostAnswer' creates the referral and then fails as if the connection broke;
 * 'answerFirst' creates nothing and answers the first referral (a service that deduplicated on the wrong id).
 */
export class FakePartnerApi implements PartnerReferralsApi, PartnerReferralUpdatesApi {
    readonly referrals: PartnerReferral[] = [];
    readonly creates: Array<{ body: any; context: PartnerApiCallContext }> = [];
    readonly lookups: Array<{ filter: Record<string, unknown>; context: PartnerApiCallContext }> = [];
    readonly script: Behaviour[] = [];
    /** Errors the next lookups fail with, one each. */
    readonly lookupFailures: PartnerApiError[] = [];
    /** Lookups answer every referral in the window, as a server that ignores the filter would. */
    ignoresFilter = false;

    readonly patches: Array<{ id: string; patch: JsonPatch; eTag: string | null; context: PartnerApiCallContext }> = [];
    readonly gets: string[] = [];
    readonly patchScript: PatchBehaviour[] = [];
    /** Edits someone else makes at Partner Center just before the next patches land, one each (a new eTag). */
    readonly concurrentEdits: JsonPatch[] = [];

    constructor(private readonly now: () => Date = () => new Date()) {}

    getReferral(id: string): Promise<PartnerReferral> {
        this.gets.push(id);
        const referral = this.referrals.find((held) => held.id === id);
        if (!referral) return Promise.reject(permanentError(404, 'itemNotFound', 'The referral does not exist.'));
        return Promise.resolve(structuredClone(referral));
    }

    /** As Partner Center does: If-Match (412), Closed is final (400), a new eTag and updatedDateTime per write. */
    patchReferral(
        id: string,
        patch: JsonPatch,
        eTag: string | null,
        context: PartnerApiCallContext,
    ): Promise<PartnerReferral | undefined> {
        this.patches.push({ id, patch: structuredClone(patch), eTag, context });
        const index = this.referrals.findIndex((held) => held.id === id);
        if (index < 0) return Promise.reject(permanentError(404, 'itemNotFound', 'The referral does not exist.'));
        const edit = this.concurrentEdits.shift();
        if (edit) this.write(index, edit);
        const behaviour = this.patchScript.shift() ?? 'ok';
        if (behaviour instanceof PartnerApiError) return Promise.reject(behaviour);
        const held = this.referrals[index]!;
        if (eTag && eTag !== held.eTag) {
            return Promise.reject(permanentError(412, 'preconditionFailed', 'The eTag does not match.'));
        }
        if (held.status === 'Closed') {
            return Promise.reject(permanentError(400, 'invalidRequest', 'A Closed referral cannot change.'));
        }
        this.write(index, patch);
        if (behaviour === 'lostAnswer') {
            return Promise.reject(transientError({ kind: 'network', outcomeUnknown: true }));
        }
        return Promise.resolve(behaviour === 'noContent' ? undefined : structuredClone(this.referrals[index]));
    }

    private write(index: number, patch: JsonPatch): void {
        const result = applyPatch(this.referrals[index], patch);
        if (!result.ok) throw new Error(`The fake could not apply the patch: ${result.message}`);
        this.referrals[index] = {
            ...(result.document as PartnerReferral),
            eTag: `"${randomUUID()}"`,
            updatedDateTime: this.now().toISOString(),
        };
    }

    createReferral(body: object, context: PartnerApiCallContext): Promise<PartnerReferral> {
        this.creates.push({ body: structuredClone(body), context });
        const behaviour = this.script.shift() ?? 'ok';
        if (behaviour instanceof PartnerApiError) return Promise.reject(behaviour);
        if (behaviour === 'answerFirst') return Promise.resolve(structuredClone(this.referrals[0]!));
        const request = body as Record<string, unknown>;
        const referral: PartnerReferral = {
            ...request,
            id: randomUUID(),
            engagementId: (request.engagementId as string | undefined) ?? randomUUID(),
            status: 'Active',
            substatus: 'Accepted',
            eTag: `"${randomUUID()}"`,
            createdDateTime: this.now().toISOString(),
        };
        this.referrals.push(referral);
        if (behaviour === 'lostAnswer') {
            return Promise.reject(transientError({ kind: 'network', outcomeUnknown: true }));
        }
        return Promise.resolve(structuredClone(referral));
    }

    /**
     * The referrals matching the key's fields (the filter a cooperative server applies) and created since
     * `since` less ten minutes, or every referral in that window when `ignoresFilter` (a server that ignores it).
     */
    findCandidates(query: CandidateQuery, context: PartnerApiCallContext): Promise<CandidateLookup> {
        const { since, clockSkewMs: _skew, maxPages: _pages, ...filter } = query;
        this.lookups.push({ filter: { ...filter }, context });
        const failure = this.lookupFailures.shift();
        if (failure) return Promise.reject(failure);
        const cutoff = new Date(since).getTime() - 10 * 60_000;
        const candidates = this.referrals.filter(
            (referral) =>
                Date.parse(referral.createdDateTime!) >= cutoff &&
                (this.ignoresFilter ||
                    Object.entries(filter).every(([name, value]) => value === undefined || referral[name] === value)),
        );
        return Promise.resolve({ candidates: structuredClone(candidates), strategy: 'filter' });
    }
}

export function transientError(
    fields: {
        status?: number;
        retryAfterMs?: number;
        kind?: 'http' | 'network' | 'timeout' | 'auth';
        outcomeUnknown?: boolean;
        code?: string;
    } = {},
): PartnerApiError {
    return new PartnerApiError({
        kind: fields.kind ?? 'http',
        verdict: 'transient',
        operation: 'createReferral',
        status: fields.status,
        retryAfterMs: fields.retryAfterMs,
        outcomeUnknown: fields.outcomeUnknown,
        code: fields.code,
    });
}

export function permanentError(status: number, code: string, apiMessage: string): PartnerApiError {
    return new PartnerApiError({
        kind: 'http',
        verdict: 'permanent',
        operation: 'createReferral',
        status,
        code,
        apiMessage,
    });
}
