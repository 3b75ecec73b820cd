/**
 * The Partner API client and its token providers. `createPartnerApiClient()` builds both from the validated
 * settings (PARTNER_API_BASE_URL, PARTNER_API_AUTH, PARTNER_API_TIMEOUT_MS, ...), read at first use.
 */
import { getConfig, type PartnerApiConfig } from '../platform/config';
import { PartnerApiClient } from './client';
import { PartnerApiGate } from './gate';
import { createTokenProvider, type TokenProviderOverrides } from './tokenProviders';

export {
    DEFAULT_CLOCK_SKEW_MS,
    DEFAULT_LOOKUP_MAX_PAGES,
    DEFAULT_MAX_PAGES,
    PartnerApiClient,
    type PartnerApiClientOptions,
    REFERRALS_PATH,
} from './client';
export {
    MAX_API_MESSAGE_LENGTH,
    PartnerApiError,
    type PartnerApiErrorKind,
    type PartnerApiOperation,
    type PartnerApiVerdict,
    verdictForStatus,
} from './errors';
export {
    BACKGROUND_MAX_WAIT_MS,
    DEFAULT_THROTTLE_PAUSE_MS,
    type GateCall,
    type GateTicket,
    PartnerApiGate,
    type PartnerApiGateOptions,
    THROTTLED_LOCALLY,
} from './gate';
export { buildReferralFilter, odataString } from './odataFilter';
export {
    createRequestId,
    type CreateStep,
    freshRequestId,
    isGuid,
    PARTNER_API_ID_NAMESPACE,
    partnerCorrelationId,
} from './requestIds';
export { parseRetryAfterMs } from './retryAfter';
export * from './tokenProviders';
export type {
    CandidateKey,
    CandidateLookup,
    CandidateQuery,
    PartnerApiCallContext,
    PartnerReferral,
    ReferralFilter,
    ReferralListQuery,
    ReferralPage,
} from './types';

export function createPartnerApiClient(
    config: PartnerApiConfig = getConfig('partnerApi'),
    overrides: TokenProviderOverrides = {},
): PartnerApiClient {
    return new PartnerApiClient({
        baseUrl: config.baseUrl,
        timeoutMs: config.timeoutMs,
        tokenProvider: createTokenProvider(config, overrides),
        // One gate per partner tenant in this process, whatever number of clients.
        gate: PartnerApiGate.forTenant(`${config.baseUrl} ${config.tenantId ?? ''}`, {
            maxCallsPerSecond: config.maxCallsPerSecond,
        }),
    });
}
