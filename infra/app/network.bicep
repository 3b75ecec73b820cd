// Private networking (usePrivateNetworking in main.bicep): a virtual network the function app is integrated with,
// a private endpoint and a private DNS zone for each data service, so that Cosmos DB, Key Vault, Storage and Service
// Bus can turn public network access off. The HTTP API itself stays public: callers reach it from outside.

param name string
param location string
param tags object
param cosmosAccountId string
param keyVaultId string
param storageAccountId string
@description('The namespace must be Premium: Service Bus offers private endpoints on Premium only.')
param serviceBusNamespaceId string

// One endpoint per service (and per storage service the Functions host uses: blobs for leases and the deployment
// package, queues and tables for its own bookkeeping). The group id is the sub-resource the endpoint reaches.
var endpoints = [
  { key: 'cosmos', resourceId: cosmosAccountId, groupId: 'Sql', zone: 'privatelink.documents.azure.com' }
  { key: 'vault', resourceId: keyVaultId, groupId: 'vault', zone: 'privatelink.vaultcore.azure.net' }
  { key: 'blob', resourceId: storageAccountId, groupId: 'blob', zone: 'privatelink.blob.${environment().suffixes.storage}' }
  { key: 'queue', resourceId: storageAccountId, groupId: 'queue', zone: 'privatelink.queue.${environment().suffixes.storage}' }
  { key: 'table', resourceId: storageAccountId, groupId: 'table', zone: 'privatelink.table.${environment().suffixes.storage}' }
  { key: 'servicebus', resourceId: serviceBusNamespaceId, groupId: 'namespace', zone: 'privatelink.servicebus.windows.net' }
]

resource vnet 'Microsoft.Network/virtualNetworks@2024-05-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    addressSpace: {
      addressPrefixes: [
        '10.0.0.0/16'
      ]
    }
    subnets: [
      {
        // Flex Consumption integrates through a subnet delegated to Microsoft.App/environments.
        name: 'app'
        properties: {
          addressPrefix: '10.0.1.0/24'
          delegations: [
            {
              name: 'flex-consumption'
              properties: {
                serviceName: 'Microsoft.App/environments'
              }
            }
          ]
        }
      }
      {
        name: 'private-endpoints'
        properties: {
          addressPrefix: '10.0.2.0/24'
          privateEndpointNetworkPolicies: 'Disabled'
        }
      }
    ]
  }
}

resource zones 'Microsoft.Network/privateDnsZones@2024-06-01' = [
  for endpoint in endpoints: {
    name: endpoint.zone
    location: 'global'
    tags: tags
  }
]

resource zoneLinks 'Microsoft.Network/privateDnsZones/virtualNetworkLinks@2024-06-01' = [
  for (endpoint, i) in endpoints: {
    parent: zones[i]
    name: '${name}-link'
    location: 'global'
    tags: tags
    properties: {
      virtualNetwork: {
        id: vnet.id
      }
      registrationEnabled: false
    }
  }
]

resource privateEndpoints 'Microsoft.Network/privateEndpoints@2024-05-01' = [
  for endpoint in endpoints: {
    name: 'pe-${endpoint.key}-${name}'
    location: location
    tags: tags
    properties: {
      subnet: {
        id: vnet.properties.subnets[1].id
      }
      privateLinkServiceConnections: [
        {
          name: endpoint.key
          properties: {
            privateLinkServiceId: endpoint.resourceId
            groupIds: [
              endpoint.groupId
            ]
          }
        }
      ]
    }
  }
]

resource dnsZoneGroups 'Microsoft.Network/privateEndpoints/privateDnsZoneGroups@2024-05-01' = [
  for (endpoint, i) in endpoints: {
    parent: privateEndpoints[i]
    name: 'default'
    properties: {
      privateDnsZoneConfigs: [
        {
          name: endpoint.key
          properties: {
            privateDnsZoneId: zones[i].id
          }
        }
      ]
    }
  }
]

output appSubnetId string = vnet.properties.subnets[0].id
