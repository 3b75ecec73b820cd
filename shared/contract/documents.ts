/**
 * The published contract: the OpenAPI 3.1 document of the HTTP API and the JSON Schema (2020-12) of the queue
 * message, both built from the one joi schema of the referral (`referralSchema`), never written twice.
 *
 * `npm run contract:generate` writes them to docs/openapi.json and docs/referral-message.schema.json; GET
 * /api/openapi.json serves the same document; test/unit/contract keeps the checked-in files in step.
 */
import {
    ATTEMPT_PROPERTY,
    KEY_PATTERN,
    REFERRAL_ID_PROPERTY,
    REFERRAL_KEY_PROPERTY,
    UPDATE_KEY_PROPERTY,
} from '../messaging/messages';
import { MAX_MESSAGE_BYTES } from '../messaging/messageSize';
import {
    CONNECTIONS_QUEUE,
    CONTRACT_VERSION,
    CONTRACT_VERSION_PROPERTY,
    REFERRALS_QUEUE,
    UPDATES_QUEUE,
} from '../platform/names';
import { MAX_BODY_BYTES } from '../referral/intake';
import { OUTCOME_EVENT_TYPES } from '../referral/outcomeEvents';
import { LIFECYCLE_STATUSES, UPDATE_STATUSES } from '../referral/record';
import { REFERRAL_TYPES } from '../referral/request/enums';
import { IMMUTABLE_PROPERTIES, MAX_PATCH_OPERATIONS } from '../referral/request/patch';
import { referralSchema } from '../referral/request/schema';
import {
    MAX_LISTED_PROBLEMS,
    MAX_NESTING_DEPTH,
    MAX_PROPERTIES_PER_OBJECT,
    MAX_PROPERTY_NAME_LENGTH,
    MAX_VALUES,
} from '../referral/request/validate';
import { MAX_UPDATE_BODY_BYTES, UPDATE_MEDIA_TYPES } from '../referral/updateIntake';
import { joiToJsonSchema, type JsonSchema } from './joiToJsonSchema';

export const JSON_SCHEMA_DIALECT = 'https://json-schema.org/draft/2020-12/schema';
export const OPENAPI_PATH = 'docs/openapi.json';
export const MESSAGE_SCHEMA_PATH = 'docs/referral-message.schema.json';
export const MESSAGE_SCHEMA_ID = `urn:cosell-referrals:referral-message:${CONTRACT_VERSION}`;
export const UPDATE_MESSAGE_SCHEMA_PATH = 'docs/referral-update-message.schema.json';
export const UPDATE_MESSAGE_SCHEMA_ID = `urn:cosell-referrals:referral-update-message:${CONTRACT_VERSION}`;
export const OUTCOME_EVENT_SCHEMA_PATH = 'docs/outcome-event.schema.json';
export const OUTCOME_EVENT_SCHEMA_ID = `urn:cosell-referrals:outcome-event:${CONTRACT_VERSION}`;

const PATCH_DESCRIPTION =
    'A JSON Patch (RFC 6902) of the referral: "add" and "replace" only, on paths of the referral create body (RFC ' +
    `6901 pointers; "-" appends to an array in an add). At most ${MAX_PATCH_OPERATIONS} operations. These may not ` +
    `change: ${[...IMMUTABLE_PROPERTIES].map((name) => `/${name}`).join(', ')}. The patched referral must be valid ` +
    'as a create body, and a status change must follow the transition table (New → New, Active, Closed; Active → ' +
    "Active, Closed; Closed is final: nothing may change after it). It changes the partner's own referral.";

const PATCH_SCHEMA: JsonSchema = {
    type: 'array',
    description: PATCH_DESCRIPTION,
    minItems: 1,
    maxItems: MAX_PATCH_OPERATIONS,
    items: {
        type: 'object',
        required: ['op', 'path', 'value'],
        properties: {
            op: { type: 'string', enum: ['add', 'replace'] },
            path: { type: 'string', pattern: '^/', examples: ['/details/dealValue', '/team/-', '/status'] },
            value: {},
        },
    },
    examples: [
        [
            { op: 'replace', path: '/status', value: 'Closed' },
            { op: 'replace', path: '/substatus', value: 'Won' },
        ],
    ],
};

