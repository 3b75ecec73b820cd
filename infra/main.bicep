// The referral pipeline on Azure: read this file top to bottom to see every resource and every permission.
//
//   identity      one user-assigned identity for the app; every role below is granted to it
//   monitoring    Log Analytics + Application Insights (local auth off)   role: Monitoring Metrics Publisher
//   storage       host storage + deployment container (shared keys off)   roles: Blob Data Owner, Table Data Contributor
//   servicebus    namespace (SAS off) + queues                            roles: Data Sender/Receiver on each queue
//   cosmos        account (keys off) + database + container               role: Built-in Data Contributor (database)
//   keyvault      vault (RBAC) + the three Partner API secrets            roles per secret: Secrets User on the client
//                                                                         secret and refresh token, Secrets Officer on
//                                                                         the token cache only
//   network       (usePrivateNetworking) VNet, private endpoints + DNS zones; public access off on the four above
//   functionapp   Flex Consumption plan + site + app settings (+ optional Entra ID auth, VNet integration)
//
// The deploying principal gets no data access unless allowDeployerDataAccess (docs/deploy.md): `azd up` needs none.
//   alerts        action group, dead-letter and function failure alerts, log alerts (error events, stuck referrals)
targetScope = 'subscription'

@minLength(1)
@maxLength(64)
@description('Name of the azd environment; part of every resource name.')
param environmentName string

@minLength(1)
@description('Region of every resource (one that offers Flex Consumption).')
@metadata({
  azd: {
    type: 'location'
  }
})
param location string

@description('Object id of the deploying user (azd sets AZURE_PRINCIPAL_ID); given data roles only with allowDeployerDataAccess.')
param principalId string = ''

@allowed([
  'User'
  'ServicePrincipal'
  'Group'
])
param principalType string = 'User'

@description('Give the deploying user standing data access: Cosmos DB Built-in Data Contributor (local runs against Azure) and Key Vault Secrets Officer on the three Partner API secrets. Off by default: `azd up` needs neither, and docs/deploy.md shows how to grant it for a while instead.')
param allowDeployerDataAccess bool = false

@description('Private endpoints for Cosmos DB, Key Vault, Storage and Service Bus, public network access off on each, and the app integrated with the virtual network. Off by default: it moves Service Bus to Premium (the only tier with private endpoints, billed per messaging unit and hour) and cuts local runs and operator commands off these services unless run from inside the network.')
param usePrivateNetworking bool = false

// Function app
@allowed([
  '20'
  '22'
])
param nodeVersion string = '22'

@description('Maximum instances per function group (each Service Bus trigger scales as its own group): concurrency toward the Partner API is at most this x host.json maxConcurrentCalls for each queue function.')
@minValue(1)
@maxValue(1000)
param maximumInstanceCount int = 40

@description('Always-ready instances for the HTTP functions (0 = scale from zero, billed only when used).')
@minValue(0)
param alwaysReadyHttpInstances int = 0

@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 2048

// Service Bus
@description('Duplicate detection window of the queues (ISO 8601, up to P7D). It only applies when a queue is created.')
param duplicateDetectionWindow string = 'P1D'

// Cosmos DB
@allowed([
  'Serverless'
  'Provisioned'
])
param cosmosCapacityMode string = 'Serverless'

@description('Autoscale maximum RU/s of the container when cosmosCapacityMode is Provisioned.')
@minValue(1000)
param cosmosAutoscaleMaxThroughput int = 1000

// Key Vault
@description('Let the app identity write the Partner API token-cache secret (Secrets Officer on that secret only).')
param enableTokenCacheWriter bool = true

@description('Whether the Partner API secrets exist in the vault. False on the first provision: they are created with a placeholder value (roles can only be scoped to a secret that exists). The postprovision hook in azure.yaml sets PARTNER_API_SECRETS_EXIST=true, so later provisions never touch their values.')
param partnerApiSecretsExist bool = false

@description('Days a deleted vault stays recoverable (7-90). Fixed when the vault is created: a later change fails the deployment.')
@minValue(7)
@maxValue(90)
param keyVaultSoftDeleteRetentionInDays int = 90

// Partner API (identifiers only; the secrets are set in Key Vault by the operator, see docs/deploy.md)
@description('Entra tenant id of the partner.')
param partnerApiTenantId string

@description('Application (client) id of the partner app registration used with the refresh token.')
param partnerApiClientId string

// Outcome events (Event Grid, docs/events.md): one optional subscription; consumers may add their own.
@description('A webhook (https) the Event Grid topic delivers outcome events to; empty: no webhook subscription.')
param eventSubscriptionWebhookUrl string = ''

@description('Resource id of a Service Bus queue the topic delivers outcome events to (used when no webhook is set).')
param eventSubscriptionServiceBusQueueId string = ''

