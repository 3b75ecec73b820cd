/**
 * The simulator playing Microsoft after a create (partner-center-lifecycle.md): the webhook registration API
 * (`/webhooks/v1/registration`), Microsoft's seller or the Partner Center UI acting on a referral (accept, decline,
 * close: a new eTag and updatedDateTime), the 14-day expiry of an unanswered invitation on a clock tests can move,
 * and the signed webhook each change delivers.
 *
 * Deliveries are signed with a leaf certificate (O=Microsoft Corporation) issued at start by a throwaway root (see
 * certificateAuthority.ts), served at a loopback certificate URL; an app trusts it through
 * PARTNER_CENTER_WEBHOOK_TRUSTED_ROOTS and PARTNER_CENTER_WEBHOOK_CERT_HOSTS. A failed delivery is tried again a few
 * times (Partner Center tries 10 times, then parks the event in its offline queue); `dropDeliveries` loses every
 * delivery on purpose, as if they had all gone to the offline queue, so reconciliation can be exercised.
 *
 * Seeded webhook faults (WebhookFaults) make deliveries behave as a busy Partner Center's may: a share lost, a share
 * delivered twice (the same event, again), a share held back so that a later event about the referral arrives first.
 * One draw per referral event, from cumulative slices in this order: drop, duplicate, delay.
 */
import { randomUUID } from 'node:crypto';
import { STATUS_CODES } from 'node:http';

import { REFERRAL_EVENTS, VALIDATION_EVENT } from '../../shared/partnerCenter/events';
import { MICROSOFT_TARGET, type ReferralStatus } from '../../shared/referral/request/enums';
import { seededRandom } from '../faults/dependencyFaults';
import { CertificateAuthority } from './certificateAuthority';
import { errorAnswer, type Route, type SimulatorAnswer, type SimulatorRequest } from './http';
import type { ReferralStore, StoredReferral } from './store';
import { isObject, type Json } from './validation';
import { signedWebhookHeaders } from './webhookSigning';

export const WEBHOOK_EVENTS = [...REFERRAL_EVENTS, VALIDATION_EVENT] as const;

/** Where the signing certificate (leaf and root, PEM) is served, outside the API's auth and faults. */
export const CERTIFICATE_PATH = '/_certificates/pcnotifications-dispatch.pem';
/** How long Microsoft's seller (or an inbound referral's receiver) has to answer before the referral expires. */
export const INVITATION_DAYS = 14;
const DAY_MS = 24 * 60 * 60 * 1000;

/** When an invitation created at `createdAt` (a timestamp) expires unless answered. */
export function invitationExpiry(createdAt: string): string {
    return new Date(Date.parse(createdAt) + INVITATION_DAYS * DAY_MS).toISOString();
}

export interface WebhookOptions {
    /** Attempts per delivery (default 3). */
    attempts?: number;
    /** Wait between attempts (default 1000 ms). */
    retryDelayMs?: number;
    /** Timeout of one attempt (default 5000 ms). */
    timeoutMs?: number;
    /** Lose every delivery (default false). */
    dropDeliveries?: boolean;
    /** Seeded faults of referral events' deliveries (default none). */
    faults?: Partial<WebhookFaults>;
}

/** Seeded faults of the deliveries of referral events (not of the validation event). */
export interface WebhookFaults {
    /** Fraction lost, as if parked in Partner Center's offline queue. */
    rateDrop: number;
    /** Fraction delivered twice: the same event again, `delayMs` after the first. */
    rateDuplicate: number;
    /** Fraction held `delayMs` before their first attempt, so a later event about the referral can arrive first. */
    rateDelay: number;
    delayMs: number;
    seed: number;
}

const NO_WEBHOOK_FAULTS: WebhookFaults = { rateDrop: 0, rateDuplicate: 0, rateDelay: 0, delayMs: 3000, seed: 1 };

/** What the webhook faults did so far. */
export interface WebhookFaultCounts {
    dropped: number;
    duplicated: number;
    delayed: number;
}

