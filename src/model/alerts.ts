import { z } from 'zod';
import { ciEnum, ciObject } from './case-insensitive.js';
import { PACKET_CAPTURE_LIMITS, storageLocationSchema } from './packet-capture.js';

/**
 * Request bodies of the monitoring resources (seed 002): Azure Monitor's metric alerts and
 * action groups (Microsoft.Insights, api-version 2018-03-01 shapes), and netwatcher's own
 * alert-triggered capture endpoint. Durations are ISO 8601 (`PT5M`); seconds are allowed
 * (`PT5S`), unlike Azure, so tests and benchmarks can run in seconds.
 */

/** ISO 8601 durations of days, hours, minutes and seconds (`P1D`, `PT1H30M`, `PT5S`). */
export const ISO_DURATION_PATTERN = /^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$/i;

const isoDuration = z
  .string()
  .regex(ISO_DURATION_PATTERN, 'expected an ISO 8601 duration such as PT1M or PT5S')
  .refine((v) => !/^PT?$/i.test(v), 'expected an ISO 8601 duration such as PT1M or PT5S');

/** Comparison operators of a static metric criterion (Azure's). */
export const METRIC_ALERT_OPERATORS = [
  'Equals',
  'GreaterThan',
  'GreaterThanOrEqual',
  'LessThan',
  'LessThanOrEqual',
] as const;
/** A static criterion's operator. */
export type MetricAlertOperator = (typeof METRIC_ALERT_OPERATORS)[number];

/** Aggregations of a criterion over its window (Azure's timeAggregation). */
export const METRIC_AGGREGATIONS = ['Average', 'Count', 'Minimum', 'Maximum', 'Total'] as const;
/** One aggregation. */
export type MetricAggregation = (typeof METRIC_AGGREGATIONS)[number];

/** One static-threshold criterion of a metric alert. */
export const metricCriterionSchema = ciObject({
  criterionType: ciEnum(['StaticThresholdCriterion'] as const).optional(),
  name: z.string().min(1).max(256).optional(),
  metricName: z.string().min(1),
  metricNamespace: z.string().optional(),
  operator: ciEnum(METRIC_ALERT_OPERATORS),
  threshold: z.number().finite(),
  timeAggregation: ciEnum(METRIC_AGGREGATIONS),
  dimensions: z.array(ciObject({ name: z.string(), operator: z.string(), values: z.array(z.string()) })).optional(),
  skipMetricValidation: z.boolean().optional(),
});

/** PUT body of `Microsoft.Insights/metricAlerts/{name}` (MetricAlertResource). */
export const metricAlertPutSchema = ciObject({
  location: z.string().optional(),
  tags: z.record(z.string(), z.string()).optional(),
  properties: ciObject({
    description: z.string().max(2048).optional(),
    severity: z.number().int().min(0).max(4),
    enabled: z.boolean(),
    scopes: z.array(z.string().min(1)).min(1).max(100),
    evaluationFrequency: isoDuration,
    windowSize: isoDuration,
    targetResourceType: z.string().optional(),
    targetResourceRegion: z.string().optional(),
    criteria: ciObject({
      'odata.type': z.string().optional(),
      allOf: z.array(metricCriterionSchema).min(1).max(5),
    }),
    autoMitigate: z.boolean().optional(),
    actions: z
      .array(
        ciObject({ actionGroupId: z.string().min(1), webHookProperties: z.record(z.string(), z.string()).optional() }),
      )
      .max(5)
      .optional(),
  }),
});

/** A validated metric alert PUT. */
export type MetricAlertPut = z.output<typeof metricAlertPutSchema>;
/** One validated criterion. */
export type MetricCriterion = z.output<typeof metricCriterionSchema>;

