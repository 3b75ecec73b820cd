import { QUEUE_NAMES } from '../../shared/platform/names';
import type { QueueDefinition } from './broker';

/** Mirrors infra/: lock duration PT1M, max delivery count 10, duplicate detection window P1D. */
const QUEUE_SETTINGS = {
    maxDeliveryCount: 10,
    lockDurationMs: 60_000,
    duplicateDetectionWindowMs: 24 * 60 * 60 * 1000,
} as const;

export const APP_QUEUES: QueueDefinition[] = QUEUE_NAMES.map((name) => ({
    name,
    ...QUEUE_SETTINGS,
}));
