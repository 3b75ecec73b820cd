/**
 * The suite's clients: referrals and updates sent over HTTP (each repeated with its Idempotency-Key until it gets an
 * answer below 500, as a caller facing a killed host or a dependency outage would) or published to the queues.
 * Every answer is searched for the run's canary: no submitted value may come back.
 */
import type { ServiceBusMessage } from '@azure/service-bus';

import { DEFAULT_LOCAL_FUNCTION_KEY } from '../../local/host/auth';
import { REFERRAL_ID_PROPERTY } from '../../shared/messaging/messages';
import { CONTRACT_VERSION, CONTRACT_VERSION_PROPERTY } from '../../shared/platform/names';
import { sleep } from '../support/runtime';
import type { Planned, PlannedUpdate } from './plan';

export interface LoadClient {
    hostUrl: string;
    canary: string;
    /** True once the run's deadline has passed: stop retrying. */
    pastDeadline: () => boolean;
    /** Publishes to `referral-updates` until Service Bus takes the message. */
    publishUpdate: (message: ServiceBusMessage) => Promise<void>;
    /** Keys whose answers carried a submitted value. */
    answerLeaks: string[];
    /** Anything answered other than planned. */
    problems: string[];
}

interface Answer {
    status: number;
    text: string;
}

/** One request, repeated with the same key while the host is down or answers 5xx; undefined past the deadline. */
async function sendUntilAnswered(
    client: LoadClient,
    key: string,
    request: { method: string; path: string; contentType: string; body: unknown },
): Promise<Answer | undefined> {
    while (!client.pastDeadline()) {
        try {
            const response = await fetch(`${client.hostUrl}${request.path}`, {
                method: request.method,
                headers: {
                    'content-type': request.contentType,
                    'x-functions-key': DEFAULT_LOCAL_FUNCTION_KEY,
                    'idempotency-key': key,
                },
                body: JSON.stringify(request.body),
                signal: AbortSignal.timeout(15_000),
            });
            const text = await response.text();
            if (text.includes(client.canary)) client.answerLeaks.push(key);
            if (response.status < 500) return { status: response.status, text };
        } catch {
            // The host is down (killed) or the answer was lost: retry with the same Idempotency-Key.
        }
        await sleep(250);
    }
    client.problems.push(`${key}: never answered`);
    return undefined;
}

/** The key holding the externalReferenceId, from a 409 ExternalReferenceIdInUse (undefined for any other answer). */
function holderOf(answer: Answer): string | undefined {
    try {
        const body = JSON.parse(answer.text) as { errors?: Array<{ path?: string; message?: string }> };
        const error = body.errors?.find((e) => e.path === 'externalReferenceId');
        return error?.message?.match(/referral with key (\S+)$/)?.[1];
    } catch {
        return undefined;
    }
}

/**
 * POST /api/referrals. `accepted`: 202 with the key as id; `refused`: a collision group's 409 naming another key of
 * the same group as the holder of the externalReferenceId.
 */
export async function postReferral(
    client: LoadClient,
    p: Planned,
    keyOfGroup: (key: string) => string | undefined,
): Promise<'accepted' | 'refused' | undefined> {
    const answer = await sendUntilAnswered(client, p.key, {
        method: 'POST',
        path: '/api/referrals',
        contentType: 'application/json',
        body: p.body,
    });
    if (!answer) return undefined;
    if (answer.status === 202) {
        const id = (JSON.parse(answer.text) as { id?: string }).id;
        if (id !== p.key) client.problems.push(`${p.key}: 202 with id ${id}`);
        return 'accepted';
    }
    const holder = answer.status === 409 ? holderOf(answer) : undefined;
    if (holder !== undefined && holder !== p.key && p.collisionGroup && keyOfGroup(holder) === p.collisionGroup) {
        return 'refused';
    }
    client.problems.push(`${p.key}: answered ${answer.status}${holder ? ` (held by ${holder})` : ''}`);
    return undefined;
}

async function sendUpdate(client: LoadClient, p: Planned, update: PlannedUpdate): Promise<void> {
    if (update.channel === 'queue') {
        const message: ServiceBusMessage = {
            body: update.patch,
            messageId: update.key,
            contentType: 'application/json',
            applicationProperties: { [CONTRACT_VERSION_PROPERTY]: CONTRACT_VERSION, [REFERRAL_ID_PROPERTY]: p.key },
        };
        await client.publishUpdate(message);
        // A publisher that sends twice: the queue's duplicate detection (and the record) keep it to one.
        if (update.repeat) await client.publishUpdate({ ...message });
        return;
    }
    const patch = async () => {
        const answer = await sendUntilAnswered(client, update.key, {
            method: 'PATCH',
            path: `/api/referrals/${encodeURIComponent(p.key)}`,
            contentType: 'application/json-patch+json',
            body: update.patch,
        });
        if (!answer) return;
        const id = answer.status === 202 ? (JSON.parse(answer.text) as { update?: { id?: string } }).update?.id : '';
        if (id !== update.key) client.problems.push(`${update.key}: answered ${answer.status}`);
    };
    await (update.repeat ? Promise.all([patch(), patch()]) : patch());
}

/** The referral's updates, one after the other: each accepted before the next is sent, so their order is known. */
export async function sendUpdates(client: LoadClient, p: Planned): Promise<void> {
    for (const update of p.updates?.updates ?? []) await sendUpdate(client, p, update);
}
