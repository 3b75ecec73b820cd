import { randomUUID } from 'node:crypto';

/**
 * Service Bus lock tokens are GUIDs. On a receive link the token travels as the 16-byte delivery tag in .NET `Guid`
 * byte order (the first three groups little-endian); in `$management` requests and responses it travels as an AMQP
 * uuid in RFC 4122 order. The SDK converts both into the same string, so the broker keys every lock by that string.
 */
export function newLockToken(): string {
    return randomUUID();
}

/** RFC 4122 bytes of a uuid string. */
export function uuidBytes(token: string): Buffer {
    const hex = token.replace(/-/g, '');
    if (!/^[0-9a-fA-F]{32}$/.test(hex)) {
        throw new Error('not a uuid');
    }
    return Buffer.from(hex, 'hex');
}

/** The uuid string of 16 RFC 4122 bytes (what `$management` requests carry). */
export function uuidString(bytes: Buffer): string {
    const hex = bytes.toString('hex');
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** Swaps between RFC 4122 and .NET `Guid` byte order; the swap is its own inverse. */
export function dotNetGuidOrder(bytes: Buffer): Buffer {
    const order = [3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15];
    return Buffer.from(order.map((i) => bytes[i] ?? 0));
}

/** The delivery tag that makes the SDK report `token` as the message's `lockToken`. */
export function deliveryTagFor(token: string): Buffer {
    return dotNetGuidOrder(uuidBytes(token));
}
