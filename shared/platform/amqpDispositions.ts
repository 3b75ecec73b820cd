/**
 * A workaround for a bug in rhea 3.0.5 (the AMQP library under `@azure/service-bus`, and under the local broker):
 * when it batches the dispositions of several deliveries into one frame, a range that holds one delivery so far is
 * extended by the next delivery whatever that one's outcome. `[accepted A, rejected B, accepted C]` leaves as "A..B
 * accepted" then "C accepted": B's refusal is lost. On the side that settles received messages this turns an abandon
 * into a complete (the message is gone although its function failed); on a broker, a refused send into an accepted
 * one (the sender believes a message was queued that never was). rhea means to batch accepted outcomes only
 * (`are_outcomes_equivalent`); this makes it do so.
 *
 * How: the sessions' `process` (which writes the batched dispositions) is wrapped so that each call sees only
 * deliveries rhea may rightly write as one range: consecutive ids, all accepted, settled alike; any other delivery
 * on its own. rhea keeps its internals private, so the prototypes are reached through a throwaway Session.
 * Applied once per process, before any connection is opened (`keepDispositionOutcomes`).
 */
/* eslint-disable @typescript-eslint/no-require-imports -- rhea's session internals are not exported as modules */

interface RheaDelivery {
    id: number;
    settled: boolean;
    state?: unknown;
}

interface IncomingInternals {
    updated: RheaDelivery[];
    process: (this: IncomingInternals, session: unknown) => void;
}

interface OutgoingInternals {
    pending_dispositions: RheaDelivery[];
    process: (this: OutgoingInternals) => void;
}

type SessionConstructor = new (
    connection: object,
    channel: number,
) => { incoming: IncomingInternals; outgoing: OutgoingInternals };

let applied = false;

/** Splits deliveries into the ranges one disposition frame may carry: runs of accepted ones, any other alone. */
export function dispositionRuns<T extends RheaDelivery>(
    deliveries: readonly T[],
    equivalent: (a: unknown, b: unknown) => boolean,
): T[][] {
    const runs: T[][] = [];
    for (const delivery of deliveries) {
        const run = runs.at(-1);
        const last = run?.at(-1);
        if (
            run &&
            last &&
            last.id + 1 === delivery.id &&
            last.settled === delivery.settled &&
            equivalent(last.state, delivery.state)
        ) {
            run.push(delivery);
        } else {
            runs.push([delivery]);
        }
    }
    return runs;
}

/** Makes rhea write every delivery's own outcome (module comment). Safe to call more than once. */
export function keepDispositionOutcomes(): void {
    if (applied) return;
    applied = true;
    const Session = require('rhea/lib/session') as SessionConstructor;
    const { are_outcomes_equivalent: equivalent } = require('rhea/lib/message') as {
        are_outcomes_equivalent: (a: unknown, b: unknown) => boolean;
    };
    const sample = new Session({}, 0);
    const incoming = Object.getPrototypeOf(sample.incoming) as IncomingInternals;
    const outgoing = Object.getPrototypeOf(sample.outgoing) as OutgoingInternals;

    const processIncoming = incoming.process;
    incoming.process = function (this: IncomingInternals, session: unknown) {
        const runs = dispositionRuns(this.updated, equivalent);
        if (runs.length <= 1) return processIncoming.call(this, session);
        for (const run of runs) {
            this.updated = run;
            processIncoming.call(this, session);
        }
    };

    const processOutgoing = outgoing.process;
    outgoing.process = function (this: OutgoingInternals) {
        const runs = dispositionRuns(this.pending_dispositions, equivalent);
        if (runs.length <= 1) return processOutgoing.call(this);
        for (const run of runs) {
            this.pending_dispositions = run;
            processOutgoing.call(this);
        }
    };
}
