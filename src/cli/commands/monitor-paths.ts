import { resourceGroupPath, subscriptionPath } from '../arm-paths.js';

/** ARM paths of the monitoring commands. Names are URL-encoded. */

const enc = encodeURIComponent;

/** An action group (append nothing) or, with name '', the action groups of a resource group. */
export function actionGroupPath(subscriptionId: string, resourceGroup: string, name: string): string {
  return `${resourceGroupPath(subscriptionId, resourceGroup)}/providers/Microsoft.Insights/actionGroups${name ? `/${enc(name)}` : ''}`;
}

/** Every action group of a subscription. */
export function actionGroupListPath(subscriptionId: string): string {
  return `${subscriptionPath(subscriptionId)}/providers/Microsoft.Insights/actionGroups`;
}

/** A metric alert rule or, with name '', the rules of a resource group. */
export function metricAlertPath(subscriptionId: string, resourceGroup: string, name: string): string {
  return `${resourceGroupPath(subscriptionId, resourceGroup)}/providers/Microsoft.Insights/metricAlerts${name ? `/${enc(name)}` : ''}`;
}

/** Every metric alert rule of a subscription. */
export function metricAlertListPath(subscriptionId: string): string {
  return `${subscriptionPath(subscriptionId)}/providers/Microsoft.Insights/metricAlerts`;
}

/** Fired alerts of a subscription (Alerts Management). */
export function alertsPath(subscriptionId: string): string {
  return `${subscriptionPath(subscriptionId)}/providers/Microsoft.AlertsManagement/alerts`;
}

/** An alert-capture endpoint or, with name '', those of a resource group. */
export function alertCapturePath(subscriptionId: string, resourceGroup: string, name: string): string {
  return `${resourceGroupPath(subscriptionId, resourceGroup)}/providers/Netwatcher/alertCaptures${name ? `/${enc(name)}` : ''}`;
}

/** Every alert-capture endpoint of a subscription. */
export function alertCaptureListPath(subscriptionId: string): string {
  return `${subscriptionPath(subscriptionId)}/providers/Netwatcher/alertCaptures`;
}

/** Metrics of a resource (`{id}/providers/Microsoft.Insights/metrics`). */
export function metricsPath(resourceId: string): string {
  return `${resourceId.replace(/\/+$/, '')}/providers/Microsoft.Insights/metrics`;
}

/** Metric definitions of a resource. */
export function metricDefinitionsPath(resourceId: string): string {
  return `${resourceId.replace(/\/+$/, '')}/providers/Microsoft.Insights/metricDefinitions`;
}
