import type { AlertRecord } from '../store/index.js';
import { secondsToIsoDuration } from './durations.js';
import type { StoredAlertBody } from './evaluator.js';
import { alertResourceId } from './payloads.js';

/**
 * A fired alert as Azure's Alerts Management API shows it (`Microsoft.AlertsManagement/alerts`:
 * `properties.essentials` and `properties.context`), plus netwatcher's delivery records under
 * `properties.netwatcher.notifications`.
 */
export function alertView(rec: AlertRecord<StoredAlertBody>): Record<string, unknown> {
  const b = rec.body;
  return {
    id: alertResourceId(rec.subscriptionId, rec.id),
    name: b.rule.name,
    type: 'Microsoft.AlertsManagement/alerts',
    properties: {
      essentials: {
        severity: `Sev${b.severity}`,
        signalType: 'Metric',
        alertState: 'New',
        monitorCondition: rec.monitorCondition,
        monitorService: 'Platform',
        targetResource: b.host.id,
        targetResourceName: b.host.name,
        targetResourceGroup: b.host.resourceGroup,
        targetResourceType: 'virtualmachines',
        sourceCreatedId: `${rec.ruleKey}|${rec.targetKey}`,
        alertRule: b.rule.id,
        startDateTime: rec.firedAt.toISOString(),
        lastModifiedDateTime: rec.updatedAt.toISOString(),
        ...(rec.resolvedAt ? { monitorConditionResolvedDateTime: rec.resolvedAt.toISOString() } : {}),
        lastModifiedUserName: 'System',
        description: b.rule.description,
      },
      context: {
        condition: {
          windowSize: secondsToIsoDuration(b.rule.windowSizeInSeconds),
          allOf: b.criteria,
          windowStartTime: b.windowStart,
          windowEndTime: b.windowEnd,
        },
        ...(b.resolvedCriteria ? { resolvedCondition: { allOf: b.resolvedCriteria } } : {}),
      },
      netwatcher: { alertId: rec.id, notifications: rec.notifications },
    },
  };
}