const REFERRAL_DESCRIPTION =
    'The body of POST /v1.0/engagements/referrals of the Partner API, as this service accepts it. Properties not ' +
    'listed here are accepted, reported as warnings and passed through unchanged. Not expressible here: the ' +
    'substatus must suit the status (New: Pending or Received; Active: Accepted; Closed: Won, Lost, Declined or ' +
    `Expired; None: None); the body may nest at most ${MAX_NESTING_DEPTH} levels, an object may have at most ` +
    `${MAX_PROPERTIES_PER_OBJECT} properties, the body at most ${MAX_VALUES} values in all, and property names at ` +
    `most ${MAX_PROPERTY_NAME_LENGTH} characters of clean text; no string anywhere (unknown properties included) ` +
    'may hold control characters (tab and line breaks only in notes), bidi controls or unpaired surrogates, and no ' +
    'number may be non-finite.';

const KEY_SCHEMA: JsonSchema = {
    type: 'string',
    pattern: KEY_PATTERN.source,
    description: 'A referral key: 1-128 characters of A-Z a-z 0-9 . _ : -',
};

/** The referral create body, from the joi schema. */
export function referralRequestSchema(): JsonSchema {
    return { title: 'ReferralRequest', description: REFERRAL_DESCRIPTION, ...joiToJsonSchema(referralSchema()) };
}

/** A list of problems: where each is and what is wrong, never the value. */
/** A bounded list of problems, and the count of those left out of it. */
function problemList(description: string): JsonSchema {
    return {
        type: 'array',
        description,
        items: { $ref: '#/components/schemas/Problem' },
        maxItems: MAX_LISTED_PROBLEMS,
    };
}

function omittedCount(what: string): JsonSchema {
    return {
        type: 'integer',
        minimum: 1,
        description: `Present when there were more ${what} than listed: how many more (at most ${MAX_LISTED_PROBLEMS} are listed).`,
    };
}

const PROBLEM_SCHEMA: JsonSchema = {
    type: 'object',
    description: 'RFC 9457 problem details. Never echoes submitted values.',
    required: ['type', 'title', 'status'],
    properties: {
        type: { type: 'string' },
        title: { type: 'string' },
        status: { type: 'integer' },
        detail: { type: 'string' },
        errors: problemList('For invalid input: where each problem is and what is wrong, never the value.'),
        errorsOmitted: omittedCount('problems'),
    },
};

const ITEM_PROBLEM_SCHEMA: JsonSchema = {
    type: 'object',
    required: ['path', 'message'],
    properties: {
        path: { type: 'string', examples: ['customerProfile.team[0].email'] },
        message: { type: 'string', examples: ['must be a valid email address'] },
    },
};

const PARTNER_REFERRAL_STATUS: JsonSchema = {
    type: ['object', 'null'],
    required: ['id', 'engagementId', 'status', 'substatus', 'eTag'],
    properties: {
        id: { type: 'string', description: 'The Partner API referral id.' },
        engagementId: { type: 'string' },
        status: { type: ['string', 'null'] },
        substatus: { type: ['string', 'null'] },
        eTag: { type: ['string', 'null'] },
        updatedDateTime: { type: ['string', 'null'], description: "Partner Center's time of its last change." },
    },
};

const LIFECYCLE_STATUS: JsonSchema = { type: 'string', enum: [...LIFECYCLE_STATUSES] };

const ACCEPTED_SCHEMA: JsonSchema = {
    type: 'object',
    required: ['id', 'status', 'statusUrl', 'warnings'],
    properties: {
        id: { $ref: '#/components/schemas/ReferralKey' },
        status: { $ref: '#/components/schemas/LifecycleStatus' },
        statusUrl: { type: 'string', examples: ['/api/referrals/7f0c…'] },
        warnings: problemList(
            'Unknown properties (passed through unchanged), with a "did you mean" hint where one fits.',
        ),
        warningsOmitted: omittedCount('warnings'),
    },
};

const ERROR_SCHEMA: JsonSchema = {
    type: ['object', 'null'],
    required: ['code', 'message'],
    properties: { code: { type: 'string' }, message: { type: 'string' } },
};