// Monitoring
@description('Email address that receives the alerts.')
param alertEmailAddress string

@description('Failed invocations in 15 minutes above which the failure alert fires.')
@minValue(0)
param functionFailureThreshold int = 0

@description('Minutes a referral may stay short of a final status (Queued, Submitting, Connecting) before alerting.')
@minValue(15)
param stuckReferralMinutes int = 60

// Entra ID authentication in front of the HTTP API
param enableEntraAuth bool = false

@description('Application (client) id of the app registration representing the API (when enableEntraAuth).')
param entraAuthClientId string = ''

@description('Accepted token audiences (default api://<entraAuthClientId>).')
param entraAuthAllowedAudiences array = []

// Names the code agrees with (shared/platform/names.ts); test/infra checks them.
var referralsQueueName = 'referrals'
var connectionsQueueName = 'referral-connections'
var updatesQueueName = 'referral-updates'
var partnerCenterEventsQueueName = 'partner-center-events'
var cosmosDatabaseName = 'referrals'
var cosmosContainerName = 'referrals'
var cosmosPartitionKeyPath = '/id'
// Key Vault secrets the operator sets (the token cache is written by the app and by the consent command).
var partnerApiClientSecretName = 'partner-api-client-secret'
var partnerApiRefreshTokenName = 'partner-api-refresh-token'
var partnerApiTokenCacheName = 'partner-api-token-cache'

var abbrs = loadJsonContent('./abbreviations.json')
var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var tags = {
  'azd-env-name': environmentName
}
var functionAppName = '${abbrs.webSitesFunctions}api-${resourceToken}'
var deploymentContainerName = 'app-package-${take(functionAppName, 32)}'

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: '${abbrs.resourcesResourceGroups}${environmentName}'
  location: location
  tags: tags
}

module identity 'app/identity.bicep' = {
  name: 'identity'
  scope: rg
  params: {
    name: '${abbrs.managedIdentityUserAssignedIdentities}api-${resourceToken}'
    location: location
    tags: tags
  }
}

module monitoring 'app/monitoring.bicep' = {
  name: 'monitoring'
  scope: rg
  params: {
    logAnalyticsName: '${abbrs.operationalInsightsWorkspaces}${resourceToken}'
    applicationInsightsName: '${abbrs.insightsComponents}${resourceToken}'
    location: location
    tags: tags
    appPrincipalId: identity.outputs.principalId
  }
}

module storage 'app/storage.bicep' = {
  name: 'storage'
  scope: rg
  params: {
    name: '${abbrs.storageStorageAccounts}${resourceToken}'
    location: location
    tags: tags
    deploymentContainerName: deploymentContainerName
    appPrincipalId: identity.outputs.principalId
    privateNetworking: usePrivateNetworking
  }
}

module serviceBus 'app/servicebus.bicep' = {
  name: 'servicebus'
  scope: rg
  params: {
    name: '${abbrs.serviceBusNamespaces}${resourceToken}'
    location: location
    tags: tags
    queueNames: [
      referralsQueueName
      connectionsQueueName
      updatesQueueName
      partnerCenterEventsQueueName
    ]
    duplicateDetectionWindow: duplicateDetectionWindow
    appPrincipalId: identity.outputs.principalId
    privateNetworking: usePrivateNetworking
  }
}

module cosmos 'app/cosmos.bicep' = {
  name: 'cosmos'
  scope: rg
  params: {
    name: '${abbrs.documentDBDatabaseAccounts}${resourceToken}'
    location: location
    tags: tags
    databaseName: cosmosDatabaseName
    containerName: cosmosContainerName
    partitionKeyPath: cosmosPartitionKeyPath
    capacityMode: cosmosCapacityMode
    autoscaleMaxThroughput: cosmosAutoscaleMaxThroughput
    appPrincipalId: identity.outputs.principalId
    deployerPrincipalId: allowDeployerDataAccess ? principalId : ''
    privateNetworking: usePrivateNetworking
  }
}

module keyVault 'app/keyvault.bicep' = {
  name: 'keyvault'
  scope: rg
  params: {
    name: '${abbrs.keyVaultVaults}${resourceToken}'
    location: location
    tags: tags
    appPrincipalId: identity.outputs.principalId
    enableTokenCacheWriter: enableTokenCacheWriter
    deployerPrincipalId: allowDeployerDataAccess ? principalId : ''
    deployerPrincipalType: principalType
    softDeleteRetentionInDays: keyVaultSoftDeleteRetentionInDays
    clientSecretName: partnerApiClientSecretName
    refreshTokenName: partnerApiRefreshTokenName
    tokenCacheName: partnerApiTokenCacheName
    secretsExist: partnerApiSecretsExist
    privateNetworking: usePrivateNetworking
  }
}

