import { types as rheaTypes } from 'rhea';

import { uuidBytes, uuidString } from './lockToken';
import { type AmqpMessage, BrokerError, Condition, type Entity, type ReceiveMode } from './queueStore';
import { decodeEncodedMessage, encodeMessage, outgoingDelivered, outgoingMessage } from './wire';

/**
 * The `<entity>/$management` request/response operations the SDK uses. Request and response shapes follow
 * `ManagementClient` in @azure/service-bus 7.9.5: map bodies keyed as below, `statusCode` in the response's
 * application properties (camel case, unlike CBS), and the request's `message_id` echoed as `correlation_id`.
 */
export interface ManagementResponse {
    statusCode: number;
    statusDescription?: string;
    errorCondition?: string;
    body?: unknown;
}

type Handler = (entity: Entity, body: Record<string, unknown>) => ManagementResponse;

function toSequenceNumber(value: unknown): number {
    if (typeof value === 'number' && Number.isSafeInteger(value)) return value;
    if (Buffer.isBuffer(value) && value.length === 8) return Number(value.readBigInt64BE(0));
    throw new BrokerError(Condition.badRequest, 'Expected a sequence number.');
}

function toLockToken(value: unknown): string {
    if (Buffer.isBuffer(value) && value.length === 16) return uuidString(value);
    if (typeof value === 'string') return value.toLowerCase();
    throw new BrokerError(Condition.badRequest, 'Expected a lock token.');
}

function listOf(value: unknown, what: string): unknown[] {
    if (Array.isArray(value)) return value as unknown[];
    throw new BrokerError(Condition.badRequest, `Expected a list of ${what}.`);
}

function optionalString(value: unknown): string | undefined {
    return typeof value === 'string' ? value : undefined;
}

function optionalMap(value: unknown): Record<string, unknown> | undefined {
    return typeof value === 'object' && value !== null && !Array.isArray(value)
        ? (value as Record<string, unknown>)
        : undefined;
}

const ok = (body?: unknown): ManagementResponse => ({ statusCode: 200, statusDescription: 'OK', body });

const handlers: Record<string, Handler> = {
    'com.microsoft:peek-message': (entity, body) => {
        const from = toSequenceNumber(body['from-sequence-number']);
        const count = typeof body['message-count'] === 'number' ? body['message-count'] : 1;
        const found = entity.peek(from, count);
        if (found.length === 0) return { statusCode: 204, statusDescription: 'No messages' };
        const messages = found.map((stored) => ({
            message: encodeMessage(
                outgoingMessage(stored, { priorDeliveries: stored.deliveries, state: entity.stateOf(stored) }),
            ),
        }));
        return ok({ messages });
    },

    'com.microsoft:renew-lock': (entity, body) => {
        const tokens = listOf(body['lock-tokens'], 'lock tokens').map(toLockToken);
        return ok({ expirations: tokens.map((token) => new Date(entity.renewLock(token))) });
    },

    'com.microsoft:update-disposition': (entity, body) => {
        const tokens = listOf(body['lock-tokens'], 'lock tokens').map(toLockToken);
        const properties = optionalMap(body['properties-to-modify']);
        const status = body['disposition-status'];
        for (const token of tokens) {
            switch (status) {
                case 'completed':
                    entity.complete(token);
                    break;
                case 'abandoned':
                    entity.abandon(token, properties);
                    break;
                // Sic: the SDK spells it this way.
                case 'defered':
                case 'deferred':
                    entity.defer(token, properties);
                    break;
                case 'suspended':
                    entity.deadLetter(
                        token,
                        optionalString(body['deadletter-reason']),
                        optionalString(body['deadletter-description']),
                        properties,
                    );
                    break;
                default:
                    throw new BrokerError(Condition.badRequest, `Unknown disposition status ${String(status)}.`);
            }
        }
        return ok();
    },

    'com.microsoft:schedule-message': (entity, body) => {
        const entries = listOf(body.messages, 'messages').map((entry) => optionalMap(entry) ?? {});
        // Decode every entry before enqueueing any, so a malformed request schedules nothing.
        const decoded: AmqpMessage[] = entries.map((entry) => decodeEncodedMessage(entry.message));
        const sequenceNumbers = decoded.map((message) => entity.enqueue(message).sequenceNumber);
        return ok({ 'sequence-numbers': sequenceNumbers.map((n) => rheaTypes.wrap_long(n)) });
    },

    'com.microsoft:cancel-scheduled-message': (entity, body) => {
        for (const value of listOf(body['sequence-numbers'], 'sequence numbers')) {
            entity.cancelScheduled(toSequenceNumber(value));
        }
        return ok();
    },

    'com.microsoft:receive-by-sequence-number': (entity, body) => {
        const sequenceNumbers = listOf(body['sequence-numbers'], 'sequence numbers').map(toSequenceNumber);
        const mode: ReceiveMode = body['receiver-settle-mode'] === 0 ? 'receiveAndDelete' : 'peekLock';
        const messages = entity.receiveDeferred(sequenceNumbers, mode).map((delivered) => {
            const entry: Record<string, unknown> = { message: encodeMessage(outgoingDelivered(delivered)) };
            if (delivered.lockToken) entry['lock-token'] = rheaTypes.wrap_uuid(uuidBytes(delivered.lockToken));
            return entry;
        });
        return ok({ messages });
    },
};

const statusOfCondition: Record<string, number> = {
    [Condition.lockLost]: 410,
    [Condition.messageNotFound]: 404,
    [Condition.entityNotFound]: 404,
    [Condition.badRequest]: 400,
    [Condition.notAllowed]: 403,
    [Condition.notImplemented]: 501,
};

export function handleManagementRequest(entity: Entity, request: AmqpMessage): ManagementResponse {
    const properties = optionalMap(request.application_properties) ?? {};
    const operation = optionalString(properties.operation) ?? '';
    const handler = handlers[operation];
    try {
        if (!handler) {
            throw new BrokerError(
                Condition.notImplemented,
                `The dev broker does not implement ${operation || 'this'}.`,
            );
        }
        return handler(entity, optionalMap(request.body) ?? {});
    } catch (error) {
        const condition = error instanceof BrokerError ? error.condition : Condition.internalError;
        return {
            statusCode: statusOfCondition[condition] ?? 500,
            statusDescription: error instanceof Error ? error.message : String(error),
            errorCondition: condition,
        };
    }
}
