import { type PartnerApiTokenProvider } from './types';

/** PARTNER_API_AUTH=static: one token from PARTNER_API_TOKEN, for local development. Nothing to refresh. */
export class StaticTokenProvider implements PartnerApiTokenProvider {
    readonly mode = 'static' as const;

    constructor(private readonly token: string) {
        if (!token) throw new Error('StaticTokenProvider needs a non-empty token');
    }

    getToken(): Promise<string> {
        return Promise.resolve(this.token);
    }

    invalidate(): void {
        // A static token cannot be renewed: a second 401 becomes a permanent error in the client.
    }
}

/** PARTNER_API_AUTH=none: no Authorization header at all (the local simulator on loopback). */
export class NoTokenProvider implements PartnerApiTokenProvider {
    readonly mode = 'none' as const;

    getToken(): Promise<undefined> {
        return Promise.resolve(undefined);
    }

    invalidate(): void {}
}
