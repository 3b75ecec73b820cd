/**
 * Admission: the one path by which a new referral gets its record, whether it came through the HTTP intake or was
 * published straight to the referrals queue. Validate, hash, create the record or match the one the key already has,
 * and tell a repeat (same key, same body) from a key conflict (same key, another body).
 *
 * A queue delivery usually finds the record the intake (or an earlier delivery, or a retry of the step) made: it is
 * matched by its hash alone, so a retried step does not validate the same body again (the hash walks the body without
 * recursion, however deep). Otherwise validation comes first. The two arrivals differ only where they must: an
 * invalid referral through the intake is answered 400 and nothing is kept; one from the queue has no caller to
 * answer, so it is kept as Rejected with its problems (and never retried).
 *
 * One externalReferenceId, one referral key. Partner Center cannot tell two referrals with the same
 * externalReferenceId apart, so a valid referral is admitted only once its key holds its externalReferenceId (its
 * own, else its key), exactly as given (case-sensitive): a binding document per externalReferenceId, created once and
 * naming the key (store.ts). Two keys at once: the create decides, the other is refused (the intake answers 409
 * naming the key that holds it; a queue arrival is kept Rejected with `ExternalReferenceIdInUse`). The binding is
 * written before the record, so a crash between the two leaves a binding naming a key without a record: the same key
 * retrying finds its own binding and carries on. A binding no longer holds, and another key takes it over (a
 * conditional replace: of two takers one wins), when its key's referral cannot be at Partner Center under it:
 * - its record was Rejected before reaching Partner Center (no partner referral, no attempt of uncertain outcome);
 * - its record carries another externalReferenceId (the binding was written by an arrival that then met a key
 *   conflict), or no valid request;
 * - there is no record ORPHAN_BINDING_GRACE_MS after the binding was written: long after any admission under way
 *   has finished or died (the functions' timeout is 5 minutes), so an admission between its two writes is never
 *   overtaken.
 */
import { isValidKey } from '../messaging/messages';
import { newRecord, type RecordedError, type ReferralRecord, submittedExternalReferenceId, transition } from './record';
import { requestHash } from './request/canonicalJson';
import { type ListedProblems, validateReferral } from './request/validate';
import { bindingId, type ExternalReferenceBinding, type ReferralStore, type StoredRecord } from './store';

/** How long a binding whose key has no record is still taken for an admission under way (see the module comment). */
export const ORPHAN_BINDING_GRACE_MS = 10 * 60_000;

/** How often a binding is tried again after another key took it over first, before giving up. */
const MAX_BINDING_ROUNDS = 3;

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
    /**
     * The referral's externalReferenceId is held by the referral with key `holder`. Through the intake nothing was
     * kept; from the queue (`stored`) its record was created as Rejected with `ExternalReferenceIdInUse`.
     */
    | { outcome: 'externalReferenceIdInUse'; holder: string; stored?: StoredRecord }
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

/** Whether the holder's referral cannot be at Partner Center under `externalReferenceId` (see the module comment). */
async function isReleased(
    store: ReferralStore,
    existing: ExternalReferenceBinding,
    externalReferenceId: string,
    now: Date,
): Promise<boolean> {
    const holder = await store.read(existing.referralKey);
    if (!holder) return now.getTime() - Date.parse(existing.createdAt) >= ORPHAN_BINDING_GRACE_MS;
    const { record } = holder;
    if (!record.request || submittedExternalReferenceId(record) !== externalReferenceId) return true;
    return record.status === 'Rejected' && !record.partnerReferral && !record.lastAttemptUncertain;
}

/**
 * Binds `externalReferenceId` to `key`: created, already this key's, or taken over from a key that released it.
 * Returns the key that holds it instead, if another does.
 */
async function bindExternalReferenceId(
    store: ReferralStore,
    externalReferenceId: string,
    key: string,
    now: Date,
): Promise<string | undefined> {
    const binding: ExternalReferenceBinding = {
        id: bindingId(externalReferenceId),
        kind: 'externalReferenceIdBinding',
        referralKey: key,
        createdAt: now.toISOString(),
    };
    for (let round = 0; round < MAX_BINDING_ROUNDS; round++) {
        const result = await store.bind(binding);
        if (result.bound) return undefined;
        const { binding: held, etag } = result.existing;
        if (held.referralKey === key) return undefined;
        if (!(await isReleased(store, held, externalReferenceId, now))) return held.referralKey;
        if (await store.rebind(binding, etag)) return undefined;
    }
    throw new Error('The externalReferenceId binding kept changing; the admission will be retried.');
}

function inUseError(holder: string): RecordedError {
    return {
        code: 'ExternalReferenceIdInUse',
        message:
            `The externalReferenceId is already used by the referral with key ${holder}; ` +
            'give each referral its own externalReferenceId.',
    };
}

function warningsOf(validation: Listed<'warnings'>): Listed<'warnings'> {
    return { warnings: validation.warnings, warningsOmitted: validation.warningsOmitted };
}

/** Admits one arrival (see the module comment). Store failures are thrown to the caller. */
export async function admit(arrival: Arrival, deps: AdmissionDependencies): Promise<Admission> {
    if (arrival.source === 'queue') {
        const existing = await deps.store.read(arrival.key);
        if (existing) return matched(existing, requestHash(arrival.body), { warnings: [] });
    }
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
    if (validation.ok) return admitValid(record, deps.store, now, warningsOf(validation));
    const result = await deps.store.create(
        transition(record, 'Rejected', now, {
            error: { code: 'InvalidReferral', message: 'The referral is not valid.', problems: validation.problems },
        }),
    );
    if (!result.created) return matched(result.existing, record.requestHash, warningsOf(validation));
    const { problems, problemsOmitted } = validation;
    return { outcome: 'rejected', stored: result.stored, problems, problemsOmitted };
}

/** The answer for a key that has a record already: the same referral again, or a key conflict. */
function matched(existing: StoredRecord, requestHash: string, warnings: Listed<'warnings'>): Admission {
    if (existing.record.requestHash !== requestHash) return { outcome: 'keyConflict', existing };
    return { outcome: 'repeated', stored: existing, ...warnings };
}

/** A valid referral: its record, once its key holds its externalReferenceId (see the module comment). */
async function admitValid(
    record: ReferralRecord,
    store: ReferralStore,
    now: Date,
    warnings: Listed<'warnings'>,
): Promise<Admission> {
    const holder = await bindExternalReferenceId(store, submittedExternalReferenceId(record), record.id, now);
    if (holder !== undefined && record.source === 'http') return { outcome: 'externalReferenceIdInUse', holder };
    const result = await store.create(
        holder === undefined ? record : transition(record, 'Rejected', now, { error: inUseError(holder) }),
    );
    if (!result.created) return matched(result.existing, record.requestHash, warnings);
    if (holder !== undefined) return { outcome: 'externalReferenceIdInUse', holder, stored: result.stored };
    return { outcome: 'admitted', stored: result.stored, ...warnings };
}
