/**
 * `npm run duplicates` (scripts/duplicates.ts, shared/operations/duplicates.ts): what it refuses, that it asks before
 * it closes, and how the close meets Partner Center (GET, If-Match, a 412 read again, a copy closed already).
 */
import { parseArguments, runDuplicatesCommand } from '../../../scripts/duplicates';
import { UsageError } from '../../../scripts/usage';
import {
    CLOSE_AS_DUPLICATE,
    type DuplicatesDependencies,
    MAX_CLOSE_ROUNDS,
    planClose,
} from '../../../shared/operations/duplicates';
import type { PartnerReferral } from '../../../shared/partnerApi';
import { type DuplicateReferral, summarize, transition } from '../../../shared/referral/record';
import { FakePartnerApi } from '../../support/fakePartnerApi';
import { givenRecord } from '../../support/givenRecord';
import { MemoryReferralStore } from '../../support/memoryReferralStore';
import { independentReferral } from '../../support/referrals';

const AT = new Date('2026-11-21T12:00:00.000Z');

function partnerReferral(id: string, engagementId: string): PartnerReferral {
    return {
        ...independentReferral(),
        id,
        engagementId,
        status: 'Active',
        substatus: 'Accepted',
        eTag: `"${id}-1"`,
        createdDateTime: AT.toISOString(),
    };
}

function duplicate(id: string, status: DuplicateReferral['status'] = 'Open'): DuplicateReferral {
    return {
        id,
        engagementId: `e-${id}`,
        of: 'partnerReferral',
        foundAt: AT.toISOString(),
        status,
        closedAt: status === 'Closed' ? AT.toISOString() : null,
    };
}

/** A done referral `k1` keeping `kept`, reporting `duplicates`, each present at the fake Partner API. */
function setup(duplicates: DuplicateReferral[] = [duplicate('copy-1')]) {
    const store = new MemoryReferralStore();
    const api = new FakePartnerApi(() => AT);
    const kept = partnerReferral('kept', 'e-kept');
    api.referrals.push(kept, ...duplicates.map((d) => partnerReferral(d.id, d.engagementId)));
    let record = givenRecord({ id: 'k1', request: independentReferral(), at: AT });
    record = transition(record, 'Submitting', AT);
    record = transition(record, 'Submitted', AT, { partnerReferral: summarize(kept) });
    store.put({ ...record, duplicates });
    const deps: DuplicatesDependencies = {
        store,
        keysWithDuplicates: () => Promise.resolve(['k1']),
        partnerApi: api,
        now: () => AT,
    };
    const lines: string[] = [];
    const questions: string[] = [];
    const run = (argv: string[], answer = false) =>
        runDuplicatesCommand(parseArguments(argv), deps, {
            out: (line) => lines.push(line),
            confirm: (question) => {
                questions.push(question);
                return Promise.resolve(answer);
            },
        });
    const recorded = () => store.items.get('k1')!.record.duplicates!;
    return { store, api, deps, lines, questions, run, recorded };
}

