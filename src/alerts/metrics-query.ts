import { ApiError } from '../lib/index.js';
import { METRIC_AGGREGATIONS, type MetricAggregation } from '../model/index.js';
import type { MetricBucketRow, Store } from '../store/index.js';
import { InvalidDurationError, isoDurationToSeconds, secondsToIsoDuration } from './durations.js';
import { HOST_METRICS, HOST_METRIC_NAMESPACE, findHostMetric, type HostMetricDefinition } from './host-metrics.js';
import type { HostInfo } from './hosts.js';

/**
 * Azure Monitor's metrics REST API on host metrics:
 * `GET {vmId}/providers/Microsoft.Insights/metrics?metricnames=&timespan=&interval=&aggregation=`
 * answers Azure's `Response` document (cost, timespan, interval, value[].timeseries[].data[]), and
 * `…/metricDefinitions` lists what can be asked for.
 */

/** Query parameters, as Azure names them. */
export interface MetricsQueryParameters {
  metricnames?: string;
  timespan?: string;
  interval?: string;
  aggregation?: string;
  metricnamespace?: string;
}

/** Largest number of points one answer holds (Azure's own limit is similar). */
const MAX_POINTS = 10_000;
/** Default look-back, as Azure's. */
const DEFAULT_TIMESPAN_IN_MS = 3600_000;

function parseInstant(text: string, field: string): Date {
  const d = new Date(text);
  if (Number.isNaN(d.getTime()))
    throw new ApiError(
      'InvalidParameter',
      `${field} '${text}' is not a date and time (ISO 8601, e.g. 2024-05-01T02:00:00Z).`,
      { target: field },
    );
  return d;
}

function parseDurationParam(text: string, field: string): number {
  try {
    return isoDurationToSeconds(text) * 1000;
  } catch (error) {
    if (error instanceof InvalidDurationError)
      throw new ApiError('InvalidParameter', `${field} '${text}' is not an ISO 8601 duration such as PT1M.`, {
        target: field,
      });
    throw error;
  }
}

/**
 * The time range of `timespan`: `start/end`, `start/duration`, `duration/end`, or a duration
 * ending now; absent means the last hour.
 */
export function parseTimespan(timespan: string | undefined, now: Date): { start: Date; end: Date } {
  if (!timespan) return { start: new Date(now.getTime() - DEFAULT_TIMESPAN_IN_MS), end: now };
  const [a, b] = timespan.split('/');
  let start: Date;
  let end: Date;
  if (b === undefined) {
    end = now;
    start = new Date(now.getTime() - parseDurationParam(a!, 'timespan'));
  } else if (/^P/i.test(b)) {
    start = parseInstant(a!, 'timespan');
    end = new Date(start.getTime() + parseDurationParam(b, 'timespan'));
  } else if (/^P/i.test(a!)) {
    end = parseInstant(b, 'timespan');
    start = new Date(end.getTime() - parseDurationParam(a!, 'timespan'));
  } else {
    start = parseInstant(a!, 'timespan');
    end = parseInstant(b, 'timespan');
  }
  if (end.getTime() <= start.getTime())
    throw new ApiError('InvalidParameter', `timespan '${timespan}' ends before it starts.`, { target: 'timespan' });
  return { start, end };
}

function parseAggregations(text: string | undefined, metric: HostMetricDefinition): MetricAggregation[] {
  if (!text) return [metric.primaryAggregation];
  return text.split(',').map((a) => {
    const found = METRIC_AGGREGATIONS.find((m) => m.toLowerCase() === a.trim().toLowerCase());
    if (!found)
      throw new ApiError(
        'InvalidParameter',
        `aggregation '${a.trim()}' is not one of ${METRIC_AGGREGATIONS.join(', ')}.`,
        { target: 'aggregation' },
      );
    return found;
  });
}

function pointOf(
  bucket: Omit<MetricBucketRow, 'bucketStartInMs'> | undefined,
  aggregations: readonly MetricAggregation[],
): Record<string, number> {
  const out: Record<string, number> = {};
  for (const a of aggregations) {
    // Azure reports 0 for total and count of an empty grain, and leaves the others out.
    if (a === 'Total') out['total'] = bucket?.total ?? 0;
    else if (a === 'Count') out['count'] = bucket?.count ?? 0;
    else if (bucket && bucket.count > 0) {
      if (a === 'Average') out['average'] = bucket.total / bucket.count;
      if (a === 'Minimum') out['minimum'] = bucket.minimum;
      if (a === 'Maximum') out['maximum'] = bucket.maximum;
    }
  }
  return out;
}

/**
 * Answers a metrics query for one host.
 * @example await queryHostMetrics(store, host, { metricnames: 'TCP Segments Sent', interval: 'PT1M', aggregation: 'Total' })
 */
