import { createHash } from 'node:crypto';
import type { MonitorCondition } from '../model/index.js';
import { secondsToIsoDuration } from './durations.js';
import { HOST_METRIC_NAMESPACE } from './host-metrics.js';
import type { HostInfo } from './hosts.js';

/**
 * Notification payloads of metric alerts, as Azure's action groups post them to webhooks:
 * the common alert schema (`useCommonAlertSchema: true`) or the metric-alert schema before it
 * (`schemaId: AzureMonitorMetricAlert`, version 2.0). Field names and layout are the documented
 * ones (https://learn.microsoft.com/azure/azure-monitor/alerts/alerts-common-schema and the metric alert
 * schema of alerts-metric-near-real-time; fixtures/).
 */

/** One criterion of a notification, with the value found in the window. */
export interface NoticeCriterion {
  name: string;
  metricName: string;
  metricNamespace: string;
  operator: string;
  threshold: number;
  timeAggregation: string;
  /** The aggregated value of the window; null when the host sent nothing in it. */
  metricValue: number | null;
}

/** Everything a Fired or Resolved notification says. */
export interface AlertNotice {
  /** Alert instance id (a GUID); the same for Fired and its Resolved. */
  alertId: string;
  subscriptionId: string;
  rule: {
    id: string;
    name: string;
    resourceGroup: string;
    description: string;
    severity: number;
    windowSizeInSeconds: number;
    scopeCount: number;
  };
  criteria: NoticeCriterion[];
  host: HostInfo;
  monitorCondition: MonitorCondition;
  firedAt: Date;
  resolvedAt: Date | null;
  windowStart: Date;
  windowEnd: Date;
  /** The action's webHookProperties (Azure: customProperties / properties). */
  customProperties: Record<string, string> | null;
  /** Base URL of the server, for portal links. */
  baseUrl: string;
}

/** Azure's `conditionType` for a rule on one or several resources. */
function conditionType(n: AlertNotice): string {
  return n.rule.scopeCount > 1 ? 'MultipleResourceMultipleMetricCriteria' : 'SingleResourceMultipleMetricCriteria';
}

/** The full alert id of the common schema (`/subscriptions/{sub}/providers/Microsoft.AlertsManagement/alerts/{guid}`). */
export function alertResourceId(subscriptionId: string, alertId: string): string {
  return `/subscriptions/${subscriptionId}/providers/Microsoft.AlertsManagement/alerts/${alertId}`;
}

function allOf(n: AlertNotice, thresholdAsString: boolean): Record<string, unknown>[] {
  return n.criteria.map((c) => ({
    metricName: c.metricName,
    metricNamespace: c.metricNamespace,
    operator: c.operator,
    // Azure sends thresholds as strings in both schemas.
    threshold: thresholdAsString ? String(c.threshold) : c.threshold,
    timeAggregation: c.timeAggregation,
    dimensions: [{ name: 'ResourceId', value: n.host.vmId }],
    metricValue: c.metricValue,
    webTestName: null,
  }));
}

function originAlertId(n: AlertNotice): string {
  // Azure's form: {sub}_{rg}_microsoft.insights_metricAlerts_{rule}_{signed 32-bit hash of the target}.
  const hash = createHash('sha256').update(n.host.key).digest().readInt32BE(0);
  return `${n.subscriptionId}_${n.rule.resourceGroup}_microsoft.insights_metricAlerts_${n.rule.name}_${hash}`;
}

/**
 * The common alert schema payload (`schemaId: azureMonitorCommonAlertSchema`).
 * @example buildCommonAlertPayload(notice).data.essentials.monitorCondition // 'Fired'
 */
export function buildCommonAlertPayload(n: AlertNotice): {
  schemaId: string;
  data: {
    essentials: Record<string, unknown>;
    alertContext: Record<string, unknown>;
    customProperties: Record<string, string> | null;
  };
} {
  return {
    schemaId: 'azureMonitorCommonAlertSchema',
    data: {
      essentials: {
        alertId: alertResourceId(n.subscriptionId, n.alertId),
        alertRule: n.rule.name,
        alertRuleID: n.rule.id,
        severity: `Sev${n.rule.severity}`,
        signalType: 'Metric',
        monitorCondition: n.monitorCondition,
        monitoringService: 'Platform',
        alertTargetIDs: [n.host.id.toLowerCase()],
        configurationItems: [n.host.name],
        originAlertId: originAlertId(n),
        firedDateTime: n.firedAt.toISOString(),
        ...(n.resolvedAt ? { resolvedDateTime: n.resolvedAt.toISOString() } : {}),
        description: n.rule.description,
        essentialsVersion: '1.0',
        alertContextVersion: '1.0',
        investigationLink: `${n.baseUrl}/#view/alerts/${n.alertId}`,
        targetResourceType: HOST_METRIC_NAMESPACE.toLowerCase(),
        targetResourceGroup: n.host.resourceGroup.toLowerCase(),
      },
      alertContext: {
        properties: n.customProperties,
        conditionType: conditionType(n),
        condition: {
          windowSize: secondsToIsoDuration(n.rule.windowSizeInSeconds),
          allOf: allOf(n, true),
          windowStartTime: n.windowStart.toISOString(),
          windowEndTime: n.windowEnd.toISOString(),
        },
      },
      customProperties: n.customProperties,
    },
  };
}

/**
 * The metric-alert payload before the common schema (`schemaId: AzureMonitorMetricAlert`,
 * `data.version: 2.0`, `status` Activated or Resolved) — what seed 002's function reads.
 */
export function buildMetricAlertPayload(n: AlertNotice): {
  schemaId: string;
  data: {
    version: string;
    status: string;
    context: Record<string, unknown>;
    properties: Record<string, string> | null;
  };
} {
  return {
    schemaId: 'AzureMonitorMetricAlert',
    data: {
      version: '2.0',
      status: n.monitorCondition === 'Fired' ? 'Activated' : 'Resolved',
      context: {
        timestamp: (n.resolvedAt ?? n.firedAt).toISOString(),
        id: n.rule.id,
        name: n.rule.name,
        description: n.rule.description,
        conditionType: conditionType(n),
        severity: String(n.rule.severity),
        condition: { windowSize: secondsToIsoDuration(n.rule.windowSizeInSeconds), allOf: allOf(n, true) },
        subscriptionId: n.subscriptionId,
        resourceGroupName: n.host.resourceGroup,
        resourceName: n.host.name,
        resourceType: HOST_METRIC_NAMESPACE,
        resourceId: n.host.id,
        resourceRegion: n.host.location,
        portalLink: `${n.baseUrl}/#resource${n.host.id}`,
      },
      properties: n.customProperties,
    },
  };
}