describe('npm run duplicates', () => {
    it('parses its commands, and refuses close without a key', () => {
        expect(parseArguments(['close', '--key', 'k1', '--referral', 'r1', '--yes'])).toEqual({
            command: 'close',
            key: 'k1',
            referral: 'r1',
            yes: true,
            local: false,
        });
        expect(parseArguments([]).command).toBe('help');
        expect(() => parseArguments(['close'])).toThrow(UsageError);
        expect(() => parseArguments(['close', '--key'])).toThrow(UsageError);
        expect(() => parseArguments(['close', '--key', 'k1', '--force'])).toThrow(UsageError);
    });

    it('lists each reported copy with ids and statuses, never customer data', async () => {
        const s = setup([duplicate('copy-1'), duplicate('copy-0', 'Closed')]);
        expect(await s.run(['list'])).toBe(0);
        const rows = s.lines.filter((line) => line.startsWith('k1'));
        expect(rows).toHaveLength(2);
        expect(rows[0]).toMatch(/copy-1 .* Open /);
        expect(rows[0]).toContain('kept');
        expect(rows[1]).toMatch(/copy-0 .* Closed /);
        expect(s.lines.at(-1)).toBe('2 duplicates, 1 open.');
        expect(s.lines.join('\n')).not.toContain('Contoso');
        expect(s.api.patches).toHaveLength(0);
    });

    it('asks before it closes: a "no" changes nothing', async () => {
        const s = setup();
        expect(await s.run(['close', '--key', 'k1'])).toBe(1);
        expect(s.questions).toHaveLength(1);
        expect(s.lines[0]).toContain('copy-1');
        expect(s.lines[0]).toContain('Closed/Lost');
        expect(s.api.patches).toHaveLength(0);
        expect(s.api.gets).toHaveLength(0);
        expect(s.recorded()[0]!.status).toBe('Open');
    });

    it('closes the copy as Closed/Lost, reason Duplicate, with If-Match its eTag, and records it closed', async () => {
        const s = setup();
        expect(await s.run(['close', '--key', 'k1'], true)).toBe(0);
        expect(s.api.patches).toEqual([
            expect.objectContaining({ id: 'copy-1', patch: CLOSE_AS_DUPLICATE, eTag: '"copy-1-1"' }),
        ]);
        expect(s.api.referrals.find((r) => r.id === 'copy-1')).toMatchObject({
            status: 'Closed',
            substatus: 'Lost',
            statusReason: 'Duplicate',
        });
        expect(s.api.referrals.find((r) => r.id === 'kept')!.status).toBe('Active');
        expect(s.recorded()).toEqual([{ ...duplicate('copy-1'), status: 'Closed', closedAt: AT.toISOString() }]);
    });

    it('with --yes closes without asking', async () => {
        const s = setup();
        expect(await s.run(['close', '--key', 'k1', '--yes'])).toBe(0);
        expect(s.questions).toHaveLength(0);
        expect(s.recorded()[0]!.status).toBe('Closed');
    });

    it('after a 412 reads the copy again and patches with its new eTag', async () => {
        const s = setup();
        s.api.concurrentEdits.push([{ op: 'replace', path: '/substatus', value: 'Accepted' }]);
        expect(await s.run(['close', '--key', 'k1', '--yes'])).toBe(0);
        expect(s.api.patches).toHaveLength(2);
        expect(s.api.patches[1]!.eTag).not.toBe(s.api.patches[0]!.eTag);
        expect(s.api.gets).toEqual(['copy-1', 'copy-1']);
        expect(s.recorded()[0]!.status).toBe('Closed');
    });

    it('gives up after repeated 412s, and records nothing', async () => {
        const s = setup();
        for (let i = 0; i < MAX_CLOSE_ROUNDS; i++) {
            s.api.concurrentEdits.push([{ op: 'replace', path: '/substatus', value: 'Accepted' }]);
        }
        await expect(s.run(['close', '--key', 'k1', '--yes'])).rejects.toMatchObject({ status: 412 });
        expect(s.api.patches).toHaveLength(MAX_CLOSE_ROUNDS);
        expect(s.recorded()[0]!.status).toBe('Open');
    });

    it('a copy already Closed at Partner Center (an earlier answer lost) is recorded without another patch', async () => {
        const s = setup();
        s.api.referrals.find((r) => r.id === 'copy-1')!.status = 'Closed';
        expect(await s.run(['close', '--key', 'k1', '--yes'])).toBe(0);
        expect(s.api.patches).toHaveLength(0);
        expect(s.recorded()[0]!.status).toBe('Closed');
        expect(s.lines.at(-1)).toContain('closed at Partner Center already');
    });

    it.each([
        ['the kept referral', ['--referral', 'kept'], [duplicate('copy-1')], 'kept'],
        ['a referral the record does not report', ['--referral', 'stranger'], [duplicate('copy-1')], 'notReported'],
        ['a copy closed already', ['--referral', 'copy-1'], [duplicate('copy-1', 'Closed')], 'alreadyClosed'],
        ['no copy named among several open ones', [], [duplicate('copy-1'), duplicate('copy-2')], 'chooseOne'],
        ['a referral without duplicates', [], [], 'noDuplicates'],
    ])('refuses %s, asking nothing and calling nothing', async (_case, extra, duplicates, reason) => {
        const s = setup(duplicates);
        expect(await planClose(s.deps, 'k1', extra[1])).toMatchObject({ kind: 'refused', reason });
        expect(await s.run(['close', '--key', 'k1', ...extra, '--yes'])).toBe(2);
        expect(s.lines[0]).toMatch(/^Nothing closed: /);
        expect(s.questions).toHaveLength(0);
        expect(s.api.gets).toHaveLength(0);
        expect(s.api.patches).toHaveLength(0);
    });

    it('refuses an unknown key', async () => {
        const s = setup();
        expect(await planClose(s.deps, 'nope')).toMatchObject({ kind: 'refused', reason: 'noRecord' });
    });
});
