import { type ICachePlugin, type TokenCacheContext } from '@azure/msal-node';

/**
 * Where msal's serialized token cache lives between process starts. It holds the (rotating) refresh token, so a real
 * store must be a secret store: a later issue adds a Key Vault implementation. The default keeps it in memory, which
 * means a restart redeems the configured PARTNER_API_REFRESH_TOKEN again.
 */
export interface TokenCacheStore {
    /** The last saved serialized cache, or undefined if there is none yet. */
    load(): Promise<string | undefined>;
    save(serializedCache: string): Promise<void>;
}

export class InMemoryTokenCacheStore implements TokenCacheStore {
    private serialized: string | undefined;

    load(): Promise<string | undefined> {
        return Promise.resolve(this.serialized);
    }

    save(serializedCache: string): Promise<void> {
        this.serialized = serializedCache;
        return Promise.resolve();
    }
}

/**
 * Adapts a `TokenCacheStore` to msal's cache plugin hooks. msal treats the plugin as the source of truth: before a
 * silent lookup it clears its in-memory cache and expects `beforeCacheAccess` to put the stored copy back, so the
 * store is read on every access. A remote store (Key Vault) should therefore keep a local copy and write through.
 */
export function tokenCachePlugin(store: TokenCacheStore): ICachePlugin {
    return {
        async beforeCacheAccess(context: TokenCacheContext): Promise<void> {
            const serialized = await store.load();
            if (serialized) context.tokenCache.deserialize(serialized);
        },
        async afterCacheAccess(context: TokenCacheContext): Promise<void> {
            if (context.cacheHasChanged) await store.save(context.tokenCache.serialize());
        },
    };
}
