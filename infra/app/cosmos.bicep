// Cosmos DB for NoSQL: the `referrals` database and container, partitioned on the referral key.
// Keys are off (data-plane RBAC only) and metadata writes through keys are blocked, so everything the app needs is
// created here; the app identity (and, optionally, the deploying user) get Built-in Data Contributor on the database.

param name string
param location string
param tags object
param databaseName string
param containerName string
param partitionKeyPath string
@allowed([
  'Serverless'
  'Provisioned'
])
@description('Serverless (pay per request) or provisioned autoscale throughput on the container.')
param capacityMode string
@description('Autoscale maximum RU/s when capacityMode is Provisioned (the floor is a tenth of it).')
@minValue(1000)
param autoscaleMaxThroughput int
@description('Principal id of the app identity.')
param appPrincipalId string
@description('Object id of the deploying user; empty for none.')
param deployerPrincipalId string
@description('Public network access off: reached through its private endpoint only (infra/app/network.bicep).')
param privateNetworking bool

var serverless = capacityMode == 'Serverless'
// A data-plane role: sqlRoleDefinitions, not Microsoft.Authorization.
var cosmosDataContributor = '00000000-0000-0000-0000-000000000002'

resource account 'Microsoft.DocumentDB/databaseAccounts@2024-11-15' = {
  name: name
  location: location
  tags: tags
  kind: 'GlobalDocumentDB'
  properties: {
    databaseAccountOfferType: 'Standard'
    locations: [
      {
        locationName: location
        failoverPriority: 0
        isZoneRedundant: false
      }
    ]
    consistencyPolicy: {
      defaultConsistencyLevel: 'Session'
    }
    capabilities: serverless ? [{ name: 'EnableServerless' }] : []
    disableLocalAuth: true
    disableKeyBasedMetadataWriteAccess: true
    minimalTlsVersion: 'Tls12'
    publicNetworkAccess: privateNetworking ? 'Disabled' : 'Enabled'
    // Point-in-time restore; Microsoft's list of continuous-backup limitations does not exclude serverless accounts.
    backupPolicy: {
      type: 'Continuous'
      continuousModeProperties: {
        tier: 'Continuous7Days'
      }
    }
  }

  resource database 'sqlDatabases' = {
    name: databaseName
    properties: {
      resource: {
        id: databaseName
      }
    }

    resource container 'containers' = {
      name: containerName
      properties: {
        resource: {
          id: containerName
          partitionKey: {
            paths: [
              partitionKeyPath
            ]
            kind: 'Hash'
            version: 2
          }
          // TTL on, no default expiry: items live until they carry their own `ttl`.
          defaultTtl: -1
        }
        options: serverless ? {} : { autoscaleSettings: { maxThroughput: autoscaleMaxThroughput } }
      }
    }
  }
}

// Scoped to the database rather than the container: the SDK also reads database metadata, and the database holds
// only this container.
resource appDataContributor 'Microsoft.DocumentDB/databaseAccounts/sqlRoleAssignments@2024-11-15' = {
  parent: account
  name: guid(account.id, appPrincipalId, cosmosDataContributor)
  properties: {
    roleDefinitionId: '${account.id}/sqlRoleDefinitions/${cosmosDataContributor}'
    principalId: appPrincipalId
    scope: '${account.id}/dbs/${databaseName}'
  }
  dependsOn: [
    account::database
  ]
}

resource deployerDataContributor 'Microsoft.DocumentDB/databaseAccounts/sqlRoleAssignments@2024-11-15' = if (!empty(deployerPrincipalId)) {
  parent: account
  name: guid(account.id, deployerPrincipalId, cosmosDataContributor)
  properties: {
    roleDefinitionId: '${account.id}/sqlRoleDefinitions/${cosmosDataContributor}'
    principalId: deployerPrincipalId
    scope: '${account.id}/dbs/${databaseName}'
  }
  dependsOn: [
    account::database
  ]
}

output id string = account.id
output name string = account.name
output endpoint string = account.properties.documentEndpoint
