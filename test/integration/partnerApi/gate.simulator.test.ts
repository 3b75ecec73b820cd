import { NO_FAULTS, type PartnerApiSimulator, startPartnerApiSimulator } from '../../../local/partner-api-simulator';
import { PartnerApiClient, PartnerApiError, PartnerApiGate, StaticTokenProvider } from '../../../shared/partnerApi';
import { context, independentReferral } from './helpers';

const LIMIT_PER_SECOND = 20;
const REFERRALS = 80;
const WORKERS = 16;

/**
 * The tenant's gate against the simulator's token bucket (429 + Retry-After from the next free token): many
 * concurrent callers, each retrying its create after a 429 as soon as the gate lets it, as the queue would.
 */
describe('PartnerApiGate against the simulator rate limit', () => {
    let simulator: PartnerApiSimulator;

    beforeAll(async () => {
        simulator = await startPartnerApiSimulator();
    });

    afterAll(async () => {
        await simulator.close();
    });

    beforeEach(() => {
        simulator.admin.reset();
        simulator.admin.setFaults({ ...NO_FAULTS, rateLimitPerSecond: LIMIT_PER_SECOND });
    });

    async function bulk(gate: PartnerApiGate) {
        const client = new PartnerApiClient({
            baseUrl: simulator.url,
            tokenProvider: new StaticTokenProvider('t'),
            gate,
        });
        let next = 0;
        const started = Date.now();
        const worker = async () => {
            while (next < REFERRALS) {
                next++;
                for (;;) {
                    const done = await client.createReferral(independentReferral(), context()).then(
                        () => true,
                        (error: unknown) => {
                            if (error instanceof PartnerApiError && error.status === 429) return false;
                            throw error;
                        },
                    );
                    if (done) break;
                }
            }
        };
        await Promise.all(Array.from({ length: WORKERS }, worker));
        const seconds = (Date.now() - started) / 1000;
        await client.close();
        const requests = simulator.admin.requests();
        const throttled = requests.filter((r) => r.status === 429);
        return { seconds, requests, throttled, goodput: REFERRALS / seconds / LIMIT_PER_SECOND };
    }

    it('with the ceiling at the limit: goodput near the limit and almost no 429', async () => {
        const run = await bulk(new PartnerApiGate({ maxCallsPerSecond: LIMIT_PER_SECOND }));
        expect(simulator.admin.referrals()).toHaveLength(REFERRALS);
        expect(run.throttled.length / run.requests.length).toBeLessThanOrEqual(0.05);
        expect(run.goodput).toBeGreaterThanOrEqual(0.8);
    });

    it('with the ceiling above the limit: the rate adapts down and no call is sent inside a Retry-After', async () => {
        const run = await bulk(new PartnerApiGate({ maxCallsPerSecond: 2 * LIMIT_PER_SECOND }));
        expect(simulator.admin.referrals()).toHaveLength(REFERRALS);
        expect(run.throttled.length / run.requests.length).toBeLessThanOrEqual(0.25);
        // Every 429 here says Retry-After: 1 (or more). Calls already on the wire may land just after it; none later.
        for (const answer of run.throttled) {
            const inside = run.requests.filter((r) => r.at > answer.at + 100 && r.at < answer.at + 900);
            expect(inside).toEqual([]);
        }
    });
});