/** A change of PUT /_admin/webhooks, checked; a string says what is wrong. */
function webhookChange(body: unknown): (Partial<WebhookFaults> & { dropDeliveries?: boolean }) | string {
    if (!isObject(body)) return 'Send a JSON object.';
    const change: Partial<WebhookFaults> & { dropDeliveries?: boolean } = {};
    for (const [name, value] of Object.entries(body)) {
        if (name === 'dropDeliveries') {
            if (typeof value !== 'boolean') return 'dropDeliveries must be true or false.';
            change.dropDeliveries = value;
        } else if (name === 'rateDrop' || name === 'rateDuplicate' || name === 'rateDelay') {
            if (typeof value !== 'number' || !(value >= 0 && value <= 1))
                return `${name} must be a number from 0 to 1.`;
            change[name] = value;
        } else if (name === 'delayMs') {
            if (typeof value !== 'number' || !(value >= 0)) return 'delayMs must be a number of ms, not negative.';
            change.delayMs = value;
        } else if (name === 'seed') {
            if (!Number.isInteger(value)) return 'seed must be an integer.';
            change.seed = value as number;
        } else return `Unknown field ${name.slice(0, 40)}.`;
    }
    return Object.keys(change).length > 0
        ? change
        : 'Send dropDeliveries, rateDrop, rateDuplicate, rateDelay, delayMs or seed.';
}

export interface WebhookRegistration {
    SubscriberId: string;
    WebhookUrl: string;
    WebhookEvents: string[];
    SignatureTokenToMsSignatureHeader: boolean;
}

export interface WebhookDelivery {
    /** One per event; also the validation event's correlationId. */
    correlationId: string;
    eventName: string;
    referralId?: string;
    body: string;
    attempts: Array<{ at: string; status?: number; error?: string }>;
    outcome: 'pending' | 'delivered' | 'failed' | 'dropped';
    /** The webhook fault drawn for it; `copy` is the second delivery of a `duplicated` one. */
    fault?: 'dropped' | 'duplicated' | 'delayed' | 'copy';
}

export type MicrosoftAction = 'accept' | 'decline' | 'close';

/** What Microsoft's side needs from the simulator: its store, clock and origin. */
export interface MicrosoftSideOptions {
    store: ReferralStore;
    now: () => number;
    baseUrl: () => string;
    webhooks?: WebhookOptions;
}

const MAX_DELIVERIES_KEPT = 5000;
const MINUTE_MS = 60_000;
/** Partner Center sends at most this many validation events a minute (partner-center-lifecycle.md). */
export const VALIDATION_EVENTS_PER_MINUTE = 2;

/** .NET's HttpStatusCode names, which Partner Center reports: 200 OK, 404 NotFound, 500 InternalServerError. */
function statusName(status: number): string {
    return (STATUS_CODES[status] ?? String(status)).replace(/[^A-Za-z0-9]/g, '');
}

export class MicrosoftSide {
    /** The test root the signing certificate chains to (PEM): what an app must trust. */
    readonly rootCertificatePem: string;
    private readonly leaf: CertificateAuthority;
    private registration: WebhookRegistration | undefined;
    private readonly deliveries: WebhookDelivery[] = [];
    private readonly timers = new Set<NodeJS.Timeout>();
    private dropDeliveries: boolean;
    private webhookFaults: WebhookFaults;
    private random: () => number;
    private injected: WebhookFaultCounts = { dropped: 0, duplicated: 0, delayed: 0 };
    /** Deliveries not yet delivered, failed or dropped (held back ones included). */
    private unsettled = 0;
    /** When the validation events of the last minute were requested. */
    private readonly validationRequests: number[] = [];

    constructor(private readonly options: MicrosoftSideOptions) {
        const root = CertificateAuthority.root({ commonName: 'Partner API simulator test root' });
        this.leaf = root.issue({
            subject: { commonName: 'pcnotifications-dispatch.microsoft.com', organization: 'Microsoft Corporation' },
        });
        this.rootCertificatePem = root.certificatePem;
        this.dropDeliveries = options.webhooks?.dropDeliveries ?? false;
        this.webhookFaults = { ...NO_WEBHOOK_FAULTS, ...options.webhooks?.faults };
        this.random = seededRandom(this.webhookFaults.seed);
    }

