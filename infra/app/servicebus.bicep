// Service Bus namespace (Standard; Premium with private networking, the only tier with private endpoints) with the
// pipeline's queues. SAS (local) auth is off: the app sends and receives
// with its identity, and each role is granted on the queue, not the namespace.

param name string
param location string
param tags object
@description('Queues to create; the names the code uses (shared/platform/names.ts).')
param queueNames array
@description('How long a messageId is remembered for duplicate detection (ISO 8601). Fixed when a queue is created.')
param duplicateDetectionWindow string
@description('Principal id of the app identity.')
param appPrincipalId string
@description('Public network access off and Premium (one messaging unit): private endpoints need Premium.')
param privateNetworking bool

var serviceBusDataSender = '69a216fc-b8fb-44d8-bc22-1f3c2cd27a39'
var serviceBusDataReceiver = '4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0'

resource namespace 'Microsoft.ServiceBus/namespaces@2024-01-01' = {
  name: name
  location: location
  tags: tags
  sku: privateNetworking ? { name: 'Premium', tier: 'Premium', capacity: 1 } : { name: 'Standard', tier: 'Standard' }
  properties: {
    disableLocalAuth: true
    minimumTlsVersion: '1.2'
    publicNetworkAccess: privateNetworking ? 'Disabled' : 'Enabled'
  }
}

resource queues 'Microsoft.ServiceBus/namespaces/queues@2024-01-01' = [
  for queueName in queueNames: {
    parent: namespace
    name: queueName
    properties: {
      requiresDuplicateDetection: true
      duplicateDetectionHistoryTimeWindow: duplicateDetectionWindow
      lockDuration: 'PT1M'
      maxDeliveryCount: 10
      deadLetteringOnMessageExpiration: true
      defaultMessageTimeToLive: 'P14D'
      requiresSession: false
      enablePartitioning: false
    }
  }
]

// The app sends to and receives from every queue: intake sends to `referrals`, the submit worker reads it and
// re-sends scheduled retries to it, then sends to `referral-connections`, which the connect worker reads; the
// update intake (and publishers) send to `referral-updates`, which the update worker reads; the webhook receiver
// sends Partner Center's verified events to `partner-center-events`.
// Each assignment is scoped to one queue.
resource appSenderOnQueues 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for i in range(0, length(queueNames)): {
    name: guid(queues[i].id, appPrincipalId, serviceBusDataSender)
    scope: queues[i]
    properties: {
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', serviceBusDataSender)
      principalId: appPrincipalId
      principalType: 'ServicePrincipal'
    }
  }
]

resource appReceiverOnQueues 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for i in range(0, length(queueNames)): {
    name: guid(queues[i].id, appPrincipalId, serviceBusDataReceiver)
    scope: queues[i]
    properties: {
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', serviceBusDataReceiver)
      principalId: appPrincipalId
      principalType: 'ServicePrincipal'
    }
  }
]

output id string = namespace.id
output name string = namespace.name
// serviceBusEndpoint is https://<ns>.servicebus.windows.net:443/ (in every cloud); the host wants the bare name.
output fullyQualifiedNamespace string = replace(replace(namespace.properties.serviceBusEndpoint, 'https://', ''), ':443/', '')
