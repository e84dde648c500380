import { ApiError, armIdKey, buildArmId } from '../lib/index.js';
import type { MetricAggregation, MetricAlertOperator, MetricAlertPut } from '../model/index.js';
import type { ResourceRecord } from '../store/index.js';
import type { AlertsContext } from './context.js';
import { isoDurationToSeconds, secondsToIsoDuration } from './durations.js';
import { HOST_METRIC_NAMESPACE, findHostMetric } from './host-metrics.js';
import { hostsInScope, isValidScope } from './hosts.js';

/** One criterion as stored (Azure's StaticThresholdCriterion, every field filled in). */
export interface StoredCriterion {
  criterionType: 'StaticThresholdCriterion';
  name: string;
  metricName: string;
  metricNamespace: string;
  operator: MetricAlertOperator;
  threshold: number;
  timeAggregation: MetricAggregation;
  dimensions: never[];
  skipMetricValidation: boolean;
}

/** Stored body of a metric alert rule. */
export interface MetricAlertBody {
  type: string;
  location: string;
  tags?: Record<string, string>;
  properties: {
    description: string;
    severity: number;
    enabled: boolean;
    scopes: string[];
    evaluationFrequency: string;
    windowSize: string;
    targetResourceType: string;
    targetResourceRegion: string;
    criteria: { 'odata.type': string; allOf: StoredCriterion[] };
    autoMitigate: boolean;
    actions: Array<{ actionGroupId: string; webHookProperties: Record<string, string> }>;
    lastUpdatedTime: string;
    isMigrated: boolean;
    provisioningState: string;
  };
}

/** Limits of rule timing. Azure's are 1 minute to 1 day; seconds are allowed here for tests and benchmarks. */
export const METRIC_ALERT_LIMITS = {
  minFrequencyInSeconds: 1,
  maxFrequencyInSeconds: 3600,
  maxWindowInSeconds: 86400,
} as const;

/** Id of a metric alert rule. */
export function metricAlertId(sub: string, rg: string, name: string): string {
  return buildArmId({
    subscriptionId: sub,
    resourceGroup: rg,
    provider: 'Microsoft.Insights',
    types: ['metricAlerts'],
    names: [name],
  });
}

/** Seconds of a stored rule's window and frequency. */
export function ruleTiming(body: MetricAlertBody): {
  windowSizeInSeconds: number;
  evaluationFrequencyInSeconds: number;
} {
  return {
    windowSizeInSeconds: isoDurationToSeconds(body.properties.windowSize),
    evaluationFrequencyInSeconds: isoDurationToSeconds(body.properties.evaluationFrequency),
  };
}

/**
 * A rule tolerates host-metric batches up to a twelfth of its evaluation frequency (issue 17):
 * its windows then end at most that less one second before each evaluation
 * (src/alerts/evaluator.ts), a small part of its period — PT1S…PT11S need every sample as it
 * is taken (1 s), PT1M tolerates 5 s.
 */
export const EVALUATION_PERIODS_PER_BATCH_INTERVAL = 12;

/**
 * The longest metric batch interval (seconds) a rule's hosts may use: `max(1, floor(F / 12))` for
 * an evaluation frequency of F seconds, capped by the server's configured interval `maxInSeconds`
 * (`--agent-metrics-batch-seconds`).
 * @example toleratedBatchIntervalInSeconds(rule.body, 5) // PT1S → 1, PT1M → 5, PT5M → 5
 */
export function toleratedBatchIntervalInSeconds(body: MetricAlertBody, maxInSeconds: number): number {
  const { evaluationFrequencyInSeconds } = ruleTiming(body);
  return Math.min(
    maxInSeconds,
    Math.max(1, Math.floor(evaluationFrequencyInSeconds / EVALUATION_PERIODS_PER_BATCH_INTERVAL)),
  );
}

function durationField(text: string, field: string): number {
  const seconds = isoDurationToSeconds(text);
  if (seconds < METRIC_ALERT_LIMITS.minFrequencyInSeconds)
    throw new ApiError('InvalidParameter', `${field} '${text}' is shorter than one second.`, { target: field });
  return seconds;
}

