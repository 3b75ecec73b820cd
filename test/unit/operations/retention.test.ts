/**
 * Retention: REFERRAL_TTL_DAYS becomes the Cosmos DB per-item `ttl` (seconds, -1 = for ever) of every record the
 * store writes.
 */
import type { Container } from '@azure/cosmos';

import { loadSection, SETTINGS } from '../../../shared/platform/config';
import { CosmosReferralStore } from '../../../shared/referral/store';
import { givenRecord } from '../../support/givenRecord';

describe('REFERRAL_TTL_DAYS', () => {
    it('is listed as an optional setting with a default of 365 days', () => {
        expect(SETTINGS.find((s) => s.name === 'REFERRAL_TTL_DAYS')).toMatchObject({
            default: '365',
            azure: 'optional',
        });
        expect(loadSection('retention', {})).toEqual({ ttlSeconds: 365 * 86_400 });
    });

    it('turns days into seconds, and 0 or -1 into "keep for ever" (-1)', () => {
        expect(loadSection('retention', { REFERRAL_TTL_DAYS: '30' })).toEqual({ ttlSeconds: 30 * 86_400 });
        expect(loadSection('retention', { REFERRAL_TTL_DAYS: '0' })).toEqual({ ttlSeconds: -1 });
        expect(loadSection('retention', { REFERRAL_TTL_DAYS: '-1' })).toEqual({ ttlSeconds: -1 });
    });

    it.each(['-2', '1.5', 'forever', '30000'])('refuses %s', (value) => {
        expect(() => loadSection('retention', { REFERRAL_TTL_DAYS: value })).toThrow(/REFERRAL_TTL_DAYS must be/);
    });
});

describe('CosmosReferralStore time to live', () => {
    function recordingContainer() {
        const written: Array<Record<string, unknown>> = [];
        const resource = (body: Record<string, unknown>) => ({ resource: { ...body, _etag: '"1"' } });
        const container = {
            items: {
                create: (body: Record<string, unknown>) => {
                    written.push(body);
                    return Promise.resolve(resource(body));
                },
            },
            item: () => ({
                replace: (body: Record<string, unknown>) => {
                    written.push(body);
                    return Promise.resolve(resource(body));
                },
            }),
        } as unknown as Container;
        return { container, written };
    }

    it('writes the configured ttl on create and on every replace', async () => {
        const { container, written } = recordingContainer();
        const store = new CosmosReferralStore(
            () => container,
            () => 86_400,
        );
        const record = givenRecord({ id: 'k-1', request: null });
        await store.create(record);
        await store.replace({ ...record, ttl: 5 }, '"1"');
        expect(written.map((w) => w.ttl)).toEqual([86_400, 86_400]);
    });
});
