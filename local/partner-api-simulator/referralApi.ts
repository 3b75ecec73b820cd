/**
 * The `/v1.0/engagements/referrals` resource (partner-api.md §2, §12): create, get, list with OData, replace with
 * If-Match, JSON Patch.
 */
import { randomUUID } from 'node:crypto';

import {
    isAllowedStatusPair,
    isAllowedTransition,
    type ReferralStatus,
    type ReferralSubstatus,
} from '../../shared/referral/request/enums';
import { EXTERNAL_REFERENCE_ID_FILTER_MODES, type ExternalReferenceIdFilter, type SimulatorFaults } from './faults';
import { errorAnswer, header, type Route, type SimulatorAnswer, type SimulatorRequest } from './http';
import { applyPatch, PatchError, readPatch } from './jsonPatch';
import { invitationExpiry, isMicrosoftsReferral } from './microsoft';
import {
    filterNames,
    type FilterNode,
    FilterSyntaxError,
    matchesFilter,
    parseFilter,
    withoutProperty,
} from './odataFilter';
import { toWireNames } from './propertyNames';
import { type ReferralStore, type StoredReferral } from './store';
import { describeProblems, isObject, type Json, validateReferral } from './validation';

export const REFERRALS_PATH = '/v1.0/engagements/referrals';
export const MAX_PAGE_SIZE = 100;
const ITEM_PATH = new RegExp(`^${REFERRALS_PATH}/(?<id>[^/]+)/?$`, 'i');
const COLLECTION_PATH = new RegExp(`^${REFERRALS_PATH}/?$`, 'i');

export interface ReferralApiOptions {
    store: ReferralStore;
    /** The simulator's own origin, for `links` and `@odata.nextLink`. */
    baseUrl: () => string;
    organizationId: string;
    organizationName: string;
    pageSize: number;
    /** The current settings: list lag and `$filter` behaviour. */
    settings: () => SimulatorFaults;
}

/** Fields the service sets on create; input values for them are ignored. */
const SERVER_FIELDS = new Set([
    'id',
    'organizationId',
    'organizationName',
    'createdDateTime',
    'updatedDateTime',
    'acceptedDateTime',
    'eTag',
    'links',
    'direction',
]);

export class ReferralApi {
    constructor(private readonly options: ReferralApiOptions) {}

    routes(): Route[] {
        return [
            { method: 'POST', pattern: COLLECTION_PATH, handler: (r) => this.create(r) },
            { method: 'GET', pattern: COLLECTION_PATH, handler: (r) => this.list(r) },
            { method: 'GET', pattern: ITEM_PATH, handler: (r) => this.get(r) },
            { method: 'PUT', pattern: ITEM_PATH, handler: (r) => this.replace(r) },
            { method: 'PATCH', pattern: ITEM_PATH, handler: (r) => this.patch(r) },
        ];
    }

