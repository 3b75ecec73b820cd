/**
 * The refresh-token mode's msal token cache in Key Vault (secret `partner-api-token-cache`), so the rotated refresh
 * token survives restarts and is shared by every instance.
 *
 * msal reads the cache store on every access, so this store answers from a local copy and only goes to Key Vault
 * to sync (first use, then at most every `syncIntervalMs`) and to write through when msal changed the cache (a
 * redemption: a new access token and a new refresh token).
 *
 * No clobbering: every saved version carries the time of its redemption as a tag (`refreshedAt`). Before writing,
 * the store reads the latest version and keeps it if it is newer than its own; Key Vault has no conditional write,
 * so after writing it reads again and, if an older cache landed after its own, writes its own once more. The worst a
 * remaining race can leave is a slightly older refresh token, which is still valid (Entra ID does not revoke the
 * previous refresh token when it issues a new one).
 *
 * Key Vault being unreachable (or not answering within `operationTimeoutMs`) never fails a token request: the local
 * copy (or, at start, the configured refresh token) keeps working, and the failure is reported as an alert-worthy
 * event.
 *
 * Old refresh tokens do not stay readable: every save adds a version, so after a write the store disables the
 * enabled versions older than the one it saved (by their `refreshedAt` tag), never the latest one nor a newer one
 * another instance wrote meanwhile. A disabled version cannot be read, even by a Secrets Officer, until re-enabled.
 * It is best effort and bounded (`MAX_VERSIONS_EXAMINED` listed, `MAX_VERSIONS_DISABLED` per save, one time limit):
 * a backlog left by earlier releases drains over a few rotations, and a failure is an event, never a failed request.
 * The app's role on this one secret (Key Vault Secrets Officer, infra/app/keyvault.bicep) allows listing and updating
 * its versions.
 */
import type { SecretClient } from '@azure/keyvault-secrets';

import {
    consoleTokenEvents,
    expiresIfUnusedAt,
    reportTokenHealth,
    TAG_EXPIRES_IF_UNUSED,
    TAG_REFRESHED_AT,
    type TokenEventSink,
    tokenHealth,
} from '../../operations/tokenHealth';
import type { TokenCacheVaultConfig } from '../../platform/config';
import { createAzureCredential } from '../../platform/credential';
import { keyVaultSecrets } from '../../platform/lazyModules';
import { withinTime } from './timeLimit';
import type { TokenCacheStore } from './tokenCacheStore';

const DEFAULT_OPERATION_TIMEOUT_MS = 10_000;
/** Versions listed per save at most (Key Vault pages them by 25). */
export const MAX_VERSIONS_EXAMINED = 500;
/** Versions disabled per save at most; the rest wait for the next rotation. */
export const MAX_VERSIONS_DISABLED = 25;

/** What listing a secret's versions yields (the real client's `SecretProperties` has these and more). */
export interface SecretVersionProperties {
    version?: string;
    enabled?: boolean;
    tags?: Record<string, string>;
}

/** The part of `SecretClient` the store uses (the real client satisfies it). */
export interface SecretStore {
    getSecret(
        name: string,
        options?: { abortSignal?: AbortSignal },
    ): Promise<{ value?: string; properties: { version?: string; tags?: Record<string, string> } }>;
    setSecret(
        name: string,
        value: string,
        options?: { tags?: Record<string, string>; abortSignal?: AbortSignal },
    ): Promise<{ properties: { version?: string } }>;
    listPropertiesOfSecretVersions(
        name: string,
        options?: { abortSignal?: AbortSignal },
    ): AsyncIterable<SecretVersionProperties>;
    updateSecretProperties(
        name: string,
        version: string,
        options?: { enabled?: boolean; abortSignal?: AbortSignal },
    ): Promise<unknown>;
}

