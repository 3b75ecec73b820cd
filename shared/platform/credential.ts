import { DefaultAzureCredential, ManagedIdentityCredential, type TokenCredential } from '@azure/identity';

/**
 * The credential for Azure resources. With a client id (the app's user-assigned identity in Azure) only that managed
 * identity is used; without one (a developer's machine pointed at real Azure) the usual developer credentials are.
 */
export function createAzureCredential(clientId?: string): TokenCredential {
    return clientId ? new ManagedIdentityCredential({ clientId }) : new DefaultAzureCredential();
}
