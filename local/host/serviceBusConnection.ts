/**
 * Resolves a Functions "connection" name to a Service Bus client, with the host's setting conventions:
 * `<connection>__fullyQualifiedNamespace` (+ `__clientId`, `__credential`) for Microsoft Entra identity, or
 * `<connection>` holding a connection string (the local dev broker, Microsoft's emulator, or a SAS string).
 *
 * When both are set the identity settings win, as in the app's own configuration (shared/platform/config.ts), so the
 * triggers and the app's sender never point at two different namespaces.
 */
import { DefaultAzureCredential, ManagedIdentityCredential, type TokenCredential } from '@azure/identity';
import { ServiceBusClient } from '@azure/service-bus';

import { keepDispositionOutcomes } from '../../shared/platform/amqpDispositions';

type Env = Record<string, string | undefined>;

export type ServiceBusConnectionSetting =
    | { kind: 'connectionString'; connectionString: string }
    | { kind: 'identity'; fullyQualifiedNamespace: string; clientId?: string; credential?: string };

/** The Functions host's default connection name when a trigger names none. */
export const DEFAULT_SERVICE_BUS_CONNECTION = 'AzureWebJobsServiceBus';

function lookup(env: Env, name: string): string | undefined {
    // The host accepts both `__` and `:` as the section separator.
    const value = env[name] ?? env[name.replace(/__/g, ':')];
    return value?.trim() || undefined;
}

export function resolveServiceBusConnection(connection: string, env: Env = process.env): ServiceBusConnectionSetting {
    const namespace = lookup(env, `${connection}__fullyQualifiedNamespace`);
    if (namespace) {
        return {
            kind: 'identity',
            fullyQualifiedNamespace: namespace,
            clientId: lookup(env, `${connection}__clientId`),
            credential: lookup(env, `${connection}__credential`),
        };
    }
    const connectionString = lookup(env, connection);
    if (connectionString) return { kind: 'connectionString', connectionString };
    throw new Error(
        `Service Bus connection "${connection}" is not configured: set ${connection} (a connection string) or ` +
            `${connection}__fullyQualifiedNamespace.`,
    );
}

function credentialFor(setting: Extract<ServiceBusConnectionSetting, { kind: 'identity' }>): TokenCredential {
    if (setting.credential?.toLowerCase() === 'managedidentity') {
        return setting.clientId
            ? new ManagedIdentityCredential({ clientId: setting.clientId })
            : new ManagedIdentityCredential();
    }
    // On a developer machine: Azure CLI, VS Code, environment credentials... (DefaultAzureCredential's chain).
    return new DefaultAzureCredential(setting.clientId ? { managedIdentityClientId: setting.clientId } : {});
}

export function createServiceBusClient(setting: ServiceBusConnectionSetting): ServiceBusClient {
    // The host settles what it receives: an abandon must not leave as a complete (amqpDispositions.ts).
    keepDispositionOutcomes();
    return setting.kind === 'connectionString'
        ? new ServiceBusClient(setting.connectionString)
        : new ServiceBusClient(setting.fullyQualifiedNamespace, credentialFor(setting));
}

/** Resolves `%AppSetting%` references in binding values, as the host does for `queueName` and friends. */
export function resolveAppSettingReferences(value: string, env: Env = process.env): string {
    return value.replace(/%([^%]+)%/g, (_match, name: string) => {
        const resolved = env[name];
        if (resolved === undefined) throw new Error(`App setting "${name}" referenced by a binding is not set.`);
        return resolved;
    });
}