export interface KeyVaultTokenCacheOptions {
    secretName: string;
    /** How often the local copy is compared with Key Vault (other instances' rotations). Default 5 minutes. */
    syncIntervalMs?: number;
    /** After a failed sync, wait this long before trying Key Vault again. Default 30 seconds. */
    retryAfterFailureMs?: number;
    /** Time limit of one Key Vault read or write; past it, it counts as Key Vault being unavailable. Default 10 s. */
    operationTimeoutMs?: number;
    now?: () => number;
    events?: TokenEventSink;
}

interface CacheVersion {
    serialized: string;
    refreshedAt: number;
    version?: string;
}

function statusOf(error: unknown): number | undefined {
    const status = (error as { statusCode?: unknown } | undefined)?.statusCode;
    return typeof status === 'number' ? status : undefined;
}

function codeOf(error: unknown): string {
    const code = (error as { code?: unknown } | undefined)?.code;
    return typeof code === 'string' ? code : error instanceof Error ? error.name : 'unknown';
}

export class KeyVaultTokenCacheStore implements TokenCacheStore {
    private local: CacheVersion | undefined;
    private nextSyncAt = Number.NEGATIVE_INFINITY;
    private syncing: Promise<void> | undefined;
    private readonly now: () => number;
    private readonly events: TokenEventSink;

    constructor(
        private readonly secrets: SecretStore,
        private readonly options: KeyVaultTokenCacheOptions,
    ) {
        this.now = options.now ?? Date.now;
        this.events = options.events ?? consoleTokenEvents;
    }

    async load(): Promise<string | undefined> {
        if (this.now() >= this.nextSyncAt) {
            this.syncing ??= this.sync().finally(() => {
                this.syncing = undefined;
            });
            await this.syncing;
        }
        return this.local?.serialized;
    }

    async save(serializedCache: string): Promise<void> {
        const mine: CacheVersion = { serialized: serializedCache, refreshedAt: this.now() };
        // This process keeps working with its own cache whatever happens in Key Vault.
        this.local = mine;
        try {
            const latest = await this.read();
            if (latest && latest.refreshedAt > mine.refreshedAt) {
                this.local = latest;
                this.events('info', 'partnerApi.tokenCache.newerKept', { secretVersion: latest.version });
                return;
            }
            mine.version = await this.write(mine);
            const after = await this.read();
            let latestVersion = mine.version;
            if (after && after.version !== mine.version) {
                if (after.refreshedAt >= mine.refreshedAt) {
                    this.local = after;
                    latestVersion = after.version;
                } else {
                    mine.version = latestVersion = await this.write(mine);
                }
            }
            this.nextSyncAt = this.now() + (this.options.syncIntervalMs ?? 5 * 60_000);
            this.events('info', 'partnerApi.tokenCache.saved', tokenHealth(mine.refreshedAt, this.now(), mine.version));
            await this.disableOlderVersions(mine, latestVersion);
        } catch (error) {
            // The rotated refresh token lives only in this process until a later save succeeds.
            this.events('error', 'partnerApi.tokenCache.saveFailed', {
                errorCode: codeOf(error),
                httpStatus: statusOf(error),
            });
        }
    }

    private async sync(): Promise<void> {
        try {
            const latest = await this.read();
            if (latest && (!this.local || latest.refreshedAt > this.local.refreshedAt)) this.local = latest;
            this.nextSyncAt = this.now() + (this.options.syncIntervalMs ?? 5 * 60_000);
            reportTokenHealth(this.events, tokenHealth(this.local?.refreshedAt, this.now(), this.local?.version));
        } catch (error) {
            this.nextSyncAt = this.now() + (this.options.retryAfterFailureMs ?? 30_000);
            this.events('warn', 'partnerApi.tokenCache.unavailable', {
                errorCode: codeOf(error),
                httpStatus: statusOf(error),
            });
        }
    }

