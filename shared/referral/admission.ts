/**
 * Admission: the one path by which a new referral gets its record, whether it came through the HTTP intake or was
 * published straight to the referrals queue. Validate, hash, create the record or match the one the key already has,
 * and tell a repeat (same key, same body) from a key conflict (same key, another body).
 *
 * Validation comes first: it refuses absurd nesting before anything else walks the body, the hash included. The two
 * arrivals differ only where they must: an invalid referral through the intake is answered 400 and nothing is kept;
 * one from the queue has no caller to answer, so it is kept as Rejected with its problems (and never retried).
 */
import { isValidKey } from '../messaging/messages';
import { newRecord, type ReferralRecord, transition } from './record';
import { requestHash } from './request/canonicalJson';
import { type ListedProblems, validateReferral } from './request/validate';
import type { CreateResult, ReferralStore, StoredRecord } from './store';

export interface Arrival {
    key: string;
    /** The parsed JSON body, as the caller or publisher sent it. */
    body: unknown;
    correlationId: string;
    source: ReferralRecord['source'];
    /** Whether the referral's queue message stays within the queue's limit; asked once the body is known valid. */
    fitsOnQueue?: () => boolean;
}

export interface AdmissionDependencies {
    store: ReferralStore;
    now: () => Date;
}

type Listed<K extends 'problems' | 'warnings'> = Pick<ListedProblems, K | `${K}Omitted`>;

export type Admission =
    /** Invalid, through the intake: nothing was kept. */
    | ({ outcome: 'invalid' } & Listed<'problems'>)
    /** Invalid, from the queue: its record was created as Rejected. */
    | ({ outcome: 'rejected'; stored: StoredRecord } & Listed<'problems'>)
    /** Valid, but its queue message would be over the limit: nothing was kept. */
    | { outcome: 'tooLarge' }
    /** The key already belongs to a different referral. */
    | { outcome: 'keyConflict'; existing: StoredRecord }
    /** A new record was created. */
    | ({ outcome: 'admitted'; stored: StoredRecord } & Listed<'warnings'>)
    /** The same referral under the same key again: its existing record. */
    | ({ outcome: 'repeated'; stored: StoredRecord } & Listed<'warnings'>);

/** The caller's or publisher's correlation id when it is usable (the key's character set), else `fallback`. */
export function correlationIdOr(supplied: string | null | undefined, fallback: string): string {
    return supplied && isValidKey(supplied) ? supplied : fallback;
}

/** Whether `body` is another referral than the one `record` was created for. */
export function isKeyConflict(record: ReferralRecord, body: unknown): boolean {
    return record.requestHash !== requestHash(body);
}

/**
 * Tries the likelier case first: a key from the intake is usually new (create), while a queue delivery usually
 * finds the record the intake made (read), which saves a failed create and its read on every such delivery.
 */
async function createOrMatch(
    store: ReferralStore,
    record: ReferralRecord,
    likelyExists: boolean,
): Promise<CreateResult> {
    if (likelyExists) {
        const existing = await store.read(record.id);
        if (existing) return { created: false, existing };
    }
    return store.create(record);
}

function warningsOf(validation: Listed<'warnings'>): Listed<'warnings'> {
    return { warnings: validation.warnings, warningsOmitted: validation.warningsOmitted };
}

/** Admits one arrival (see the module comment). Store failures are thrown to the caller. */
export async function admit(arrival: Arrival, deps: AdmissionDependencies): Promise<Admission> {
    const validation = validateReferral(arrival.body);
    if (!validation.ok && arrival.source === 'http') {
        return { outcome: 'invalid', problems: validation.problems, problemsOmitted: validation.problemsOmitted };
    }

    if (validation.ok && arrival.fitsOnQueue && !arrival.fitsOnQueue()) return { outcome: 'tooLarge' };

    const now = deps.now();
    const record = newRecord({
        id: arrival.key,
        source: arrival.source,
        correlationId: arrival.correlationId,
        requestHash: requestHash(arrival.body),
        request: validation.ok ? validation.referral : null,
        at: now,
    });
    const result = await createOrMatch(
        deps.store,
        validation.ok
            ? record
            : transition(record, 'Rejected', now, {
                  error: {
                      code: 'InvalidReferral',
                      message: 'The referral is not valid.',
                      problems: validation.problems,
                  },
              }),
        arrival.source === 'queue',
    );
    if (!result.created) {
        const { existing } = result;
        if (existing.record.requestHash !== record.requestHash) return { outcome: 'keyConflict', existing };
        return { outcome: 'repeated', stored: existing, ...warningsOf(validation) };
    }
    if (!validation.ok) {
        const { problems, problemsOmitted } = validation;
        return { outcome: 'rejected', stored: result.stored, problems, problemsOmitted };
    }
    return { outcome: 'admitted', stored: result.stored, ...warningsOf(validation) };
}
