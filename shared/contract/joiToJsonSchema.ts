/**
 * Converts a joi schema to JSON Schema 2020-12 (which OpenAPI 3.1 uses as is), from joi's public `describe()` output.
 *
 * Deliberately small: it knows exactly the part of joi that `referralSchema` uses (object keys and `required`, `valid`
 * enums, `allow` of null and other literals, string `min`/`max`/`email`/`isoDate`/`guid`, number `min`, array `items`
 * and `max`, boolean, any, `unknown(true)`), and throws on anything else. A schema change it does not understand
 * therefore fails `npm run contract:generate` and the contract test loudly, instead of publishing a looser document
 * than the validator enforces (see docs/operations.md for why not `joi-to-json`).
 */
import type Joi from 'joi';

export type JsonSchema = { [keyword: string]: unknown };

interface Description {
    type: string;
    flags?: { presence?: string; only?: boolean; unknown?: boolean; [flag: string]: unknown };
    rules?: Array<{ name: string; args?: { limit?: number; [arg: string]: unknown } }>;
    allow?: unknown[];
    keys?: Record<string, Description>;
    items?: Description[];
    [property: string]: unknown;
}

export class UnsupportedJoiError extends Error {
    override readonly name = 'UnsupportedJoiError';
}

const KNOWN_FLAGS = new Set(['presence', 'only', 'unknown']);
const KNOWN_PROPERTIES = new Set(['type', 'flags', 'rules', 'allow', 'keys', 'items']);

function unsupported(path: string, what: string): never {
    throw new UnsupportedJoiError(`${path || '(root)'}: ${what} has no JSON Schema translation here`);
}

function check(description: Description, path: string): void {
    for (const property of Object.keys(description)) {
        if (!KNOWN_PROPERTIES.has(property)) unsupported(path, `joi property "${property}"`);
    }
    for (const flag of Object.keys(description.flags ?? {})) {
        if (!KNOWN_FLAGS.has(flag)) unsupported(path, `joi flag "${flag}"`);
    }
    if (description.flags?.presence && description.flags.presence !== 'required') {
        unsupported(path, `presence "${description.flags.presence}"`);
    }
}

function limitOf(rule: { name: string; args?: { limit?: number } }, path: string): number {
    const limit = rule.args?.limit;
    if (typeof limit !== 'number') unsupported(path, `rule ${rule.name} without a numeric limit`);
    return limit;
}

/**
 * joi describes a pattern as the regex literal's text. JSON Schema patterns are ECMA-262 with the `u` flag, so only
 * a `u` pattern (and no other flag) means the same in both.
 */
function patternOf(rule: { name: string; args?: { [arg: string]: unknown } }, path: string): string {
    const literal = /^\/(.*)\/u$/s.exec(typeof rule.args?.regex === 'string' ? rule.args.regex : '');
    if (!literal || rule.args?.options)
        unsupported(path, 'a pattern without the u flag, or with other flags or options');
    return literal[1]!;
}

function stringSchema(description: Description, path: string, emptyAllowed: boolean): JsonSchema {
    const schema: JsonSchema = { type: 'string' };
    let minLength = emptyAllowed ? 0 : 1; // joi refuses "" unless it is allowed explicitly
    for (const rule of description.rules ?? []) {
        switch (rule.name) {
            case 'max':
                schema.maxLength = limitOf(rule, path);
                break;
            case 'min':
                minLength = Math.max(minLength, limitOf(rule, path));
                break;
            case 'email':
                schema.format = 'email';
                break;
            case 'isoDate':
                schema.format = 'date-time';
                break;
            case 'guid':
                schema.format = 'uuid';
                break;
            case 'pattern':
                schema.pattern = patternOf(rule, path);
                break;
            default:
                unsupported(path, `string rule "${rule.name}"`);
        }
    }
    if (minLength > 0) schema.minLength = minLength;
    return schema;
}

function numberSchema(description: Description, path: string): JsonSchema {
    const schema: JsonSchema = { type: 'number' };
    for (const rule of description.rules ?? []) {
        if (rule.name === 'min') schema.minimum = limitOf(rule, path);
        else unsupported(path, `number rule "${rule.name}"`);
    }
    return schema;
}

function objectSchema(description: Description, path: string): JsonSchema {
    const schema: JsonSchema = { type: 'object' };
    const keys = Object.entries(description.keys ?? {});
    if (keys.length > 0) {
        schema.properties = Object.fromEntries(
            keys.map(([name, child]) => [name, convert(child, path ? `${path}.${name}` : name)]),
        );
        const required = keys.filter(([, child]) => child.flags?.presence === 'required').map(([name]) => name);
        if (required.length > 0) schema.required = required;
    }
    // Unknown properties are accepted (reported as warnings and passed through), so objects stay open.
    return schema;
}

function arraySchema(description: Description, path: string): JsonSchema {
    const schema: JsonSchema = { type: 'array' };
    const items = description.items ?? [];
    if (items.length > 1) unsupported(path, 'an array with several item schemas');
    if (items[0]) schema.items = convert(items[0], `${path}[]`);
    for (const rule of description.rules ?? []) {
        if (rule.name === 'max') schema.maxItems = limitOf(rule, path);
        else unsupported(path, `array rule "${rule.name}"`);
    }
    return schema;
}

/** Adds null to `type` (the form code generators understand best). */
function nullable(schema: JsonSchema): JsonSchema {
    const type = schema.type;
    if (typeof type === 'string') return { ...schema, type: [type, 'null'] };
    return { anyOf: [schema, { type: 'null' }] };
}

function convert(description: Description, path: string): JsonSchema {
    check(description, path);
    const allowed = description.allow ?? [];
    const allowsNull = allowed.includes(null);
    const literals = allowed.filter((value) => value !== null);

    if (description.flags?.only) {
        // valid(...): the allowed values are the whole domain.
        if (description.type !== 'string' || (description.rules ?? []).length > 0) {
            unsupported(path, 'valid() on anything but a plain string');
        }
        const schema: JsonSchema = { type: allowsNull ? ['string', 'null'] : 'string', enum: allowed };
        return schema;
    }

    let schema: JsonSchema;
    switch (description.type) {
        case 'string':
            if (literals.some((value) => value !== '')) unsupported(path, 'allow() of a string other than ""');
            schema = stringSchema(description, path, false);
            break;
        case 'number':
            schema = numberSchema(description, path);
            break;
        case 'boolean':
            if ((description.rules ?? []).length > 0) unsupported(path, 'boolean rules');
            schema = { type: 'boolean' };
            break;
        case 'object':
            schema = objectSchema(description, path);
            break;
        case 'array':
            schema = arraySchema(description, path);
            break;
        case 'any':
            if ((description.rules ?? []).length > 0 || allowed.length > 0) unsupported(path, 'any() with rules');
            return {};
        default:
            unsupported(path, `joi type "${description.type}"`);
    }
    if (description.type !== 'string' && literals.length > 0) unsupported(path, `allow() on a ${description.type}`);
    if (literals.length > 0) {
        // allow('') next to a format: "" does not match the format, so it is an alternative of its own.
        return { anyOf: [schema, { enum: allowsNull ? [...literals, null] : literals }] };
    }
    return allowsNull ? nullable(schema) : schema;
}

/** The JSON Schema (2020-12 vocabulary, no `$schema`) of a joi schema; throws `UnsupportedJoiError` on unknown joi. */
export function joiToJsonSchema(schema: Joi.Schema): JsonSchema {
    return convert(schema.describe() as Description, '');
}
