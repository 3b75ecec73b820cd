/**
 * Partner Center's webhook events (partner-center-lifecycle.md, Webhooks): a thin payload that names a referral by
 * a URI and says when it changed. The URI's host and path differ from the Referrals API's, so it is read only as a
 * carrier of the referral's id: its last path segment.
 */

/** The events this app registers for and queues. */
export const REFERRAL_EVENTS = [
    'referral-created',
    'referral-updated',
    'related-referral-created',
    'related-referral-updated',
] as const;
export type ReferralEventName = (typeof REFERRAL_EVENTS)[number];

/** The event Partner Center sends when a validation (test) event is requested: acknowledged, never queued. */
export const VALIDATION_EVENT = 'test-created';

/** A referral event as Partner Center delivers it: its documented fields, nothing else kept. */
export interface PartnerCenterEvent {
    EventName: ReferralEventName;
    ResourceUri: string;
    ResourceName: string | null;
    AuditUri: string | null;
    ResourceChangeUtcDate: string;
}

export type ReadEvent =
    | { kind: 'referral'; event: PartnerCenterEvent; referralId: string }
    | { kind: 'validation' }
    /** Verified, but an event this app did not register for. */
    | { kind: 'other' }
    | { kind: 'invalid' };

const REFERRAL_ID = /^[A-Za-z0-9-]{1,64}$/;
const MAX_URI_LENGTH = 2048;

/** The referral id a ResourceUri carries (its last path segment), if it is id-shaped. */
export function referralIdOf(resourceUri: string): string | undefined {
    if (resourceUri.length > MAX_URI_LENGTH) return undefined;
    let url: URL;
    try {
        url = new URL(resourceUri);
    } catch {
        return undefined;
    }
    const id = url.pathname.split('/').filter(Boolean).pop();
    return id && REFERRAL_ID.test(id) ? id : undefined;
}

const optionalText = (value: unknown): string | null => (typeof value === 'string' ? value : null);

export function readPartnerCenterEvent(body: unknown): ReadEvent {
    if (typeof body !== 'object' || body === null || Array.isArray(body)) return { kind: 'invalid' };
    const fields = body as Record<string, unknown>;
    const name = fields.EventName;
    if (typeof name !== 'string') return { kind: 'invalid' };
    if (name === VALIDATION_EVENT) return { kind: 'validation' };
    if (!(REFERRAL_EVENTS as readonly string[]).includes(name)) return { kind: 'other' };
    const { ResourceUri: uri, ResourceChangeUtcDate: changedAt } = fields;
    if (typeof uri !== 'string' || typeof changedAt !== 'string' || Number.isNaN(Date.parse(changedAt))) {
        return { kind: 'invalid' };
    }
    const referralId = referralIdOf(uri);
    if (!referralId) return { kind: 'invalid' };
    return {
        kind: 'referral',
        referralId,
        event: {
            EventName: name as ReferralEventName,
            ResourceUri: uri,
            ResourceName: optionalText(fields.ResourceName),
            AuditUri: optionalText(fields.AuditUri),
            ResourceChangeUtcDate: changedAt,
        },
    };
}