/**
 * Creates or replaces a metric alert rule (MetricAlerts_CreateOrUpdate) after checking what Azure
 * checks: scopes exist, metrics exist (unless skipMetricValidation), the window is at least the
 * frequency, the action groups exist. The rule is evaluated from now on, every evaluationFrequency.
 */
export async function putMetricAlert(
  actx: AlertsContext,
  sub: string,
  rg: string,
  name: string,
  input: MetricAlertPut,
  now: Date = new Date(),
): Promise<{ record: ResourceRecord<MetricAlertBody>; created: boolean }> {
  const p = input.properties;
  const frequency = durationField(p.evaluationFrequency, 'properties.evaluationFrequency');
  const window = durationField(p.windowSize, 'properties.windowSize');
  if (frequency > METRIC_ALERT_LIMITS.maxFrequencyInSeconds)
    throw new ApiError(
      'InvalidParameter',
      `properties.evaluationFrequency '${p.evaluationFrequency}' is longer than PT1H.`,
      { target: 'properties.evaluationFrequency' },
    );
  if (window > METRIC_ALERT_LIMITS.maxWindowInSeconds)
    throw new ApiError('InvalidParameter', `properties.windowSize '${p.windowSize}' is longer than P1D.`, {
      target: 'properties.windowSize',
    });
  if (window < frequency)
    throw new ApiError(
      'InvalidParameter',
      `properties.windowSize (${p.windowSize}) must be at least properties.evaluationFrequency (${p.evaluationFrequency}).`,
      { target: 'properties.windowSize' },
    );

  const hosts = await actx.listHosts();
  for (const [i, scope] of p.scopes.entries()) {
    const field = `properties.scopes[${i}]`;
    if (!isValidScope(scope))
      throw new ApiError(
        'InvalidParameter',
        `${field} '${scope}' is not a virtual machine, resource group or subscription id.`,
        { target: field },
      );
    if (scope.split('/').filter(Boolean).length > 4 && hostsInScope(hosts, scope).length === 0) {
      throw new ApiError(
        'InvalidParameter',
        `${field}: virtual machine '${scope}' was not found. Register the host with 'nw vm extension set' first.`,
        { target: field },
      );
    }
    if (!scope.toLowerCase().startsWith(`/subscriptions/${sub.toLowerCase()}`))
      throw new ApiError('InvalidParameter', `${field} '${scope}' is not in subscription '${sub}'.`, { target: field });
  }
  if (p.targetResourceType && p.targetResourceType.toLowerCase() !== HOST_METRIC_NAMESPACE.toLowerCase()) {
    throw new ApiError(
      'InvalidParameter',
      `properties.targetResourceType '${p.targetResourceType}' is not supported; metric alerts watch '${HOST_METRIC_NAMESPACE}'.`,
      { target: 'properties.targetResourceType' },
    );
  }

  const allOf: StoredCriterion[] = p.criteria.allOf.map((c, i) => {
    const field = `properties.criteria.allOf[${i}]`;
    if (c.metricNamespace && c.metricNamespace.toLowerCase() !== HOST_METRIC_NAMESPACE.toLowerCase()) {
      throw new ApiError(
        'InvalidParameter',
        `${field}.metricNamespace '${c.metricNamespace}' has no metrics here; host metrics are in '${HOST_METRIC_NAMESPACE}'.`,
        { target: `${field}.metricNamespace` },
      );
    }
    const metric = findHostMetric(c.metricName);
    if (!metric && !c.skipMetricValidation)
      throw new ApiError(
        'InvalidParameter',
        `${field}.metricName '${c.metricName}' is not a host metric (see docs/metrics.md).`,
        { target: `${field}.metricName` },
      );
    if ((c.dimensions?.length ?? 0) > 0)
      throw new ApiError('InvalidParameter', `${field}.dimensions: host metrics have no dimensions.`, {
        target: `${field}.dimensions`,
      });
    return {
      criterionType: 'StaticThresholdCriterion',
      name: c.name ?? `Metric${i + 1}`,
      metricName: metric?.name ?? c.metricName,
      metricNamespace: HOST_METRIC_NAMESPACE,
      operator: c.operator,
      threshold: c.threshold,
      timeAggregation: c.timeAggregation,
      dimensions: [],
      skipMetricValidation: c.skipMetricValidation ?? false,
    };
  });

  const actions = [];
  for (const [i, a] of (p.actions ?? []).entries()) {
    const group = await actx.store.getResource(armIdKey(a.actionGroupId));
    if (!group || group.type !== 'actionGroup')
      throw new ApiError(
        'InvalidParameter',
        `properties.actions[${i}].actionGroupId '${a.actionGroupId}' names no action group.`,
        { target: `properties.actions[${i}].actionGroupId` },
      );
    actions.push({ actionGroupId: group.id, webHookProperties: a.webHookProperties ?? {} });
  }

  const id = metricAlertId(sub, rg, name);
  const existing = await actx.store.getResource<MetricAlertBody>(armIdKey(id));
  const location = input.location ?? 'global';
  const body: MetricAlertBody = {
    type: 'Microsoft.Insights/metricAlerts',
    location,
    ...(input.tags ? { tags: input.tags } : {}),
    properties: {
      description: p.description ?? '',
      severity: p.severity,
      enabled: p.enabled,
      scopes: p.scopes,
      evaluationFrequency: secondsToIsoDuration(frequency),
      windowSize: secondsToIsoDuration(window),
      targetResourceType: HOST_METRIC_NAMESPACE,
      targetResourceRegion: p.targetResourceRegion ?? '',
      criteria: {
        'odata.type':
          p.scopes.length > 1 || p.scopes.some((s) => s.split('/').filter(Boolean).length <= 4)
            ? 'Microsoft.Azure.Monitor.MultipleResourceMultipleMetricCriteria'
            : 'Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria',
        allOf,
      },
      autoMitigate: p.autoMitigate ?? true,
      actions,
      lastUpdatedTime: now.toISOString(),
      isMigrated: false,
      provisioningState: 'Succeeded',
    },
  };
  const record = await actx.store.putResource<MetricAlertBody>({
    key: armIdKey(id),
    type: 'metricAlert',
    parentKey: null,
    id: existing?.id ?? id,
    name: existing?.name ?? name,
    subscriptionId: sub,
    resourceGroup: rg,
    location,
    body,
  });
  if (p.enabled) await actx.store.scheduleAlertRule(record.key, frequency * 1000, now);
  else await actx.store.unscheduleAlertRule(record.key);
  return { record, created: !existing };
}

