/**
 * The reliability suite's invariants about what ended up at the Partner API, judged from the simulator's store (the
 * referrals as created and updated) against the plan and the app's records:
 *
 * - exactly once: one referral per live key (and one connected referral per Shared key), nothing stray;
 * - no wrong adoption: each record names the referral created from its own body (externalReferenceId to the case,
 *   the customer, the type; for the connected referral the engagement and the `msft` target);
 * - no customer's data in another customer's engagement;
 * - each update applied exactly once, and settled (Applied, or Rejected when refused on arrival);
 * - every record ends with Partner Center's state, with one history entry per change it saw (issue 15).
 *
 * Each check carries its figures, which the summary prints.
 */
import type { StoredReferral } from '../../local/partner-api-simulator';
import type { PartnerCenterHistoryEntry, ReferralRecord } from '../../shared/referral/record';
import { finalStateOf, type MicrosoftChange } from './microsoft';
import { customerIndexes, externalReferenceIdOf, type Planned } from './plan';

export interface Check {
    name: string;
    ok: boolean;
    detail: string;
    /** The invariant's counts (what must be 0 is named so), printed in the summary. */
    figures?: Record<string, number>;
}

/** What the app shows once a referral is done. */
export function expectedStatus(p: Planned): 'Rejected' | 'Connected' | 'Submitted' {
    if (p.invalid) return 'Rejected';
    return p.type === 'Shared' ? 'Connected' : 'Submitted';
}

export const IN_USE = 'ExternalReferenceIdInUse';

/** A referral of a collision group that lost to the key holding the externalReferenceId (never submitted). */
export function lostCollision(p: Planned, refused: ReadonlySet<string>, record: ReferralRecord | undefined): boolean {
    return p.collisionGroup !== undefined && (refused.has(p.key) || record?.error?.code === IN_USE);
}

export function isMicrosoftTarget(referral: StoredReferral): boolean {
    const target = referral.target as Array<{ type?: string; id?: string }> | undefined;
    return (
        Array.isArray(target) &&
        target.length === 1 &&
        target[0]?.type === 'BusinessProfileLocation' &&
        target[0]?.id === 'msft'
    );
}

function groupBy<T>(items: T[], keyOf: (item: T) => string): Map<string, T[]> {
    const groups = new Map<string, T[]>();
    for (const item of items) {
        const key = keyOf(item);
        groups.set(key, [...(groups.get(key) ?? []), item]);
    }
    return groups;
}

function listed(problems: string[]): string {
    return problems.length ? `; ${problems.slice(0, 10).join(', ')}` : '';
}

export interface PartnerView {
    planned: Planned[];
    /** HTTP referrals answered 409 ExternalReferenceIdInUse. */
    refused: ReadonlySet<string>;
    recordOf: ReadonlyMap<string, ReferralRecord>;
    referrals: StoredReferral[];
    canary: string;
}

