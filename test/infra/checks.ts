/**
 * Checks that tie infra/ to the code: each returns a list of problems (empty when the check passes), so tests can
 * run them on the real files and on mutated copies.
 */
import { REFRESH_TOKEN_SECRET, TOKEN_CACHE_SECRET } from '../../shared/operations/consent';
import {
    get,
    isPlainObject,
    loadTemplate,
    render,
    type Resource,
    ResourceRef,
    type SourceFiles,
    syntaxProblems,
    type Template,
    type Value,
} from './bicep';

/** The built-in role ids the infrastructure may grant (Azure RBAC). */
export const ALLOWED_ROLE_IDS: Record<string, string> = {
    '69a216fc-b8fb-44d8-bc22-1f3c2cd27a39': 'Azure Service Bus Data Sender',
    '4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0': 'Azure Service Bus Data Receiver',
    'b7e6dc6d-f1e8-4753-8033-0f276bb0955b': 'Storage Blob Data Owner',
    '974c5e8b-45b9-4653-ba55-5f855dd0fb88': 'Storage Queue Data Contributor',
    '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3': 'Storage Table Data Contributor',
    '3913510d-42f4-4e42-8a64-420c390055eb': 'Monitoring Metrics Publisher',
    '4633458b-17de-408a-b874-0445c86b69e6': 'Key Vault Secrets User',
    'b86a8fe4-44ce-4948-aee5-eccb2c155cd7': 'Key Vault Secrets Officer',
    'd5a91429-5739-47e2-a06b-3470a27159e7': 'EventGrid Data Sender',
    'ba92f5b4-2d11-453d-a403-e96b0029c9fe': 'Storage Blob Data Contributor',
};
/** Cosmos DB data-plane role (sqlRoleDefinitions): Built-in Data Contributor. */
export const COSMOS_DATA_CONTRIBUTOR = '00000000-0000-0000-0000-000000000002';

/** The Partner API secrets in Key Vault (shared/operations/consent.ts and the Key Vault references use these). */
export const KEY_VAULT_SECRET_NAMES = {
    clientSecret: 'partner-api-client-secret',
    refreshToken: REFRESH_TOKEN_SECRET,
    tokenCache: TOKEN_CACHE_SECRET,
};

const SERVICE_BUS_ROLE_IDS = ['69a216fc-b8fb-44d8-bc22-1f3c2cd27a39', '4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0'];
const GUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi;

/**
 * Structural equality of evaluated values. (Not util.isDeepStrictEqual: arrays built by tree-sitter come from
 * Node's realm and arrays built in a test from Jest's, so their prototypes differ.)
 */
const same = (a: Value | undefined, b: Value | undefined): boolean => JSON.stringify(a) === JSON.stringify(b);
const where = (r: Resource): string => `${r.file}:${r.line} ${r.symbol}`;
const declared = (t: Template, type: string): Resource[] =>
    t.resources.filter((r) => !r.existing && r.type.toLowerCase() === type.toLowerCase());
const text = (v: Value | undefined): string => (v === undefined ? '' : typeof v === 'string' ? v : render(v));

/** Every Bicep file parses without ERROR or MISSING nodes. */
export function checkSyntax(sources: SourceFiles): string[] {
    const problems: string[] = [];
    for (const [file, source] of sources) {
        if (!file.endsWith('.bicep')) continue;
        for (const p of syntaxProblems(file, source)) problems.push(`${p.file}:${p.line}:${p.column} ${p.message}`);
    }
    return problems;
}

export interface SettingLike {
    name: string;
    azure: 'required' | 'optional' | 'local-only';
}

/** The app settings of the function app(s): `config 'appsettings'` objects and `siteConfig.appSettings` arrays. */
export function appSettings(t: Template): Map<string, Value> {
    const settings = new Map<string, Value>();
    for (const r of declared(t, 'Microsoft.Web/sites/config')) {
        const properties = get(r, 'properties');
        if (get(r, 'name') === 'appsettings' && properties !== undefined && isPlainObject(properties)) {
            for (const [k, v] of Object.entries(properties)) settings.set(k, v);
        }
    }
    for (const r of declared(t, 'Microsoft.Web/sites')) {
        const list = get(r, 'properties.siteConfig.appSettings');
        if (!Array.isArray(list)) continue;
        for (const item of list) {
            if (isPlainObject(item) && typeof item.name === 'string') settings.set(item.name, item.value ?? null);
        }
    }
    return settings;
}

