/**
 * What the broker reports about its queues: to tests in process (`DevBroker.stats()`, `deadLetters()`) and to other
 * processes through the admin server. A module of its own so that broker.ts and adminHttp.ts both depend on it
 * instead of on each other.
 */

export type { EntityOperations as QueueOperations } from './queueStore';

/** `active` counts receivable and deferred messages (as Azure's active count does), but not locked ones. */
export interface QueueStats {
    active: number;
    scheduled: number;
    locked: number;
    deadLettered: number;
}

export interface DeadLetterEntry {
    messageId: string;
    reason?: string;
    description?: string;
    /** Deliveries from the queue before dead-lettering, counted as Azure reports DeliveryCount (1 = first). */
    deliveryCount: number;
}