/** Exactly one referral (+ one connected for Shared) per live key, and only for them. */
export function exactlyOnceCheck(view: PartnerView): Check {
    const { planned, refused, recordOf, referrals, canary } = view;
    const [connectedHeld, ownHeld] = [
        referrals.filter(isMicrosoftTarget),
        referrals.filter((r) => !isMicrosoftTarget(r)),
    ];
    // Grouped by the exact externalReferenceId: `Order-1` and `order-1` are two referrals.
    const own = groupBy(ownHeld, (r) => (typeof r.externalReferenceId === 'string' ? r.externalReferenceId : ''));
    const connected = groupBy(connectedHeld, (r) => r.engagementId);
    let lost = 0;
    let duplicates = 0;
    let mismatched = 0;
    const problems: string[] = [];
    const expectedExt = new Set<string>();
    let expectedReferrals = 0;
    for (const p of planned) {
        const record = recordOf.get(p.key);
        if (p.invalid || lostCollision(p, refused, record)) {
            const submitted = referrals.filter((r) => customerIndexes(r, canary).has(p.index));
            if (submitted.length > 0) problems.push(`${p.key}: ${p.invalid ? 'invalid' : 'refused'} but submitted`);
            continue;
        }
        const ext = externalReferenceIdOf(p);
        expectedExt.add(ext);
        expectedReferrals += p.type === 'Shared' ? 2 : 1;
        const mine = own.get(ext) ?? [];
        if (mine.length === 0) {
            lost++;
            problems.push(`${p.key}: lost`);
            continue;
        }
        if (mine.length > 1) {
            duplicates += mine.length - 1;
            problems.push(`${p.key}: ${mine.length} referrals`);
        }
        const first = mine[0]!;
        if (record?.partnerReferral?.id !== first.id) {
            mismatched++;
            problems.push(`${p.key}: the record does not name the Partner API's referral`);
        }
        const links = connected.get(first.engagementId) ?? [];
        if (p.type === 'Independent') {
            if (links.length > 0) problems.push(`${p.key}: Independent but connected`);
            continue;
        }
        if (links.length === 0) {
            lost++;
            problems.push(`${p.key}: connected referral lost`);
            continue;
        }
        if (links.length > 1) {
            duplicates += links.length - 1;
            problems.push(`${p.key}: ${links.length} connected referrals`);
        }
        if (record?.connectedReferral?.id !== links[0]!.id) {
            mismatched++;
            problems.push(`${p.key}: the record does not name the connected referral`);
        }
    }
    const ownEngagements = new Set(ownHeld.map((r) => r.engagementId));
    const stray =
        [...own.keys()].filter((ext) => !expectedExt.has(ext)).length +
        [...connected.keys()].filter((id) => !ownEngagements.has(id)).length;
    const figures = { lost, duplicates, mismatched, stray, held: referrals.length, expected: expectedReferrals };
    return {
        name: 'Partner API: exactly one referral (+ one connected for Shared) per key',
        ok: problems.length === 0 && stray === 0 && referrals.length === expectedReferrals,
        detail:
            `${referrals.length} referrals held (expected ${expectedReferrals}); lost ${lost}, duplicates ` +
            `${duplicates}, mismatched ${mismatched}, stray ${stray}${listed(problems)}`,
        figures,
    };
}

/** Each record's partnerReferral / connectedReferral is the referral created from its own body. */
export function adoptionCheck(view: PartnerView): Check {
    const { planned, recordOf, referrals, canary } = view;
    const byId = new Map(referrals.map((r) => [r.id, r]));
    const wrong: string[] = [];
    let named = 0;
    const ownsOnly = (referral: StoredReferral, p: Planned) => {
        const indexes = customerIndexes(referral, canary);
        return indexes.size === 1 && indexes.has(p.index);
    };
    for (const p of planned) {
        const record = recordOf.get(p.key);
        if (!record?.partnerReferral) continue;
        named++;
        const own = byId.get(record.partnerReferral.id);
        if (
            !own ||
            isMicrosoftTarget(own) ||
            own.externalReferenceId !== externalReferenceIdOf(p) ||
            own.type !== p.type ||
            !ownsOnly(own, p)
        ) {
            wrong.push(`${p.key}: partnerReferral ${own ? 'is not its own' : 'does not exist'}`);
            continue;
        }
        if (!record.connectedReferral) continue;
        named++;
        const link = byId.get(record.connectedReferral.id);
        if (
            !link ||
            !isMicrosoftTarget(link) ||
            link.engagementId !== own.engagementId ||
            link.type !== 'Shared' ||
            !ownsOnly(link, p)
        ) {
            wrong.push(`${p.key}: connectedReferral ${link ? 'is not its own' : 'does not exist'}`);
        }
    }
    return {
        name: '0 wrong adoptions (each record names the referral made from its body)',
        ok: wrong.length === 0,
        detail: `${named} referrals named by records; ${wrong.length} not their own${listed(wrong)}`,
        figures: { checked: named, wrongAdoptions: wrong.length },
    };
}

