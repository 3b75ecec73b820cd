/**
 * A loopback stand-in for the Entra ID token endpoint, and the msal network client that reaches it.
 *
 * msal-node refuses non-https authorities, and trusting a self-signed certificate would need NODE_EXTRA_CA_CERTS
 * at process start. Instead the test gives msal an https authority on a made-up host (trusted through
 * `knownAuthorities`, so msal does no instance discovery) and its documented `system.networkClient` seam: a small
 * network client that sends msal's requests to this plain-http server on 127.0.0.1. Everything msal does above the
 * wire (metadata, form encoding, response handling, cache, errors) is the real code.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { type AddressInfo } from 'node:net';

import { type INetworkModule, type NetworkRequestOptions, type NetworkResponse } from '@azure/msal-node';
import { request } from 'undici';

export const FAKE_AUTHORITY_HOST = 'https://login.fake.test';
export const TENANT_ID = '11111111-2222-3333-4444-555555555555';
export const CLIENT_ID = 'aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee';

/** What instance discovery would answer for the fake host: it is its own (only) alias. */
export const FAKE_CLOUD_DISCOVERY_METADATA = JSON.stringify({
    tenant_discovery_endpoint: `${FAKE_AUTHORITY_HOST}/${TENANT_ID}/v2.0/.well-known/openid-configuration`,
    'api-version': '1.1',
    metadata: [
        { preferred_network: 'login.fake.test', preferred_cache: 'login.fake.test', aliases: ['login.fake.test'] },
    ],
});

export interface TokenGrant {
    grantType: string;
    refreshToken?: string;
    scope?: string;
    clientId?: string;
    hasClientSecret: boolean;
    hasClientAssertion: boolean;
}

export interface TokenErrorAnswer {
    status: number;
    error: string;
    description: string;
    errorCodes: number[];
    suberror?: string;
}

function base64url(value: object): string {
    return Buffer.from(JSON.stringify(value)).toString('base64url');
}

export class FakeTokenEndpoint {
    readonly grants: TokenGrant[] = [];
    /** Answers queued for the next token requests (an error, or undefined for a normal answer). */
    readonly script: (TokenErrorAnswer | undefined)[] = [];
    expiresInSeconds = 3600;
    /** When set, token answers wait for it (to hold concurrent callers in flight). */
    gate: Promise<void> | undefined;
    private issued = 0;
    private server: Server | undefined;
    origin = '';

    async start(): Promise<void> {
        this.server = createServer((req, res) => {
            this.answer(req).then(
                ({ status, body }) => {
                    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
                },
                () => res.writeHead(500).end(),
            );
        });
        await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
        this.origin = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    }

    async stop(): Promise<void> {
        if (!this.server) return;
        this.server.closeAllConnections();
        await new Promise<void>((resolve) => this.server!.close(() => resolve()));
    }

    /** The access tokens handed out so far are `access-1`, `access-2`, ...; refresh tokens rotate likewise. */
    get tokenRequests(): number {
        return this.grants.length;
    }

    private async answer(req: IncomingMessage): Promise<{ status: number; body: unknown }> {
        const url = new URL(req.url ?? '/', this.origin);
        const issuerBase = `${FAKE_AUTHORITY_HOST}/${TENANT_ID}`;
        if (req.method === 'GET' && url.pathname.endsWith('/.well-known/openid-configuration')) {
            return {
                status: 200,
                body: {
                    token_endpoint: `${issuerBase}/oauth2/v2.0/token`,
                    authorization_endpoint: `${issuerBase}/oauth2/v2.0/authorize`,
                    device_authorization_endpoint: `${issuerBase}/oauth2/v2.0/devicecode`,
                    end_session_endpoint: `${issuerBase}/oauth2/v2.0/logout`,
                    issuer: `${issuerBase}/v2.0`,
                    jwks_uri: `${issuerBase}/discovery/v2.0/keys`,
                    response_modes_supported: ['query', 'fragment', 'form_post'],
                },
            };
        }
        if (req.method === 'POST' && url.pathname === `/${TENANT_ID}/oauth2/v2.0/token`) {
            const form = new URLSearchParams(await readText(req));
            this.grants.push({
                grantType: form.get('grant_type') ?? '',
                refreshToken: form.get('refresh_token') ?? undefined,
                scope: form.get('scope') ?? undefined,
                clientId: form.get('client_id') ?? undefined,
                hasClientSecret: form.has('client_secret'),
                hasClientAssertion: form.has('client_assertion'),
            });
            if (this.gate) await this.gate;
            const scripted = this.script.shift();
            if (scripted) {
                return {
                    status: scripted.status,
                    body: {
                        error: scripted.error,
                        error_description: scripted.description,
                        error_codes: scripted.errorCodes,
                        ...(scripted.suberror ? { suberror: scripted.suberror } : {}),
                        timestamp: new Date().toISOString(),
                        trace_id: 'trace',
                        correlation_id: 'correlation',
                    },
                };
            }
            this.issued += 1;
            const uid = '99999999-8888-7777-6666-555555555555';
            const now = Math.floor(Date.now() / 1000);
            const idToken = [
                base64url({ alg: 'none', typ: 'JWT' }),
                base64url({
                    aud: CLIENT_ID,
                    iss: `${issuerBase}/v2.0`,
                    iat: now,
                    nbf: now,
                    exp: now + 3600,
                    oid: uid,
                    sub: 'subject',
                    tid: TENANT_ID,
                    preferred_username: 'referrals.admin@contoso.example',
                    name: 'Referrals Admin',
                }),
                '',
            ].join('.');
            return {
                status: 200,
                body: {
                    token_type: 'Bearer',
                    scope: 'https://api.partner.microsoft.com/user_impersonation',
                    expires_in: this.expiresInSeconds,
                    ext_expires_in: this.expiresInSeconds,
                    access_token: `access-${this.issued}`,
                    refresh_token: `refresh-rotated-${this.issued}`,
                    id_token: idToken,
                    client_info: base64url({ uid, utid: TENANT_ID }),
                },
            };
        }
        return { status: 404, body: { error: 'not_found' } };
    }
}

function readText(req: IncomingMessage): Promise<string> {
    return new Promise((resolve, reject) => {
        const chunks: Buffer[] = [];
        req.on('data', (c: Buffer) => chunks.push(c));
        req.on('end', () => resolve(Buffer.concat(chunks).toString()));
        req.on('error', reject);
    });
}

/** msal's network seam, pointed at the fake: only the fake authority's origin is rerouted; anything else fails. */
export function loopbackNetworkClient(endpoint: FakeTokenEndpoint): INetworkModule {
    const send = async <T>(
        method: 'GET' | 'POST',
        url: string,
        options?: NetworkRequestOptions,
    ): Promise<NetworkResponse<T>> => {
        if (!url.startsWith(`${FAKE_AUTHORITY_HOST}/`))
            throw new Error(`unexpected network call in a test: ${new URL(url).host}`);
        const target = endpoint.origin + url.slice(FAKE_AUTHORITY_HOST.length);
        const response = await request(target, { method, headers: options?.headers, body: options?.body });
        const headers: Record<string, string> = {};
        for (const [name, value] of Object.entries(response.headers)) {
            if (value !== undefined) headers[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : value;
        }
        return { status: response.statusCode, headers, body: (await response.body.json()) as T };
    };
    return {
        sendGetRequestAsync: <T>(url: string, options?: NetworkRequestOptions) => send<T>('GET', url, options),
        sendPostRequestAsync: <T>(url: string, options?: NetworkRequestOptions) => send<T>('POST', url, options),
    };
}
