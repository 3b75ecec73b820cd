/**
 * The load of the reliability suite: which referrals are sent, how (HTTP or the queue, once or twice), and which
 * updates follow them. Every customer value carries the run's canary and the referral's index, so the checks can tell
 * whose data a referral at the Partner API holds (and that none reaches an answer or a log line).
 *
 * Besides plain referrals the load holds what issue 12 found dangerous:
 * - colliding `externalReferenceId`s: groups of keys (HTTP and queue) sharing one, of which exactly one may reach
 *   Partner Center; the others are answered 409 (HTTP) or kept Rejected (queue), both `ExternalReferenceIdInUse`;
 * - keys differing only in case (`…-K9`, `…-k9`): two referrals, with externalReferenceIds (their keys) that a
 *   case-insensitive `$filter` confuses;
 * and, for issue 14, updates and closes of a third of the HTTP referrals (some repeated, some published to
 * `referral-updates`, one refused on arrival per queue publisher).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

type Json = Record<string, unknown>;

/** The parts of the seed body the suite changes. */
export interface ReferralBody extends Json {
    type: string;
    target?: unknown;
    externalReferenceId?: string;
    customerProfile: { name: string; team: Array<{ email?: string }> } & Json;
    details: { notes?: string } & Json;
    team: Json[];
}

export interface PlannedUpdate {
    /** The update key: the Idempotency-Key (HTTP) or the messageId (queue). */
    key: string;
    channel: 'http' | 'queue';
    /** Sent twice: two concurrent PATCHes with the same key, or the same message published twice. */
    repeat: boolean;
    patch: Json[];
    /** `Rejected`: refused on arrival (a path that may not change), never sent to the Partner API. */
    expected: 'Applied' | 'Rejected';
}

export interface UpdatePlan {
    updates: PlannedUpdate[];
    /** What the partner's referral must hold once every update is applied (each exactly once). */
    dealValue: number;
    memberEmail: string;
    closedAs?: 'Won' | 'Lost';
}

export interface Planned {
    index: number;
    key: string;
    type: 'Shared' | 'Independent';
    channel: 'http' | 'queue';
    repeat: boolean;
    invalid: boolean;
    externalReferenceId?: string;
    /** The externalReferenceId shared with other planned referrals: only one of them may be submitted. */
    collisionGroup?: string;
    updates?: UpdatePlan;
    body: ReferralBody;
}

export function seedBody(root: string): ReferralBody {
    const path = join(root, 'test', 'fixtures', 'seed-shared-referral.request.json');
    return JSON.parse(readFileSync(path, 'utf8')) as ReferralBody;
}

/** The externalReferenceId the app gives the referral: the caller's, else its key. */
export function externalReferenceIdOf(p: Planned): string {
    return p.externalReferenceId ?? p.key;
}

/** Keys differing only in case: `K<i>` at i % 20 = 9, `k<i - 10>` at i % 20 = 19. */
function keyOf(runId: string, i: number): string {
    if (i % 20 === 9) return `${runId}-K${i}`;
    if (i % 20 === 19) return `${runId}-k${i - 10}`;
    return `${runId}-${i}`;
}

/** i % 10 = 5 brings its own; i % 20 = 15 (HTTP) and 13 (queue) reuse the one of i % 20 = 5. */
function externalReferenceIdFor(runId: string, i: number): string | undefined {
    if (i % 20 === 15) return `${runId}-ext-${i - 10}`;
    if (i % 20 === 13) return `${runId}-ext-${i - 8}`;
    if (i % 10 === 5) return `${runId}-ext-${i}`;
    return undefined;
}

