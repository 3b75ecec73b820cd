/**
 * One externalReferenceId, one referral key (issue 12): admission binds each valid referral's externalReferenceId
 * (its own, else its key) to its key before creating its record, refuses a second key while the first one's referral
 * may be at Partner Center, and lets it go once it cannot be (Rejected before reaching it, or an orphan binding).
 * Each test fails on the admission that created records without looking at other keys.
 */
import { type Admission, admit, type Arrival, ORPHAN_BINDING_GRACE_MS } from '../../../shared/referral/admission';
import { transition } from '../../../shared/referral/record';
import { bindingId } from '../../../shared/referral/store';
import { givenPartnerReferral } from '../../support/givenRecord';
import { MemoryReferralStore } from '../../support/memoryReferralStore';
import { PII, referralWithPii, seedReferral } from '../../support/referrals';

const AT = new Date('2026-11-21T10:00:00Z');

function setup() {
    const store = new MemoryReferralStore();
    const clock = { now: AT };
    const arrive = (key: string, body: unknown, source: Arrival['source'] = 'http'): Promise<Admission> =>
        admit({ key, body, correlationId: 'corr-1', source }, { store, now: () => clock.now });
    return { store, clock, arrive };
}

function withReference(externalReferenceId: string, customerName = 'Contoso Ltd') {
    const body = seedReferral();
    body.externalReferenceId = externalReferenceId;
    body.customerProfile.name = customerName;
    return body;
}