    create(request: SimulatorRequest): SimulatorAnswer {
        const input = toWireNames(request.body);
        if (!isObject(input))
            return errorAnswer(400, 'invalidRequest', 'The body must be a referral object.', 'referral');
        const problems = validateReferral(input);
        if (problems.length > 0)
            return errorAnswer(400, 'invalidRequest', describeProblems(problems), problems[0]!.target);

        const { store } = this.options;
        let engagementId =
            typeof input.engagementId === 'string' && input.engagementId ? input.engagementId : undefined;
        // A connected referral (target msft) joins the engagement of the partner's own referral: it must exist.
        if (engagementId && !store.engagementExists(engagementId)) {
            const message = isMicrosoftsReferral(input)
                ? 'The connected referral names an engagementId that does not exist.'
                : 'The engagementId does not exist.';
            return errorAnswer(400, 'invalidRequest', message, 'engagementId');
        }
        engagementId ??= randomUUID();

        const id = randomUUID();
        const now = store.timestamp();
        const extras = Object.fromEntries(
            Object.entries(input).filter(([key]) => !SERVER_FIELDS.has(key) && !(key in ANSWER_ORDER_TEMPLATE)),
        );
        // Outgoing referrals are created Active/Accepted whatever status was sent (the documented answer does this),
        // except the connected referral: Microsoft's seller has INVITATION_DAYS to accept or decline it (microsoft.ts).
        const invitation = isMicrosoftsReferral(input);
        const referral: StoredReferral = {
            id,
            engagementId,
            organizationId: this.options.organizationId,
            organizationName: this.options.organizationName,
            name: input.name ?? null,
            externalReferenceId: input.externalReferenceId ?? null,
            createdDateTime: now,
            updatedDateTime: now,
            acceptedDateTime: invitation ? null : now,
            expirationDateTime: input.expirationDateTime ?? (invitation ? invitationExpiry(now) : null),
            status: invitation ? 'New' : 'Active',
            substatus: invitation ? 'Pending' : 'Accepted',
            statusReason: input.statusReason ?? null,
            qualification: input.qualification ?? 'None',
            type: input.type,
            direction: 'Outgoing',
            eTag: store.newETag(),
            target: input.target ?? [],
            customerProfile: input.customerProfile,
            consent: input.consent,
            details: input.details,
            team: input.team ?? [],
            inviteContext: input.inviteContext ?? null,
            ...extras,
            links: {},
        };
        referral.links = this.links(referral);
        store.save(referral);
        return { status: 200, body: referral, referralId: id };
    }

    get(request: SimulatorRequest): SimulatorAnswer {
        const { listLagMs, lagGetById } = this.options.settings();
        const referral = this.options.store.get(request.params.id ?? '', lagGetById ? listLagMs : 0);
        if (!referral) return notFound();
        return {
            status: 200,
            body: { '@odata.context': `${this.root()}/v1.0/$metadata#Referrals/$entity`, ...referral },
            referralId: referral.id,
        };
    }

    list(request: SimulatorRequest): SimulatorAnswer {
        const query = request.url.searchParams;
        const settings = this.options.settings();
        let items = this.options.store.all(settings.listLagMs);
        const token = readSkipToken(query.get('$skiptoken'));
        // A continuation goes on with the query its listing began with, as a real service's token does: a mode
        // switched mid-listing must not make page 2 answer another query (an empty tail read as "not there").
        const filterMode = token?.filterMode ?? settings.externalReferenceIdFilter;
        const filterText = query.get('$filter');
        if (filterText) {
            let filter: FilterNode | undefined;
            try {
                filter = parseFilter(filterText);
            } catch (error) {
                if (error instanceof FilterSyntaxError) return unsupportedFilter(error.message);
                throw error;
            }
            // The docs never list externalReferenceId as filterable: a service may refuse it or silently ignore it.
            if (filterMode === 'refuse' && filterNames(filter, 'externalReferenceId'))
                return unsupportedFilter('externalReferenceId cannot be filtered on');
            if (filterMode === 'ignore') filter = withoutProperty(filter, 'externalReferenceId');
            const options = { ignoreCase: settings.filterIgnoresCase };
            if (filter) items = items.filter((item) => matchesFilter(item, filter, options));
        }
        const orderBy = (query.get('$orderby') ?? 'createdDateTime asc').trim();
        const order = /^(createdDateTime|updatedDateTime)(\s+(asc|desc))?$/i.exec(orderBy);
        if (!order)
            return errorAnswer(
                400,
                'invalidRequest',
                'Only createdDateTime or updatedDateTime can be ordered by.',
                '$orderby',
            );
        const field = order[1]!.toLowerCase() === 'createddatetime' ? 'createdDateTime' : 'updatedDateTime';
        const direction = order[3]?.toLowerCase() === 'desc' ? -1 : 1;
        items = [...items].sort((a, b) => direction * a[field].localeCompare(b[field]));

        const top = readCount(query.get('$top'));
        const skip = readCount(query.get('$skip'));
        const offset = token?.offset ?? null;
        if (top === null || skip === null || offset === null) {
            return errorAnswer(
                400,
                'invalidRequest',
                '$top, $skip and $skiptoken must be non-negative integers.',
                '$top',
            );
        }
        const total = items.length;
        const start = (skip ?? 0) + offset;
        const remaining = top === undefined ? Infinity : Math.max(0, top - offset);
        const pageSize = Math.min(this.options.pageSize, MAX_PAGE_SIZE, remaining);
        const page = items.slice(start, start + pageSize);
        const body: Json = {
            '@odata.context': `${this.root()}/v1.0/$metadata#Referrals`,
            '@odata.count': total,
            value: page,
        };
        const served = offset + page.length;
        if (start + page.length < total && (top === undefined || served < top)) {
            const next = new URL(`${this.root()}${REFERRALS_PATH}`);
            for (const name of ['$filter', '$orderby', '$top', '$skip']) {
                const value = query.get(name);
                if (value !== null) next.searchParams.set(name, value);
            }
            next.searchParams.set('$skiptoken', Buffer.from(`${served}:${filterMode}`).toString('base64url'));
            body['@odata.nextLink'] = next.toString();
        }
        return { status: 200, body };
    }