    /** The latest version in Key Vault; undefined when the secret does not exist yet or holds no cache. */
    private async read(): Promise<CacheVersion | undefined> {
        let secret: Awaited<ReturnType<SecretStore['getSecret']>>;
        try {
            secret = await this.withinTime((abortSignal) =>
                this.secrets.getSecret(this.options.secretName, { abortSignal }),
            );
        } catch (error) {
            if (statusOf(error) === 404) return undefined;
            throw error;
        }
        const refreshedAt = Date.parse(secret.properties.tags?.[TAG_REFRESHED_AT] ?? '');
        // A placeholder (an operator created the secret by hand) is not a cache.
        if (!secret.value || !secret.value.startsWith('{')) return undefined;
        return {
            serialized: secret.value,
            refreshedAt: Number.isFinite(refreshedAt) ? refreshedAt : 0,
            version: secret.properties.version,
        };
    }

    private async write(cache: CacheVersion): Promise<string | undefined> {
        const written = await this.withinTime((abortSignal) =>
            this.secrets.setSecret(this.options.secretName, cache.serialized, {
                tags: {
                    [TAG_REFRESHED_AT]: new Date(cache.refreshedAt).toISOString(),
                    [TAG_EXPIRES_IF_UNUSED]: new Date(expiresIfUnusedAt(cache.refreshedAt)).toISOString(),
                },
                abortSignal,
            }),
        );
        return written.properties.version;
    }

    /**
     * Disables the enabled versions saved before `saved` (older `refreshedAt`, or none: a placeholder), keeping
     * `saved` itself and the latest version whatever their tags say. Best effort: see the module comment.
     */
    private async disableOlderVersions(saved: CacheVersion, latestVersion: string | undefined): Promise<void> {
        const keep = new Set([saved.version, latestVersion]);
        try {
            const disabled = await this.withinTime(async (abortSignal) => {
                const older: string[] = [];
                let examined = 0;
                for await (const properties of this.secrets.listPropertiesOfSecretVersions(this.options.secretName, {
                    abortSignal,
                })) {
                    if (++examined > MAX_VERSIONS_EXAMINED || older.length >= MAX_VERSIONS_DISABLED) break;
                    const refreshedAt = Date.parse(properties.tags?.[TAG_REFRESHED_AT] ?? '');
                    const isOlder = !Number.isFinite(refreshedAt) || refreshedAt <= saved.refreshedAt;
                    if (properties.version && properties.enabled !== false && !keep.has(properties.version) && isOlder)
                        older.push(properties.version);
                }
                for (const version of older) {
                    await this.secrets.updateSecretProperties(this.options.secretName, version, {
                        enabled: false,
                        abortSignal,
                    });
                }
                return older.length;
            });
            if (disabled > 0)
                this.events('info', 'partnerApi.tokenCache.oldVersionsDisabled', { secretVersion: saved.version });
        } catch (error) {
            // The saved cache is in place; older versions stay readable until a later save disables them.
            this.events('warn', 'partnerApi.tokenCache.disableFailed', {
                errorCode: codeOf(error),
                httpStatus: statusOf(error),
            });
        }
    }

    private withinTime<T>(work: (abortSignal: AbortSignal) => Promise<T>): Promise<T> {
        return withinTime(this.options.operationTimeoutMs ?? DEFAULT_OPERATION_TIMEOUT_MS, work);
    }
}

/** A `SecretClient` for the vault, with the app's managed identity (or the developer's credentials). */
export function tokenCacheSecretClient(config: TokenCacheVaultConfig): SecretClient {
    return new (keyVaultSecrets().SecretClient)(config.vaultUrl, createAzureCredential(config.clientId));
}

export function createKeyVaultTokenCacheStore(
    config: TokenCacheVaultConfig,
    options: Omit<KeyVaultTokenCacheOptions, 'secretName'> = {},
): KeyVaultTokenCacheStore {
    return new KeyVaultTokenCacheStore(tokenCacheSecretClient(config), { ...options, secretName: config.secretName });
}
