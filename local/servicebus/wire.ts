import { type Message, message as rheaMessage, types as rheaTypes } from 'rhea';

import { type AmqpMessage, BrokerError, Condition, type Delivered, type StoredMessage } from './queueStore';

/** Message format of a Service Bus batch: one AMQP message whose data sections are the encoded messages. */
export const BATCH_MESSAGE_FORMAT = 0x80013700;

/** rhea's view of a data or sequence body section (`message.data_section` and friends). */
interface BodySection {
    typecode: number;
    content: unknown;
    multiple?: boolean;
}

function isBodySection(value: unknown): value is BodySection {
    return typeof value === 'object' && value !== null && 'typecode' in value && 'content' in value;
}

function decode(buffer: Buffer): AmqpMessage {
    return rheaMessage.decode(buffer);
}

/** The messages carried by one transfer: a plain message, or each data section of a batch envelope. */
export function messagesOfTransfer(payload: unknown, format: number | undefined): AmqpMessage[] {
    if (!format) {
        if (typeof payload !== 'object' || payload === null) {
            throw new BrokerError(Condition.badRequest, 'The transfer carried no message.');
        }
        return [payload as AmqpMessage];
    }
    if (format !== BATCH_MESSAGE_FORMAT || !Buffer.isBuffer(payload)) {
        throw new BrokerError(Condition.badRequest, `Unsupported message format ${format}.`);
    }
    const envelope = decode(payload);
    const body = envelope.body;
    if (!isBodySection(body) || body.typecode !== 0x75) {
        throw new BrokerError(Condition.badRequest, 'A batch must carry its messages as data sections.');
    }
    const sections = body.multiple ? (body.content as unknown[]) : [body.content];
    return sections.map((section) => {
        if (!Buffer.isBuffer(section)) throw new BrokerError(Condition.badRequest, 'Malformed batch section.');
        return decode(section);
    });
}

export function decodeEncodedMessage(value: unknown): AmqpMessage {
    if (!Buffer.isBuffer(value)) throw new BrokerError(Condition.badRequest, 'Expected an encoded AMQP message.');
    return decode(value);
}

interface OutgoingOptions {
    priorDeliveries: number;
    lockedUntil?: number;
    /** `x-opt-message-state` for peeked messages (0 active, 1 deferred, 2 scheduled). */
    state?: number;
}

/**
 * What a receiver sees: the message as sent plus the broker's annotations. `delivery_count` is AMQP's count of
 * earlier unsuccessful deliveries, which is what Service Bus puts on the wire (0 on the first delivery); the
 * JavaScript SDK passes it through unchanged as `deliveryCount`.
 */
export function outgoingMessage(stored: StoredMessage, options: OutgoingOptions): AmqpMessage {
    const annotations: Record<string, unknown> = {
        ...(stored.message.message_annotations as Record<string, unknown> | undefined),
        'x-opt-sequence-number': rheaTypes.wrap_long(stored.sequenceNumber),
        'x-opt-enqueued-time': new Date(stored.enqueuedAt),
    };
    if (options.lockedUntil !== undefined) annotations['x-opt-locked-until'] = new Date(options.lockedUntil);
    if (options.state !== undefined) annotations['x-opt-message-state'] = rheaTypes.wrap_int(options.state);
    return { ...stored.message, delivery_count: options.priorDeliveries, message_annotations: annotations };
}

export function outgoingDelivered(delivered: Delivered): AmqpMessage {
    return outgoingMessage(delivered.stored, {
        priorDeliveries: delivered.priorDeliveries,
        lockedUntil: delivered.lockedUntil,
    });
}

/** rhea types its messages as class-like objects; a plain object with the same fields encodes the same way. */
export function asRheaMessage(message: AmqpMessage): Message {
    return message as unknown as Message;
}

export function encodeMessage(message: AmqpMessage): Buffer {
    return rheaMessage.encode(message);
}
