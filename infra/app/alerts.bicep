// Alerts to an action group that emails the operator: any message in a dead-letter queue, failed function runs, the
// app's error events (token and submission failures, outcome events unpublished too long), referrals stuck short of
// a final status, and outcome events Event Grid dropped or dead-lettered. The two log alerts
// query Application Insights traces, which host.json keeps out of sampling so none is dropped.

param actionGroupName string
param deadLetterAlertName string
param functionFailureAlertName string
param tags object
@description('Email address that receives the alerts.')
param alertEmailAddress string
param serviceBusNamespaceId string
param applicationInsightsId string
@description('Failed invocations in 15 minutes above which the failure alert fires.')
param functionFailureThreshold int
param location string
param logEventAlertName string
param stuckReferralAlertName string
@description('Minutes a referral may stay Queued, Submitting or Connecting before the stuck-referral alert fires.')
@minValue(15)
param stuckReferralMinutes int
@description('The Event Grid topic of the outcome events.')
param eventGridTopicId string
param eventDeliveryAlertName string

resource actionGroup 'Microsoft.Insights/actionGroups@2023-01-01' = {
  name: actionGroupName
  location: 'Global'
  tags: tags
  properties: {
    groupShortName: 'referrals'
    enabled: true
    emailReceivers: [
      {
        name: 'operator'
        emailAddress: alertEmailAddress
        useCommonAlertSchema: true
      }
    ]
  }
}

// Dead-lettered messages hold referrals that were not processed: one is enough to look (split per queue).
resource deadLetterAlert 'Microsoft.Insights/metricAlerts@2018-03-01' = {
  name: deadLetterAlertName
  location: 'global'
  tags: tags
  properties: {
    description: 'A message is in a dead-letter queue of the referral pipeline.'
    severity: 1
    enabled: true
    scopes: [
      serviceBusNamespaceId
    ]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT5M'
    autoMitigate: true
    criteria: {
      'odata.type': 'Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria'
      allOf: [
        {
          criterionType: 'StaticThresholdCriterion'
          name: 'DeadLetteredMessages'
          metricNamespace: 'Microsoft.ServiceBus/namespaces'
          metricName: 'DeadletteredMessages'
          dimensions: [
            {
              name: 'EntityName'
              operator: 'Include'
              values: [
                '*'
              ]
            }
          ]
          operator: 'GreaterThan'
          threshold: 0
          timeAggregation: 'Maximum'
        }
      ]
    }
    actions: [
      {
        actionGroupId: actionGroup.id
      }
    ]
  }
}

// Every function invocation (HTTP or queue) is a request in Application Insights.
resource functionFailureAlert 'Microsoft.Insights/metricAlerts@2018-03-01' = {
  name: functionFailureAlertName
  location: 'global'
  tags: tags
  properties: {
    description: 'Function invocations of the referral pipeline are failing.'
    severity: 2
    enabled: true
    scopes: [
      applicationInsightsId
    ]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT15M'
    autoMitigate: true
    criteria: {
      'odata.type': 'Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria'
      allOf: [
        {
          criterionType: 'StaticThresholdCriterion'
          name: 'FailedRequests'
          metricNamespace: 'microsoft.insights/components'
          metricName: 'requests/failed'
          operator: 'GreaterThan'
          threshold: functionFailureThreshold
          timeAggregation: 'Count'
        }
      ]
    }
    actions: [
      {
        actionGroupId: actionGroup.id
      }
    ]
  }
}

// Outcome events Event Grid dropped (retries used up and no dead-letter destination reachable) or dead-lettered (to
// the storage container): a consumer did not get them. One alert per metric, since criteria in one alert must all hold.
resource eventDeliveryAlerts 'Microsoft.Insights/metricAlerts@2018-03-01' = [
  for metric in ['DroppedEventCount', 'DeadLetteredCount']: {
    name: '${eventDeliveryAlertName}-${toLower(metric)}'
    location: 'global'
    tags: tags
    properties: {
      description: 'The Event Grid topic of the outcome events reports ${metric} > 0: a subscriber did not take them.'
      severity: 2
      enabled: true
      scopes: [
        eventGridTopicId
      ]
      evaluationFrequency: 'PT5M'
      windowSize: 'PT15M'
      autoMitigate: true
      criteria: {
        'odata.type': 'Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria'
        allOf: [
          {
            criterionType: 'StaticThresholdCriterion'
            name: metric
            metricNamespace: 'Microsoft.EventGrid/topics'
            metricName: metric
            operator: 'GreaterThan'
            threshold: 0
            timeAggregation: 'Total'
          }
        ]
      }
      actions: [
        {
          actionGroupId: actionGroup.id
        }
      ]
    }
  }
]

resource logEventAlert 'Microsoft.Insights/scheduledQueryRules@2023-03-15-preview' = {
  name: logEventAlertName
  location: location
  tags: tags
  properties: {
    description: 'The referral pipeline logged an event that needs the operator (token, submission or connection failure, events unpublished).'
    severity: 1
    enabled: true
    scopes: [
      applicationInsightsId
    ]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT15M'
    criteria: {
      allOf: [
        {
          // Events operators must act on (docs/operations.md, Alerts); each is a JSON trace line with an `event`.
          query: 'traces | extend event = tostring(parse_json(message).event) | where event in ("partnerApi.authFailed", "partnerApi.refreshTokenExpiring", "partnerApi.tokenCache.saveFailed", "submit.failed", "connect.failed", "submit.ambiguous", "connect.ambiguous", "duplicateCheck.found", "duplicateCheck.abandoned", "referral.queueUnavailable", "outbox.sendFailed", "partnerCenter.syncRefused", "reconciliation.leaseLost", "events.overdue")'
          timeAggregation: 'Count'
          operator: 'GreaterThan'
          threshold: 0
          dimensions: [
            {
              name: 'event'
              operator: 'Include'
              values: [
                '*'
              ]
            }
          ]
        }
      ]
    }
    autoMitigate: true
    actions: {
      actionGroups: [
        actionGroup.id
      ]
    }
  }
}

// The latest lifecycle event of each referral key in the last day: accepted (Queued) or a transition. A key whose
// latest status is still Queued, Submitting or Connecting after the threshold is stuck.
resource stuckReferralAlert 'Microsoft.Insights/scheduledQueryRules@2023-03-15-preview' = {
  name: stuckReferralAlertName
  location: location
  tags: tags
  properties: {
    description: 'A referral has not reached a final status within ${stuckReferralMinutes} minutes.'
    severity: 2
    enabled: true
    scopes: [
      applicationInsightsId
    ]
    evaluationFrequency: 'PT15M'
    windowSize: 'P1D'
    criteria: {
      allOf: [
        {
          query: 'traces | extend e = parse_json(message) | extend event = tostring(e.event) | where event in ("referral.accepted", "referral.transition") | extend status = iff(event == "referral.accepted", "Queued", tostring(e.to)) | summarize arg_max(timestamp, status) by referralKey = tostring(e.referralKey) | where status in ("Queued", "Submitting", "Connecting") and timestamp < ago(${stuckReferralMinutes}m)'
          timeAggregation: 'Count'
          operator: 'GreaterThan'
          threshold: 0
        }
      ]
    }
    autoMitigate: true
    actions: {
      actionGroups: [
        actionGroup.id
      ]
    }
  }
}

output actionGroupId string = actionGroup.id
