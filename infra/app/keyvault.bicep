// Key Vault for the Partner API credentials, which only the operator sets (see docs/deploy.md): the app reads them
// through Key Vault references, and writes its token cache back. Every role here is scoped to one secret, so the app
// can read the client secret but never overwrite it, and can write only the token cache.

param name string
param location string
param tags object
@description('Principal id of the app identity.')
param appPrincipalId string
@description('Let the app identity write the token-cache secret (Secrets Officer on that secret only).')
param enableTokenCacheWriter bool
@description('Object id of the deploying principal, given Secrets Officer on the three secrets; empty for none.')
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
@description('Names of the secrets: the client secret, the refresh token from the consent, the app\'s token cache.')
param clientSecretName string
param refreshTokenName string
param tokenCacheName string
@description('False on the first provision only: the secrets are then created with a placeholder value, so that roles can be scoped to them. Every later provision must leave their values alone (azure.yaml sets PARTNER_API_SECRETS_EXIST after provisioning).')
param secretsExist bool
@description('Public network access off: reached through its private endpoint only (infra/app/network.bicep).')
param privateNetworking bool

var keyVaultSecretsUser = '4633458b-17de-408a-b874-0445c86b69e6'
var keyVaultSecretsOfficer = 'b86a8fe4-44ce-4948-aee5-eccb2c155cd7'
// Not a secret: what the Key Vault references resolve to until the operator sets the real values. The token cache
// ignores it (it is not a serialized cache).
var placeholderValue = 'not-set: see docs/deploy.md'

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
    publicNetworkAccess: privateNetworking ? 'Disabled' : 'Enabled'
    networkAcls: {
      defaultAction: privateNetworking ? 'Deny' : 'Allow'
      bypass: privateNetworking ? 'None' : 'AzureServices'
    }
  }
}

// A role can be scoped to a secret only once the secret exists, and a secret declared with a value gets a new version
// (the placeholder) on every deployment that declares it. So the secrets are declared only when they do not exist
// yet, and referenced as existing otherwise.
resource placeholderSecrets 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = [
  for secretName in [clientSecretName, refreshTokenName, tokenCacheName]: if (!secretsExist) {
    parent: vault
    name: secretName
    tags: tags
    properties: {
      value: placeholderValue
    }
  }
]

resource clientSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' existing = {
  parent: vault
  name: clientSecretName
}

resource refreshToken 'Microsoft.KeyVault/vaults/secrets@2023-07-01' existing = {
  parent: vault
  name: refreshTokenName
}

resource tokenCache 'Microsoft.KeyVault/vaults/secrets@2023-07-01' existing = {
  parent: vault
  name: tokenCacheName
}

// Key Vault references (PARTNER_API_CLIENT_SECRET, PARTNER_API_REFRESH_TOKEN) resolve with the app identity: read only.
resource appClientSecretUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(clientSecret.id, appPrincipalId, keyVaultSecretsUser)
  scope: clientSecret
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', keyVaultSecretsUser)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
  dependsOn: [
    placeholderSecrets
  ]
}

resource appRefreshTokenUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(refreshToken.id, appPrincipalId, keyVaultSecretsUser)
  scope: refreshToken
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', keyVaultSecretsUser)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
  dependsOn: [
    placeholderSecrets
  ]
}

// The token cache: Secrets Officer on this one secret lets the app add versions, list them and disable the old ones
// (shared/partnerApi/tokenProviders/keyVaultTokenCache.ts). Without the writer, it only reads it.
var tokenCacheRole = enableTokenCacheWriter ? keyVaultSecretsOfficer : keyVaultSecretsUser

resource appTokenCacheRole 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(tokenCache.id, appPrincipalId, tokenCacheRole)
  scope: tokenCache
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', tokenCacheRole)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
  dependsOn: [
    placeholderSecrets
  ]
}

// Only with allowDeployerDataAccess: with RBAC authorization even a subscription Owner cannot set secrets without a
// data-plane role. Without it, the operator grants themselves this role for the time of setting the secrets
// (docs/deploy.md): `azd up` itself needs none.
resource deployerClientSecretOfficer 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(deployerPrincipalId)) {
  name: guid(clientSecret.id, deployerPrincipalId, keyVaultSecretsOfficer)
  scope: clientSecret
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', keyVaultSecretsOfficer)
    principalId: deployerPrincipalId
    principalType: deployerPrincipalType
  }
  dependsOn: [
    placeholderSecrets
  ]
}

resource deployerRefreshTokenOfficer 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(deployerPrincipalId)) {
  name: guid(refreshToken.id, deployerPrincipalId, keyVaultSecretsOfficer)
  scope: refreshToken
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', keyVaultSecretsOfficer)
    principalId: deployerPrincipalId
    principalType: deployerPrincipalType
  }
  dependsOn: [
    placeholderSecrets
  ]
}

resource deployerTokenCacheOfficer 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(deployerPrincipalId)) {
  name: guid(tokenCache.id, deployerPrincipalId, keyVaultSecretsOfficer)
  scope: tokenCache
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', keyVaultSecretsOfficer)
    principalId: deployerPrincipalId
    principalType: deployerPrincipalType
  }
  dependsOn: [
    placeholderSecrets
  ]
}

output id string = vault.id
output name string = vault.name
output uri string = vault.properties.vaultUri
