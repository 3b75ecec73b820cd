// The function app on Flex Consumption: plan, site, app settings and (optionally) Entra ID authentication.
// Every app setting the code reads in Azure (shared/platform/config.ts, azure: 'required') is set here, identity-based only.

param planName string
param name string
param location string
param tags object
@description('Resource id and client id of the user-assigned identity the app runs as.')
param identityId string
param identityClientId string
@allowed([
  '20'
  '22'
])
param nodeVersion string
@description('Upper bound of instances per function group. Each Service Bus trigger scales as its own group, so concurrency toward the Partner API is at most this x host.json maxConcurrentCalls for each queue function.')
@minValue(1)
@maxValue(1000)
param maximumInstanceCount int
@description('Always-ready instances for the HTTP functions (0 = scale from zero).')
@minValue(0)
param alwaysReadyHttpInstances int
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int

// Dependencies, all reached with the identity.
param storageAccountName string
param storageBlobEndpoint string
param deploymentContainerName string
param serviceBusFullyQualifiedNamespace string
param cosmosEndpoint string
param applicationInsightsConnectionString string
param keyVaultUri string
param partnerApiClientSecretName string
param partnerApiRefreshTokenName string
@description('Subnet (delegated to Microsoft.App/environments) the app reaches private endpoints through; empty for none.')
param virtualNetworkSubnetId string

// Partner API (App+User auth with a refresh token; the secrets stay in Key Vault).
param partnerApiTenantId string
param partnerApiClientId string

// Entra ID authentication in front of the HTTP API, in addition to function keys.
param enableEntraAuth bool
@description('Application (client) id of the app registration that represents the API.')
param entraAuthClientId string
@description('Accepted token audiences; defaults to api://<client id>.')
param entraAuthAllowedAudiences array
@description('The Event Grid topic endpoint the app publishes outcome events to.')
param eventGridTopicEndpoint string

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    name: 'FC1'
    tier: 'FlexConsumption'
  }
  properties: {
    reserved: true
  }
}

resource site 'Microsoft.Web/sites@2024-04-01' = {
  name: name
  location: location
  tags: union(tags, { 'azd-service-name': 'api' })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    keyVaultReferenceIdentity: identityId
    virtualNetworkSubnetId: empty(virtualNetworkSubnetId) ? null : virtualNetworkSubnetId
    siteConfig: {
      minTlsVersion: '1.2'
      scmMinTlsVersion: '1.2'
      // No ftpsState: Flex Consumption has no FTP and rejects the property (test/infra checks Microsoft's list).
      remoteDebuggingEnabled: false
      http20Enabled: true
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storageBlobEndpoint}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: instanceMemoryMB
        alwaysReady: alwaysReadyHttpInstances > 0 ? [{ name: 'http', instanceCount: alwaysReadyHttpInstances }] : []
      }
      runtime: {
        name: 'node'
        version: nodeVersion
      }
    }
  }

  // The whole set of app settings (this resource replaces them). No keys, no connection strings.
  resource appSettings 'config' = {
    name: 'appsettings'
    properties: {
      // Host storage, with the identity.
      AzureWebJobsStorage__accountName: storageAccountName
      AzureWebJobsStorage__credential: 'managedidentity'
      AzureWebJobsStorage__clientId: identityClientId
      // Service Bus connection "ServiceBusConnection" (triggers and the sender).
      ServiceBusConnection__fullyQualifiedNamespace: serviceBusFullyQualifiedNamespace
      ServiceBusConnection__credential: 'managedidentity'
      ServiceBusConnection__clientId: identityClientId
      // Cosmos DB connection "CosmosDbConnection".
      CosmosDbConnection__accountEndpoint: cosmosEndpoint
      CosmosDbConnection__credential: 'managedidentity'
      CosmosDbConnection__clientId: identityClientId
      // Application Insights with Entra ID authentication (local auth is off on the component).
      APPLICATIONINSIGHTS_CONNECTION_STRING: applicationInsightsConnectionString
      APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'Authorization=AAD;ClientId=${identityClientId}'
      // Partner API: identifiers here, secrets as Key Vault references resolved with keyVaultReferenceIdentity.
      PARTNER_API_AUTH: 'refresh-token'
      PARTNER_API_TENANT_ID: partnerApiTenantId
      PARTNER_API_CLIENT_ID: partnerApiClientId
      PARTNER_API_CLIENT_SECRET: '@Microsoft.KeyVault(SecretUri=${keyVaultUri}secrets/${partnerApiClientSecretName}/)'
      PARTNER_API_REFRESH_TOKEN: '@Microsoft.KeyVault(SecretUri=${keyVaultUri}secrets/${partnerApiRefreshTokenName}/)'
      // The token cache (rotated refresh tokens) is read and written by the app itself, with the identity.
      PARTNER_API_TOKEN_CACHE_VAULT_URL: keyVaultUri
      PARTNER_API_TOKEN_CACHE_CLIENT_ID: identityClientId
      // Outcome events to the Event Grid topic, published with the identity (EventGrid Data Sender on the topic).
      EVENT_GRID_TOPIC_ENDPOINT: eventGridTopicEndpoint
      EVENT_GRID_CLIENT_ID: identityClientId
      EVENT_SOURCE: '/cosell-referrals/${name}'
      // Surface entry-point load errors instead of running with no functions.
      FUNCTIONS_NODE_BLOCK_ON_ENTRY_POINT_ERROR: 'true'
    }
  }

  // No basic (user name + password) publishing: deployments authenticate with Entra ID.
  resource ftpPublishing 'basicPublishingCredentialsPolicies' = {
    name: 'ftp'
    properties: {
      allow: false
    }
  }

  resource scmPublishing 'basicPublishingCredentialsPolicies' = {
    name: 'scm'
    properties: {
      allow: false
    }
  }

  // Callers need an Entra ID bearer token for this API (401 without one) as well as a function key.
  resource authSettings 'config' = if (enableEntraAuth) {
    name: 'authsettingsV2'
    properties: {
      platform: {
        enabled: true
      }
      globalValidation: {
        requireAuthentication: true
        unauthenticatedClientAction: 'Return401'
      }
      httpSettings: {
        requireHttps: true
      }
      identityProviders: {
        azureActiveDirectory: {
          enabled: true
          registration: {
            clientId: entraAuthClientId
            openIdIssuer: '${environment().authentication.loginEndpoint}${tenant().tenantId}/v2.0'
          }
          validation: {
            allowedAudiences: empty(entraAuthAllowedAudiences) ? ['api://${entraAuthClientId}'] : entraAuthAllowedAudiences
          }
        }
      }
    }
  }
}

output name string = site.name
output uri string = 'https://${site.properties.defaultHostName}'