const STATUS_SCHEMA: JsonSchema = {
    type: 'object',
    description: 'What happened to a referral: identifiers and statuses only, no customer data.',
    required: [
        'id',
        'status',
        'type',
        'partnerReferral',
        'connectedReferral',
        'engagement',
        'error',
        'attempts',
        'createdAt',
        'updatedAt',
        'updates',
        'duplicates',
        'history',
    ],
    properties: {
        id: { $ref: '#/components/schemas/ReferralKey' },
        status: { $ref: '#/components/schemas/LifecycleStatus' },
        type: { type: ['string', 'null'], enum: [...REFERRAL_TYPES, null] },
        partnerReferral: { $ref: '#/components/schemas/PartnerReferralStatus' },
        connectedReferral: { $ref: '#/components/schemas/PartnerReferralStatus' },
        engagement: {
            type: 'array',
            description:
                "The engagement's other referrals (Microsoft's seller's, say) as last seen at Partner Center: ids, " +
                'statuses and targets, no customer data. Empty until a change to the engagement is seen.',
            items: {
                type: 'object',
                required: ['id', 'status', 'substatus', 'target', 'updatedDateTime'],
                properties: {
                    id: { type: 'string' },
                    status: { type: ['string', 'null'] },
                    substatus: { type: ['string', 'null'] },
                    target: {
                        type: 'array',
                        items: {
                            type: 'object',
                            required: ['type', 'id'],
                            properties: { type: { type: 'string' }, id: { type: 'string' } },
                        },
                    },
                    updatedDateTime: { type: ['string', 'null'] },
                },
            },
        },
        error: ERROR_SCHEMA,
        attempts: { type: 'integer', minimum: 0 },
        createdAt: { type: 'string', format: 'date-time' },
        updatedAt: { type: 'string', format: 'date-time' },
        updates: {
            type: 'array',
            description: 'Each update in the order accepted: where it stands, never what it changes.',
            items: {
                type: 'object',
                required: ['id', 'status', 'acceptedAt', 'appliedAt', 'error'],
                properties: {
                    id: { $ref: '#/components/schemas/ReferralKey' },
                    status: { type: 'string', enum: [...UPDATE_STATUSES] },
                    acceptedAt: { type: 'string', format: 'date-time' },
                    appliedAt: { type: ['string', 'null'], format: 'date-time' },
                    error: ERROR_SCHEMA,
                },
            },
        },
        duplicates: {
            type: 'array',
            description:
                'Copies of its referrals that the later duplicate check found at Partner Center (`of`: which one ' +
                'each copies); `Closed` once an operator closed the copy there. Empty: none found.',
            items: {
                type: 'object',
                required: ['id', 'engagementId', 'of', 'foundAt', 'status', 'closedAt'],
                properties: {
                    id: { type: 'string' },
                    engagementId: { type: 'string' },
                    of: { type: 'string', enum: ['partnerReferral', 'connectedReferral'] },
                    foundAt: { type: 'string', format: 'date-time' },
                    status: { type: 'string', enum: ['Open', 'Closed'] },
                    closedAt: { type: ['string', 'null'], format: 'date-time' },
                },
            },
        },
        history: {
            type: 'array',
            description:
                'Lifecycle statuses reached, updates applied (with the update key in `update`), and changes seen at ' +
                'Partner Center (with `referral`: partner, connected or engagement, its `substatus`, and `source`: ' +
                "webhook or reconciliation; `at` is Partner Center's updatedDateTime).",
            items: {
                type: 'object',
                required: ['status', 'at'],
                properties: {
                    status: {
                        anyOf: [
                            { $ref: '#/components/schemas/LifecycleStatus' },
                            { const: 'Applied' },
                            { type: ['string', 'null'], description: "Partner Center's status (with `referral`)." },
                        ],
                    },
                    update: { $ref: '#/components/schemas/ReferralKey' },
                    referral: { type: 'string', enum: ['partner', 'connected', 'engagement'] },
                    substatus: { type: ['string', 'null'] },
                    source: { type: 'string', enum: ['webhook', 'reconciliation'] },
                    at: { type: 'string', format: 'date-time' },
                },
            },
        },
    },
};

