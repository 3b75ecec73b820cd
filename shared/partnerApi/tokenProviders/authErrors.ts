import type { AuthError } from '@azure/msal-node';

import { msal } from '../../platform/lazyModules';
import { TokenAcquisitionError, type TokenFailureReason } from './types';

const CONSENT_GUIDE = 'See docs/partner-api-auth.md.';
const RECONSENT =
    'Run the one-time consent again (device code sign-in, with MFA, as a Partner Center user who holds the Referrals ' +
    'Admin role) and store the new refresh token as PARTNER_API_REFRESH_TOKEN (the Key Vault secret in Azure).';

export const OPERATOR_ACTIONS: Record<TokenFailureReason, string> = {
    'mfa-required': `The refresh token carries no multi-factor authentication claim, which the Partner API requires for App+User calls. ${RECONSENT} ${CONSENT_GUIDE}`,
    'refresh-token-expired': `The refresh token has expired or was revoked (unused for 90 days, password reset, user disabled or removed). ${RECONSENT} ${CONSENT_GUIDE}`,
    'consent-required': `The user or tenant has not consented to the app's Partner Center delegated permission. ${RECONSENT} ${CONSENT_GUIDE}`,
    'invalid-client':
        'Entra ID rejected the app credentials: renew PARTNER_API_CLIENT_SECRET or PARTNER_API_CLIENT_CERTIFICATE ' +
        '(and check PARTNER_API_CLIENT_ID and PARTNER_API_TENANT_ID).',
    unavailable: 'The Entra ID token endpoint could not be reached or is throttling; the call will be retried later.',
    unexpected: 'Unexpected error while redeeming the refresh token; it will be retried. Check the app logs.',
};

/** AADSTS numbers that mean "this sign-in needs MFA" (50076/50079/50074 at the token endpoint, 900421 at the API). */
const MFA_CODES = new Set(['50074', '50076', '50079', '900421']);
/** AADSTS numbers that mean "this refresh token is no longer any good". */
const EXPIRED_CODES = new Set([
    '50173',
    '70008',
    '70043',
    '700081',
    '700082',
    '700084',
    '50132',
    '50133',
    '50034',
    '50057',
]);
const CONSENT_CODES = new Set(['65001', '65004', '50105']);
const INVALID_CLIENT_CODES = new Set(['7000215', '7000222', '700027', '700016', '70002', '7000112']);
const NETWORK_ERROR_CODES = new Set([
    'network_error',
    'endpoints_resolution_error',
    'openid_config_error',
    'untrusted_authority',
]);

export function aadstsNumber(text: string): string | undefined {
    return /AADSTS(\d+)/.exec(text)?.[1];
}

/** Turns whatever msal threw into one `TokenAcquisitionError` with a single, actionable message. */
export function toTokenAcquisitionError(error: unknown): TokenAcquisitionError {
    if (error instanceof TokenAcquisitionError) return error;
    const { AuthError, ServerError } = msal();
    if (!(error instanceof AuthError)) {
        return new TokenAcquisitionError('unexpected', OPERATOR_ACTIONS.unexpected, true, undefined, { cause: error });
    }
    const serverErrorNo = error instanceof ServerError ? error.errorNo : undefined;
    const aadsts = serverErrorNo ?? aadstsNumber(`${error.errorMessage} ${error.message}`);
    const code = aadsts ? `${error.errorCode}/AADSTS${aadsts}` : error.errorCode;
    const reason = reasonFor(error, aadsts, error instanceof ServerError ? error.status : undefined);
    const transient = reason === 'unavailable' || reason === 'unexpected';
    return new TokenAcquisitionError(reason, OPERATOR_ACTIONS[reason], transient, code, { cause: error });
}

function reasonFor(error: AuthError, aadsts: string | undefined, status: number | undefined): TokenFailureReason {
    if (aadsts && MFA_CODES.has(aadsts)) return 'mfa-required';
    if (aadsts && EXPIRED_CODES.has(aadsts)) return 'refresh-token-expired';
    if (aadsts && CONSENT_CODES.has(aadsts)) return 'consent-required';
    if (aadsts && INVALID_CLIENT_CODES.has(aadsts)) return 'invalid-client';
    switch (error.errorCode) {
        case 'invalid_grant':
        case 'login_required':
        case 'no_tokens_found':
        case 'bad_token':
            return 'refresh-token-expired';
        case 'interaction_required':
            return error.subError === 'basic_action' || error.subError === 'additional_action'
                ? 'mfa-required'
                : 'refresh-token-expired';
        case 'consent_required':
            return 'consent-required';
        case 'invalid_client':
        case 'unauthorized_client':
            return 'invalid-client';
    }
    if (NETWORK_ERROR_CODES.has(error.errorCode)) return 'unavailable';
    if (status !== undefined && (status === 429 || status >= 500)) return 'unavailable';
    if (['temporarily_unavailable', 'server_error'].includes(error.errorCode)) return 'unavailable';
    return 'unexpected';
}
