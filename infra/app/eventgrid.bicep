// The Event Grid custom topic the app publishes outcome events to (CloudEvents 1.0 input schema; docs/events.md).
// Keys (local auth) are off: the app publishes with its identity, which holds EventGrid Data Sender on this topic
// alone. Optionally one subscription: a webhook URL or a Service Bus queue, with Event Grid's retries (24 hours) and
// dead-lettering to a blob container of the app's storage account, written with the topic's own identity.

param name string
param location string
param tags object
@description('Principal id of the app identity (publishes).')
param appPrincipalId string
@description('A webhook (https) to deliver the events to; empty: none. It must answer the CloudEvents handshake.')
param subscriptionWebhookUrl string = ''
@description('Resource id of a Service Bus queue to deliver the events to; empty: none. Grant the topic identity (output) Azure Service Bus Data Sender on it.')
param subscriptionServiceBusQueueId string = ''
@description('Name of the storage account that receives dead-lettered events.')
param deadLetterStorageAccountName string
@description('Blob container for dead-lettered events (created here).')
param deadLetterContainerName string

var eventGridDataSender = 'd5a91429-5739-47e2-a06b-3470a27159e7'
var storageBlobDataContributor = 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'
var hasSubscription = !empty(subscriptionWebhookUrl) || !empty(subscriptionServiceBusQueueId)

resource topic 'Microsoft.EventGrid/topics@2025-02-15' = {
  name: name
  location: location
  tags: tags
  // Its own identity delivers to a Service Bus queue and writes dead letters (the storage refuses shared keys).
  identity: {
    type: 'SystemAssigned'
  }
  properties: {
    inputSchema: 'CloudEventSchemaV1_0'
    disableLocalAuth: true
    minimumTlsVersionAllowed: '1.2'
    publicNetworkAccess: 'Enabled'
  }
}

// The app publishes; nothing else.
resource appSenderOnTopic 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(topic.id, appPrincipalId, eventGridDataSender)
  scope: topic
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', eventGridDataSender)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: deadLetterStorageAccountName

  resource blobServices 'blobServices' existing = {
    name: 'default'
  }
}

resource deadLetterContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: storage::blobServices
  name: deadLetterContainerName
  properties: {
    publicAccess: 'None'
  }
}

// The topic writes dead-lettered events to its container only.
resource topicDeadLetterWriter 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(deadLetterContainer.id, topic.id, storageBlobDataContributor)
  scope: deadLetterContainer
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataContributor)
    principalId: topic.identity.principalId
    principalType: 'ServicePrincipal'
  }
}

resource subscription 'Microsoft.EventGrid/topics/eventSubscriptions@2025-02-15' = if (hasSubscription) {
  parent: topic
  name: 'outcome-events'
  properties: {
    eventDeliverySchema: 'CloudEventSchemaV1_0'
    destination: !empty(subscriptionWebhookUrl)
      ? {
          endpointType: 'WebHook'
          properties: {
            endpointUrl: subscriptionWebhookUrl
          }
        }
      : null
    deliveryWithResourceIdentity: empty(subscriptionWebhookUrl)
      ? {
          identity: {
            type: 'SystemAssigned'
          }
          destination: {
            endpointType: 'ServiceBusQueue'
            properties: {
              resourceId: subscriptionServiceBusQueueId
            }
          }
        }
      : null
    retryPolicy: {
      maxDeliveryAttempts: 30
      eventTimeToLiveInMinutes: 1440
    }
    deadLetterWithResourceIdentity: {
      identity: {
        type: 'SystemAssigned'
      }
      deadLetterDestination: {
        endpointType: 'StorageBlob'
        properties: {
          resourceId: storage.id
          blobContainerName: deadLetterContainer.name
        }
      }
    }
  }
  dependsOn: [
    topicDeadLetterWriter
  ]
}

output id string = topic.id
output name string = topic.name
output endpoint string = topic.properties.endpoint
@description('Principal id of the topic identity: grant it Azure Service Bus Data Sender on a subscribed queue.')
output principalId string = topic.identity.principalId