const UPDATE_ACCEPTED_SCHEMA: JsonSchema = {
    type: 'object',
    required: ['id', 'update', 'statusUrl'],
    properties: {
        id: { $ref: '#/components/schemas/ReferralKey' },
        update: {
            type: 'object',
            required: ['id', 'status'],
            properties: {
                id: { $ref: '#/components/schemas/ReferralKey' },
                status: { type: 'string', enum: [...UPDATE_STATUSES] },
            },
        },
        statusUrl: { type: 'string' },
    },
};

function problemResponse(description: string): JsonSchema {
    return {
        description,
        content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/ProblemDetails' } } },
    };
}

/** A dependency (Service Bus, Cosmos DB) is unavailable: retry after `Retry-After` seconds. */
function unavailableResponse(description: string): JsonSchema {
    return { ...problemResponse(description), headers: { 'Retry-After': { schema: { type: 'integer' } } } };
}

const CORRELATION_HEADER: JsonSchema = {
    description: "The correlation id (the caller's x-correlation-id, else a new one); sent on as MS-CorrelationId.",
    schema: { type: 'string' },
};

/** The OpenAPI 3.1 document of the HTTP API. */
export function openApiDocument(): JsonSchema {
    return {
        openapi: '3.1.0',
        jsonSchemaDialect: JSON_SCHEMA_DIALECT,
        info: {
            title: 'Co-sell referrals',
            version: CONTRACT_VERSION,
            description:
                'Submits Microsoft co-sell referrals to Partner Center exactly once. A referral is accepted (202), ' +
                `queued, submitted to the Partner API and, when Shared, connected to Microsoft; read its status back ` +
                `with GET /api/referrals/{id}. Upstream systems may instead publish to the Service Bus queue ` +
                `"${REFERRALS_QUEUE}" (see referral-message.schema.json).`,
        },
        security: [{ functionKeyHeader: [] }, { functionKeyQuery: [] }],
        paths: {
            '/api/referrals': {
                post: {
                    operationId: 'createReferral',
                    summary: 'Accept a referral and queue it for submission to the Partner API.',
                    parameters: [
                        {
                            name: 'Idempotency-Key',
                            in: 'header',
                            required: false,
                            description:
                                'The referral key. The same key with the same body answers with the same referral and ' +
                                'never submits twice; with another body it is a 409. Default: a new UUID.',
                            schema: KEY_SCHEMA,
                        },
                        {
                            name: 'x-correlation-id',
                            in: 'header',
                            required: false,
                            description:
                                'Correlation id carried through both queues to the Partner API (MS-CorrelationId). ' +
                                'A value that is not a valid key is replaced by a new UUID.',
                            schema: KEY_SCHEMA,
                        },
                    ],
                    requestBody: {
                        required: true,
                        description: `At most ${MAX_BODY_BYTES} bytes.`,
                        content: { 'application/json': { schema: { $ref: '#/components/schemas/ReferralRequest' } } },
                    },
                    responses: {
                        '202': {
                            description:
                                'Recorded and queued, or recorded and to be queued by the outbox if the queue could ' +
                                'not be reached (or the same request seen before): it will be submitted.',
                            headers: {
                                Location: { description: 'The status URL.', schema: { type: 'string' } },
                                'x-correlation-id': CORRELATION_HEADER,
                            },
                            content: {
                                'application/json': { schema: { $ref: '#/components/schemas/ReferralAccepted' } },
                            },
                        },
                        '400': problemResponse('Not valid: `errors` lists each problem as { path, message }.'),
                        '401': { description: 'No valid function key.' },
                        '409': problemResponse(
                            "The Idempotency-Key was used for a different referral; or the referral's " +
                                'externalReferenceId (its key when it has none) is held by another referral key whose ' +
                                'referral may be at Partner Center: `detail` and `errors` name that key (never the ' +
                                'externalReferenceId). Give each referral its own externalReferenceId; one is free ' +
                                'again only after its referral was Rejected without reaching Partner Center.',
                        ),
                        '413': problemResponse(
                            `The body is larger than ${MAX_BODY_BYTES} bytes, or the queue message it makes (the body ` +
                                `as JSON, numbers re-serialised, plus its properties) would exceed ${MAX_MESSAGE_BYTES} bytes.`,
                        ),
                        '415': problemResponse('The body is not JSON.'),
                        '503': unavailableResponse(
                            'Cannot record the referral right now (nothing was kept); retry with the same Idempotency-Key.',
                        ),
                    },
                },
            },
            '/api/referrals/{id}': {
                get: {
                    operationId: 'getReferralStatus',
                    summary: 'The lifecycle status of one referral and the Partner API identifiers.',
                    parameters: [{ name: 'id', in: 'path', required: true, schema: KEY_SCHEMA }],
                    responses: {
                        '200': {
                            description: 'The status document.',
                            content: {
                                'application/json': { schema: { $ref: '#/components/schemas/ReferralStatus' } },
                            },
                        },
                        '401': { description: 'No valid function key.' },
                        '404': problemResponse('No referral has this id.'),
                        '503': unavailableResponse('Cosmos DB cannot be reached right now; retry later.'),
                    },
                },
                patch: {
                    operationId: 'updateReferral',
                    summary: 'Records an update of the referral (a JSON Patch) and queues it to be applied once.',
                    parameters: [
                        { name: 'id', in: 'path', required: true, schema: KEY_SCHEMA },
                        {
                            name: 'Idempotency-Key',
                            in: 'header',
                            required: false,
                            schema: KEY_SCHEMA,
                            description:
                                'The update key (a new UUID when absent): the same key with the same body answers as ' +
                                'before; with another body, 409.',
                        },
                    ],
                    requestBody: {
                        required: true,
                        content: Object.fromEntries(
                            UPDATE_MEDIA_TYPES.map((type) => [
                                type,
                                { schema: { $ref: '#/components/schemas/ReferralPatch' } },
                            ]),
                        ),
                    },
                    responses: {
                        '202': {
                            description: 'The update is recorded Pending and queued; follow it at statusUrl.',
                            headers: {
                                Location: { schema: { type: 'string' } },
                                'x-correlation-id': CORRELATION_HEADER,
                            },
                            content: {
                                'application/json': { schema: { $ref: '#/components/schemas/UpdateAccepted' } },
                            },
                        },
                        '400': problemResponse('The update is not valid; `errors` lists every problem, never a value.'),
                        '401': { description: 'No valid function key.' },
                        '404': problemResponse('No referral has this id.'),
                        '409': problemResponse(
                            'The referral can no longer change (Closed, or rejected before Partner Center), it holds ' +
                                'the most updates it can keep, or the Idempotency-Key was used for another update.',
                        ),
                        '413': problemResponse(`The body is larger than ${MAX_UPDATE_BODY_BYTES} bytes.`),
                        '415': problemResponse('The body is not application/json-patch+json or application/json.'),
                        '503': unavailableResponse(
                            'Cannot record or queue the update right now; retry with the same Idempotency-Key.',
                        ),
                    },
                },
            },
            '/api/openapi.json': {
                get: {
                    operationId: 'getOpenApi',
                    summary: 'This document.',
                    security: [],
                    responses: { '200': { description: 'The OpenAPI document.', content: { 'application/json': {} } } },
                },
            },
        },
        components: {
            securitySchemes: {
                functionKeyHeader: { type: 'apiKey', in: 'header', name: 'x-functions-key' },
                functionKeyQuery: { type: 'apiKey', in: 'query', name: 'code' },
            },
            schemas: {
                ReferralRequest: referralRequestSchema(),
                ReferralKey: KEY_SCHEMA,
                LifecycleStatus: LIFECYCLE_STATUS,
                ReferralAccepted: ACCEPTED_SCHEMA,
                ReferralStatus: STATUS_SCHEMA,
                ReferralPatch: PATCH_SCHEMA,
                UpdateAccepted: UPDATE_ACCEPTED_SCHEMA,
                PartnerReferralStatus: PARTNER_REFERRAL_STATUS,
                ProblemDetails: PROBLEM_SCHEMA,
                Problem: ITEM_PROBLEM_SCHEMA,
            },
        },
    };
}