    replace(request: SimulatorRequest): SimulatorAnswer {
        const stored = this.options.store.get(request.params.id ?? '');
        if (!stored) return notFound();
        const ifMatch = header(request, 'if-match');
        if (!ifMatch) return errorAnswer(400, 'invalidRequest', 'The If-Match header is required.', 'If-Match');
        if (!eTagMatches(ifMatch, stored.eTag)) return stale();
        const input = toWireNames(request.body);
        if (!isObject(input))
            return errorAnswer(400, 'invalidRequest', 'The body must be a referral object.', 'referral');
        if ('links' in input)
            return errorAnswer(400, 'invalidRequest', 'Remove links from the referral to update it.', 'links');
        const problems = validateReferral(input);
        if (problems.length > 0)
            return errorAnswer(400, 'invalidRequest', describeProblems(problems), problems[0]!.target);
        const next: Json = { ...input };
        for (const key of [
            'id',
            'engagementId',
            'organizationId',
            'organizationName',
            'createdDateTime',
            'acceptedDateTime',
            'direction',
        ]) {
            next[key] = stored[key];
        }
        next.status ??= stored.status;
        next.substatus ??= stored.substatus;
        return this.commit(stored, next);
    }

    patch(request: SimulatorRequest): SimulatorAnswer {
        const stored = this.options.store.get(request.params.id ?? '');
        if (!stored) return notFound();
        const ifMatch = header(request, 'if-match');
        if (ifMatch && !eTagMatches(ifMatch, stored.eTag)) return stale();
        const next = structuredClone(stored) as Json;
        delete next.links;
        try {
            applyPatch(next, readPatch(request.body));
        } catch (error) {
            if (error instanceof PatchError) return errorAnswer(400, 'invalidRequest', error.message, error.target);
            throw error;
        }
        const problems = validateReferral(next);
        if (problems.length > 0)
            return errorAnswer(400, 'invalidRequest', describeProblems(problems), problems[0]!.target);
        const answer = this.commit(stored, next);
        if (answer.status !== 200) return answer;
        const wantsBody = /return=representation/i.test(header(request, 'prefer') ?? '');
        return wantsBody ? answer : { status: 204, referralId: stored.id };
    }

    /**
     * Someone else edits the referral at Partner Center just before a PATCH/PUT arrives (the `concurrentEdit` fault):
     * a new eTag and updatedDateTime, so a request with the old If-Match gets 412. Closed referrals are left alone.
     */
    editConcurrently(pathname: string): void {
        const id = ITEM_PATH.exec(pathname)?.groups?.id;
        const stored = id === undefined ? undefined : this.options.store.get(id);
        if (!stored || stored.status === 'Closed') return;
        const { store } = this.options;
        store.save({ ...stored, eTag: store.newETag(), updatedDateTime: store.timestamp() });
    }

