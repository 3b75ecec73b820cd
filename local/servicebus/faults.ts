/**
 * Faults of the dev broker, switched at run time through its admin server (`GET`/`PUT /faults`): a seeded fraction
 * of sends refused (`amqp:internal-error`, which the SDK reports as a retryable ServiceBusError), an outage in which
 * every send is refused (deliveries go on), and a fraction of peek-lock deliveries whose lock is lost after
 * `lockLossAfterMs` (mid-step: the message comes back while the first worker still holds it, and that worker's
 * settlement fails with MessageLockLost). None by default.
 */
import { checkNonNegative, checkRate, checkSeed, FaultSwitch } from '../faults/dependencyFaults';

export interface BrokerFaults {
    /** Fraction of sends (transfers to a queue) refused. */
    rateSendFailure: number;
    /** Fraction of peek-lock deliveries whose lock is lost after `lockLossAfterMs`, renewals refused. */
    rateLockLoss: number;
    lockLossAfterMs: number;
    /** Until when (epoch ms) every send is refused; PUT `outageMs` to start one. */
    outageUntil: number;
    seed: number;
}

export const NO_BROKER_FAULTS: BrokerFaults = {
    rateSendFailure: 0,
    rateLockLoss: 0,
    lockLossAfterMs: 500,
    outageUntil: 0,
    seed: 1,
};

function validate(faults: BrokerFaults): void {
    checkRate('rateSendFailure', faults.rateSendFailure);
    checkRate('rateLockLoss', faults.rateLockLoss);
    checkNonNegative('lockLossAfterMs', faults.lockLossAfterMs);
    checkNonNegative('outageUntil', faults.outageUntil);
    checkSeed(faults.seed);
}

export type BrokerFaultSwitch = FaultSwitch<BrokerFaults>;

export function brokerFaultSwitch(): BrokerFaultSwitch {
    return new FaultSwitch(NO_BROKER_FAULTS, validate);
}

/** Whether this send is refused. */
export function refusesSend(faults: BrokerFaultSwitch): boolean {
    const refused = faults.inOutage() ? 'outageSend' : faults.chance(faults.current().rateSendFailure) ? 'send' : '';
    if (refused) faults.note(refused);
    return refused !== '';
}

/** For a delivery whose lock is to be lost: after how long; else undefined. */
export function lockLossAfter(faults: BrokerFaultSwitch): number | undefined {
    const { rateLockLoss, lockLossAfterMs } = faults.current();
    if (!faults.chance(rateLockLoss)) return undefined;
    faults.note('lockLoss');
    return lockLossAfterMs;
}
