/**
 * Each check must fail when the thing it guards is removed: the same check functions run on a mutated in-memory copy
 * of infra/ and must report the problem.
 */
import { SETTINGS } from '../../shared/platform/config';
import { CONNECTIONS_QUEUE } from '../../shared/platform/names';
import { loadTemplate, type SourceFiles } from './bicep';
import {
    checkAlerts,
    checkAll,
    checkAppSettings,
    checkDeployerAccess,
    checkEventGrid,
    checkFlexConsumption,
    checkKeyVaultReferences,
    checkKeyVaultRoles,
    checkNames,
    checkNoSecrets,
    checkParameterFile,
    checkPrivateNetworking,
    checkRoles,
    checkSampling,
    checkSecurity,
    checkTags,
    FLEX_REJECTED_APP_SETTINGS,
    FLEX_REJECTED_SITE_PROPERTIES,
    KEY_VAULT_SECRET_NAMES,
    LOG_ALERT_EVENTS,
} from './checks';
import { infraSources, mutate, NAMES, readRootFile, SECRET_REFERENCES } from './helpers';

const sources = infraSources();
const APP = 'app/functionapp.bicep';

function problemsOf(mutated: SourceFiles): string[] {
    return checkAll(mutated, SETTINGS, NAMES);
}

describe('the checks catch a missing or wrong app setting', () => {
    const required = SETTINGS.filter((s) => s.azure === 'required').map((s) => s.name);

    it.each(required)('removing %s is reported', (name) => {
        const mutated = mutate(sources, APP, new RegExp(`^\\s+${name}: .*\\n`, 'm'), '');
        expect(checkAppSettings(loadTemplate(mutated), SETTINGS)).toContain(
            `app setting ${name} is required but not set`,
        );
    });

    it('a setting added to SETTINGS as required is reported until infra sets it', () => {
        const settings = [...SETTINGS, { name: 'REFERRAL_TTL_SECONDS', azure: 'required' as const }];
        expect(checkAppSettings(loadTemplate(sources), settings)).toContain(
            'app setting REFERRAL_TTL_SECONDS is required but not set',
        );
    });

    it('a local-only connection string in Azure is reported', () => {
        const mutated = mutate(
            sources,
            APP,
            "ServiceBusConnection__credential: 'managedidentity'",
            "ServiceBusConnection__credential: 'managedidentity'\n      ServiceBusConnection: 'Endpoint=sb://x/;SharedAccessKeyName=k;SharedAccessKey=abc'",
        );
        const problems = checkAppSettings(loadTemplate(mutated), SETTINGS);
        expect(problems).toContain('app setting ServiceBusConnection is local-only but set');
        expect(problems.join('\n')).toMatch(/ServiceBusConnection carries a key or connection string/);
    });

    it('a secret given as a plain value instead of a Key Vault reference is reported', () => {
        const mutated = mutate(
            sources,
            APP,
            /PARTNER_API_CLIENT_SECRET: .*/,
            'PARTNER_API_CLIENT_SECRET: partnerApiClientId',
        );
        const t = loadTemplate(mutated);
        expect(checkAppSettings(t, SETTINGS).join('\n')).toMatch(
            /PARTNER_API_CLIENT_SECRET is a secret but not a Key Vault reference/,
        );
        expect(checkKeyVaultReferences(t, SECRET_REFERENCES)).toContain(
            'app setting PARTNER_API_CLIENT_SECRET does not reference secret partner-api-client-secret',
        );
    });

    it('a renamed Key Vault secret is reported', () => {
        const mutated = mutate(sources, 'main.bicep', "'partner-api-refresh-token'", "'partner-refresh-token'");
        expect(checkKeyVaultReferences(loadTemplate(mutated), SECRET_REFERENCES)).toContain(
            'app setting PARTNER_API_REFRESH_TOKEN does not reference secret partner-api-refresh-token',
        );
    });

    it('Key Vault references without keyVaultReferenceIdentity are reported', () => {
        const mutated = mutate(sources, APP, /^\s+keyVaultReferenceIdentity: .*\n/m, '');
        expect(checkAppSettings(loadTemplate(mutated), SETTINGS).join('\n')).toMatch(/keyVaultReferenceIdentity/);
    });

    it('App Insights without Entra authentication is reported', () => {
        const mutated = mutate(sources, APP, /^\s+APPLICATIONINSIGHTS_AUTHENTICATION_STRING: .*\n/m, '');
        expect(checkAppSettings(loadTemplate(mutated), SETTINGS)).toContain(
            'app setting APPLICATIONINSIGHTS_AUTHENTICATION_STRING is not set',
        );
    });
});

