/**
 * How large a queue message is on the wire, checked before it is sent: Service Bus Standard refuses a message over
 * 256 KB (header and properties included) with MessageSizeExceeded, and a body under any byte limit can re-serialise
 * much larger (`1e20` arrives as 4 characters and is sent as 21 digits), so only the message as sent can be measured.
 *
 * The SDK writes an object body as JSON.stringify's UTF-8 bytes; the string properties travel as UTF-8 too. The
 * allowance covers the AMQP framing and the annotations the broker adds (sequence number, enqueued time, lock).
 */
import type { ServiceBusMessage } from '@azure/service-bus';

export const MAX_MESSAGE_BYTES = 256 * 1024;
const AMQP_OVERHEAD_ALLOWANCE = 1024;

function utf8Length(value: unknown): number {
    if (value === undefined || value === null) return 0;
    if (Buffer.isBuffer(value)) return value.byteLength;
    return Buffer.byteLength(typeof value === 'string' ? value : String(JSON.stringify(value)));
}

/** An upper estimate of the encoded size of `message`. */
export function messageSize(message: ServiceBusMessage): number {
    const properties = Object.entries(message.applicationProperties ?? {}).reduce(
        (total, [name, value]) => total + utf8Length(name) + utf8Length(value) + 8,
        0,
    );
    return (
        utf8Length(message.body) +
        utf8Length(message.messageId) +
        utf8Length(message.correlationId) +
        utf8Length(message.contentType) +
        properties +
        AMQP_OVERHEAD_ALLOWANCE
    );
}

export function fitsOnQueue(message: ServiceBusMessage): boolean {
    return messageSize(message) <= MAX_MESSAGE_BYTES;
}