/** What tells the two queue messages' schemas apart; the rest is the message as Service Bus carries it. */
interface QueueMessageContract {
    id: string;
    queue: string;
    description: string;
    required: string[];
    messageId: string;
    correlationId: string;
    /** The schema of the application properties, less its `type: 'object'`. */
    applicationProperties: JsonSchema;
    body: JsonSchema;
}

function queueMessageSchema(contract: QueueMessageContract): JsonSchema {
    return {
        $schema: JSON_SCHEMA_DIALECT,
        $id: contract.id,
        title: `A message on the Service Bus queue "${contract.queue}"`,
        description: contract.description,
        type: 'object',
        required: contract.required,
        properties: {
            messageId: { ...KEY_SCHEMA, description: contract.messageId },
            correlationId: { ...KEY_SCHEMA, description: contract.correlationId },
            contentType: { const: 'application/json' },
            applicationProperties: { type: 'object', ...contract.applicationProperties },
            body: contract.body,
        },
    };
}

/**
 * The JSON Schema of a message on the "referrals" queue, for upstream publishers in any language: the message's
 * properties as Service Bus carries them, with the body (`$defs.ReferralRequest`, usable on its own).
 */
export function referralMessageSchema(): JsonSchema {
    return {
        ...queueMessageSchema({
            id: MESSAGE_SCHEMA_ID,
            queue: REFERRALS_QUEUE,
            description:
                'Publish one message per referral. The body is the referral create body as JSON (the same as POST ' +
                '/api/referrals takes). messageId is the referral key: the queue drops a repeat within its one-day ' +
                'duplicate-detection window, and the service remembers the key for REFERRAL_TTL_DAYS (default 365) ' +
                'days after the referral last changed, so a repeat within that time never submits twice; ' +
                `a different body under a used key is refused. Messages on "${CONNECTIONS_QUEUE}" are internal.`,
            required: ['messageId', 'contentType', 'body'],
            messageId: 'The referral key (Service Bus MessageId).',
            correlationId: 'Optional (Service Bus CorrelationId); sent to the Partner API as MS-CorrelationId.',
            applicationProperties: {
                description: 'Service Bus application properties.',
                properties: {
                    [CONTRACT_VERSION_PROPERTY]: {
                        const: CONTRACT_VERSION,
                        description: 'The version of this message contract.',
                    },
                    [REFERRAL_KEY_PROPERTY]: {
                        ...KEY_SCHEMA,
                        description: 'Set by the service on its own retries; publishers leave it out.',
                    },
                    [ATTEMPT_PROPERTY]: {
                        type: 'integer',
                        minimum: 1,
                        description: 'Set by the service on its own retries; publishers leave it out.',
                    },
                },
            },
            body: { $ref: '#/$defs/ReferralRequest' },
        }),
        $defs: { ReferralRequest: referralRequestSchema() },
    };
}