/** Each engagement's referrals carry one customer's data only. */
export function engagementIsolationCheck(view: PartnerView): Check {
    const mixed: string[] = [];
    const engagements = groupBy(view.referrals, (r) => r.engagementId);
    for (const [engagementId, members] of engagements) {
        const indexes = new Set(members.flatMap((r) => [...customerIndexes(r, view.canary)]));
        if (indexes.size > 1) mixed.push(`engagement ${engagementId}: customers ${[...indexes].join(' and ')}`);
    }
    return {
        name: "no customer's data in another customer's engagement",
        ok: mixed.length === 0,
        detail: `${engagements.size} engagements; ${mixed.length} with more than one customer's data${listed(mixed)}`,
        figures: { engagements: engagements.size, mixedEngagements: mixed.length },
    };
}

/** The update statuses nothing moves on from without an operator (Failed waits for a replay). */
export const SETTLED_UPDATE = new Set(['Applied', 'Rejected', 'Failed']);

/** Every planned update settled as expected, and applied exactly once at the Partner API. */
export function updatesCheck(view: PartnerView): Check {
    const byId = new Map(view.referrals.map((r) => [r.id, r]));
    const problems: string[] = [];
    const counts = {
        planned: 0,
        applied: 0,
        rejected: 0,
        unsettled: 0,
        wrongStatus: 0,
        appliedTwice: 0,
        wrongValue: 0,
    };
    for (const p of view.planned) {
        if (!p.updates) continue;
        const record = view.recordOf.get(p.key);
        const recorded = record?.updates ?? [];
        for (const planned of p.updates.updates) {
            counts.planned++;
            const matches = recorded.filter((u) => u.id === planned.key);
            const status = matches[0]?.status ?? 'missing';
            if (status === 'Applied') counts.applied++;
            if (status === 'Rejected') counts.rejected++;
            if (matches.length !== 1 || !SETTLED_UPDATE.has(status)) {
                counts.unsettled++;
                problems.push(`${planned.key}: ${matches.length > 1 ? `recorded ${matches.length} times` : status}`);
            } else if (status !== planned.expected) {
                counts.wrongStatus++;
                problems.push(
                    `${planned.key}: ${status} (${matches[0]!.error?.code ?? 'no error'}), not ${planned.expected}`,
                );
            }
        }
        const held = record?.partnerReferral ? byId.get(record.partnerReferral.id) : undefined;
        if (!held) {
            problems.push(`${p.key}: no partner referral to check its updates on`);
            continue;
        }
        const { dealValue, memberEmail, closedAs } = p.updates;
        const team = Array.isArray(held.team) ? (held.team as Array<{ email?: string }>) : [];
        const members = team.filter((member) => member.email === memberEmail).length;
        if (members > 1) counts.appliedTwice++;
        const details = held.details as { dealValue?: number } | undefined;
        const [status, substatus] = closedAs ? ['Closed', closedAs] : ['Active', 'Accepted'];
        const wrong = [
            members !== 1 && `the seller ${members} times`,
            details?.dealValue !== dealValue && `deal value ${details?.dealValue} (not the last update's)`,
            (held.status !== status || held.substatus !== substatus) &&
                `${String(held.status)}/${String(held.substatus)}`,
            record!.partnerReferral!.eTag !== held.eTag && 'the record keeps an older eTag',
        ].filter((x): x is string => typeof x === 'string');
        if (wrong.length) {
            counts.wrongValue++;
            problems.push(`${p.key}: ${wrong.join(', ')}`);
        }
    }
    return {
        name: 'each update applied exactly once, and settled',
        ok: problems.length === 0,
        detail:
            `${counts.planned} updates planned; Applied ${counts.applied}, Rejected ${counts.rejected} ` +
            `(expected: the invalid ones); not settled ${counts.unsettled}, applied twice ${counts.appliedTwice}, ` +
            `referrals with a wrong final value ${counts.wrongValue}${listed(problems)}`,
        figures: counts,
    };
}