const SECRET_SETTING = /SECRET|PASSWORD|REFRESH_TOKEN|CERTIFICATE|(^|_)KEY$/i;
const CREDENTIAL_IN_VALUE = /AccountKey=|SharedAccessKey|InstrumentationKey=|\blist[A-Z]\w*\(|password=/i;

/**
 * Every setting the code needs in Azure is set, identity-based, with secrets as Key Vault references; no setting
 * meant for local development reaches Azure.
 */
export function checkAppSettings(t: Template, settings: readonly SettingLike[]): string[] {
    const problems: string[] = [];
    const actual = appSettings(t);
    if (actual.size === 0) return ['no app settings found (Microsoft.Web/sites/config "appsettings")'];
    for (const s of settings) {
        if (s.azure === 'required' && !actual.has(s.name))
            problems.push(`app setting ${s.name} is required but not set`);
        if (s.azure === 'local-only' && actual.has(s.name))
            problems.push(`app setting ${s.name} is local-only but set`);
    }
    const expected: Record<string, (v: string) => boolean> = {
        AzureWebJobsStorage__accountName: (v) => v.length > 0,
        AzureWebJobsStorage__credential: (v) => v === 'managedidentity',
        AzureWebJobsStorage__clientId: (v) => v.length > 0,
        ServiceBusConnection__credential: (v) => v === 'managedidentity',
        APPLICATIONINSIGHTS_CONNECTION_STRING: (v) => v.length > 0,
        APPLICATIONINSIGHTS_AUTHENTICATION_STRING: (v) => /^'?Authorization=AAD;ClientId=\S+/.test(v),
    };
    for (const [name, ok] of Object.entries(expected)) {
        if (!actual.has(name)) problems.push(`app setting ${name} is not set`);
        else if (!ok(text(actual.get(name))))
            problems.push(`app setting ${name} has an unexpected value ${text(actual.get(name))}`);
    }
    for (const [name, value] of actual) {
        const v = text(value);
        if (CREDENTIAL_IN_VALUE.test(v)) problems.push(`app setting ${name} carries a key or connection string: ${v}`);
        if (SECRET_SETTING.test(name) && !/^'?@Microsoft\.KeyVault\(SecretUri=/.test(v)) {
            problems.push(`app setting ${name} is a secret but not a Key Vault reference: ${v}`);
        }
    }
    const usesKeyVault = [...actual.values()].some((v) => text(v).includes('@Microsoft.KeyVault('));
    if (usesKeyVault) {
        for (const site of declared(t, 'Microsoft.Web/sites')) {
            if (get(site, 'properties.keyVaultReferenceIdentity') === undefined) {
                problems.push(
                    `${where(site)}: Key Vault references need properties.keyVaultReferenceIdentity (the UAMI)`,
                );
            }
        }
    }
    return problems;
}

/** Key Vault secret names each secret app setting must reference. */
export function checkKeyVaultReferences(t: Template, secretNames: Record<string, string>): string[] {
    const problems: string[] = [];
    const actual = appSettings(t);
    for (const [setting, secret] of Object.entries(secretNames)) {
        const v = text(actual.get(setting));
        if (!v.includes(`secrets/${secret}/`))
            problems.push(`app setting ${setting} does not reference secret ${secret}`);
    }
    return problems;
}

export interface NameContract {
    queues: readonly string[];
    database: string;
    container: string;
    partitionKeyPath: string;
    connections: readonly string[];
}

/** Queue, database, container and connection names match the code (shared/platform/names.ts). */
export function checkNames(t: Template, names: NameContract): string[] {
    const problems: string[] = [];
    const queues = declared(t, 'Microsoft.ServiceBus/namespaces/queues').map((q) => text(get(q, 'name')));
    for (const q of names.queues) if (!queues.includes(q)) problems.push(`queue ${q} is not declared`);
    for (const q of queues) if (!names.queues.includes(q)) problems.push(`queue ${q} is not one the code uses`);
    const databases = declared(t, 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases');
    if (
        !databases.some((d) => get(d, 'name') === names.database && get(d, 'properties.resource.id') === names.database)
    ) {
        problems.push(
            `Cosmos database ${names.database} is not declared (found ${databases.map((d) => text(get(d, 'name'))).join(', ')})`,
        );
    }
    const containers = declared(t, 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers');
    const container = containers.find((c) => get(c, 'name') === names.container);
    if (!container || get(container, 'properties.resource.id') !== names.container) {
        problems.push(`Cosmos container ${names.container} is not declared`);
    } else if (!same(get(container, 'properties.resource.partitionKey.paths'), [names.partitionKeyPath])) {
        problems.push(
            `Cosmos container ${names.container} is not partitioned on ${names.partitionKeyPath}: ${text(get(container, 'properties.resource.partitionKey.paths'))}`,
        );
    }
    const settings = [...appSettings(t).keys()];
    for (const connection of names.connections) {
        if (!settings.some((s) => s.startsWith(`${connection}__`)))
            problems.push(`connection ${connection} has no app settings`);
    }
    return problems;
}

/** Every role granted is a known built-in role; Service Bus roles are scoped to a queue; Cosmos uses its data role. */
export function checkRoles(t: Template): string[] {
    const problems: string[] = [];
    const assignments = declared(t, 'Microsoft.Authorization/roleAssignments');
    if (assignments.length === 0) problems.push('no role assignments found');
    for (const r of assignments) {
        const definition = text(get(r, 'properties.roleDefinitionId'));
        const ids = definition.match(GUID) ?? [];
        if (ids.length !== 1) {
            problems.push(`${where(r)}: cannot read one role id from ${definition}`);
            continue;
        }
        const id = ids[0].toLowerCase();
        if (!(id in ALLOWED_ROLE_IDS))
            problems.push(`${where(r)}: role id ${id} is not one of the allowed built-in roles`);
        const scope = get(r, 'scope');
        if (SERVICE_BUS_ROLE_IDS.includes(id)) {
            if (!(scope instanceof ResourceRef) || scope.type !== 'Microsoft.ServiceBus/namespaces/queues') {
                problems.push(`${where(r)}: ${ALLOWED_ROLE_IDS[id]} must be scoped to a queue, not ${text(scope)}`);
            }
        } else if (!(scope instanceof ResourceRef)) {
            problems.push(`${where(r)}: role assignment without a resource scope (${text(scope)})`);
        }
        if (get(r, 'properties.principalType') === undefined) problems.push(`${where(r)}: principalType is not set`);
    }
    const cosmos = declared(t, 'Microsoft.DocumentDB/databaseAccounts/sqlRoleAssignments');
    if (cosmos.length === 0) problems.push('no Cosmos DB data-plane role assignment (sqlRoleAssignments)');
    for (const r of cosmos) {
        const ids = (text(get(r, 'properties.roleDefinitionId')).match(GUID) ?? []).map((id) => id.toLowerCase());
        if (!same(ids, [COSMOS_DATA_CONTRIBUTOR])) {
            problems.push(`${where(r)}: Cosmos role must be Built-in Data Contributor ${COSMOS_DATA_CONTRIBUTOR}`);
        }
        if (!text(get(r, 'properties.scope')).includes('/dbs/')) {
            problems.push(`${where(r)}: Cosmos role must be scoped to the database or container, not the account`);
        }
    }
    return problems;
}

const KEY_VAULT_SECRETS_USER = '4633458b-17de-408a-b874-0445c86b69e6';
const KEY_VAULT_SECRETS_OFFICER = 'b86a8fe4-44ce-4948-aee5-eccb2c155cd7';
/** The object id the data-access checks give main.bicep as `principalId` (the deploying principal). */
export const DEPLOYER_ID = '11111111-2222-3333-4444-555555555555';

const roleIdOf = (r: Resource): string | undefined =>
    text(get(r, 'properties.roleDefinitionId')).match(GUID)?.[0]?.toLowerCase();

/**
 * Key Vault roles are scoped to one secret, never the vault: the app reads the client secret and the refresh token
 * (Secrets User) and may write only the token cache (Secrets Officer on that secret).
 */
export function checkKeyVaultRoles(t: Template, secretNames: Record<string, string>): string[] {
    const problems: string[] = [];
    const secretOf = (r: Resource): string | undefined => {
        const scope = get(r, 'scope');
        if (!(scope instanceof ResourceRef) || scope.type !== 'Microsoft.KeyVault/vaults/secrets') return undefined;
        const secret = t.resources.find((s) => s.file === r.file && s.symbol === scope.symbol);
        return secret ? text(get(secret, 'name')) : undefined;
    };
    const keyVaultRoles = declared(t, 'Microsoft.Authorization/roleAssignments').filter((r) =>
        [KEY_VAULT_SECRETS_USER, KEY_VAULT_SECRETS_OFFICER].includes(roleIdOf(r) ?? ''),
    );
    const appRoles = new Map<string, string[]>();
    for (const r of keyVaultRoles) {
        const secret = secretOf(r);
        if (secret === undefined) {
            problems.push(
                `${where(r)}: ${ALLOWED_ROLE_IDS[roleIdOf(r)!]} must be scoped to one secret, not ${text(get(r, 'scope'))}`,
            );
            continue;
        }
        if (get(r, 'properties.principalType') !== 'ServicePrincipal') continue; // the deployer: checkDeployerAccess
        appRoles.set(secret, [...(appRoles.get(secret) ?? []), ALLOWED_ROLE_IDS[roleIdOf(r)!]!]);
    }
    const expected: Record<string, string> = {
        [secretNames.clientSecret!]: 'Key Vault Secrets User',
        [secretNames.refreshToken!]: 'Key Vault Secrets User',
        [secretNames.tokenCache!]: 'Key Vault Secrets Officer',
    };
    for (const [secret, role] of Object.entries(expected)) {
        if (!same(appRoles.get(secret), [role]))
            problems.push(
                `the app must hold only ${role} on secret ${secret}, holds ${render(appRoles.get(secret) ?? [])}`,
            );
    }
    for (const secret of appRoles.keys()) {
        if (!(secret in expected)) problems.push(`the app holds a Key Vault role on unexpected secret ${secret}`);
    }
    return problems;
}

/** Role assignments (Azure RBAC and Cosmos DB data-plane) naming the deploying principal. */
function deployerAssignments(t: Template): Resource[] {
    return [
        ...declared(t, 'Microsoft.Authorization/roleAssignments'),
        ...declared(t, 'Microsoft.DocumentDB/databaseAccounts/sqlRoleAssignments'),
    ].filter((r) => text(get(r, 'properties.principalId')) === DEPLOYER_ID);
}

/**
 * The deploying principal holds no data access unless `allowDeployerDataAccess` says so (`azd up` needs none), and
 * then only Cosmos DB data on the database and Secrets Officer on the Partner API secrets.
 */
export function checkDeployerAccess(sources: SourceFiles): string[] {
    const problems: string[] = [];
    const standing = deployerAssignments(loadTemplate(sources, 'main.bicep', { principalId: DEPLOYER_ID }));
    for (const r of standing)
        problems.push(`${where(r)}: the deployer holds data access without allowDeployerDataAccess`);
    const allowed = deployerAssignments(
        loadTemplate(sources, 'main.bicep', { principalId: DEPLOYER_ID, allowDeployerDataAccess: true }),
    );
    for (const r of allowed) {
        const id = roleIdOf(r);
        const isCosmos = r.type.endsWith('sqlRoleAssignments');
        const scope = get(r, 'scope');
        const onSecret = scope instanceof ResourceRef && scope.type === 'Microsoft.KeyVault/vaults/secrets';
        if (!isCosmos && !(id === KEY_VAULT_SECRETS_OFFICER && onSecret)) {
            problems.push(`${where(r)}: the deployer may get only Cosmos data and Secrets Officer on a secret`);
        }
    }
    if (allowed.length === 0) problems.push('allowDeployerDataAccess grants the deployer nothing');
    return problems;
}

/** What `usePrivateNetworking` must turn off and on: each data service reached only through a private endpoint. */
export const PRIVATE_ENDPOINT_GROUPS: Record<string, string> = {
    Sql: 'Microsoft.DocumentDB/databaseAccounts',
    vault: 'Microsoft.KeyVault/vaults',
    blob: 'Microsoft.Storage/storageAccounts',
    queue: 'Microsoft.Storage/storageAccounts',
    table: 'Microsoft.Storage/storageAccounts',
    namespace: 'Microsoft.ServiceBus/namespaces',
};

/** With `usePrivateNetworking`: public access off, a private endpoint per service, Premium Service Bus, VNet app. */
export function checkPrivateNetworking(sources: SourceFiles): string[] {
    const problems: string[] = [];
    const main = loadTemplate(sources).params.find((p) => p.file === 'main.bicep' && p.name === 'usePrivateNetworking');
    if (!main) return ['main.bicep has no usePrivateNetworking parameter'];
    const t = loadTemplate(sources, 'main.bicep', { usePrivateNetworking: true });
    for (const type of new Set(Object.values(PRIVATE_ENDPOINT_GROUPS))) {
        const targets = declared(t, type);
        if (targets.length === 0) problems.push(`no ${type} declared`);
        for (const r of targets) {
            if (get(r, 'properties.publicNetworkAccess') !== 'Disabled')
                problems.push(`${where(r)}: publicNetworkAccess must be 'Disabled' with private networking`);
        }
    }
    const groups = declared(t, 'Microsoft.Network/privateEndpoints').flatMap((r) => {
        const connections = get(r, 'properties.privateLinkServiceConnections');
        if (!Array.isArray(connections)) return [];
        return connections.flatMap((c) => {
            const ids = isPlainObject(c) && isPlainObject(c.properties) ? c.properties.groupIds : undefined;
            return Array.isArray(ids) ? ids.map(text) : [];
        });
    });
    for (const group of Object.keys(PRIVATE_ENDPOINT_GROUPS)) {
        if (!groups.includes(group))
            problems.push(`no private endpoint for ${PRIVATE_ENDPOINT_GROUPS[group]} (${group})`);
    }
    for (const r of declared(t, 'Microsoft.ServiceBus/namespaces')) {
        if (get(r, 'sku.name') !== 'Premium')
            problems.push(`${where(r)}: Service Bus private endpoints need the Premium tier`);
    }
    for (const site of declared(t, 'Microsoft.Web/sites')) {
        const subnet = get(site, 'properties.virtualNetworkSubnetId');
        if (subnet === undefined || subnet === null || subnet === '')
            problems.push(`${where(site)}: the function app must be integrated with the virtual network`);
    }
    return problems;
}

interface Rule {
    type: string;
    path: string;
    expected: Value;
    /** Only resources with this name (e.g. config 'authsettingsV2'). */
    name?: string;
}

/** The security baseline (reliability.md §4.6, PSRule for Azure) and the pipeline's queue settings. */
export const SECURITY_RULES: Rule[] = [
    { type: 'Microsoft.ServiceBus/namespaces', path: 'properties.disableLocalAuth', expected: true },
    { type: 'Microsoft.ServiceBus/namespaces', path: 'properties.minimumTlsVersion', expected: '1.2' },
    { type: 'Microsoft.ServiceBus/namespaces', path: 'sku.name', expected: 'Standard' },
    { type: 'Microsoft.ServiceBus/namespaces/queues', path: 'properties.requiresDuplicateDetection', expected: true },
    {
        type: 'Microsoft.ServiceBus/namespaces/queues',
        path: 'properties.duplicateDetectionHistoryTimeWindow',
        expected: 'P1D',
    },
    { type: 'Microsoft.ServiceBus/namespaces/queues', path: 'properties.lockDuration', expected: 'PT1M' },
    { type: 'Microsoft.ServiceBus/namespaces/queues', path: 'properties.maxDeliveryCount', expected: 10 },
    {
        type: 'Microsoft.ServiceBus/namespaces/queues',
        path: 'properties.deadLetteringOnMessageExpiration',
        expected: true,
    },
    { type: 'Microsoft.DocumentDB/databaseAccounts', path: 'properties.disableLocalAuth', expected: true },
    {
        type: 'Microsoft.DocumentDB/databaseAccounts',
        path: 'properties.disableKeyBasedMetadataWriteAccess',
        expected: true,
    },
    { type: 'Microsoft.DocumentDB/databaseAccounts', path: 'properties.minimalTlsVersion', expected: 'Tls12' },
    { type: 'Microsoft.DocumentDB/databaseAccounts', path: 'properties.backupPolicy.type', expected: 'Continuous' },
    {
        type: 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers',
        path: 'properties.resource.defaultTtl',
        expected: -1,
    },
    { type: 'Microsoft.Insights/components', path: 'properties.DisableLocalAuth', expected: true },
    { type: 'Microsoft.Storage/storageAccounts', path: 'properties.allowSharedKeyAccess', expected: false },
    { type: 'Microsoft.Storage/storageAccounts', path: 'properties.allowBlobPublicAccess', expected: false },
    { type: 'Microsoft.Storage/storageAccounts', path: 'properties.minimumTlsVersion', expected: 'TLS1_2' },
    { type: 'Microsoft.Storage/storageAccounts', path: 'properties.supportsHttpsTrafficOnly', expected: true },
    { type: 'Microsoft.Web/serverfarms', path: 'sku.name', expected: 'FC1' },
    { type: 'Microsoft.Web/serverfarms', path: 'sku.tier', expected: 'FlexConsumption' },
    { type: 'Microsoft.Web/sites', path: 'properties.httpsOnly', expected: true },
    { type: 'Microsoft.Web/sites', path: 'properties.siteConfig.minTlsVersion', expected: '1.2' },
    { type: 'Microsoft.Web/sites', path: 'properties.siteConfig.scmMinTlsVersion', expected: '1.2' },
    { type: 'Microsoft.Web/sites', path: 'properties.siteConfig.remoteDebuggingEnabled', expected: false },
    { type: 'Microsoft.Web/sites', path: 'identity.type', expected: 'UserAssigned' },
    { type: 'Microsoft.Web/sites', path: 'properties.functionAppConfig.runtime.name', expected: 'node' },
    {
        type: 'Microsoft.Web/sites',
        path: 'properties.functionAppConfig.deployment.storage.authentication.type',
        expected: 'UserAssignedIdentity',
    },
    { type: 'Microsoft.Web/sites/basicPublishingCredentialsPolicies', path: 'properties.allow', expected: false },
    { type: 'Microsoft.EventGrid/topics', path: 'properties.inputSchema', expected: 'CloudEventSchemaV1_0' },
    { type: 'Microsoft.EventGrid/topics', path: 'properties.disableLocalAuth', expected: true },
    { type: 'Microsoft.EventGrid/topics', path: 'properties.minimumTlsVersionAllowed', expected: '1.2' },
    { type: 'Microsoft.KeyVault/vaults', path: 'properties.enableRbacAuthorization', expected: true },
    { type: 'Microsoft.KeyVault/vaults', path: 'properties.enableSoftDelete', expected: true },
    { type: 'Microsoft.KeyVault/vaults', path: 'properties.enablePurgeProtection', expected: true },
    {
        type: 'Microsoft.Web/sites/config',
        name: 'authsettingsV2',
        path: 'properties.globalValidation.requireAuthentication',
        expected: true,
    },
    {
        type: 'Microsoft.Web/sites/config',
        name: 'authsettingsV2',
        path: 'properties.globalValidation.unauthenticatedClientAction',
        expected: 'Return401',
    },
];

export function checkSecurity(t: Template, rules: Rule[] = SECURITY_RULES): string[] {
    const problems: string[] = [];
    for (const rule of rules) {
        const targets = declared(t, rule.type).filter((r) => rule.name === undefined || get(r, 'name') === rule.name);
        if (targets.length === 0) {
            problems.push(`no ${rule.type}${rule.name ? ` '${rule.name}'` : ''} declared (needed for ${rule.path})`);
        }
        for (const r of targets) {
            const actual = get(r, rule.path);
            if (!same(actual, rule.expected)) {
                problems.push(
                    `${where(r)}: ${rule.type} ${rule.path} must be ${render(rule.expected)}, is ${actual === undefined ? 'missing' : text(actual)}`,
                );
            }
        }
    }
    // Flex Consumption specifics that are not a fixed value.
    for (const site of declared(t, 'Microsoft.Web/sites')) {
        const version = get(site, 'properties.functionAppConfig.runtime.version');
        if (!['20', '22'].includes(text(version)))
            problems.push(`${where(site)}: Node version must be 20 or 22, is ${text(version)}`);
        if (typeof get(site, 'properties.functionAppConfig.scaleAndConcurrency.maximumInstanceCount') !== 'number') {
            problems.push(`${where(site)}: scaleAndConcurrency.maximumInstanceCount must come from a parameter`);
        }
    }
    return problems;
}

/**
 * What Flex Consumption refuses: Microsoft's published list, "Flex Consumption plan deprecations" in the Azure
 * Functions app settings reference (learn.microsoft.com/azure/azure-functions/functions-app-settings). ARM rejects
 * several of these site properties outright (error 51021, "site configuration properties ... for Flex Consumption
 * sites is invalid", even when null), so the template must set none of them.
 */
export const FLEX_REJECTED_SITE_PROPERTIES = [
    'alwaysOn',
    'containerSize',
    'ftpsState',
    'isReserved',
    'IsXenon',
    'javaVersion',
    'LinuxFxVersion',
    'netFrameworkVersion',
    'powerShellVersion',
    'functionAppScaleLimit',
    'preWarmedInstanceCount',
    'use32BitWorkerProcess',
    'vnetBackupRestoreEnabled',
    'vnetContentShareEnabled',
    'vnetImagePullEnabled',
    'vnetRouteAllEnabled',
    'windowsFxVersion',
] as const;

/** The app settings of the same list: replaced by functionAppConfig, remoteBuild or the integrated network. */
export const FLEX_REJECTED_APP_SETTINGS = [
    'ENABLE_ORYX_BUILD',
    'FUNCTIONS_EXTENSION_VERSION',
    'FUNCTIONS_WORKER_RUNTIME',
    'FUNCTIONS_WORKER_RUNTIME_VERSION',
    'FUNCTIONS_MAX_HTTP_CONCURRENCY',
    'FUNCTIONS_WORKER_PROCESS_COUNT',
    'FUNCTIONS_WORKER_DYNAMIC_CONCURRENCY_ENABLED',
    'SCM_DO_BUILD_DURING_DEPLOYMENT',
    'WEBSITE_CONTENTAZUREFILECONNECTIONSTRING',
    'WEBSITE_CONTENTOVERVNET',
    'WEBSITE_CONTENTSHARE',
    'WEBSITE_DNS_SERVER',
    'WEBSITE_MAX_DYNAMIC_APPLICATION_SCALE_OUT',
    'WEBSITE_NODE_DEFAULT_VERSION',
    'WEBSITE_RUN_FROM_PACKAGE',
    'WEBSITE_SKIP_CONTENTSHARE_VALIDATION',
    'WEBSITE_VNET_ROUTE_ALL',
] as const;

/**
 * No Flex Consumption site sets a property or app setting Microsoft lists as unsupported on Flex. Site properties
 * are matched by name (case-insensitive) on the site's `properties`, its `siteConfig` and any `config 'web'`.
 */
export function checkFlexConsumption(t: Template): string[] {
    const problems: string[] = [];
    const rejected = new Map(FLEX_REJECTED_SITE_PROPERTIES.map((name) => [name.toLowerCase(), name]));
    const report = (r: Resource, object: Value | undefined, path: string): void => {
        if (object === undefined || !isPlainObject(object)) return;
        for (const key of Object.keys(object)) {
            const listed = rejected.get(key.toLowerCase());
            if (listed) problems.push(`${where(r)}: ${path}.${key} is not supported on Flex Consumption (${listed})`);
        }
    };
    for (const site of declared(t, 'Microsoft.Web/sites')) {
        report(site, get(site, 'properties'), 'properties');
        report(site, get(site, 'properties.siteConfig'), 'properties.siteConfig');
    }
    for (const config of declared(t, 'Microsoft.Web/sites/config').filter((c) => get(c, 'name') === 'web')) {
        report(config, get(config, 'properties'), 'properties');
    }
    for (const name of appSettings(t).keys()) {
        if ((FLEX_REJECTED_APP_SETTINGS as readonly string[]).includes(name.toUpperCase())) {
            problems.push(`app setting ${name} is not supported on Flex Consumption`);
        }
    }
    return problems;
}

/** App events an operator must act on (docs/operations.md, Alerts): each needs a log search alert. */
export const LOG_ALERT_EVENTS = [
    'partnerApi.authFailed',
    'partnerApi.refreshTokenExpiring',
    'partnerApi.tokenCache.saveFailed',
    'submit.failed',
    'connect.failed',
    'partnerCenter.syncRefused',
    'reconciliation.leaseLost',
    'events.overdue',
] as const;

/**
 * host.json sampling must keep every trace: the log alerts query traces, and a sampled-out `submit.failed` would
 * never fire. Returns the problems (empty when sampling is off or excludes `Trace`).
 */
export function checkSampling(hostJsonText: string): string[] {
    const hostJson = JSON.parse(hostJsonText) as {
        logging?: { applicationInsights?: { samplingSettings?: { isEnabled?: boolean; excludedTypes?: string } } };
    };
    const sampling = hostJson.logging?.applicationInsights?.samplingSettings;
    if (sampling?.isEnabled === false) return [];
    const excluded = (sampling?.excludedTypes ?? '').split(';').map((type) => type.trim().toLowerCase());
    return excluded.includes('trace') ? [] : ['host.json sampling can drop the traces the log alerts query'];
}

/** Alerts: dead-lettered messages per queue, failed function runs, both to an action group with an email. */
export function checkAlerts(t: Template): string[] {
    const problems: string[] = [];
    const alerts = declared(t, 'Microsoft.Insights/metricAlerts');
    const criteria = (r: Resource): Value[] => {
        const all = get(r, 'properties.criteria');
        return isPlainObject(all) && Array.isArray(all.allOf) ? all.allOf : [];
    };
    const deadLetter = alerts.find((a) =>
        criteria(a).some(
            (c) =>
                isPlainObject(c) &&
                c.metricName === 'DeadletteredMessages' &&
                text(c.dimensions).includes('EntityName') &&
                c.operator === 'GreaterThan' &&
                c.threshold === 0,
        ),
    );
    if (!deadLetter) problems.push('no alert on DeadletteredMessages > 0 split by EntityName');
    if (!alerts.some((a) => criteria(a).some((c) => isPlainObject(c) && c.metricName === 'requests/failed'))) {
        problems.push('no alert on failed function invocations (requests/failed)');
    }
    for (const a of alerts) {
        if (!text(get(a, 'properties.actions')).includes('actionGroupId'))
            problems.push(`${where(a)}: alert has no action group`);
    }
    const logAlerts = declared(t, 'Microsoft.Insights/scheduledQueryRules');
    const query = (r: Resource): string => text(get(r, 'properties.criteria'));
    for (const event of LOG_ALERT_EVENTS) {
        if (!logAlerts.some((a) => query(a).includes(`"${event}"`)))
            problems.push(`no log alert on the ${event} event`);
    }
    const stuck = logAlerts.find((a) => query(a).includes('referral.transition'));
    if (!stuck) problems.push('no log alert on referrals stuck short of a final status');
    else {
        for (const status of ['Queued', 'Submitting', 'Connecting']) {
            if (!query(stuck).includes(`"${status}"`)) problems.push(`the stuck-referral alert misses ${status}`);
        }
    }
    for (const a of logAlerts) {
        if (!text(get(a, 'properties.actions.actionGroups')).includes('actionGroup'))
            problems.push(`${where(a)}: log alert has no action group`);
    }
    const groups = declared(t, 'Microsoft.Insights/actionGroups');
    if (!groups.some((g) => text(get(g, 'properties.emailReceivers')).includes('emailAddress'))) {
        problems.push('no action group with an email receiver');
    }
    return problems;
}

const EVENT_GRID_DATA_SENDER = 'd5a91429-5739-47e2-a06b-3470a27159e7';
const STORAGE_BLOB_DATA_CONTRIBUTOR = 'ba92f5b4-2d11-453d-a403-e96b0029c9fe';

/**
 * Outcome events: the app identity holds EventGrid Data Sender on the topic (scoped to it), the app setting names the
 * topic's endpoint, the optional subscription delivers CloudEvents and dead-letters to a blob container the topic may
 * write to (alone), and alerts fire on events dropped or dead-lettered.
 */
export function checkEventGrid(t: Template): string[] {
    const problems: string[] = [];
    const topics = declared(t, 'Microsoft.EventGrid/topics');
    if (topics.length !== 1) return ['no (or more than one) Event Grid topic declared'];
    const topic = topics[0]!;
    const assignments = declared(t, 'Microsoft.Authorization/roleAssignments');
    const sender = assignments.filter((r) => roleIdOf(r) === EVENT_GRID_DATA_SENDER);
    if (sender.length !== 1) problems.push('the app identity needs EventGrid Data Sender once');
    for (const r of sender) {
        const scope = get(r, 'scope');
        if (!(scope instanceof ResourceRef) || scope.symbol !== topic.symbol) {
            problems.push(`${where(r)}: EventGrid Data Sender must be scoped to the topic, not ${text(scope)}`);
        }
        if (!text(get(r, 'properties.principalId')).includes('identity.outputs.principalId')) {
            problems.push(`${where(r)}: EventGrid Data Sender must go to the app identity`);
        }
    }
    const endpoint = appSettings(t).get('EVENT_GRID_TOPIC_ENDPOINT');
    if (endpoint === undefined) problems.push('no EVENT_GRID_TOPIC_ENDPOINT app setting');
    else if (text(endpoint) !== 'eventGrid.outputs.endpoint') {
        problems.push(`EVENT_GRID_TOPIC_ENDPOINT must be the topic's endpoint, not ${text(endpoint)}`);
    }
    const subscriptions = declared(t, 'Microsoft.EventGrid/topics/eventSubscriptions');
    if (subscriptions.length === 0) problems.push('no (optional) event subscription declared');
    for (const r of subscriptions) {
        if (get(r, 'properties.eventDeliverySchema') !== 'CloudEventSchemaV1_0') {
            problems.push(`${where(r)}: the subscription must deliver CloudEvents 1.0`);
        }
        const deadLetter = get(r, 'properties.deadLetterWithResourceIdentity.deadLetterDestination');
        if (!text(deadLetter).includes('StorageBlob')) problems.push(`${where(r)}: no dead-lettering to blob storage`);
    }
    const deadLetterWriters = assignments.filter((r) => roleIdOf(r) === STORAGE_BLOB_DATA_CONTRIBUTOR);
    for (const r of deadLetterWriters) {
        const scope = get(r, 'scope');
        if (!(scope instanceof ResourceRef) || !/containers$/i.test(scope.type)) {
            problems.push(`${where(r)}: Storage Blob Data Contributor must be scoped to the dead-letter container`);
        }
    }
    if (deadLetterWriters.length === 0) problems.push('the topic identity cannot write dead letters');
    const metricAlerts = declared(t, 'Microsoft.Insights/metricAlerts').map((a) => text(get(a, 'properties.criteria')));
    for (const metric of ['DroppedEventCount', 'DeadLetteredCount']) {
        if (!metricAlerts.some((c) => c.includes(`metricName: '${metric}'`))) {
            problems.push(`no alert on the topic's ${metric}`);
        }
    }
    return problems;
}

const SECRET_NAME = /(secret|password|token|key)$/i;

/** No keys read anywhere, secret-looking parameters are @secure(), outputs carry nothing secret. */
export function checkNoSecrets(t: Template): string[] {
    const problems: string[] = [];
    for (const call of t.calls) {
        if (/^list/.test(call.name)) problems.push(`${call.file}:${call.line}: ${call.name}() reads keys or secrets`);
    }
    const secureParams = new Set<string>();
    for (const p of t.params) {
        if (p.secure) secureParams.add(p.name);
        if (SECRET_NAME.test(p.name) && !p.secure)
            problems.push(`${p.file}:${p.line}: parameter ${p.name} must be @secure()`);
    }
    for (const o of t.outputs) {
        const v = text(o.value);
        if (/secret|password|token/i.test(o.name)) problems.push(`${o.file}:${o.line}: output ${o.name} looks secret`);
        if (/\blist[A-Z]\w*\(/.test(v) || [...secureParams].some((p) => v === p || v.includes(`\${${p}}`))) {
            problems.push(`${o.file}:${o.line}: output ${o.name} exposes a secret`);
        }
    }
    return problems;
}

/** Every resource that takes tags carries azd-env-name; the function app carries azd-service-name. */
export function checkTags(t: Template, serviceName: string): string[] {
    const problems: string[] = [];
    const untaggedTypes =
        /roleAssignments|sqlRoleAssignments|\/(queues|sqlDatabases|containers|blobServices|config|basicPublishingCredentialsPolicies|privateDnsZoneGroups|eventSubscriptions)$/;
    for (const r of t.resources) {
        if (r.existing || untaggedTypes.test(r.type)) continue;
        const tags = get(r, 'tags');
        if (!isPlainObject(tags) || !('azd-env-name' in tags)) problems.push(`${where(r)}: no azd-env-name tag`);
    }
    for (const site of declared(t, 'Microsoft.Web/sites')) {
        const tags = get(site, 'tags');
        if (!isPlainObject(tags) || tags['azd-service-name'] !== serviceName) {
            problems.push(`${where(site)}: azd-service-name tag must be '${serviceName}'`);
        }
    }
    return problems;
}

/** main.parameters.json gives every parameter without a default, and only parameters main.bicep declares. */
export function checkParameterFile(t: Template, parametersJson: string): string[] {
    const problems: string[] = [];
    const parsed = JSON.parse(parametersJson) as { parameters?: Record<string, unknown> };
    const given = Object.keys(parsed.parameters ?? {});
    const main = t.params.filter((p) => p.file === 'main.bicep');
    for (const p of main) {
        if (!p.hasDefault && !given.includes(p.name)) problems.push(`main.parameters.json does not set ${p.name}`);
    }
    for (const name of given) {
        if (!main.some((p) => p.name === name))
            problems.push(`main.parameters.json sets ${name}, unknown to main.bicep`);
    }
    return problems;
}

/** Runs every check that needs only the infra folder and the code's contracts. */
export function checkAll(sources: SourceFiles, settings: readonly SettingLike[], names: NameContract): string[] {
    const syntax = checkSyntax(sources);
    if (syntax.length > 0) return syntax;
    const t = loadTemplate(sources);
    return [
        ...checkAppSettings(t, settings),
        ...checkNames(t, names),
        ...checkRoles(t),
        ...checkSecurity(t),
        ...checkFlexConsumption(t),
        ...checkAlerts(t),
        ...checkEventGrid(t),
        ...checkNoSecrets(t),
        ...checkKeyVaultRoles(t, KEY_VAULT_SECRET_NAMES),
        ...checkDeployerAccess(sources),
        ...checkPrivateNetworking(sources),
    ];
}