/**
 * The JSON Schema of a message on the "referral-updates" queue, for upstream publishers: one update of one referral.
 */
export function referralUpdateMessageSchema(): JsonSchema {
    return queueMessageSchema({
        id: UPDATE_MESSAGE_SCHEMA_ID,
        queue: UPDATES_QUEUE,
        description:
            'Publish one message per update. The body is the JSON Patch array (the same as PATCH ' +
            '/api/referrals/{id} takes). messageId is the update key, remembered on the referral: a repeat is ' +
            'recorded once, and a different body under a used key is refused. The queue drops repeats of a ' +
            'messageId across all referrals within its one-day window, so make it unique (a UUID). An invalid ' +
            'update is recorded as Rejected on the referral and never retried; one for a referral without a record ' +
            'is dead-lettered after the delivery count.',
        required: ['messageId', 'contentType', 'applicationProperties', 'body'],
        messageId: 'The update key (Service Bus MessageId).',
        correlationId: 'Optional (Service Bus CorrelationId).',
        applicationProperties: {
            required: [REFERRAL_ID_PROPERTY, CONTRACT_VERSION_PROPERTY],
            properties: {
                [CONTRACT_VERSION_PROPERTY]: { const: CONTRACT_VERSION },
                [REFERRAL_ID_PROPERTY]: { ...KEY_SCHEMA, description: 'The referral key of the referral to change.' },
                [UPDATE_KEY_PROPERTY]: {
                    ...KEY_SCHEMA,
                    description: 'Set by the service on the updates it sends itself; publishers leave it out.',
                },
            },
        },
        body: PATCH_SCHEMA,
    });
}