/** Partner Center's changes made during the run, and what the simulator's webhook faults did to their deliveries. */
export interface PartnerCenterChanges {
    changes: readonly MicrosoftChange[];
    actions: number;
    webhooks: { dropped: number; duplicated: number; delayed: number; overtaken: number; failed: number };
}

/**
 * Every record ends with Partner Center's state (status, substatus and eTag of its partner and connected referrals,
 * whoever changed them: Microsoft, the UI or the app's own updates), and each change it saw has exactly one history
 * entry: none repeated by a duplicated webhook, none of an older state after a newer one, and one for the final state
 * of every referral Microsoft or the UI changed.
 */
export function partnerCenterStateCheck(view: PartnerView, made: PartnerCenterChanges): Check {
    const byId = new Map(view.referrals.map((r) => [r.id, r]));
    const changeOf = new Map(made.changes.map((c) => [`${c.key} ${c.role}`, c]));
    const problems: string[] = [];
    const counts = {
        records: 0,
        referrals: 0,
        mismatches: 0,
        repeatedEntries: 0,
        olderAfterNewer: 0,
        missingEntries: 0,
    };
    for (const record of view.recordOf.values()) {
        if (!record.partnerReferral) continue;
        counts.records++;
        const entries = record.history.filter((e): e is PartnerCenterHistoryEntry => 'referral' in e);
        for (const [role, summary] of [
            ['partner', record.partnerReferral],
            ['connected', record.connectedReferral],
        ] as const) {
            if (!summary) continue;
            counts.referrals++;
            const held = byId.get(summary.id);
            const wrong = (['status', 'substatus', 'eTag'] as const).filter(
                (field) => held?.[field] !== summary[field],
            );
            if (wrong.length) {
                counts.mismatches++;
                problems.push(
                    `${record.id} ${role}: ${held ? wrong.map((f) => `${f} ${summary[f]} not ${String(held[f])}`).join(', ') : 'not held'}`,
                );
            }
            const mine = entries.filter((e) => e.referral === role);
            mine.forEach((entry, i) => {
                if (i === 0) return;
                const previous = mine[i - 1]!;
                if (entry.at === previous.at && entry.status === previous.status) counts.repeatedEntries++;
                else if (entry.at < previous.at) counts.olderAfterNewer++;
                else return;
                problems.push(
                    `${record.id} ${role}: history ${previous.status}/${previous.at} then ${entry.status}/${entry.at}`,
                );
            });
            const change = changeOf.get(`${record.id} ${role}`);
            if (!change) continue;
            const { status, substatus } = finalStateOf(change);
            const final = mine.filter((e) => e.status === status && e.substatus === substatus).length;
            if (final !== 1) {
                counts.missingEntries++;
                problems.push(`${record.id} ${role}: ${final} history entries for ${status}/${substatus}`);
            }
        }
    }
    const { webhooks } = made;
    return {
        name: "every record ends with Partner Center's state, one history entry per change",
        ok: problems.length === 0,
        detail:
            `${made.actions} changes by Microsoft/the UI on ${made.changes.length} referrals; webhooks dropped ` +
            `${webhooks.dropped}, duplicated ${webhooks.duplicated}, delayed ${webhooks.delayed} (${webhooks.overtaken} ` +
            `overtaken by a later change's), failed ${webhooks.failed}; ${counts.records} records, ${counts.referrals} ` +
            `referrals checked; ${counts.mismatches} mismatches, ${counts.repeatedEntries} repeated and ` +
            `${counts.olderAfterNewer} out-of-order history entries, ${counts.missingEntries} changes without exactly ` +
            `one entry${listed(problems)}`,
        figures: { ...webhooks, changes: made.actions, ...counts },
    };
}
