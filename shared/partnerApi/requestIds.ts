/**
 * The two identifying headers, as Partner Center documents them (reference/partner-api.md §6): both are GUIDs.
 *
 * - `MS-RequestId` "is used to ensure id-potency; if there's a timeout, the retry call should include the same
 *   value". So a create carries a GUID that is deterministic per referral key and step (UUIDv5), and therefore the
 *   same on every retry of that one create, and different for the submit and the connect of the same referral (a
 *   service that dedupes on it must never answer the connect with the submit's referral). Every other call (a
 *   lookup, a list page, a GET) is not a retry of anything: it gets a fresh random GUID.
 * - `MS-CorrelationId` joins both sides' logs. A caller's GUID is sent as is; anything else (the app accepts any
 *   `x-correlation-id` up to its key rules) is mapped to a UUIDv5 of it, so the mapping is stable and can be logged.
 *
 * Names are hashed as given: keys are case-sensitive, so `Order-1` and `order-1` get different ids.
 */
import { randomUUID } from 'node:crypto';

import { v5 as uuidv5 } from 'uuid';

/**
 * The UUIDv5 namespace of this app's Partner API ids. Fixed for good: changing it would give every referral still
 * being retried a new `MS-RequestId`, defeating the service's id-potency for those creates.
 */
export const PARTNER_API_ID_NAMESPACE = '25bc8d27-32cc-479d-9452-d272f5ca1075';

/** The two creates of a referral: its own referral, then (Shared) the connected one targeted at Microsoft. */
export type CreateStep = 'submit' | 'connect';

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Any GUID in its canonical 8-4-4-4-12 text form (Partner Center's GUIDs need not be RFC 9562 versions). */
export function isGuid(value: string): boolean {
    return GUID.test(value);
}

/** The `MS-RequestId` of one create: the same for every retry of that create, and only for it. */
export function createRequestId(referralKey: string, step: CreateStep): string {
    return uuidv5(`ms-requestid:${step}:${referralKey}`, PARTNER_API_ID_NAMESPACE);
}

/** A fresh `MS-RequestId` for any call that is not a create (nothing to be id-potent about). */
export function freshRequestId(): string {
    return randomUUID();
}

/** The `MS-CorrelationId` for a correlation id: itself when it is a GUID, else a stable UUIDv5 of it. */
export function partnerCorrelationId(correlationId: string): string {
    return isGuid(correlationId)
        ? correlationId
        : uuidv5(`ms-correlationid:${correlationId}`, PARTNER_API_ID_NAMESPACE);
}
