/**
 * The published contract stays in step with the joi schema: the checked-in docs/openapi.json and
 * docs/referral-message.schema.json equal what the generator builds now, the documents are valid OpenAPI 3.1 /
 * JSON Schema 2020-12 (compiled by ajv 8), and the JSON Schema accepts and refuses what the joi validator does.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { HttpRequest } from '@azure/functions';
import Ajv2020 from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import Joi from 'joi';

import { getOpenApi } from '../../../functions/getOpenApi';
import {
    joiToJsonSchema,
    MESSAGE_SCHEMA_PATH,
    OPENAPI_PATH,
    openApiDocument,
    OUTCOME_EVENT_SCHEMA_PATH,
    outcomeEventSchema,
    referralMessageSchema,
    referralUpdateMessageSchema,
    UnsupportedJoiError,
    UPDATE_MESSAGE_SCHEMA_PATH,
} from '../../../shared/contract';
import { EventOutbox, EventPublishingStore } from '../../../shared/referral/eventOutbox';
import { recordPartnerCenterChange, transition } from '../../../shared/referral/record';
import { validateReferral } from '../../../shared/referral/request/validate';
import { statusDocument } from '../../../shared/referral/statusDocument';
import { newUpdate, transitionUpdate, withUpdate } from '../../../shared/referral/updates';
import { invocationContext, readResponse } from '../../support/functions';
import { givenPartnerReferral, givenRecord } from '../../support/givenRecord';
import { MemoryReferralStore } from '../../support/memoryReferralStore';
import { seedReferral } from '../../support/referrals';

const ROOT = join(__dirname, '..', '..', '..');
const readJson = (path: string) => JSON.parse(readFileSync(join(ROOT, path), 'utf8'));

function ajv() {
    const instance = new Ajv2020({ strict: true, allErrors: true });
    addFormats(instance);
    return instance;
}

describe('checked-in contract documents', () => {
    it(`${OPENAPI_PATH} is what the generator builds from the joi schema (run npm run contract:generate)`, () => {
        expect(readJson(OPENAPI_PATH)).toEqual(openApiDocument());
    });

    it(`${MESSAGE_SCHEMA_PATH} is what the generator builds from the joi schema (run npm run contract:generate)`, () => {
        expect(readJson(MESSAGE_SCHEMA_PATH)).toEqual(referralMessageSchema());
    });

    it(`${UPDATE_MESSAGE_SCHEMA_PATH} is what the generator builds (run npm run contract:generate)`, () => {
        expect(readJson(UPDATE_MESSAGE_SCHEMA_PATH)).toEqual(referralUpdateMessageSchema());
    });

    it('the update message schema takes the documented close and refuses other operations', () => {
        const validate = ajv().compile(referralUpdateMessageSchema());
        const message = (body: unknown) => ({
            messageId: 'u-1',
            contentType: 'application/json',
            applicationProperties: { contractVersion: '1', referralId: 'k1' },
            body,
        });
        const close = [
            { op: 'replace', path: '/status', value: 'Closed' },
            { op: 'replace', path: '/substatus', value: 'Won' },
        ];
        expect(validate(message(close))).toBe(true);
        expect(validate(message([{ op: 'remove', path: '/name', value: 1 }]))).toBe(false);
        expect(validate(message([]))).toBe(false);
    });
});

describe('outcome event JSON Schema', () => {
    it(`${OUTCOME_EVENT_SCHEMA_PATH} is what the generator builds (run npm run contract:generate)`, () => {
        expect(readJson(OUTCOME_EVENT_SCHEMA_PATH)).toEqual(outcomeEventSchema());
    });

    it('takes every event the outbox publishes, as Event Grid delivers it; refuses an unknown type or no id', async () => {
        const published: Array<Record<string, unknown>> = [];
        const publisher = {
            publish: (events: readonly object[]) => {
                for (const event of events) {
                    published.push({ specversion: '1.0', datacontenttype: 'application/json', ...event });
                }
                return Promise.resolve();
            },
        };
        const now = () => new Date('2026-11-21T12:00:00.000Z');
        const store = new EventPublishingStore(
            new MemoryReferralStore(),
            new EventOutbox(publisher, '/cosell-referrals', now, { event: () => undefined }),
        );
        const submitted = transition(givenRecord({ status: 'Submitting' }), 'Submitted', now(), {
            partnerReferral: givenPartnerReferral(),
        });
        const patch = [{ op: 'replace' as const, path: '/status', value: 'Closed' }];
        const update = newUpdate({ id: 'u1', source: 'http', correlationId: 'c', requestHash: 'h', patch, at: now() });
        const applied = transitionUpdate(
            transitionUpdate(withUpdate(submitted, update, now()), 'u1', 'Applying', now()),
            'u1',
            'Applied',
            now(),
        );
        const change = { at: now().toISOString(), referral: 'partner', status: 'Closed', substatus: 'Won' } as const;
        const record = recordPartnerCenterChange(applied, { ...change, source: 'webhook' });
        await store.create(record);
        const validate = ajv().compile(outcomeEventSchema());
        expect(published.map((event) => event.type)).toEqual([
            'cosell.referral.submitted',
            'cosell.referral.updated',
            'cosell.referral.partnerCenterChanged',
        ]);
        expect(published[1]!.data).toMatchObject({ update: { id: 'u1', status: 'Applied' } });
        expect(published[2]!.data).toMatchObject({ partnerCenterChange: { ...change, source: 'webhook' } });
        for (const event of published)
            expect({ valid: validate(event), errors: validate.errors }).toEqual({ valid: true, errors: null });
        const { id: _id, ...withoutId } = published[0]!;
        expect(validate(withoutId)).toBe(false);
        expect(validate({ ...published[0], type: 'cosell.referral.unknown' })).toBe(false);
    });
});

describe('OpenAPI document', () => {
    const document = openApiDocument() as any;

    it('is OpenAPI 3.1 with the JSON Schema 2020-12 dialect, and documents every HTTP function', () => {
        expect(document.openapi).toBe('3.1.0');
        expect(document.jsonSchemaDialect).toBe('https://json-schema.org/draft/2020-12/schema');
        expect(Object.keys(document.paths).sort()).toEqual([
            '/api/openapi.json',
            '/api/referrals',
            '/api/referrals/{id}',
        ]);
        expect(document.paths['/api/openapi.json'].get.security).toEqual([]);
    });

    it('resolves every $ref, and each component schema compiles as JSON Schema 2020-12', () => {
        const refs = JSON.stringify(document).match(/"\$ref":"[^"]+"/g) ?? [];
        for (const ref of new Set(refs)) {
            const name = /#\/components\/schemas\/(\w+)/.exec(ref)?.[1];
            expect({ ref, found: name !== undefined && name in document.components.schemas }).toEqual({
                ref,
                found: true,
            });
        }
        // The component schemas as one 2020-12 schema ($defs), compiled in strict mode: any keyword ajv does not know fails.
        const text = JSON.stringify(document.components.schemas).replaceAll('#/components/schemas/', 'openapi#/$defs/');
        const validator = ajv();
        validator.addSchema({ $id: 'openapi', $defs: JSON.parse(text) });
        for (const name of Object.keys(document.components.schemas)) {
            expect(typeof validator.getSchema(`openapi#/$defs/${name}`)).toBe('function');
        }
        const validateStatus = validator.getSchema('openapi#/$defs/ReferralStatus')!;
        // The real status document of a record, as GET /api/referrals/{id} answers it.
        const at = new Date('2026-11-21T00:00:00Z');
        const record = transition(givenRecord({ id: 'k-1', request: null, at }), 'Failed', at, {
            error: { code: 'RetriesExhausted', message: 'Gave up' },
        });
        expect(validateStatus(statusDocument(record))).toBe(true);
        expect(validateStatus({ ...statusDocument(record), status: 'Lost' })).toBe(false);
    });
});

describe('message JSON Schema agrees with the joi validator', () => {
    const validator = ajv();
    const validateMessage = validator.compile(referralMessageSchema());
    const message = (body: unknown) => ({
        messageId: 'order-4711',
        correlationId: 'c-1',
        contentType: 'application/json',
        applicationProperties: { contractVersion: '1' },
        body,
    });

    const valid: Array<[string, (r: Record<string, any>) => void]> = [
        ['the seed referral', () => undefined],
        ['an unknown property (a warning, passed through)', (r) => (r.customProperty = 1)],
        ['an empty email', (r) => (r.customerProfile.team[0].email = '')],
        ['a null email', (r) => (r.customerProfile.team[0].email = null)],
        ['an empty customer size', (r) => (r.customerProfile.size = '')],
        ['a null engagementId', (r) => (r.engagementId = null)],
        ['tab and line breaks in the notes', (r) => (r.details.notes = 'one\r\ntwo\tthree')],
        ['a paired surrogate (an emoji) in a name', (r) => (r.customerProfile.name = 'Contoso \u{1F600}')],
    ];
    it.each(valid)('accepts %s, as joi does', (_name, change) => {
        const referral = seedReferral();
        change(referral);
        expect(validateReferral(referral).ok).toBe(true);
        expect(validateMessage(message(referral))).toBe(true);
    });

    const invalid: Array<[string, (r: Record<string, any>) => void]> = [
        ['a missing type', (r) => delete r.type],
        ['an unknown type', (r) => (r.type = 'Solo')],
        ['a missing customer name', (r) => delete r.customerProfile.name],
        ['an empty customer name', (r) => (r.customerProfile.name = '')],
        ['an empty referral name', (r) => (r.name = '')],
        ['a too long name', (r) => (r.name = 'x'.repeat(257))],
        ['an invalid email', (r) => (r.customerProfile.team[0].email = 'not-an-email')],
        ['a negative deal value', (r) => (r.details.dealValue = -1)],
        ['a deal value as text', (r) => (r.details.dealValue = '5')],
        ['an unknown country', (r) => (r.customerProfile.address.country = 'XX')],
        ['a non-GUID engagementId', (r) => (r.engagementId = 'abc')],
        ['a non-date closingDateTime', (r) => (r.details.closingDateTime = 'soon')],
        ['a right-to-left override in the customer name', (r) => (r.customerProfile.name = '\u202Eexe.txt')],
        ['a NUL in a team member name', (r) => (r.customerProfile.team[0].lastName = 'a\u0000b')],
        ['a lone surrogate in the referral name', (r) => (r.name = 'a\uD800b')],
        ['a newline in a customer name', (r) => (r.customerProfile.name = 'a\nb')],
        ['eleven targets', (r) => (r.target = Array.from({ length: 11 }, () => ({ type: 'None', id: 'x' })))],
        ['a target without id', (r) => (r.target = [{ type: 'None' }])],
        ['consent as a string', (r) => (r.consent = 'yes')],
    ];
    it.each(invalid)('refuses %s, as joi does', (_name, change) => {
        const referral = seedReferral();
        change(referral);
        expect(validateReferral(referral).ok).toBe(false);
        expect(validateMessage(message(referral))).toBe(false);
    });

    it('refuses a message without a usable key or with another content type', () => {
        expect(validateMessage({ ...message(seedReferral()), messageId: 'has spaces' })).toBe(false);
        expect(validateMessage({ ...message(seedReferral()), contentType: 'text/plain' })).toBe(false);
    });
});

describe('joiToJsonSchema', () => {
    it('translates the subset the referral schema uses', () => {
        expect(
            joiToJsonSchema(
                Joi.object({
                    a: Joi.string().max(3).allow(null).required(),
                    e: Joi.string().valid('x', 'y').allow(''),
                    n: Joi.number().min(0),
                    l: Joi.array().items(Joi.boolean()).max(2),
                }),
            ),
        ).toEqual({
            type: 'object',
            properties: {
                a: { type: ['string', 'null'], maxLength: 3, minLength: 1 },
                e: { type: 'string', enum: ['x', 'y', ''] },
                n: { type: 'number', minimum: 0 },
                l: { type: 'array', items: { type: 'boolean' }, maxItems: 2 },
            },
            required: ['a'],
        });
    });

    it.each([
        ['a pattern', Joi.object({ a: Joi.string().pattern(/x/) })],
        ['a case-insensitive pattern', Joi.object({ a: Joi.string().pattern(/x/iu) })],
        ['an integer rule', Joi.object({ a: Joi.number().integer() })],
        ['a date type', Joi.object({ a: Joi.date() })],
        ['alternatives', Joi.object({ a: Joi.alternatives().try(Joi.string(), Joi.number()) })],
        ['a default', Joi.object({ a: Joi.string().default('x') })],
        ['an optional-forbidden key', Joi.object({ a: Joi.string().forbidden() })],
    ])('refuses to guess at %s', (_name, schema) => {
        expect(() => joiToJsonSchema(schema)).toThrow(UnsupportedJoiError);
    });
});

describe('GET /api/openapi.json', () => {
    it('answers the generated document as JSON', async () => {
        const { context } = invocationContext('getOpenApi');
        const response = await readResponse(
            await getOpenApi(new HttpRequest({ method: 'GET', url: 'http://localhost/api/openapi.json' }), context),
        );
        expect(response.status).toBe(200);
        expect(response.headers.get('content-type')).toBe('application/json');
        expect(response.json).toEqual(openApiDocument());
    });
});
