// The one identity of the function app: every Azure dependency (storage, Service Bus, Cosmos DB, Key Vault,
// Application Insights) is reached with it, and every role assignment in the other modules names it.

param name string
param location string
param tags object

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: name
  location: location
  tags: tags
}

output id string = identity.id
output name string = identity.name
output clientId string = identity.properties.clientId
output principalId string = identity.properties.principalId
