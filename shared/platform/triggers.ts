/**
 * The handlers of the queue- and timer-triggered functions: what the Functions host passes (the message or timer and
 * the invocation context) adapted to a use case's own arguments (the delivery's trigger metadata, the collaborators,
 * an invocation logger). The collaborators are a parameter with production defaults, so tests pass their own.
 */
import type { InvocationContext, Timer } from '@azure/functions';

import { type EventLogger, invocationLogger } from './logging';

/** The trigger metadata of a Service Bus delivery that the app reads, as the Functions host passes it. */
export interface DeliveryInfo {
    messageId?: string;
    correlationId?: string;
    deliveryCount?: number;
    applicationProperties: Record<string, unknown>;
}

export function deliveryInfo(context: InvocationContext): DeliveryInfo {
    const metadata = context.triggerMetadata ?? {};
    const text = (value: unknown) => (typeof value === 'string' && value ? value : undefined);
    const properties = metadata.applicationProperties;
    return {
        messageId: text(metadata.messageId),
        correlationId: text(metadata.correlationId),
        deliveryCount: typeof metadata.deliveryCount === 'number' ? metadata.deliveryCount : undefined,
        applicationProperties:
            properties && typeof properties === 'object' ? (properties as Record<string, unknown>) : {},
    };
}

/** Returning completes the message; a throw abandons it (the host redelivers it, then dead-letters it). */
export function queueHandler<D>(
    process: (body: unknown, delivery: DeliveryInfo, deps: D, log: EventLogger) => Promise<unknown>,
    defaultDeps: () => D,
) {
    return async (message: unknown, context: InvocationContext, deps: D = defaultDeps()): Promise<void> => {
        await process(message, deliveryInfo(context), deps, invocationLogger(context));
    };
}

/** `isPastDue` changes nothing for the app's timers: each works from its records, so a late run simply finds more. */
export function timerHandler<D>(run: (deps: D, log: EventLogger) => Promise<unknown>, defaultDeps: () => D) {
    return async (_timer: Timer, context: InvocationContext, deps: D = defaultDeps()): Promise<void> => {
        await run(deps, invocationLogger(context));
    };
}
