/**
 * A loopback stand-in for Key Vault's secrets REST API (get latest / get version / set = new version / list versions,
 * paged / update a version's attributes; a disabled version answers 403 as Key Vault does), enough for the real
 * `@azure/keyvault-secrets` SecretClient: HTTPS (the SDK sends bearer tokens over TLS only; the certificate is
 * the self-signed one @vercel/cosmosdb-server ships, accepted through a test-only pipeline policy), and Key Vault's
 * challenge: a request without a bearer token gets 401 with `WWW-Authenticate`, then the client asks its credential.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Agent, createServer, type Server } from 'node:https';
import { type AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';

import type { TokenCredential } from '@azure/core-auth';
import type { PipelinePolicy } from '@azure/core-rest-pipeline';
import { SecretClient } from '@azure/keyvault-secrets';

export interface StoredSecretVersion {
    version: string;
    value: string;
    tags: Record<string, string>;
    contentType?: string;
    createdOn: number;
    enabled: boolean;
}

/** Key Vault pages versions by 25. */
const PAGE_SIZE = 25;

const CERT_DIR = dirname(require.resolve('@vercel/cosmosdb-server/package.json'));

export class KeyVaultStandIn {
    readonly secrets = new Map<string, StoredSecretVersion[]>();
    readonly requests: Array<{ method: string; path: string; authorized: boolean }> = [];
    /** Runs after a set is stored and before it is answered (to slip another writer in). */
    afterSet?: (name: string) => void;
    /** Answer every request with this status (Key Vault unreachable, forbidden, ...). */
    failWith?: number;
    /** Answer only requests with this method with this status (e.g. Key Vault refusing PATCH). */
    failMethod?: { method: string; status: number };
    url = '';
    private server: Server | undefined;

    async start(): Promise<void> {
        this.server = createServer(
            {
                cert: readFileSync(join(CERT_DIR, 'cert.pem')),
                key: readFileSync(join(CERT_DIR, 'key.pem')),
            },
            (req, res) => {
                const chunks: Buffer[] = [];
                req.on('data', (chunk: Buffer) => chunks.push(chunk));
                req.on('end', () => {
                    const { status, body, headers } = this.answer(
                        req.method ?? 'GET',
                        new URL(req.url ?? '/', this.url),
                        req.headers.authorization,
                        Buffer.concat(chunks).toString(),
                    );
                    res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(
                        body === undefined ? undefined : JSON.stringify(body),
                    );
                });
            },
        );
        await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
        this.url = `https://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    }

    async stop(): Promise<void> {
        if (!this.server) return;
        this.server.closeAllConnections();
        await new Promise<void>((resolve) => this.server!.close(() => resolve()));
    }

    latest(name: string): StoredSecretVersion | undefined {
        return this.secrets.get(name)?.at(-1);
    }

    /** Stores a version directly, as another writer would. */
    put(name: string, value: string, tags: Record<string, string> = {}): StoredSecretVersion {
        const version: StoredSecretVersion = {
            version: randomBytes(16).toString('hex'),
            value,
            tags,
            createdOn: Math.floor(Date.now() / 1000),
            enabled: true,
        };
        this.secrets.set(name, [...(this.secrets.get(name) ?? []), version]);
        return version;
    }

    /** A SecretClient of the real SDK, pointed at this stand-in. */
    client(): SecretClient {
        const agent = new Agent({ rejectUnauthorized: false });
        const loopbackTls: PipelinePolicy = {
            name: 'loopbackTls',
            sendRequest: (request, next) => {
                request.agent = agent;
                return next(request);
            },
        };
        const credential: TokenCredential = {
            getToken: () => Promise.resolve({ token: 'test-token', expiresOnTimestamp: Date.now() + 3_600_000 }),
        };
        return new SecretClient(this.url, credential, {
            disableChallengeResourceVerification: true,
            additionalPolicies: [{ policy: loopbackTls, position: 'perCall' }],
            retryOptions: { maxRetries: 0 },
        });
    }

    private answer(
        method: string,
        url: URL,
        authorization: string | undefined,
        text: string,
    ): { status: number; body?: unknown; headers?: Record<string, string> } {
        const authorized = authorization === 'Bearer test-token';
        this.requests.push({ method, path: url.pathname, authorized });
        if (!authorized) {
            return {
                status: 401,
                body: { error: { code: 'Unauthorized', message: 'AKV10000: Request is missing a Bearer token.' } },
                headers: {
                    'www-authenticate':
                        'Bearer authorization="https://login.microsoftonline.com/tenant", resource="https://vault.azure.net"',
                },
            };
        }
        if (this.failMethod?.method === method) {
            return { status: this.failMethod.status, body: { error: { code: 'Forbidden', message: 'No.' } } };
        }
        if (this.failWith) return { status: this.failWith, body: { error: { code: 'Forbidden', message: 'No.' } } };
        const [, collection, name, version] = url.pathname.split('/');
        if (collection !== 'secrets' || !name) return { status: 404, body: { error: { code: 'NotFound' } } };
        if (method === 'PUT') {
            const body = JSON.parse(text) as { value: string; tags?: Record<string, string>; contentType?: string };
            const stored = this.put(name, body.value, body.tags ?? {});
            stored.contentType = body.contentType;
            this.afterSet?.(name);
            return { status: 200, body: this.bundle(name, stored) };
        }
        const versions = this.secrets.get(name) ?? [];
        if (method === 'GET' && version === 'versions') {
            const skip = Number(url.searchParams.get('$skiptoken') ?? 0);
            const next = new URL(url);
            next.searchParams.set('$skiptoken', String(skip + PAGE_SIZE));
            return {
                status: 200,
                body: {
                    value: versions.slice(skip, skip + PAGE_SIZE).map((v) => this.item(name, v)),
                    nextLink: skip + PAGE_SIZE < versions.length ? next.toString() : null,
                },
            };
        }
        const found = version ? versions.find((v) => v.version === version) : versions.at(-1);
        if (!found) {
            return { status: 404, body: { error: { code: 'SecretNotFound', message: `Secret not found: ${name}` } } };
        }
        if (method === 'PATCH' && version) {
            const body = JSON.parse(text) as { attributes?: { enabled?: boolean }; tags?: Record<string, string> };
            if (body.attributes?.enabled !== undefined) found.enabled = body.attributes.enabled;
            if (body.tags) found.tags = body.tags;
            return { status: 200, body: this.item(name, found) };
        }
        if (method === 'GET') {
            if (!found.enabled) {
                return {
                    status: 403,
                    body: {
                        error: {
                            code: 'Forbidden',
                            message: 'Operation get is not allowed on a disabled secret.',
                            innererror: { code: 'SecretDisabled' },
                        },
                    },
                };
            }
            return { status: 200, body: this.bundle(name, found) };
        }
        return { status: 405, body: { error: { code: 'BadRequest' } } };
    }

    private bundle(name: string, stored: StoredSecretVersion) {
        return { value: stored.value, ...this.item(name, stored) };
    }

    /** A version without its value, as listings and updates answer. */
    private item(name: string, stored: StoredSecretVersion) {
        return {
            id: `${this.url}/secrets/${name}/${stored.version}`,
            contentType: stored.contentType,
            tags: stored.tags,
            attributes: {
                enabled: stored.enabled,
                created: stored.createdOn,
                updated: stored.createdOn,
                recoveryLevel: 'Recoverable+Purgeable',
            },
        };
    }
}
