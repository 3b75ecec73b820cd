/**
 * The one joi schema of the referral create body. Intake, the submit worker (messages from upstream publishers) and
 * the published OpenAPI/JSON Schema documents all derive from it.
 *
 * Unknown properties are not errors: `validateReferral` reports them as warnings and passes them through unchanged.
 */
import Joi from 'joi';

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

const text = (max: number = LIMITS.shortText) => Joi.string().max(max).allow(null);
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
    email: Joi.string()
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
    name: Joi.string().min(1).max(LIMITS.shortText).required(),
    address,
    size: oneOf(CUSTOMER_SIZES).allow('', null),
    team: list(member),
    ids: list(
        Joi.object({
            profileType: oneOf(CUSTOMER_PROFILE_ID_TYPES).required(),
            id: Joi.string().min(1).max(LIMITS.shortText).required(),
        }),
    ),
});

const consent = Joi.object({
    consentToToShareInfoWithOthers: Joi.boolean(),
    consentToContact: Joi.boolean(),
    consentToShareReferralWithMicrosoftSellers: Joi.boolean(),
    consentToMicrosoftToContactSpecificPartners: Joi.boolean().allow(null),
});

const tag = Joi.object({ id: Joi.string().min(1).max(LIMITS.shortText).required() });

const solution = Joi.object({
    id: Joi.string().min(1).max(LIMITS.shortText).required(),
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
                type: Joi.string().max(LIMITS.shortText).required(),
                id: Joi.string().max(LIMITS.shortText).required(),
            }),
        ),
    }).allow(null),
});

const details = Joi.object({
    notes: text(LIMITS.longText),
    dealValue: Joi.number().min(0).allow(null),
    currency: currency(),
    closingDateTime: isoDateTime(),
    customerRequestedContact: Joi.boolean().allow(null),
    customerAction: text(),
    incentiveLevel: text(),
    requirements,
});

const inviteContext = Joi.object({
    notes: text(LIMITS.longText),
    assistanceRequestCode: oneOf(ASSISTANCE_REQUEST_CODES).allow(null),
    invitedMpnId: text(),
    invitedBy: Joi.object({
        organizationId: Joi.string().min(1).max(LIMITS.shortText).required(),
        organizationName: text(),
    }).allow(null),
}).allow(null);

const target = Joi.object({
    type: oneOf(TARGET_TYPES).required(),
    id: Joi.string().min(1).max(LIMITS.shortText).required(),
});

export const referralSchema = Joi.object({
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