describe('admission: one externalReferenceId, one referral key', () => {
    it('refuses a second key with the same externalReferenceId through the intake, naming the first, keeping nothing', async () => {
        const { store, arrive } = setup();
        expect((await arrive('first', withReference('CRM-1'))).outcome).toBe('admitted');
        const second = await arrive('second', withReference('CRM-1', 'Another Customer Ltd'));
        expect(second).toEqual({ outcome: 'externalReferenceIdInUse', holder: 'first' });
        expect(store.items.has('second')).toBe(false);
    });

    it('keeps a queue arrival with a held externalReferenceId Rejected with ExternalReferenceIdInUse, naming the key', async () => {
        const { store, arrive } = setup();
        await arrive('first', withReference('CRM-1'));
        const second = await arrive('second', referralWithPiiAnd('CRM-1'), 'queue');
        expect(second).toMatchObject({ outcome: 'externalReferenceIdInUse', holder: 'first' });
        const record = store.items.get('second')!.record;
        expect(record).toMatchObject({ status: 'Rejected', partnerReferral: null });
        expect(record.error).toEqual({ code: 'ExternalReferenceIdInUse', message: expect.stringContaining('first') });
        // The error names the other key, never the externalReferenceId or customer data.
        expect(record.error!.message).not.toContain('CRM-1');
        for (const value of Object.values(PII)) expect(record.error!.message).not.toContain(value);
        // A redelivery finds that record: the same answer, nothing new.
        expect((await arrive('second', referralWithPiiAnd('CRM-1'), 'queue')).outcome).toBe('repeated');
    });

    it('binds a referral without its own externalReferenceId by its key, which a caller’s externalReferenceId cannot take', async () => {
        const { arrive } = setup();
        expect((await arrive('order-77', seedReferral())).outcome).toBe('admitted');
        expect(await arrive('other', withReference('order-77'))).toEqual({
            outcome: 'externalReferenceIdInUse',
            holder: 'order-77',
        });
    });

    it('compares externalReferenceIds and keys case-sensitively', async () => {
        const { arrive } = setup();
        expect((await arrive('Order-1', seedReferral())).outcome).toBe('admitted');
        expect((await arrive('order-1', seedReferral())).outcome).toBe('admitted');
        expect((await arrive('a', withReference('CRM-X'))).outcome).toBe('admitted');
        expect((await arrive('b', withReference('crm-x'))).outcome).toBe('admitted');
    });

    it('answers the same key again as a repeat, and another body under it as a key conflict', async () => {
        const { arrive } = setup();
        await arrive('first', withReference('CRM-1'));
        expect((await arrive('first', withReference('CRM-1'))).outcome).toBe('repeated');
        expect((await arrive('first', withReference('CRM-1'), 'queue')).outcome).toBe('repeated');
        expect((await arrive('first', withReference('CRM-2'))).outcome).toBe('keyConflict');
        // That conflict's binding of CRM-2 names a record that does not carry it: it does not hold CRM-2.
        expect((await arrive('third', withReference('CRM-2'))).outcome).toBe('admitted');
    });

    it('of two keys at once, exactly one holds the externalReferenceId', async () => {
        const { store, arrive } = setup();
        const results = await Promise.all([
            arrive('a', withReference('CRM-race')),
            arrive('b', withReference('CRM-race', 'Another Customer Ltd')),
        ]);
        const outcomes = results.map((result) => result.outcome).sort();
        expect(outcomes).toEqual(['admitted', 'externalReferenceIdInUse']);
        expect([store.items.has('a'), store.items.has('b')].filter(Boolean)).toHaveLength(1);
    });

    describe('reuse once the first referral cannot be at Partner Center', () => {
        it('after a Rejected that never reached it, another key takes the externalReferenceId over', async () => {
            const { store, arrive, clock } = setup();
            await arrive('first', withReference('CRM-1'));
            const stored = store.items.get('first')!;
            store.put(transition(transition(stored.record, 'Submitting', clock.now), 'Rejected', clock.now));
            expect((await arrive('second', withReference('CRM-1'))).outcome).toBe('admitted');
            expect(store.bindings.get(bindingId('CRM-1'))!.binding.referralKey).toBe('second');
            expect(await arrive('third', withReference('CRM-1'))).toMatchObject({ holder: 'second' });
        });

        it.each([
            ['a partner referral (a connect-step rejection)', { partnerReferral: givenPartnerReferral() }],
            ['an attempt of unknown outcome', { lastAttemptUncertain: true }],
        ])('not after a Rejected with %s', async (_, changes) => {
            const { store, arrive, clock } = setup();
            await arrive('first', withReference('CRM-1'));
            const record = transition(store.items.get('first')!.record, 'Submitting', clock.now);
            store.put(transition(record, 'Rejected', clock.now, changes));
            expect(await arrive('second', withReference('CRM-1'))).toMatchObject({ holder: 'first' });
        });

        it('not after a Failed, which a replay can restart', async () => {
            const { store, arrive, clock } = setup();
            await arrive('first', withReference('CRM-1'));
            store.put(transition(store.items.get('first')!.record, 'Failed', clock.now));
            expect(await arrive('second', withReference('CRM-1'))).toMatchObject({ holder: 'first' });
        });
    });

    describe('a crash between the binding and the record', () => {
        function crashAfterBinding(store: MemoryReferralStore) {
            store.beforeWrite = (operation) => {
                if (operation !== 'create') return;
                store.beforeWrite = undefined;
                throw new Error('the instance died');
            };
        }

        it('lets the same key retry and be admitted', async () => {
            const { store, arrive } = setup();
            crashAfterBinding(store);
            await expect(arrive('first', withReference('CRM-1'))).rejects.toThrow('died');
            expect(store.items.has('first')).toBe(false);
            expect((await arrive('first', withReference('CRM-1'))).outcome).toBe('admitted');
        });

        it('holds the orphan binding for another key during the grace, then lets it take it over', async () => {
            const { store, arrive, clock } = setup();
            crashAfterBinding(store);
            await expect(arrive('first', withReference('CRM-1'))).rejects.toThrow('died');
            // An admission between its two writes is never overtaken.
            expect(await arrive('second', withReference('CRM-1'))).toMatchObject({ holder: 'first' });
            clock.now = new Date(AT.getTime() + ORPHAN_BINDING_GRACE_MS);
            expect((await arrive('second', withReference('CRM-1'))).outcome).toBe('admitted');
            // The first key, back late, finds its externalReferenceId taken.
            expect(await arrive('first', withReference('CRM-1'))).toMatchObject({ holder: 'second' });
        });

        it('of two keys taking over one orphan at once, exactly one wins', async () => {
            const { store, arrive, clock } = setup();
            crashAfterBinding(store);
            await expect(arrive('first', withReference('CRM-1'))).rejects.toThrow('died');
            clock.now = new Date(AT.getTime() + ORPHAN_BINDING_GRACE_MS);
            const results = await Promise.all([
                arrive('b', withReference('CRM-1')),
                arrive('c', withReference('CRM-1')),
            ]);
            expect(results.map((result) => result.outcome).sort()).toEqual(['admitted', 'externalReferenceIdInUse']);
        });
    });
});

function referralWithPiiAnd(externalReferenceId: string) {
    return { ...referralWithPii(), externalReferenceId };
}