module eventGrid 'app/eventgrid.bicep' = {
  name: 'eventgrid'
  scope: rg
  params: {
    name: '${abbrs.eventGridDomainsTopics}${resourceToken}'
    location: location
    tags: tags
    appPrincipalId: identity.outputs.principalId
    subscriptionWebhookUrl: eventSubscriptionWebhookUrl
    subscriptionServiceBusQueueId: eventSubscriptionServiceBusQueueId
    deadLetterStorageAccountName: storage.outputs.name
    deadLetterContainerName: 'event-dead-letters'
  }
}

module network 'app/network.bicep' = if (usePrivateNetworking) {
  name: 'network'
  scope: rg
  params: {
    name: '${abbrs.networkVirtualNetworks}${resourceToken}'
    location: location
    tags: tags
    cosmosAccountId: cosmos.outputs.id
    keyVaultId: keyVault.outputs.id
    storageAccountId: storage.outputs.id
    serviceBusNamespaceId: serviceBus.outputs.id
  }
}

module functionApp 'app/functionapp.bicep' = {
  name: 'functionapp'
  scope: rg
  params: {
    planName: '${abbrs.webServerFarms}${resourceToken}'
    name: functionAppName
    location: location
    tags: tags
    identityId: identity.outputs.id
    identityClientId: identity.outputs.clientId
    nodeVersion: nodeVersion
    maximumInstanceCount: maximumInstanceCount
    alwaysReadyHttpInstances: alwaysReadyHttpInstances
    instanceMemoryMB: instanceMemoryMB
    storageAccountName: storage.outputs.name
    storageBlobEndpoint: storage.outputs.blobEndpoint
    deploymentContainerName: deploymentContainerName
    serviceBusFullyQualifiedNamespace: serviceBus.outputs.fullyQualifiedNamespace
    cosmosEndpoint: cosmos.outputs.endpoint
    applicationInsightsConnectionString: monitoring.outputs.applicationInsightsConnectionString
    keyVaultUri: keyVault.outputs.uri
    partnerApiClientSecretName: partnerApiClientSecretName
    partnerApiRefreshTokenName: partnerApiRefreshTokenName
    virtualNetworkSubnetId: usePrivateNetworking ? network.outputs.appSubnetId : ''
    partnerApiTenantId: partnerApiTenantId
    partnerApiClientId: partnerApiClientId
    enableEntraAuth: enableEntraAuth
    entraAuthClientId: entraAuthClientId
    entraAuthAllowedAudiences: entraAuthAllowedAudiences
    eventGridTopicEndpoint: eventGrid.outputs.endpoint
  }
}

module alerts 'app/alerts.bicep' = {
  name: 'alerts'
  scope: rg
  params: {
    actionGroupName: '${abbrs.insightsActionGroups}${resourceToken}'
    deadLetterAlertName: '${abbrs.insightsMetricAlerts}deadletter-${resourceToken}'
    functionFailureAlertName: '${abbrs.insightsMetricAlerts}failures-${resourceToken}'
    tags: tags
    alertEmailAddress: alertEmailAddress
    serviceBusNamespaceId: serviceBus.outputs.id
    applicationInsightsId: monitoring.outputs.applicationInsightsId
    functionFailureThreshold: functionFailureThreshold
    location: location
    logEventAlertName: '${abbrs.insightsScheduledQueryRules}events-${resourceToken}'
    stuckReferralAlertName: '${abbrs.insightsScheduledQueryRules}stuck-${resourceToken}'
    stuckReferralMinutes: stuckReferralMinutes
    eventGridTopicId: eventGrid.outputs.id
    eventDeliveryAlertName: '${abbrs.insightsMetricAlerts}events-${resourceToken}'
  }
}

// Outputs azd writes to .azure/<env>/.env (no secrets: the vault holds those).
output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_FUNCTION_NAME string = functionApp.outputs.name
output SERVICE_API_NAME string = functionApp.outputs.name
output SERVICE_API_URI string = functionApp.outputs.uri
output AZURE_MANAGED_IDENTITY_CLIENT_ID string = identity.outputs.clientId
output SERVICEBUS_FULLY_QUALIFIED_NAMESPACE string = serviceBus.outputs.fullyQualifiedNamespace
output COSMOS_ACCOUNT_ENDPOINT string = cosmos.outputs.endpoint
output AZURE_KEY_VAULT_NAME string = keyVault.outputs.name
output AZURE_KEY_VAULT_URI string = keyVault.outputs.uri
output EVENT_GRID_TOPIC_ENDPOINT string = eventGrid.outputs.endpoint
output EVENT_GRID_TOPIC_PRINCIPAL_ID string = eventGrid.outputs.principalId
output APPLICATIONINSIGHTS_CONNECTION_STRING string = monitoring.outputs.applicationInsightsConnectionString