const httpUrl = z
  .string()
  .url()
  .refine((u) => /^https?:\/\//i.test(u), 'must be an http or https URL');

/** A webhook receiver of an action group. */
export const webhookReceiverSchema = ciObject({
  name: z.string().min(1).max(128),
  serviceUri: httpUrl,
  useCommonAlertSchema: z.boolean().optional(),
  useAadAuth: z.boolean().optional(),
});

/** Receiver lists of an action group that netwatcher cannot send to; a non-empty one is refused, never ignored. */
export const UNSUPPORTED_RECEIVER_KINDS = [
  'emailReceivers',
  'smsReceivers',
  'itsmReceivers',
  'azureAppPushReceivers',
  'automationRunbookReceivers',
  'voiceReceivers',
  'logicAppReceivers',
  'azureFunctionReceivers',
  'armRoleReceivers',
  'eventHubReceivers',
] as const;

/** PUT body of `Microsoft.Insights/actionGroups/{name}` (ActionGroupResource). */
export const actionGroupPutSchema = ciObject({
  location: z.string().optional(),
  tags: z.record(z.string(), z.string()).optional(),
  properties: ciObject({
    groupShortName: z.string().min(1).max(12),
    enabled: z.boolean(),
    webhookReceivers: z.array(webhookReceiverSchema).max(10).optional(),
    ...(Object.fromEntries(UNSUPPORTED_RECEIVER_KINDS.map((k) => [k, z.array(z.unknown()).optional()])) as Record<
      (typeof UNSUPPORTED_RECEIVER_KINDS)[number],
      z.ZodOptional<z.ZodArray<z.ZodUnknown>>
    >),
  }),
});

/** A validated action group PUT. */
export type ActionGroupPut = z.output<typeof actionGroupPutSchema>;
/** One webhook receiver. */
export type WebhookReceiver = z.output<typeof webhookReceiverSchema>;

/** Defaults of an alert-triggered capture (the seed's function used 10 sessions and 10 s). */
export const ALERT_CAPTURE_DEFAULTS = {
  captureName: 'PSAzureFunction',
  timeLimitInSeconds: 60,
  sessionLimit: 10,
} as const;

/**
 * PUT body of netwatcher's alert-triggered capture endpoint
 * (`/subscriptions/{sub}/resourceGroups/{rg}/providers/Netwatcher/alertCaptures/{name}`): what
 * capture to start on the alerted host, and where to say it is done. `captureName` may hold
 * `{vm}`, replaced by the host's name, so several hosts can be captured at once.
 */
export const alertCapturePutSchema = ciObject({
  tags: z.record(z.string(), z.string()).optional(),
  properties: ciObject({
    enabled: z.boolean().optional(),
    captureName: z
      .string()
      .min(1)
      .max(80)
      .regex(/^[A-Za-z0-9_.{}-]+$/, 'use letters, digits, _ . - and the {vm} placeholder')
      .optional(),
    timeLimitInSeconds: z.number().int().min(1).max(PACKET_CAPTURE_LIMITS.maxTimeLimitInSeconds).optional(),
    /** Each capture begins this many seconds before it was created, from the host's look-back buffer (docs/continuous.md). */
    lookbackInSeconds: z.number().int().min(1).max(3600).nullable().optional(),
    bytesToCapturePerPacket: z.number().int().min(0).max(PACKET_CAPTURE_LIMITS.maxBytesToCapturePerPacket).optional(),
    totalBytesPerSession: z.number().int().min(0).max(PACKET_CAPTURE_LIMITS.maxTotalBytesPerSession).optional(),
    sessionLimit: z.number().int().min(1).max(10000).optional(),
    storageLocation: storageLocationSchema.optional(),
    filters: z.array(z.unknown()).optional(),
    notificationWebhooks: z
      .array(ciObject({ serviceUri: httpUrl }))
      .max(10)
      .optional(),
    hostLabel: z
      .string()
      .min(1)
      .max(100)
      .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be a Prometheus label name')
      .optional(),
    // ARM's resource-group names: 1-90 letters, digits, _ - . ( ), not ending in a period.
    resourceGroups: z
      .array(
        z
          .string()
          .regex(
            /^[-\w.()]{0,89}[-\w()]$/,
            'must be a resource group name (1-90 letters, digits, _ - . ( ), not ending in .)',
          ),
      )
      .min(1)
      .max(100)
      .optional(),
  }),
});

/** A validated alert-capture PUT. */
export type AlertCapturePut = z.output<typeof alertCapturePutSchema>;

/** Conditions of a fired metric alert (Azure Monitor's monitorCondition). */
export const MONITOR_CONDITIONS = ['Fired', 'Resolved'] as const;
/** A fired alert's condition. */
export type MonitorCondition = (typeof MONITOR_CONDITIONS)[number];

/** The states of an alert-capture run. Only `running` ones are watched; the others are history. */
export type AlertCaptureRunState =
  'starting' | 'running' | 'notifying' | 'completed' | 'ignored' | 'duplicate' | 'refused' | 'failed';