describe('the checks catch a wrong name', () => {
    it('a renamed queue is reported', () => {
        const mutated = mutate(sources, 'main.bicep', `'${CONNECTIONS_QUEUE}'`, "'referral-connection'");
        const problems = checkNames(loadTemplate(mutated), NAMES);
        expect(problems).toContain(`queue ${CONNECTIONS_QUEUE} is not declared`);
        expect(problems).toContain('queue referral-connection is not one the code uses');
    });

    it('a queue left out of the Service Bus module is reported', () => {
        const mutated = mutate(sources, 'main.bicep', /^\s+connectionsQueueName\n/m, '');
        expect(checkNames(loadTemplate(mutated), NAMES)).toContain(`queue ${CONNECTIONS_QUEUE} is not declared`);
    });

    it('a renamed container is reported', () => {
        const mutated = mutate(
            sources,
            'main.bicep',
            "var cosmosContainerName = 'referrals'",
            "var cosmosContainerName = 'items'",
        );
        expect(checkNames(loadTemplate(mutated), NAMES)).toContain('Cosmos container referrals is not declared');
    });

    it('a renamed database is reported', () => {
        const mutated = mutate(
            sources,
            'main.bicep',
            "var cosmosDatabaseName = 'referrals'",
            "var cosmosDatabaseName = 'db'",
        );
        expect(checkNames(loadTemplate(mutated), NAMES).join('\n')).toMatch(
            /Cosmos database referrals is not declared/,
        );
    });

    it('another partition key is reported', () => {
        const mutated = mutate(
            sources,
            'main.bicep',
            "var cosmosPartitionKeyPath = '/id'",
            "var cosmosPartitionKeyPath = '/pk'",
        );
        expect(checkNames(loadTemplate(mutated), NAMES).join('\n')).toMatch(/not partitioned on \/id/);
    });
});

describe('the checks catch a wrong role', () => {
    it('a wrong role id (the one in the original brief) is reported', () => {
        const mutated = mutate(
            sources,
            'app/servicebus.bicep',
            '69a216fc-b8fb-44d8-bc22-1f3c2cd27a39',
            '69a216fc-b8fb-44d8-bc22-1f3c2552ae39',
        );
        expect(checkRoles(loadTemplate(mutated)).join('\n')).toMatch(
            /role id 69a216fc-b8fb-44d8-bc22-1f3c2552ae39 is not one of the allowed built-in roles/,
        );
    });

    it('a Service Bus role on the namespace instead of the queue is reported', () => {
        const mutated = mutate(sources, 'app/servicebus.bicep', 'scope: queues[i]', 'scope: namespace');
        expect(checkRoles(loadTemplate(mutated)).join('\n')).toMatch(
            /Azure Service Bus Data Sender must be scoped to a queue/,
        );
    });

    it('a broader role such as Contributor is reported', () => {
        const mutated = mutate(
            sources,
            'app/keyvault.bicep',
            "'4633458b-17de-408a-b874-0445c86b69e6'",
            "'b24988ac-6180-42a0-ab88-20f7382dd24c'",
        );
        expect(checkRoles(loadTemplate(mutated)).join('\n')).toMatch(
            /b24988ac-6180-42a0-ab88-20f7382dd24c is not one of the allowed/,
        );
    });

    it('a Cosmos role at account scope is reported', () => {
        const mutated = mutate(
            sources,
            'app/cosmos.bicep',
            "scope: '${account.id}/dbs/${databaseName}'",
            'scope: account.id',
        );
        expect(checkRoles(loadTemplate(mutated)).join('\n')).toMatch(
            /Cosmos role must be scoped to the database or container/,
        );
    });
});