/** A metric alert rule by id parts; 404 ResourceNotFound when missing. */
export async function getMetricAlert(
  actx: AlertsContext,
  sub: string,
  rg: string,
  name: string,
): Promise<ResourceRecord<MetricAlertBody>> {
  const rec = await actx.store.getResource<MetricAlertBody>(armIdKey(metricAlertId(sub, rg, name)));
  if (!rec)
    throw new ApiError('ResourceNotFound', `Metric alert '${name}' was not found in resource group '${rg}'.`, {
      target: 'ruleName',
    });
  return rec;
}

/** Deletes a rule and stops its evaluation; its alerts stay as history. True if it existed. */
export async function deleteMetricAlert(actx: AlertsContext, sub: string, rg: string, name: string): Promise<boolean> {
  const key = armIdKey(metricAlertId(sub, rg, name));
  // Together: a rule left scheduled without its resource, or the reverse, is never half done.
  return actx.store.transaction(async (tx) => {
    await tx.unscheduleAlertRule(key);
    return tx.deleteResource(key);
  });
}

/** The metric alert rules of a subscription, or of one of its resource groups. */
export async function listMetricAlerts(
  actx: AlertsContext,
  sub: string,
  rg?: string,
): Promise<ResourceRecord<MetricAlertBody>[]> {
  return actx.store.listResources<MetricAlertBody>('metricAlert', {
    subscriptionId: sub,
    ...(rg !== undefined ? { resourceGroup: rg } : {}),
  });
}
