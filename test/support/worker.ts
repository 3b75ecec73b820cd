import type { StepDependencies } from '../../shared/pipeline/step';
import { FakePartnerApi } from './fakePartnerApi';
import { MemoryReferralStore } from './memoryReferralStore';
import { RecordingSender } from './recordingSender';

/** Worker collaborators for unit tests, with a clock the test moves by hand. */
export function workerSetup() {
    const clock = { now: new Date('2026-11-21T12:00:00.000Z') };
    const store = new MemoryReferralStore();
    const api = new FakePartnerApi(() => new Date(clock.now));
    const referralsQueue = new RecordingSender();
    const connectionsQueue = new RecordingSender();
    const lines: string[] = [];
    const deps: StepDependencies = {
        store,
        partnerApi: api,
        referralsQueue,
        connectionsQueue,
        retry: { windowMs: 300_000, baseDelayMs: 1000, maxDelayMs: 60_000 },
        leaseMs: 90_000,
        settleMs: 120_000,
        now: () => new Date(clock.now),
        random: () => 0.5,
    };
    const log = {
        event: (level: string, name: string, fields: object) =>
            lines.push(`${level} ${name} ${JSON.stringify(fields)}`),
    };
    const advance = (ms: number) => (clock.now = new Date(clock.now.getTime() + ms));
    return { clock, store, api, referralsQueue, connectionsQueue, deps, log, lines, advance };
}