describe('the checks catch standing or broad access and public exposure', () => {
    const KV = 'app/keyvault.bicep';
    const keyVaultRoles = (mutated: SourceFiles) =>
        checkKeyVaultRoles(loadTemplate(mutated), KEY_VAULT_SECRET_NAMES).join('\n');

    it('Secrets Officer for the app on the whole vault (as before) is reported', () => {
        const mutated = mutate(sources, KV, 'scope: tokenCache\n', 'scope: vault\n');
        expect(keyVaultRoles(mutated)).toMatch(/Key Vault Secrets Officer must be scoped to one secret, not vault/);
        expect(keyVaultRoles(mutated)).toMatch(
            /must hold only Key Vault Secrets Officer on secret partner-api-token-cache/,
        );
    });

    it('a write role for the app on the client secret is reported', () => {
        const mutated = mutate(
            sources,
            KV,
            /(scope: clientSecret\n\s+properties: \{\n\s+roleDefinitionId: subscriptionResourceId\('Microsoft.Authorization\/roleDefinitions', )keyVaultSecretsUser/,
            '$1keyVaultSecretsOfficer',
        );
        expect(keyVaultRoles(mutated)).toMatch(
            /the app must hold only Key Vault Secrets User on secret partner-api-client-secret, holds \['Key Vault Secrets Officer'\]/,
        );
    });

    it('a deployer role granted whatever allowDeployerDataAccess says is reported', () => {
        const mutated = mutate(
            sources,
            'main.bicep',
            "deployerPrincipalId: allowDeployerDataAccess ? principalId : ''\n    deployerPrincipalType",
            'deployerPrincipalId: principalId\n    deployerPrincipalType',
        );
        expect(checkDeployerAccess(mutated).join('\n')).toMatch(
            /deployerClientSecretOfficer: the deployer holds data access without allowDeployerDataAccess/,
        );
    });

    it('a deployer role on the vault instead of a secret is reported', () => {
        const mutated = mutate(
            sources,
            KV,
            "scope: refreshToken\n  properties: {\n    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', keyVaultSecretsOfficer)",
            "scope: vault\n  properties: {\n    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', keyVaultSecretsOfficer)",
        );
        expect(checkDeployerAccess(mutated).join('\n')).toMatch(
            /the deployer may get only Cosmos data and Secrets Officer on a secret/,
        );
    });

    it.each([
        ['app/cosmos.bicep', 'Microsoft.DocumentDB/databaseAccounts'],
        ['app/keyvault.bicep', 'Microsoft.KeyVault/vaults'],
        ['app/storage.bicep', 'Microsoft.Storage/storageAccounts'],
        ['app/servicebus.bicep', 'Microsoft.ServiceBus/namespaces'],
    ])('public network access left on in %s with private networking is reported', (file) => {
        const mutated = mutate(sources, file, "privateNetworking ? 'Disabled' : 'Enabled'", "'Enabled'");
        expect(checkPrivateNetworking(mutated).join('\n')).toMatch(
            /publicNetworkAccess must be 'Disabled' with private networking/,
        );
    });

    it('a missing private endpoint (storage queues) is reported', () => {
        const mutated = mutate(sources, 'app/network.bicep', /^.*groupId: 'queue'.*\n/m, '');
        expect(checkPrivateNetworking(mutated)).toContain(
            'no private endpoint for Microsoft.Storage/storageAccounts (queue)',
        );
    });

    it('Service Bus kept on Standard with private networking is reported', () => {
        const mutated = mutate(
            sources,
            'app/servicebus.bicep',
            "privateNetworking ? { name: 'Premium', tier: 'Premium', capacity: 1 } : { name: 'Standard', tier: 'Standard' }",
            "{ name: 'Standard', tier: 'Standard' }",
        );
        expect(checkPrivateNetworking(mutated).join('\n')).toMatch(
            /Service Bus private endpoints need the Premium tier/,
        );
    });

    it('a function app left outside the virtual network is reported', () => {
        const mutated = mutate(sources, 'main.bicep', "usePrivateNetworking ? network.outputs.appSubnetId : ''", "''");
        expect(checkPrivateNetworking(mutated).join('\n')).toMatch(/must be integrated with the virtual network/);
    });
});

describe('the checks catch a weakened security property', () => {
    // [file, text to remove or change, replacement, rule that must be reported]
    const cases: [string, string | RegExp, string, RegExp][] = [
        [
            'app/servicebus.bicep',
            'disableLocalAuth: true',
            'disableLocalAuth: false',
            /namespaces properties\.disableLocalAuth/,
        ],
        [
            'app/servicebus.bicep',
            /^\s+minimumTlsVersion: '1\.2'\n/m,
            '',
            /namespaces properties\.minimumTlsVersion must be '1\.2', is missing/,
        ],
        [
            'app/servicebus.bicep',
            /^\s+requiresDuplicateDetection: true\n/m,
            '',
            /queues properties\.requiresDuplicateDetection/,
        ],
        [
            'main.bicep',
            "param duplicateDetectionWindow string = 'P1D'",
            "param duplicateDetectionWindow string = 'PT10M'",
            /duplicateDetectionHistoryTimeWindow/,
        ],
        ['app/servicebus.bicep', 'maxDeliveryCount: 10', 'maxDeliveryCount: 2000', /properties\.maxDeliveryCount/],
        ['app/servicebus.bicep', "lockDuration: 'PT1M'", "lockDuration: 'PT5M'", /properties\.lockDuration/],
        [
            'app/servicebus.bicep',
            /^\s+deadLetteringOnMessageExpiration: true\n/m,
            '',
            /deadLetteringOnMessageExpiration/,
        ],
        ['app/cosmos.bicep', /^\s+disableLocalAuth: true\n/m, '', /databaseAccounts properties\.disableLocalAuth/],
        [
            'app/cosmos.bicep',
            'disableKeyBasedMetadataWriteAccess: true',
            'disableKeyBasedMetadataWriteAccess: false',
            /disableKeyBasedMetadataWriteAccess/,
        ],
        ['app/cosmos.bicep', "minimalTlsVersion: 'Tls12'", "minimalTlsVersion: 'Tls'", /minimalTlsVersion/],
        ['app/cosmos.bicep', "type: 'Continuous'", "type: 'Periodic'", /backupPolicy\.type/],
        ['app/cosmos.bicep', 'defaultTtl: -1', 'defaultTtl: 3600', /defaultTtl/],
        ['app/monitoring.bicep', /^\s+DisableLocalAuth: true\n/m, '', /components properties\.DisableLocalAuth/],
        ['app/storage.bicep', 'allowSharedKeyAccess: false', 'allowSharedKeyAccess: true', /allowSharedKeyAccess/],
        ['app/storage.bicep', 'allowBlobPublicAccess: false', 'allowBlobPublicAccess: true', /allowBlobPublicAccess/],
        [
            'app/storage.bicep',
            "minimumTlsVersion: 'TLS1_2'",
            "minimumTlsVersion: 'TLS1_0'",
            /storageAccounts properties\.minimumTlsVersion/,
        ],
        [APP, /^\s+httpsOnly: true\n/m, '', /properties\.httpsOnly/],
        [APP, "      minTlsVersion: '1.2'", "      minTlsVersion: '1.0'", /siteConfig\.minTlsVersion/],
        [APP, 'remoteDebuggingEnabled: false', 'remoteDebuggingEnabled: true', /remoteDebuggingEnabled/],
        [APP, "name: 'FC1'", "name: 'Y1'", /serverfarms sku\.name/],
        [APP, "type: 'UserAssigned'", "type: 'SystemAssigned'", /identity\.type/],
        [
            APP,
            "unauthenticatedClientAction: 'Return401'",
            "unauthenticatedClientAction: 'AllowAnonymous'",
            /unauthenticatedClientAction/,
        ],
        [APP, /allow: false/, 'allow: true', /basicPublishingCredentialsPolicies properties\.allow/],
        [
            'app/keyvault.bicep',
            'enableRbacAuthorization: true',
            'enableRbacAuthorization: false',
            /enableRbacAuthorization/,
        ],
        ['app/keyvault.bicep', /^\s+enablePurgeProtection: true\n/m, '', /enablePurgeProtection/],
    ];

    it.each(cases)('%s: %s -> %s is reported', (file, find, replace, expected) => {
        const problems = checkSecurity(loadTemplate(mutate(sources, file, find, replace)));
        expect(problems.join('\n')).toMatch(expected);
    });

    it('a missing resource type is reported', () => {
        const mutated = mutate(sources, 'main.bicep', /module keyVault 'app\/keyvault\.bicep' = \{[\s\S]*?\n\}\n/, '');
        const withoutVaultUses = mutate(mutated, 'main.bicep', /^.*keyVault\.outputs.*\n/gm, '');
        expect(checkSecurity(loadTemplate(withoutVaultUses)).join('\n')).toMatch(
            /no Microsoft\.KeyVault\/vaults declared/,
        );
    });
});

describe('the checks catch what Flex Consumption rejects', () => {
    it.each(FLEX_REJECTED_SITE_PROPERTIES)('siteConfig.%s is reported', (name) => {
        const mutated = mutate(
            sources,
            APP,
            '      http20Enabled: true\n',
            `      http20Enabled: true\n      ${name}: null\n`,
        );
        expect(checkFlexConsumption(loadTemplate(mutated)).join('\n')).toContain(
            `properties.siteConfig.${name} is not supported on Flex Consumption`,
        );
    });

    it('a rejected property on the site itself, in any case, is reported', () => {
        const mutated = mutate(
            sources,
            APP,
            '    httpsOnly: true\n',
            '    httpsOnly: true\n    vnetrouteallenabled: true\n',
        );
        expect(checkFlexConsumption(loadTemplate(mutated)).join('\n')).toMatch(
            /properties\.vnetrouteallenabled is not supported on Flex Consumption \(vnetRouteAllEnabled\)/,
        );
    });

    it.each(FLEX_REJECTED_APP_SETTINGS)('app setting %s is reported', (name) => {
        const mutated = mutate(
            sources,
            APP,
            "FUNCTIONS_NODE_BLOCK_ON_ENTRY_POINT_ERROR: 'true'",
            `FUNCTIONS_NODE_BLOCK_ON_ENTRY_POINT_ERROR: 'true'\n      ${name}: 'x'`,
        );
        expect(checkFlexConsumption(loadTemplate(mutated))).toContain(
            `app setting ${name} is not supported on Flex Consumption`,
        );
    });
});

describe('the Event Grid check catches a weaker topic, role, setting or alert', () => {
    it('a topic with keys on, or not in the CloudEvents schema, fails the baseline', () => {
        const keys = mutate(sources, 'app/eventgrid.bicep', 'disableLocalAuth: true', 'disableLocalAuth: false');
        expect(checkSecurity(loadTemplate(keys)).join('\n')).toMatch(/EventGrid\/topics.*disableLocalAuth/);
        const schema = mutate(
            sources,
            'app/eventgrid.bicep',
            "inputSchema: 'CloudEventSchemaV1_0'",
            "inputSchema: 'EventGridSchema'",
        );
        expect(checkSecurity(loadTemplate(schema)).join('\n')).toMatch(/inputSchema/);
    });

    it('EventGrid Data Sender on the resource group instead of the topic is reported', () => {
        const mutated = mutate(
            sources,
            'app/eventgrid.bicep',
            /(resource appSenderOnTopic[\s\S]*?)scope: topic/,
            '$1scope: resourceGroup()',
        );
        expect(checkEventGrid(loadTemplate(mutated)).join('\n')).toMatch(/must be scoped to the topic/);
    });

    it('no endpoint app setting, or no alert on dead-lettered events, is reported', () => {
        const setting = mutate(
            sources,
            'app/functionapp.bicep',
            /\n\s+EVENT_GRID_TOPIC_ENDPOINT: eventGridTopicEndpoint/,
            '',
        );
        expect(checkEventGrid(loadTemplate(setting))).toContain('no EVENT_GRID_TOPIC_ENDPOINT app setting');
        const alert = mutate(sources, 'app/alerts.bicep', ", 'DeadLetteredCount']", ']');
        expect(checkEventGrid(loadTemplate(alert))).toContain("no alert on the topic's DeadLetteredCount");
    });

    it('a subscription without dead-lettering is reported', () => {
        const mutated = mutate(sources, 'app/eventgrid.bicep', "endpointType: 'StorageBlob'", "endpointType: 'None'");
        expect(checkEventGrid(loadTemplate(mutated)).join('\n')).toMatch(/no dead-lettering to blob storage/);
    });
});

describe('the checks catch missing alerts, secrets, tags and parameters', () => {
    it('a dead-letter alert without the EntityName split is reported', () => {
        const mutated = mutate(sources, 'app/alerts.bicep', "name: 'EntityName'", "name: 'OperationName'");
        expect(checkAlerts(loadTemplate(mutated))).toContain(
            'no alert on DeadletteredMessages > 0 split by EntityName',
        );
    });

    it.each(LOG_ALERT_EVENTS)('a log alert query without %s is reported', (event) => {
        const mutated = mutate(sources, 'app/alerts.bicep', `"${event}"`, '"other.event"');
        expect(checkAlerts(loadTemplate(mutated))).toContain(`no log alert on the ${event} event`);
    });

    it('a stuck-referral alert that ignores Connecting is reported', () => {
        const mutated = mutate(sources, 'app/alerts.bicep', '"Submitting", "Connecting")', '"Submitting")');
        expect(checkAlerts(loadTemplate(mutated))).toContain('the stuck-referral alert misses Connecting');
    });

    it('no stuck-referral alert is reported', () => {
        const mutated = mutate(sources, 'app/alerts.bicep', /resource stuckReferralAlert [\s\S]*?\n\}\n/, '');
        expect(checkAlerts(loadTemplate(mutated))).toContain('no log alert on referrals stuck short of a final status');
    });

    it('host.json sampling that can drop traces is reported', () => {
        const hostJson = readRootFile('host.json');
        expect(checkSampling(hostJson.replace('Request;Exception;Trace', 'Request;Exception'))).toEqual([
            'host.json sampling can drop the traces the log alerts query',
        ]);
        expect(checkSampling(hostJson.replace(/"samplingSettings": \{[^}]*\}/, '"samplingSettings": {}'))).toHaveLength(
            1,
        );
    });

    it('reading keys with listKeys() is reported', () => {
        const mutated = mutate(
            sources,
            'app/storage.bicep',
            'output name string = storage.name',
            'output name string = storage.name\noutput key string = storage.listKeys().keys[0].value',
        );
        expect(checkNoSecrets(loadTemplate(mutated)).join('\n')).toMatch(/listKeys\(\) reads keys/);
    });

    it('a secret parameter without @secure() is reported', () => {
        const mutated = mutate(
            sources,
            'main.bicep',
            'param enableEntraAuth bool = false',
            "param enableEntraAuth bool = false\nparam partnerApiClientSecret string = ''",
        );
        expect(checkNoSecrets(loadTemplate(mutated)).join('\n')).toMatch(
            /parameter partnerApiClientSecret must be @secure\(\)/,
        );
    });

    it('a resource without the azd-env-name tag is reported', () => {
        const mutated = mutate(sources, 'app/servicebus.bicep', /^\s+tags: tags\n/m, '');
        expect(checkTags(loadTemplate(mutated), 'api').join('\n')).toMatch(
            /servicebus\.bicep:\d+ namespace: no azd-env-name tag/,
        );
    });

    it('a function app without the azd-service-name tag is reported', () => {
        const mutated = mutate(sources, APP, "union(tags, { 'azd-service-name': 'api' })", 'tags');
        expect(checkTags(loadTemplate(mutated), 'api').join('\n')).toMatch(/azd-service-name tag must be 'api'/);
    });

    it('a required parameter missing from main.parameters.json is reported', () => {
        const parameters = sources.get('main.parameters.json')!.replace(/^.*"alertEmailAddress".*\n/m, '');
        expect(checkParameterFile(loadTemplate(sources), parameters)).toContain(
            'main.parameters.json does not set alertEmailAddress',
        );
    });
});

describe('checkAll', () => {
    it('stops at syntax errors and reports them', () => {
        const problems = problemsOf(
            mutate(sources, 'app/cosmos.bicep', 'disableLocalAuth: true', 'disableLocalAuth: true }'),
        );
        expect(problems.length).toBeGreaterThan(0);
        expect(problems.every((p) => p.startsWith('app/cosmos.bicep:'))).toBe(true);
    });
});
