import type { TokenCredential } from '@azure/identity';

import { identity } from './lazyModules';

/**
 * The credential for Azure resources. With a client id (the app's user-assigned identity in Azure) only that managed
 * identity is used; without one (a developer's machine pointed at real Azure) the usual developer credentials are.
 */
export function createAzureCredential(clientId?: string): TokenCredential {
    const { DefaultAzureCredential, ManagedIdentityCredential } = identity();
    return clientId ? new ManagedIdentityCredential({ clientId }) : new DefaultAzureCredential();
}