    get certificateUrl(): string {
        return `${this.options.baseUrl()}${CERTIFICATE_PATH}`;
    }

    get certificatePem(): string {
        return this.leaf.certificatePem;
    }

    /** The registration API, as at `https://api.partnercenter.microsoft.com/webhooks/v1/...`. */
    registrationRoutes(): Route[] {
        const base = '^/webhooks/v1/registration';
        return [
            { method: 'GET', pattern: new RegExp(`${base}/?$`, 'i'), handler: () => this.readRegistration() },
            { method: 'POST', pattern: new RegExp(`${base}/?$`, 'i'), handler: (r) => this.register(r, false) },
            { method: 'PUT', pattern: new RegExp(`${base}/?$`, 'i'), handler: (r) => this.register(r, true) },
            { method: 'DELETE', pattern: new RegExp(`${base}/?$`, 'i'), handler: () => this.unregister() },
            {
                method: 'GET',
                pattern: new RegExp(`${base}/events/?$`, 'i'),
                handler: () => ({ status: 200, body: [...WEBHOOK_EVENTS] }),
            },
            {
                method: 'POST',
                pattern: new RegExp(`${base}/validationEvents/?$`, 'i'),
                handler: () => this.requestValidationEvent(),
            },
            {
                method: 'GET',
                pattern: new RegExp(`${base}/validationEvents/(?<correlationId>[^/]+)/?$`, 'i'),
                handler: (r) => this.validationEventResult(r.params.correlationId ?? ''),
            },
        ];
    }

    /** `/_admin/referrals/{id}/{accept|decline|close}`, `/_admin/clock`, `/_admin/webhooks`. */
    adminRoutes(): Route[] {
        return [
            {
                method: 'POST',
                pattern: /^\/_admin\/referrals\/(?<id>[^/]+)\/(?<action>accept|decline|close)\/?$/,
                handler: (r) => this.act(r.params.id ?? '', r.params.action as MicrosoftAction, r.body),
            },
            {
                method: 'POST',
                pattern: /^\/_admin\/clock\/advance\/?$/,
                handler: (r) => this.advanceClock(r.body),
            },
            {
                method: 'GET',
                pattern: /^\/_admin\/webhooks\/?$/,
                handler: () => ({ status: 200, body: this.state() }),
            },
            {
                method: 'PUT',
                pattern: /^\/_admin\/webhooks\/?$/,
                handler: (r) => {
                    const change = webhookChange(r.body);
                    const refused = typeof change === 'string' ? change : this.setWebhookFaults(change);
                    if (refused) return errorAnswer(400, 'invalidRequest', refused, 'body');
                    return { status: 200, body: this.state() };
                },
            },
        ];
    }

    private offsetMs = 0;

    /** How far the fast clock has been moved, in ms (added to the simulator's clock). */
    get clockOffsetMs(): number {
        return this.offsetMs;
    }

    /**
     * Changes the delivery faults (a partial change; a new seed restarts the random sequence). Answers what is wrong
     * with the change instead when the rates would add up to more than 1.
     */
    setWebhookFaults(change: Partial<WebhookFaults> & { dropDeliveries?: boolean }): string | undefined {
        const { dropDeliveries, ...faults } = change;
        const next = { ...this.webhookFaults, ...faults };
        if (next.rateDrop + next.rateDuplicate + next.rateDelay > 1) return 'The rates add up to more than 1.';
        this.webhookFaults = next;
        if (faults.seed !== undefined) this.random = seededRandom(next.seed);
        if (dropDeliveries !== undefined) this.dropDeliveries = dropDeliveries;
        return undefined;
    }

    /** The fault of one referral event's delivery: one draw from the cumulative slices drop, duplicate, delay. */
    private drawFault(): keyof WebhookFaultCounts | undefined {
        const { rateDrop, rateDuplicate, rateDelay } = this.webhookFaults;
        if (rateDrop + rateDuplicate + rateDelay === 0) return undefined;
        const draw = this.random();
        if (draw < rateDrop) return 'dropped';
        if (draw < rateDrop + rateDuplicate) return 'duplicated';
        if (draw < rateDrop + rateDuplicate + rateDelay) return 'delayed';
        return undefined;
    }