    /** Status rules, then a new eTag and updatedDateTime. Closed is terminal. */
    private commit(stored: StoredReferral, next: Json): SimulatorAnswer {
        const from = stored.status as ReferralStatus;
        const to = next.status as ReferralStatus;
        if (from === 'Closed')
            return errorAnswer(400, 'invalidRequest', 'A closed referral cannot be changed.', 'status');
        if (!isAllowedTransition(from, to)) {
            return errorAnswer(400, 'invalidRequest', 'The status transition is not allowed.', 'status');
        }
        if (!isAllowedStatusPair(to, next.substatus as ReferralSubstatus)) {
            return errorAnswer(400, 'invalidRequest', 'The substatus is not allowed with this status.', 'substatus');
        }
        const { store } = this.options;
        const updated = { ...next, eTag: store.newETag(), updatedDateTime: store.timestamp() } as StoredReferral;
        if (to === 'Closed') updated.closedDateTime = updated.updatedDateTime;
        updated.links = this.links(updated);
        store.save(updated);
        return { status: 200, body: updated, referralId: stored.id };
    }

    private root(): string {
        return this.options.baseUrl().replace(/\/+$/, '');
    }

    private links(referral: StoredReferral): Json {
        const collection = `${this.root()}${REFERRALS_PATH}`;
        return {
            relatedReferrals: {
                uri: `${collection}?$filter=engagementId eq '${referral.engagementId}'`,
                method: 'GET',
            },
            self: { uri: `${collection}/${referral.id}`, method: 'GET' },
        };
    }
}

/** Keys the create answer places explicitly (everything else submitted is kept after them). */
const ANSWER_ORDER_TEMPLATE: Record<string, true> = Object.fromEntries(
    [
        'engagementId',
        'name',
        'externalReferenceId',
        'expirationDateTime',
        'status',
        'substatus',
        'statusReason',
        'qualification',
        'type',
        'target',
        'customerProfile',
        'consent',
        'details',
        'team',
        'inviteContext',
    ].map((key) => [key, true]),
);

function unsupportedFilter(reason: string): SimulatorAnswer {
    return errorAnswer(400, 'invalidRequest', `The $filter is not supported: ${reason}.`, '$filter');
}

function notFound(): SimulatorAnswer {
    return errorAnswer(404, 'itemNotFound', 'The referral does not exist.', 'referral');
}

function stale(): SimulatorAnswer {
    return errorAnswer(
        412,
        'preconditionFailed',
        'The eTag does not match the current version of the referral.',
        'If-Match',
    );
}

/** `*` matches anything; otherwise compare without the W/ prefix and the surrounding quotes. */
function eTagMatches(ifMatch: string, eTag: string): boolean {
    const bare = (value: string) =>
        value
            .trim()
            .replace(/^W\//, '')
            .replace(/^"+|"+$/g, '');
    return ifMatch.split(',').some((candidate) => candidate.trim() === '*' || bare(candidate) === bare(eTag));
}

/** undefined when absent, null when invalid. */
function readCount(value: string | null): number | undefined | null {
    if (value === null) return undefined;
    return /^\d+$/.test(value) ? Number(value) : null;
}

/** `<offset>:<filter mode>`, base64url; null when unreadable (the listing answers 400). */
function readSkipToken(value: string | null): { offset: number; filterMode?: ExternalReferenceIdFilter } | null {
    if (value === null) return { offset: 0 };
    const match = /^(\d+):(\w+)$/.exec(Buffer.from(value, 'base64url').toString());
    const mode = match?.[2] as ExternalReferenceIdFilter | undefined;
    if (!match || !mode || !EXTERNAL_REFERENCE_ID_FILTER_MODES.includes(mode)) return null;
    return { offset: Number(match[1]), filterMode: mode };
}
