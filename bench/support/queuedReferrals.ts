/**
 * The benchmarks' bulk input: referrals published straight to the queue (as a CRM backfill would), every other one
 * Shared, the seed body with the message id as the referral key.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import type { ServiceBusMessage } from '@azure/service-bus';

import { CONTRACT_VERSION, CONTRACT_VERSION_PROPERTY } from '../../shared/platform/names';

export type Body = Record<string, unknown> & { type: string; target?: unknown };

/** The seed referral as Shared, and as Independent (no target). */
export function seedBodies(root: string): { shared: Body; independent: Body } {
    const text = readFileSync(join(root, 'test', 'fixtures', 'seed-shared-referral.request.json'), 'utf8');
    const shared = JSON.parse(text) as Body;
    const independent = { ...shared, type: 'Independent' };
    delete independent.target;
    return { shared, independent };
}

/** `count` queue messages keyed `<tag>-<i>`, the even ones Shared. */
export function halfSharedMessages(
    root: string,
    tag: string,
    count: number,
): { messages: ServiceBusMessage[]; keys: { key: string; shared: boolean }[] } {
    const { shared, independent } = seedBodies(root);
    const messages: ServiceBusMessage[] = [];
    const keys: { key: string; shared: boolean }[] = [];
    for (let i = 0; i < count; i++) {
        const isShared = i % 2 === 0;
        const key = `${tag}-${i}`;
        keys.push({ key, shared: isShared });
        messages.push({
            body: isShared ? shared : independent,
            messageId: key,
            contentType: 'application/json',
            applicationProperties: { [CONTRACT_VERSION_PROPERTY]: CONTRACT_VERSION },
        });
    }
    return { messages, keys };
}