    state() {
        return {
            registration: this.registration ?? null,
            dropDeliveries: this.dropDeliveries,
            faults: { ...this.webhookFaults },
            injected: { ...this.injected },
            pending: this.unsettled,
            now: new Date(this.options.now()).toISOString(),
            deliveries: structuredClone(this.deliveries),
        };
    }

    /**
     * Microsoft's seller accepts or declines (the connected referral, New), or the Partner Center UI closes a
     * referral (any that is not Closed: Won by default, or Lost). The referral gets a new eTag and updatedDateTime,
     * and its webhook is delivered.
     */
    act(id: string, action: MicrosoftAction, body: unknown): SimulatorAnswer {
        const stored = this.options.store.get(id);
        if (!stored) return errorAnswer(404, 'itemNotFound', 'The referral does not exist.', 'referral');
        const requested = isObject(body) ? body : {};
        let next: { status: ReferralStatus; substatus: string };
        if (action === 'accept') {
            if (stored.status !== 'New')
                return errorAnswer(409, 'conflict', 'Only a New referral can be accepted.', 'status');
            next = { status: 'Active', substatus: 'Accepted' };
        } else if (action === 'decline') {
            if (stored.status !== 'New')
                return errorAnswer(409, 'conflict', 'Only a New referral can be declined.', 'status');
            next = { status: 'Closed', substatus: 'Declined' };
        } else {
            if (stored.status === 'Closed')
                return errorAnswer(409, 'conflict', 'A closed referral cannot be changed.', 'status');
            const substatus = requested.substatus ?? 'Won';
            if (substatus !== 'Won' && substatus !== 'Lost')
                return errorAnswer(400, 'invalidRequest', 'Close as Won or Lost.', 'substatus');
            next = { status: 'Closed', substatus };
        }
        const statusReason = typeof requested.statusReason === 'string' ? requested.statusReason : stored.statusReason;
        const updated = this.change(stored, { ...next, statusReason });
        return { status: 200, body: updated, referralId: id };
    }

