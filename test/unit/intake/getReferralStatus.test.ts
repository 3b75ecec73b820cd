import { HttpRequest } from '@azure/functions';

import { getReferralStatus } from '../../../functions/getReferralStatus';
import { transition } from '../../../shared/referral/record';
import { invocationContext, readResponse } from '../../support/functions';
import { givenRecord } from '../../support/givenRecord';
import { MemoryReferralStore } from '../../support/memoryReferralStore';
import { expectNoPii, referralWithPii } from '../../support/referrals';

function get(id: string) {
    return new HttpRequest({ method: 'GET', url: `http://localhost:7071/api/referrals/${id}`, params: { id } });
}

describe('GET /api/referrals/{id}', () => {
    it('answers exactly the status document, without customer data', async () => {
        const store = new MemoryReferralStore();
        let record = givenRecord({ request: referralWithPii(), at: new Date('2026-11-21T09:00:00Z') });
        record = transition(record, 'Submitting', new Date('2026-11-21T09:00:01Z'), { attempts: 1 });
        record = transition(record, 'Submitted', new Date('2026-11-21T09:00:02Z'), {
            partnerReferral: {
                id: 'p1',
                engagementId: 'e1',
                status: 'Active',
                substatus: 'Accepted',
                eTag: '"x"',
                createdDateTime: '2026-11-21T09:00:02Z',
                updatedDateTime: '2026-11-21T09:00:02Z',
            },
        });
        store.put(record);

        const response = await readResponse(
            await getReferralStatus(get('k1'), invocationContext('getReferralStatus').context, store),
        );

        expect(response.status).toBe(200);
        expect(response.json).toEqual({
            id: 'k1',
            status: 'Submitted',
            type: 'Shared',
            partnerReferral: {
                id: 'p1',
                engagementId: 'e1',
                status: 'Active',
                substatus: 'Accepted',
                eTag: '"x"',
                updatedDateTime: '2026-11-21T09:00:02Z',
            },
            connectedReferral: null,
            engagement: [],
            error: null,
            attempts: 1,
            createdAt: '2026-11-21T09:00:00.000Z',
            updatedAt: '2026-11-21T09:00:02.000Z',
            updates: [],
            duplicates: [],
            history: [
                { status: 'Queued', at: '2026-11-21T09:00:00.000Z' },
                { status: 'Submitting', at: '2026-11-21T09:00:01.000Z' },
                { status: 'Submitted', at: '2026-11-21T09:00:02.000Z' },
            ],
        });
        expectNoPii(response.text);
    });

    it.each(['unknown', 'bad key!'])('answers 404 problem+json for %p', async (id) => {
        const response = await readResponse(
            await getReferralStatus(
                get(encodeURIComponent(id)),
                invocationContext('getReferralStatus').context,
                new MemoryReferralStore(),
            ),
        );
        expect(response.status).toBe(404);
        expect(response.headers.get('content-type')).toBe('application/problem+json');
    });
});
