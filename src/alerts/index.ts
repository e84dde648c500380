// Public surface of src/alerts (seed 002): host metrics (reading /proc, keeping, querying),
// metric alert rules and action groups, their evaluation and Azure-shaped notifications, and the
// alert-triggered capture endpoint. It never imports src/server, src/agent or src/cli: the
// server hands it what it needs (see context.ts). See docs/metrics.md and docs/alerts.md.

export { HOST_METRICS, HOST_METRIC_NAMESPACE, findHostMetric, type HostMetricDefinition } from './host-metrics.js';
export {
  readHostCounters,
  hostMetricDeltas,
  parseNetSnmp,
  parseNetSnmp6,
  parseNetDev,
  ProcFormatError,
  type HostCounterSnapshot,
  type InterfaceCounters,
  type SnmpCounters,
} from './proc-net.js';
export {
  isoDurationToSeconds,
  secondsToIsoDuration,
  parseDurationToSeconds,
  InvalidDurationError,
} from './durations.js';
export type { HostInfo, HostResolution } from './hosts.js';
export { hostsInScope, hostsInScopes, scopeMatcher, resolveHostReference } from './hosts.js';
export { MetricBatchIntervals } from './batch-intervals.js';
export type { AlertsContext, CaptureOperations, CaptureSummary, WatcherRef } from './context.js';
export { MetricStore, METRIC_STORE_DEFAULTS, sanitizeMetricValues, type MetricStoreOptions } from './metric-store.js';
export {
  queryHostMetrics,
  hostMetricDefinitions,
  parseTimespan,
  type MetricsQueryParameters,
} from './metrics-query.js';
export {
  putActionGroup,
  getActionGroup,
  listActionGroups,
  deleteActionGroup,
  actionGroupId,
  type ActionGroupBody,
} from './action-groups.js';
export {
  putMetricAlert,
  getMetricAlert,
  deleteMetricAlert,
  listMetricAlerts,
  metricAlertId,
  ruleTiming,
  toleratedBatchIntervalInSeconds,
  EVALUATION_PERIODS_PER_BATCH_INTERVAL,
  METRIC_ALERT_LIMITS,
  type MetricAlertBody,
  type StoredCriterion,
} from './metric-alerts.js';
export { aggregateWindow, meetsThreshold, type WindowStats } from './condition.js';
export {
  MetricAlertEvaluator,
  HEALTHY_EVALUATIONS_TO_RESOLVE,
  type AlertTargetState,
  type StoredAlertBody,
} from './evaluator.js';
export { NotificationDispatcher, type NotificationRecord } from './dispatcher.js';
export { alertView } from './alerts-view.js';
export { getFiredAlert, listFiredAlerts, type FiredAlertFilter } from './fired-alerts.js';
export {
  buildCommonAlertPayload,
  buildMetricAlertPayload,
  alertResourceId,
  type AlertNotice,
  type NoticeCriterion,
} from './payloads.js';
export {
  parseAlertPayload,
  AlertPayloadError,
  type AlertPayloadSchema,
  type IncomingAlert,
  type ParsedAlertPayload,
} from './payload-parse.js';
export {
  deliverWebhook,
  isRetryableDelivery,
  DEFAULT_WEBHOOK_RETRY_DELAYS_IN_MS,
  type WebhookDeliveryOptions,
  type WebhookDeliveryResult,
  type WebhookFetch,
} from './webhook.js';
export {
  putAlertCapture,
  getAlertCapture,
  regenerateAlertCaptureKey,
  triggerAlertCapture,
  alertCaptureView,
  alertCaptureId,
  alertCaptureEndpoint,
  keyMatches,
  ALERT_PAYLOAD_MAX_BYTES,
  ALERT_CAPTURE_PATH_PREFIX,
  ALERT_CAPTURE_PROVIDER,
  FINISHED_RUN_STATES,
  type AlertCaptureBody,
  type AlertCaptureRunDetail,
  type AlertCaptureRunState,
  type TriggerAnswer,
  type TriggerOutcome,
  type TriggerRequest,
} from './alert-capture.js';
export { AlertCaptureRunWatcher, COMPLETION_SCHEMA_ID } from './alert-capture-runs.js';
export {
  ALERT_CAPTURE_RUNS_LISTED,
  deleteAlertCapture,
  listAlertCaptureRuns,
  listAlertCaptures,
} from './alert-capture-endpoints.js';
export {
  createServerTelemetry,
  PER_HOST_SERIES_DEFAULT_LIMIT,
  scrapeMetrics,
  type AlertsTelemetry,
  type PerHostSelection,
  type ServerTelemetrySources,
} from './telemetry.js';
export { AlertsRuntime, type AlertsRuntimeDeps, type AlertsRuntimeOptions } from './runtime.js';
export { moveWebhookUrlsToSecrets } from './webhook-secrets.js';