/** `schema` with its OpenAPI component references pointing at `$defs` instead. */
function withDefsReferences(schema: JsonSchema): JsonSchema {
    return JSON.parse(JSON.stringify(schema).replaceAll('"#/components/schemas/', '"#/$defs/')) as JsonSchema;
}

const PARTNER_CENTER_CHANGE_SCHEMA: JsonSchema = {
    type: 'object',
    description: 'A status or substatus change seen at Partner Center (cosell.referral.partnerCenterChanged only).',
    required: ['at', 'referral', 'status', 'substatus', 'source'],
    properties: {
        at: { type: 'string', format: 'date-time' },
        referral: {
            type: 'string',
            enum: ['partner', 'connected', 'engagement'],
            description: "The partner's referral, Microsoft's connected referral, or the engagement.",
        },
        status: { type: ['string', 'null'] },
        substatus: { type: ['string', 'null'] },
        source: { type: 'string', enum: ['webhook', 'reconciliation'] },
    },
};

/**
 * The JSON Schema of an outcome event as Event Grid delivers it (CloudEvents 1.0, structured JSON): the catalogue
 * (docs/events.md) in machine form. `data` is the status document of GET /api/referrals/{id} at the change, without
 * its history: identifiers and statuses, never customer data.
 */
export function outcomeEventSchema(): JsonSchema {
    const { history: _history, ...statusProperties } = STATUS_SCHEMA.properties as Record<string, JsonSchema>;
    const data: JsonSchema = {
        ...STATUS_SCHEMA,
        description: 'The status document at the change (GET /api/referrals/{id}), without history.',
        required: (STATUS_SCHEMA.required as string[]).filter((name) => name !== 'history'),
        properties: {
            ...statusProperties,
            update: {
                type: 'object',
                description: 'The update the event tells of (cosell.referral.updated only).',
                required: ['id', 'status'],
                properties: {
                    id: { $ref: '#/components/schemas/ReferralKey' },
                    status: { type: 'string', enum: ['Applied', 'Rejected', 'Failed'] },
                },
            },
            partnerCenterChange: PARTNER_CENTER_CHANGE_SCHEMA,
        },
    };
    return withDefsReferences({
        $schema: JSON_SCHEMA_DIALECT,
        $id: OUTCOME_EVENT_SCHEMA_ID,
        title: 'An outcome event of a referral (CloudEvents 1.0)',
        description:
            'Published to the Event Grid topic at each change others hear of; delivered at least once. `id` is ' +
            'fixed per change (`<referral key>:<sequence>`): de-duplicate on it.',
        type: 'object',
        required: ['specversion', 'id', 'type', 'source', 'subject', 'time', 'datacontenttype', 'data'],
        properties: {
            specversion: { const: '1.0' },
            id: { type: 'string', pattern: '^.+:[1-9][0-9]*$', examples: ['7f0c…:2'] },
            type: { type: 'string', enum: [...OUTCOME_EVENT_TYPES] },
            source: { type: 'string', description: 'Names the app instance (EVENT_SOURCE).' },
            subject: { type: 'string', pattern: '^/referrals/', examples: ['/referrals/7f0c…'] },
            time: { type: 'string', format: 'date-time', description: 'The time of the change.' },
            datacontenttype: { const: 'application/json' },
            data,
        },
        $defs: {
            ReferralKey: KEY_SCHEMA,
            LifecycleStatus: LIFECYCLE_STATUS,
            PartnerReferralStatus: PARTNER_REFERRAL_STATUS,
        },
    });
}

/** The text of a checked-in document (stable key order, 4-space indent, newline at the end). */
export function documentText(document: JsonSchema): string {
    return `${JSON.stringify(document, null, 4)}\n`;
}
