import { type PartnerApiAuthMode } from '../../platform/config';

/**
 * Where the client gets its bearer token. `getToken` resolves to undefined when no `Authorization` header is to be
 * sent (the simulator); `invalidate` drops a cached token after the API answered 401, so the next call gets a new one.
 */
export interface PartnerApiTokenProvider {
    readonly mode: PartnerApiAuthMode;
    getToken(): Promise<string | undefined>;
    invalidate(): void;
}

/** Why a token could not be obtained; each reason has one operator action (see `TokenAcquisitionError.action`). */
export type TokenFailureReason =
    'mfa-required' | 'refresh-token-expired' | 'consent-required' | 'invalid-client' | 'unavailable' | 'unexpected';

export class TokenAcquisitionError extends Error {
    override readonly name = 'TokenAcquisitionError';

    constructor(
        readonly reason: TokenFailureReason,
        /** What the operator must do; already part of `message`. */
        readonly action: string,
        /** True when trying again later may work (token endpoint unreachable or throttled). */
        readonly transient: boolean,
        /** The identity platform's error code (e.g. `invalid_grant`) and AADSTS number, when known. */
        readonly authErrorCode?: string,
        options?: { cause?: unknown },
    ) {
        super(
            `Cannot obtain a Partner API access token (${reason}${authErrorCode ? `, ${authErrorCode}` : ''}). ${action}`,
            options,
        );
    }
}
