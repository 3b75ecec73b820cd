/**
 * The one joi schema of the referral create body. Intake, the submit worker (messages from upstream publishers) and
 * the published OpenAPI/JSON Schema documents all derive from it.
 *
 * Unknown properties are not errors: `validateReferral` reports them as warnings and passes them through unchanged.
 */
import type Joi from 'joi';

import { joi } from '../../platform/lazyModules';
import {
    ASSISTANCE_REQUEST_CODES,
    CUSTOMER_PROFILE_ID_TYPES,
    CUSTOMER_SIZES,
    REFERRAL_QUALIFICATIONS,
    REFERRAL_STATUSES,
    REFERRAL_SUBSTATUSES,
    REFERRAL_TYPES,
    SOLUTION_TYPES,
    TARGET_TYPES,
} from './enums';
import { COUNTRY_CODES, CURRENCY_CODES } from './isoCodes';

/** Limits generous enough for any real referral, tight enough that a hostile body cannot hide in one field. */
export const LIMITS = {
    shortText: 256,
    longText: 10_000,
    arrayItems: 100,
    targets: 10,
} as const;

/**
 * What no string of a referral may contain: C0 and C1 control characters, DEL, the bidi override and isolate
 * controls (U+202A-U+202E, U+2066-U+2069, which make a name display as something else) and unpaired surrogates
 * (not text at all; the `u` flag makes a surrogate pair one code point, so only a lone half matches the range).
 * Free-text notes may also hold tab and line breaks. Written as "only these", so the JSON Schema states it too.
 */
/* eslint-disable no-control-regex -- naming the control characters is the point */
export const SINGLE_LINE_TEXT = /^[^\u0000-\u001F\u007F-\u009F\u202A-\u202E\u2066-\u2069\uD800-\uDFFF]*$/u;
export const FREE_TEXT =
    /^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F\u202A-\u202E\u2066-\u2069\uD800-\uDFFF]*$/u;
/* eslint-enable no-control-regex */

let compiled: Joi.ObjectSchema | undefined;

/**
 * The referral schema, compiled on first use: joi and the schema cost a good part of a cold start, which every
 * function would pay at import, the ones that never validate a referral included.
 */
export function referralSchema(): Joi.ObjectSchema {
    compiled ??= compileReferralSchema();
    return compiled;
}

function compileReferralSchema(): Joi.ObjectSchema {
    const Joi = joi();

    /** A string of the referral: clean single-line text unless it is a free-text note. */
    const string = (pattern: RegExp = SINGLE_LINE_TEXT) => Joi.string().pattern(pattern);
    const text = (max: number = LIMITS.shortText) => string().max(max).allow(null);
    const notes = () => string(FREE_TEXT).max(LIMITS.longText).allow(null);
    const requiredText = () => string().min(1).max(LIMITS.shortText).required();
    const isoDateTime = () => Joi.string().isoDate().allow(null);
    const oneOf = (values: readonly string[]) => Joi.string().valid(...values);
    const list = (item: Joi.Schema, max: number = LIMITS.arrayItems) => Joi.array().items(item).max(max);
    const country = () =>
        Joi.string()
            .valid(...COUNTRY_CODES)
            .allow(null);
    const currency = () =>
        Joi.string()
            .valid(...CURRENCY_CODES)
            .allow(null);

    const contactPreference = Joi.object({
        locale: text(35),
        disableNotifications: Joi.boolean().allow(null),
    }).allow(null);

    // The documented examples send "" for an unknown email; anything else must be an address.
    const member = Joi.object({
        firstName: text(),
        lastName: text(),
        phoneNumber: text(64),
        email: string()
            .email({ tlds: { allow: false } })
            .max(LIMITS.shortText)
            .allow('', null),
        title: text(),
        contactPreference,
    });

    const address = Joi.object({
        addressLine1: text(),
        addressLine2: text(),
        city: text(),
        state: text(),
        postalCode: text(32),
        country: country(),
        region: text(),
    });

    const customerProfile = Joi.object({
        name: requiredText(),
        address,
        size: oneOf(CUSTOMER_SIZES).allow('', null),
        team: list(member),
        ids: list(
            Joi.object({
                profileType: oneOf(CUSTOMER_PROFILE_ID_TYPES).required(),
                id: requiredText(),
            }),
        ),
    });

    const consent = Joi.object({
        consentToToShareInfoWithOthers: Joi.boolean(),
        consentToContact: Joi.boolean(),
        consentToShareReferralWithMicrosoftSellers: Joi.boolean(),
        consentToMicrosoftToContactSpecificPartners: Joi.boolean().allow(null),
    });

    const tag = Joi.object({ id: requiredText() });

    const solution = Joi.object({
        id: requiredText(),
        name: text(),
        type: oneOf(SOLUTION_TYPES).allow(null),
        price: Joi.number().min(0).allow(null),
        quantity: Joi.number().min(0).allow(null),
        currency: currency(),
        publisherName: text(),
        solutionType: text(),
        closingDateTime: isoDateTime(),
    });

    const requirements = Joi.object({
        industries: list(tag),
        products: list(tag),
        services: list(tag),
        solutions: list(solution),
        offers: list(Joi.any()),
        salesPlays: list(Joi.any()),
        additionalRequirements: Joi.object({
            iot: Joi.object().unknown(true).allow(null),
            attributes: list(
                Joi.object({
                    type: string().max(LIMITS.shortText).required(),
                    id: string().max(LIMITS.shortText).required(),
                }),
            ),
        }).allow(null),
    });

    const details = Joi.object({
        notes: notes(),
        dealValue: Joi.number().min(0).allow(null),
        currency: currency(),
        closingDateTime: isoDateTime(),
        customerRequestedContact: Joi.boolean().allow(null),
        customerAction: text(),
        incentiveLevel: text(),
        requirements,
    });

    const inviteContext = Joi.object({
        notes: notes(),
        assistanceRequestCode: oneOf(ASSISTANCE_REQUEST_CODES).allow(null),
        invitedMpnId: text(),
        invitedBy: Joi.object({
            organizationId: requiredText(),
            organizationName: text(),
        }).allow(null),
    }).allow(null);

    const target = Joi.object({
        type: oneOf(TARGET_TYPES).required(),
        id: requiredText(),
    });

    return Joi.object({
        name: text(),
        externalReferenceId: text(),
        engagementId: Joi.string().guid().allow(null),
        status: oneOf(REFERRAL_STATUSES),
        substatus: oneOf(REFERRAL_SUBSTATUSES),
        statusReason: text(1024),
        type: oneOf(REFERRAL_TYPES).required(),
        qualification: oneOf(REFERRAL_QUALIFICATIONS),
        customerProfile: customerProfile.required(),
        consent: consent.required(),
        details: details.required(),
        team: list(member),
        inviteContext,
        target: list(target, LIMITS.targets),
        expirationDateTime: isoDateTime(),
    });
}
