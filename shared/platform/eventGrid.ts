/**
 * The Event Grid topic the outcome events go to, through the Azure SDK's `EventGridPublisherClient` in the
 * CloudEvents 1.0 schema: with the app's managed identity in Azure (it holds "EventGrid Data Sender" on the topic;
 * the topic refuses keys), with a key for a local topic on loopback. The SDK sets `specversion` 1.0. One batch is one request, accepted or refused
 * whole. The SDK's own retries are off and a publish is bounded: a publish runs right after a record's write, inside
 * a step, and a failure costs nothing (the events stay on the record for the sweep, shared/referral/eventOutbox.ts).
 */
import type { TokenCredential } from '@azure/identity';

import { parseRetryAfterMs } from '../partnerApi/retryAfter';
import type { EventsConfig } from './config';
import { createAzureCredential } from './credential';
import { eventGrid } from './lazyModules';

/** How long one publish may take before it counts as failed. */
export const PUBLISH_TIMEOUT_MS = 10_000;

/** A CloudEvent as this app publishes it (`specversion` 1.0, `datacontenttype` application/json). */
export interface OutcomeCloudEvent {
    id: string;
    type: string;
    source: string;
    subject: string;
    time: string;
    data: Record<string, unknown>;
}

export interface EventPublisher {
    /** Publishes the batch, or throws a PublishError (nothing is known to be published then). */
    publish(events: readonly OutcomeCloudEvent[]): Promise<void>;
}

/** A refused or failed publish: the topic's HTTP status and Retry-After, when it answered. */
export class PublishError extends Error {
    constructor(
        readonly httpStatus: number | undefined,
        readonly retryAfterMs: number | undefined,
        options: { cause: unknown },
    ) {
        super(`Publishing to Event Grid failed${httpStatus ? ` (HTTP ${httpStatus})` : ''}.`, options);
        this.name = 'PublishError';
    }
}

function publishError(error: unknown): PublishError {
    const { statusCode, response } = error as {
        statusCode?: number;
        response?: { headers: { get(name: string): string | undefined } };
    };
    return new PublishError(statusCode, parseRetryAfterMs(response?.headers.get('retry-after')), { cause: error });
}

type Topic = NonNullable<EventsConfig['topic']>;

export function createEventGridPublisher(topic: Topic, credential?: TokenCredential): EventPublisher {
    const { AzureKeyCredential, EventGridPublisherClient } = eventGrid();
    const client = new EventGridPublisherClient(
        topic.endpoint,
        'CloudEvent',
        topic.key ? new AzureKeyCredential(topic.key) : (credential ?? createAzureCredential(topic.clientId)),
        // Plain http only reaches a local topic: config.ts allows it on loopback alone.
        { retryOptions: { maxRetries: 0 }, allowInsecureConnection: topic.endpoint.startsWith('http:') },
    );
    return {
        async publish(events) {
            const sent = client.send(
                events.map((event) => ({
                    id: event.id,
                    type: event.type,
                    source: event.source,
                    subject: event.subject,
                    time: new Date(event.time),
                    datacontenttype: 'application/json',
                    data: event.data,
                })),
                { abortSignal: AbortSignal.timeout(PUBLISH_TIMEOUT_MS) },
            );
            await sent.catch((error: unknown) => {
                throw publishError(error);
            });
        },
    };
}