    /** Moves the clock on (`{ "days": 15 }` or `{ "ms": … }`), then expires invitations left unanswered too long. */
    advanceClock(body: unknown): SimulatorAnswer {
        const fields = isObject(body) ? body : {};
        const ms = typeof fields.days === 'number' ? fields.days * DAY_MS : fields.ms;
        if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0)
            return errorAnswer(400, 'invalidRequest', 'Send { "days": n } or { "ms": n }, not negative.', 'body');
        this.offsetMs += ms;
        const expired = this.expireInvitations();
        return { status: 200, body: { now: new Date(this.options.now()).toISOString(), expired } };
    }

    /** Every New referral past its expirationDateTime becomes Closed/Expired; answers their ids. */
    expireInvitations(): string[] {
        const now = this.options.now();
        const expired: string[] = [];
        for (const referral of this.options.store.all()) {
            const expires =
                typeof referral.expirationDateTime === 'string' ? Date.parse(referral.expirationDateTime) : NaN;
            if (referral.status !== 'New' || !(expires <= now)) continue;
            this.change(referral, { status: 'Closed', substatus: 'Expired' });
            expired.push(referral.id);
        }
        return expired;
    }

    close(): void {
        for (const timer of this.timers) clearTimeout(timer);
        this.timers.clear();
    }

    reset(): void {
        this.close();
        this.registration = undefined;
        this.deliveries.length = 0;
        this.validationRequests.length = 0;
        this.offsetMs = 0;
        this.unsettled = 0;
        this.injected = { dropped: 0, duplicated: 0, delayed: 0 };
        this.random = seededRandom(this.webhookFaults.seed);
    }

    private change(stored: StoredReferral, fields: Record<string, unknown>): StoredReferral {
        const { store } = this.options;
        const updated: StoredReferral = {
            ...stored,
            ...fields,
            eTag: store.newETag(),
            updatedDateTime: store.timestamp(),
        };
        if (updated.status === 'Closed') updated.closedDateTime = updated.updatedDateTime;
        if (fields.status === 'Active') updated.acceptedDateTime = updated.updatedDateTime;
        store.save(updated);
        this.deliver(isMicrosoftsReferral(updated) ? 'related-referral-updated' : 'referral-updated', updated);
        return updated;
    }

    private readRegistration(): SimulatorAnswer {
        if (!this.registration) return errorAnswer(404, 'itemNotFound', 'No webhook is registered.', 'registration');
        return { status: 200, body: this.registration };
    }

    /** POST replaces any registration without warning, as Partner Center does; PUT needs one to exist. */
    private register(request: SimulatorRequest, update: boolean): SimulatorAnswer {
        if (update && !this.registration)
            return errorAnswer(404, 'itemNotFound', 'No webhook is registered.', 'registration');
        const body = isObject(request.body) ? request.body : {};
        const url = body.WebhookUrl;
        const events = body.WebhookEvents;
        if (typeof url !== 'string' || !/^https?:\/\//i.test(url) || !URL.canParse(url))
            return errorAnswer(400, 'invalidRequest', 'WebhookUrl must be an http(s) URL.', 'WebhookUrl');
        if (
            !Array.isArray(events) ||
            events.length === 0 ||
            !events.every((e) => (WEBHOOK_EVENTS as readonly unknown[]).includes(e))
        ) {
            return errorAnswer(400, 'invalidRequest', 'WebhookEvents must list available events.', 'WebhookEvents');
        }
        this.registration = {
            SubscriberId: this.registration?.SubscriberId ?? randomUUID(),
            WebhookUrl: url,
            WebhookEvents: events as string[],
            SignatureTokenToMsSignatureHeader: body.SignatureTokenToMsSignatureHeader === true,
        };
        return { status: 200, body: this.registration };
    }

    private unregister(): SimulatorAnswer {
        if (!this.registration) return errorAnswer(404, 'itemNotFound', 'No webhook is registered.', 'registration');
        this.registration = undefined;
        return { status: 204 };
    }

    /** At most VALIDATION_EVENTS_PER_MINUTE, as documented; then 429 with the seconds until the oldest one ages out. */
    private requestValidationEvent(): SimulatorAnswer {
        if (!this.registration) return errorAnswer(404, 'itemNotFound', 'No webhook is registered.', 'registration');
        const now = this.options.now();
        while (this.validationRequests.length > 0 && this.validationRequests[0]! <= now - MINUTE_MS)
            this.validationRequests.shift();
        if (this.validationRequests.length >= VALIDATION_EVENTS_PER_MINUTE) {
            const waitMs = this.validationRequests[0]! + MINUTE_MS - now;
            return {
                ...errorAnswer(429, 'tooManyRequests', 'At most 2 validation events a minute.', 'validationEvents'),
                headers: { 'retry-after': String(Math.max(1, Math.ceil(waitMs / 1000))) },
            };
        }
        this.validationRequests.push(now);
        const delivery = this.deliver(VALIDATION_EVENT);
        return { status: 200, body: { correlationId: delivery?.correlationId } };
    }

    /** Each attempt as Partner Center reports it: the answer's status name ("OK"), or the error that stopped it. */
    private validationEventResult(correlationId: string): SimulatorAnswer {
        const delivery = this.deliveries.find((d) => d.correlationId === correlationId);
        if (!delivery) return errorAnswer(404, 'itemNotFound', 'No such validation event.', 'correlationId');
        const results = delivery.attempts.map((attempt) => ({
            responseCode: attempt.status === undefined ? '' : statusName(attempt.status),
            responseMessage: '',
            systemError: attempt.error ?? '',
            dateTimeUtc: attempt.at,
        }));
        return { status: 200, body: { correlationId, status: delivery.outcome, results } };
    }

    /** Queues one event for the registered URL, if it registered for it. */
    private deliver(eventName: string, referral?: StoredReferral): WebhookDelivery | undefined {
        const registration = this.registration;
        // The validation event goes to the registered URL whatever events it registered for.
        if (!registration || (eventName !== VALIDATION_EVENT && !registration.WebhookEvents.includes(eventName)))
            return undefined;
        const changedAt = referral?.updatedDateTime ?? new Date(this.options.now()).toISOString();
        const body = JSON.stringify({
            EventName: eventName,
            ResourceUri: referral
                ? `https://api.partnercenter.microsoft.com/engagements/v1/referrals/${referral.id}`
                : 'https://api.partnercenter.microsoft.com/webhooks/v1/registration/validationEvents',
            ResourceName: referral ? 'referral' : 'test',
            AuditUri: null,
            ResourceChangeUtcDate: changedAt.replace(/Z$/, '+00:00'),
        });
        const fault = referral && !this.dropDeliveries ? this.drawFault() : undefined;
        const dropped = this.dropDeliveries || fault === 'dropped';
        const delivery = this.keep({
            correlationId: randomUUID(),
            eventName,
            referralId: referral?.id,
            body,
            attempts: [],
            outcome: dropped ? 'dropped' : 'pending',
            ...(fault ? { fault } : {}),
        });
        if (fault) this.injected[fault]++;
        if (dropped) return delivery;
        const { delayMs } = this.webhookFaults;
        this.later(fault === 'delayed' ? delayMs : 0, () => this.attempt(delivery, registration, 1));
        if (fault === 'duplicated') {
            const copy = this.keep({ ...delivery, correlationId: randomUUID(), attempts: [], fault: 'copy' });
            this.later(delayMs, () => this.attempt(copy, registration, 1));
        }
        return delivery;
    }

    /** Keeps a delivery for `state()` (the last MAX_DELIVERIES_KEPT); it counts as unsettled while pending. */
    private keep(delivery: WebhookDelivery): WebhookDelivery {
        this.deliveries.push(delivery);
        if (this.deliveries.length > MAX_DELIVERIES_KEPT) this.deliveries.shift();
        if (delivery.outcome === 'pending') this.unsettled++;
        return delivery;
    }

    /** Runs `work` now (ms 0) or after `ms`, on a timer `close()` cancels. */
    private later(ms: number, work: () => void): void {
        if (ms <= 0) return work();
        const timer = setTimeout(() => {
            this.timers.delete(timer);
            work();
        }, ms);
        this.timers.add(timer);
    }

    private attempt(delivery: WebhookDelivery, registration: WebhookRegistration, attempt: number): void {
        const { attempts = 3, retryDelayMs = 1000, timeoutMs = 5000 } = this.options.webhooks ?? {};
        const headers = signedWebhookHeaders(delivery.body, {
            privateKeyPem: this.leaf.privateKeyPem,
            certificateUrl: this.certificateUrl,
            signatureHeader: registration.SignatureTokenToMsSignatureHeader,
        });
        const record = { at: new Date().toISOString() } as WebhookDelivery['attempts'][number];
        delivery.attempts.push(record);
        void fetch(registration.WebhookUrl, {
            method: 'POST',
            headers,
            body: delivery.body,
            redirect: 'manual',
            signal: AbortSignal.timeout(timeoutMs),
        })
            .then(async (response) => {
                record.status = response.status;
                await response.body?.cancel();
                return response.ok;
            })
            .catch((error: unknown) => {
                record.error = error instanceof Error ? error.name : 'Error';
                return false;
            })
            .then((delivered) => {
                if (delivered || attempt >= attempts) {
                    delivery.outcome = delivered ? 'delivered' : 'failed';
                    this.unsettled--;
                } else this.later(retryDelayMs, () => this.attempt(delivery, registration, attempt + 1));
            });
    }
}

/** The connected referral: the one whose target is Microsoft (its seller answers it). */
export function isMicrosoftsReferral(referral: Json): boolean {
    const targets = Array.isArray(referral.target) ? referral.target : [];
    return targets.some(
        (t) =>
            isObject(t) &&
            t.type === MICROSOFT_TARGET.type &&
            typeof t.id === 'string' &&
            t.id.toLowerCase() === MICROSOFT_TARGET.id,
    );
}