function planUpdates(p: Planned, ordinal: number, canary: string, seed: ReferralBody): UpdatePlan {
    const memberEmail = `${canary.toLowerCase()}.seller.${p.index}@example.test`;
    const member = { ...structuredClone(seed.team[0]), firstName: 'Casey', lastName: 'Seller', email: memberEmail };
    const dealValue = 70_000 + p.index;
    const viaQueue = ordinal % 3 === 0;
    const closedAs = viaQueue ? undefined : ordinal % 2 === 0 ? 'Won' : 'Lost';
    const update = (name: string, patch: Json[], more: Partial<PlannedUpdate> = {}): PlannedUpdate => ({
        key: `${p.key}.${name}`,
        channel: 'http',
        repeat: false,
        patch,
        expected: 'Applied',
        ...more,
    });
    const updates = [
        update('deal1', [{ op: 'replace', path: '/details/dealValue', value: 60_000 + p.index }], {
            repeat: ordinal % 2 === 0,
        }),
        update('member', [{ op: 'add', path: '/team/-', value: member }], {
            channel: viaQueue ? 'queue' : 'http',
            repeat: viaQueue || ordinal % 4 === 1,
        }),
    ];
    // A publisher's invalid update: recorded Rejected on arrival, its value never echoed or logged.
    if (viaQueue) {
        updates.push(
            update('bad', [{ op: 'replace', path: '/id', value: `${canary}-id-${p.index}` }], {
                channel: 'queue',
                expected: 'Rejected',
            }),
        );
    }
    updates.push(update('deal2', [{ op: 'replace', path: '/details/dealValue', value: dealValue }]));
    // Last: after Closed nothing may change. Never after a queued member, whose place in the order is the worker's.
    if (closedAs) {
        updates.push(
            update('close', [
                { op: 'replace', path: '/status', value: 'Closed' },
                { op: 'replace', path: '/substatus', value: closedAs },
            ]),
        );
    }
    return { updates, dealValue, memberEmail, closedAs };
}

export function plan(count: number, runId: string, canary: string, seed: ReferralBody): Planned[] {
    const planned: Planned[] = [];
    for (let i = 0; i < count; i++) {
        const type = i % 2 === 0 ? 'Shared' : 'Independent';
        const body = structuredClone(seed);
        body.type = type;
        if (type === 'Independent') delete body.target;
        // Customer data with a canary: it must never show up in an answer or a log line.
        body.customerProfile.name = `${canary}-customer-${i}`;
        body.customerProfile.team[0]!.email = `${canary.toLowerCase()}.${i}@example.test`;
        body.details.notes = `${canary} notes of referral ${i}`;
        const p: Planned = {
            index: i,
            key: keyOf(runId, i),
            type,
            channel: i % 10 === 3 ? 'queue' : 'http',
            repeat: i % 10 === 7 || i % 10 === 3,
            invalid: false,
            body,
        };
        const ext = externalReferenceIdFor(runId, i);
        if (ext !== undefined) {
            p.externalReferenceId = ext;
            body.externalReferenceId = ext;
        }
        planned.push(p);
    }
    const sharing = new Map<string, number>();
    for (const p of planned) sharing.set(externalReferenceIdOf(p), (sharing.get(externalReferenceIdOf(p)) ?? 0) + 1);
    let ordinal = 0;
    for (const p of planned) {
        const ext = externalReferenceIdOf(p);
        if (sharing.get(ext)! > 1) p.collisionGroup = ext;
        // Updates need the record, which a 202 proves exists, and a referral sure to reach Partner Center.
        else if (p.channel === 'http' && p.index % 3 === 0) p.updates = planUpdates(p, ordinal++, canary, seed);
    }
    // Invalid referrals published straight to the queue: recorded as Rejected, never sent to the Partner API.
    const invalid = Math.max(2, Math.round(count / 100));
    for (let i = 0; i < invalid; i++) {
        const body = structuredClone(seed);
        body.type = `${canary}-NotAType`;
        body.customerProfile.name = `${canary}-invalid-${i}`;
        planned.push({
            index: count + i,
            key: `${runId}-bad-${i}`,
            type: 'Shared',
            channel: 'queue',
            repeat: false,
            invalid: true,
            body,
        });
    }
    return planned;
}

/**
 * Every planned referral's index found in a referral at the Partner API (customer name, contacts' emails, notes, the
 * seller an update added): more than one means one customer's data sits in another's referral.
 */
export function customerIndexes(referral: unknown, canary: string): Set<number> {
    const text = JSON.stringify(referral);
    const found = new Set<number>();
    const patterns = [
        new RegExp(`${canary}-customer-(\\d+)`, 'g'),
        new RegExp(`${canary} notes of referral (\\d+)`, 'g'),
        new RegExp(`${canary.toLowerCase()}\\.(?:seller\\.)?(\\d+)@`, 'g'),
    ];
    for (const pattern of patterns) for (const match of text.matchAll(pattern)) found.add(Number(match[1]));
    return found;
}
