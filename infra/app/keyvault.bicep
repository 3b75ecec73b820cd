// Key Vault for the Partner API credentials, which only the operator sets (see docs/deploy.md): the app reads them
// through Key Vault references, and (for the token-cache issue) writes its token cache back.

param name string
param location string
param tags object
@description('Principal id of the app identity.')
param appPrincipalId string
@description('Let the app identity write secrets (the Partner API token cache). See the note on the assignment.')
param enableTokenCacheWriter bool
@description('Object id of the deploying user, who sets the Partner API secrets after provisioning; empty for none.')
param deployerPrincipalId string
@allowed([
  'User'
  'ServicePrincipal'
  'Group'
])
param deployerPrincipalType string
@description('Days a deleted vault stays recoverable. Key Vault fixes it at creation: it cannot change once the vault exists.')
@minValue(7)
@maxValue(90)
param softDeleteRetentionInDays int

var keyVaultSecretsUser = '4633458b-17de-408a-b874-0445c86b69e6'
var keyVaultSecretsOfficer = 'b86a8fe4-44ce-4948-aee5-eccb2c155cd7'

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    tenantId: tenant().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: softDeleteRetentionInDays
    enablePurgeProtection: true
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      defaultAction: 'Allow'
      bypass: 'AzureServices'
    }
  }
}

// Key Vault references (PARTNER_API_CLIENT_SECRET, PARTNER_API_REFRESH_TOKEN) resolve with the app identity.
resource appSecretsUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, appPrincipalId, keyVaultSecretsUser)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', keyVaultSecretsUser)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// Writing the token cache needs Secrets Officer. Bicep can scope a role assignment to one secret, but only to a
// secret that exists, and declaring the secret here would reset its value (the cached, rotated refresh token) on
// every `azd provision`. The vault is therefore the scope: it holds only the three Partner API secrets, and purge
// protection keeps a deleted secret recoverable. Turn this off until the token cache is in use.
resource appSecretsOfficer 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (enableTokenCacheWriter) {
  name: guid(vault.id, appPrincipalId, keyVaultSecretsOfficer)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', keyVaultSecretsOfficer)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// With RBAC authorization, an Owner of the subscription cannot set secrets without a data-plane role.
resource deployerSecretsOfficer 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(deployerPrincipalId)) {
  name: guid(vault.id, deployerPrincipalId, keyVaultSecretsOfficer)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', keyVaultSecretsOfficer)
    principalId: deployerPrincipalId
    principalType: deployerPrincipalType
  }
}

output name string = vault.name
output uri string = vault.properties.vaultUri