export async function queryHostMetrics(
  store: Store,
  host: HostInfo,
  params: MetricsQueryParameters,
  now: Date = new Date(),
): Promise<Record<string, unknown>> {
  if (params.metricnamespace && params.metricnamespace.toLowerCase() !== HOST_METRIC_NAMESPACE.toLowerCase()) {
    throw new ApiError(
      'InvalidParameter',
      `metricnamespace '${params.metricnamespace}' has no metrics here; host metrics are in '${HOST_METRIC_NAMESPACE}'.`,
      { target: 'metricnamespace' },
    );
  }
  const names = params.metricnames
    ? params.metricnames
        .split(',')
        .map((n) => n.trim())
        .filter(Boolean)
    : [HOST_METRICS[0]!.name];
  const metrics = names.map((n) => {
    const m = findHostMetric(n);
    if (!m)
      throw new ApiError(
        'InvalidParameter',
        `Metric '${n}' is not a host metric. Valid metrics: ${HOST_METRICS.map((d) => d.name).join(', ')}.`,
        { target: 'metricnames' },
      );
    return m;
  });
  const { start, end } = parseTimespan(params.timespan, now);
  const full = (params.interval ?? '').toUpperCase() === 'FULL';
  const grainInMs = full ? end.getTime() - start.getTime() : parseDurationParam(params.interval ?? 'PT1M', 'interval');
  if (grainInMs < 1000)
    throw new ApiError('InvalidParameter', `interval '${params.interval}' is shorter than the finest grain, PT1S.`, {
      target: 'interval',
    });
  // Grains are aligned on the epoch (whole minutes for PT1M), as Azure's are; FULL is one grain from start.
  const firstInMs = full ? start.getTime() : Math.floor(start.getTime() / grainInMs) * grainInMs;
  const points = Math.ceil((end.getTime() - firstInMs) / grainInMs);
  if (points > MAX_POINTS)
    throw new ApiError(
      'InvalidParameter',
      `timespan and interval ask for ${points} points; at most ${MAX_POINTS} are answered. Use a larger interval.`,
      { target: 'interval' },
    );

  const value = [];
  for (const metric of metrics) {
    const aggregations = parseAggregations(params.aggregation, metric);
    const rows = full
      ? await store
          .aggregateMetricSamples(host.key, metric.name, start, end, Number.MAX_SAFE_INTEGER)
          .then((r) => r.map((b) => ({ ...b, bucketStartInMs: firstInMs })))
      : await store.aggregateMetricSamples(host.key, metric.name, new Date(firstInMs), end, grainInMs);
    const byStart = new Map<number, Omit<MetricBucketRow, 'bucketStartInMs'>>();
    for (const r of rows) {
      const prev = byStart.get(r.bucketStartInMs);
      byStart.set(
        r.bucketStartInMs,
        prev
          ? {
              total: prev.total + r.total,
              count: prev.count + r.count,
              minimum: Math.min(prev.minimum, r.minimum),
              maximum: Math.max(prev.maximum, r.maximum),
            }
          : r,
      );
    }
    const data = [];
    for (let i = 0; i < points; i++) {
      const t = firstInMs + i * grainInMs;
      data.push({ timeStamp: new Date(t).toISOString(), ...pointOf(byStart.get(t), aggregations) });
    }
    value.push({
      id: `${host.id}/providers/Microsoft.Insights/metrics/${metric.name}`,
      type: 'Microsoft.Insights/metrics',
      name: { value: metric.name, localizedValue: metric.name },
      displayDescription: metric.description,
      unit: metric.unit,
      timeseries: [{ metadatavalues: [], data }],
      errorCode: 'Success',
    });
  }
  return {
    cost: 0,
    timespan: `${start.toISOString()}/${end.toISOString()}`,
    interval: full ? 'FULL' : secondsToIsoDuration(grainInMs / 1000),
    value,
    namespace: HOST_METRIC_NAMESPACE,
    resourceregion: host.location,
  };
}

/** Azure's metricDefinitions answer for a host. */
export function hostMetricDefinitions(host: HostInfo): { value: Record<string, unknown>[] } {
  return {
    value: HOST_METRICS.map((m) => ({
      id: `${host.id}/providers/microsoft.insights/metricdefinitions/${m.name}`,
      resourceId: host.id,
      namespace: HOST_METRIC_NAMESPACE,
      name: { value: m.name, localizedValue: m.name },
      displayDescription: m.description,
      isDimensionRequired: false,
      unit: m.unit,
      primaryAggregationType: m.primaryAggregation,
      supportedAggregationTypes: [...METRIC_AGGREGATIONS],
      metricAvailabilities: [
        { timeGrain: 'PT1S', retention: 'P7D' },
        { timeGrain: 'PT1M', retention: 'P7D' },
        { timeGrain: 'PT1H', retention: 'P7D' },
      ],
      dimensions: [],
    })),
  };
}
