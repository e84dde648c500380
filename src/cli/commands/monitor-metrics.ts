import { isArmId, resourceGroupPath } from '../arm-paths.js';
import { connect } from '../client-factory.js';
import type { CliContext, CommonOptions } from '../context.js';
import { UsageError } from '../errors.js';
import { requireOption } from '../option-values.js';
import { parseOutputFormat, writeOutput, type TableColumn } from '../output.js';
import { listValue } from '../shape.js';
import { metricDefinitionsPath, metricsPath } from './monitor-paths.js';
import { toIsoDuration } from './monitor-options.js';

/** Options of `nw monitor metrics list|list-definitions`. */
export interface MetricsListOptions extends CommonOptions {
  /** Resource id, or a name with --resource-group (and --resource-type). */
  resource?: string;
  resourceGroup?: string;
  /** Default Microsoft.Compute/virtualMachines. */
  resourceType?: string;
  /** Metric names (`--metrics`, or az's abbreviation `--metric`). */
  metrics?: string[];
  metric?: string[];
  /** Grain: 1m, PT1M, 5s, or FULL. */
  interval?: string;
  aggregation?: string[];
  startTime?: string;
  endTime?: string;
  /** Look-back from the end time when no start time is given (az: 1h). */
  offset?: string;
  namespace?: string;
}

const AGGREGATIONS = ['Average', 'Count', 'Minimum', 'Maximum', 'Total'];

function resourceIdOf(options: MetricsListOptions, subscriptionId: string): string {
  const resource = requireOption('--resource', options.resource);
  if (isArmId(resource)) return resource.replace(/\/+$/, '');
  if (!options.resourceGroup)
    throw new UsageError('usage error: --resource ID | --resource NAME --resource-group NAME [--resource-type TYPE]');
  const type = options.resourceType ?? 'Microsoft.Compute/virtualMachines';
  return `${resourceGroupPath(subscriptionId, options.resourceGroup)}/providers/${type}/${encodeURIComponent(resource)}`;
}

function instant(flag: string, text: string): Date {
  const d = new Date(text);
  if (Number.isNaN(d.getTime()))
    throw new UsageError(`argument ${flag}: '${text}' is not a date and time (e.g. 2024-05-01T02:00:00Z)`);
  return d;
}

/** The `timespan` of a query from az's --start-time/--end-time/--offset; undefined means the server's default (the last hour). */
export function metricsTimespan(
  options: Pick<MetricsListOptions, 'startTime' | 'endTime' | 'offset'>,
  now: Date = new Date(),
): string | undefined {
  if (!options.startTime && !options.endTime && !options.offset) return undefined;
  const end = options.endTime ? instant('--end-time', options.endTime) : now;
  let start: Date;
  if (options.startTime) start = instant('--start-time', options.startTime);
  else {
    const iso = toIsoDuration('--offset', options.offset ?? '1h');
    const m = /^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:([\d.]+)S)?)?$/.exec(iso)!;
    const seconds = Number(m[1] ?? 0) * 86400 + Number(m[2] ?? 0) * 3600 + Number(m[3] ?? 0) * 60 + Number(m[4] ?? 0);
    start = new Date(end.getTime() - seconds * 1000);
  }
  if (start.getTime() >= end.getTime()) throw new UsageError('usage error: --start-time must be before --end-time');
  return `${start.toISOString()}/${end.toISOString()}`;
}

/** Data points flattened for `-o table`: one row per metric and time grain. */
export function metricRows(response: unknown): Array<Record<string, unknown>> {
  const rows: Array<Record<string, unknown>> = [];
  for (const metric of listValue(response) as Array<Record<string, unknown>>) {
    const name = (metric['name'] as { value?: string } | undefined)?.value ?? '';
    for (const series of (metric['timeseries'] as Array<{ data?: Array<Record<string, unknown>> }> | undefined) ?? []) {
      for (const point of series.data ?? []) rows.push({ timestamp: point['timeStamp'], name, ...point });
    }
  }
  return rows;
}

/**
 * `nw monitor metrics list`: a host's metrics, Azure Monitor's answer (az prints it as is).
 * @example await metricsList({ resource: vmId, metrics: ['TCP Segments Sent'], interval: 'PT1M', aggregation: ['Total'] }, ctx);
 */
export async function metricsList(options: MetricsListOptions, ctx: CliContext): Promise<unknown> {
  const conn = connect(ctx, options);
  const id = resourceIdOf(options, conn.subscriptionId);
  const names = [...(options.metrics ?? []), ...(options.metric ?? [])];
  const aggregations = (options.aggregation ?? []).map((a) => {
    const found = AGGREGATIONS.find((x) => x.toLowerCase() === a.toLowerCase());
    if (!found)
      throw new UsageError(
        `argument --aggregation: invalid choice: '${a}' (choose from ${AGGREGATIONS.map((x) => `'${x}'`).join(', ')})`,
      );
    return found;
  });
  const interval =
    options.interval === undefined
      ? 'PT1M'
      : options.interval.toUpperCase() === 'FULL'
        ? 'FULL'
        : toIsoDuration('--interval', options.interval);
  const response = await conn.client.request('GET', metricsPath(id), {
    query: {
      metricnames: names.length > 0 ? names.join(',') : undefined,
      interval,
      aggregation: aggregations.length > 0 ? aggregations.join(',') : undefined,
      timespan: metricsTimespan(options),
      metricnamespace: options.namespace,
      'api-version': '2018-01-01',
    },
  });
  if (parseOutputFormat(options.output) === 'table') {
    const rows = metricRows(response.body);
    const keys = AGGREGATIONS.map((a) => a.toLowerCase()).filter((k) => rows.some((r) => r[k] !== undefined));
    const columns: TableColumn[] = [
      { header: 'Timestamp', value: (r) => r['timestamp'] },
      { header: 'Name', value: (r) => r['name'] },
      ...keys.map((k) => ({
        header: k.charAt(0).toUpperCase() + k.slice(1),
        value: (r: Record<string, unknown>) => r[k],
      })),
    ];
    writeOutput(ctx.out, rows, options.output, columns);
  } else {
    writeOutput(ctx.out, response.body, options.output);
  }
  return response.body;
}

/** `nw monitor metrics list-definitions`: the metrics a host has. */
export async function metricsListDefinitions(options: MetricsListOptions, ctx: CliContext): Promise<unknown[]> {
  const conn = connect(ctx, options);
  const id = resourceIdOf(options, conn.subscriptionId);
  const list = listValue(
    (await conn.client.request('GET', metricDefinitionsPath(id), { query: { 'api-version': '2018-01-01' } })).body,
  );
  writeOutput(ctx.out, list, options.output, [
    { header: 'Name', value: (d) => (d['name'] as { value?: string } | undefined)?.value },
    { header: 'Unit', value: (d) => d['unit'] },
    { header: 'PrimaryAggregation', value: (d) => d['primaryAggregationType'] },
  ]);
  return list;
}
