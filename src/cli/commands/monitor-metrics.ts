import { isArmId, resourceGroupPath } from '../arm-paths.js';
import { connect } from '../client-factory.js';
import type { CliContext, CommonOptions } from '../context.js';
import { UsageError } from '../errors.js';
import { requireOption } from '../option-values.js';
import { parseOutputFormat, writeOutput, type TableColumn } from '../output.js';
import { listValue } from '../shape.js';
import { metricDefinitionsPath, metricsPath } from './monitor-paths.js';
import { toIsoDuration } from './monitor-options.js';
import {
  defineCommand,
  defineGroup,
  type Declaration,
  type OptionTable,
  type OptionValues,
} from '../command-declaration.js';

/** The flags of `nw monitor metrics list`. */
export const METRICS_LIST_OPTIONS = {
  resource: {
    flags: '--resource <id-or-name>',
    description: 'resource id, or a VM name with --resource-group',
    required: true,
  },
  resourceGroup: {
    flags: '-g, --resource-group <rg>',
    description: 'resource group of a --resource given by name',
  },
  resourceType: {
    flags: '--resource-type <type>',
    description: 'type of a --resource given by name',
    default: 'Microsoft.Compute/virtualMachines',
  },
  metrics: { flags: '--metrics <names...>', description: 'metric names (see list-definitions)' },
  metric: { flags: '--metric <names...>', description: 'same as --metrics' },
  interval: { flags: '--interval <period>', description: 'time grain: 1m, PT1M, 5s, or FULL (default 1m)' },
  aggregation: {
    flags: '--aggregation <types...>',
    description: "Average, Count, Minimum, Maximum, Total (default: the metric's primary)",
  },
  startTime: {
    flags: '--start-time <datetime>',
    description: 'start (ISO 8601); default: end time minus --offset',
  },
  endTime: { flags: '--end-time <datetime>', description: 'end (ISO 8601); default: now' },
  offset: { flags: '--offset <period>', description: 'look-back when no start time is given (default 1h)' },
  namespace: {
    flags: '--namespace <namespace>',
    description: 'metric namespace (Microsoft.Compute/virtualMachines)',
  },
} as const satisfies OptionTable;

/** Options of `nw monitor metrics list|list-definitions`: list's flags, the wider. */
export type MetricsListOptions = CommonOptions & OptionValues<typeof METRICS_LIST_OPTIONS>;

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

/** The commands of this file, in help order. */
export const METRICS_COMMANDS: readonly Declaration[] = [
  defineGroup({ path: ['monitor', 'metrics'], description: 'host metrics and metric alert rules' }),
  defineCommand({
    path: ['monitor', 'metrics', 'list'],
    description: "list a host's metric values (Azure Monitor's metrics answer)",
    examples: [
      'nw monitor metrics list --resource /subscriptions/SUB/resourceGroups/myRG/providers/Microsoft.Compute/virtualMachines/myVM --metric "TCP Segments Sent" --interval PT1M --aggregation Total',
      'nw monitor metrics list --resource myVM -g myRG --metrics "Network Out Total" "Network In Total" --interval 5s --offset 10m -o table',
    ],
    options: METRICS_LIST_OPTIONS,
    run: (o, { ctx }) => metricsList(o, ctx),
  }),
  defineCommand({
    path: ['monitor', 'metrics', 'list-definitions'],
    description: 'list the metrics a host has',
    examples: ['nw monitor metrics list-definitions --resource myVM -g myRG -o table'],
    options: {
      resource: {
        flags: '--resource <id-or-name>',
        description: 'resource id, or a VM name with --resource-group',
        required: true,
      },
      resourceGroup: {
        flags: '-g, --resource-group <rg>',
        description: 'resource group of a --resource given by name',
      },
      resourceType: {
        flags: '--resource-type <type>',
        description: 'type of a --resource given by name',
        default: 'Microsoft.Compute/virtualMachines',
      },
    },
    run: (o, { ctx }) => metricsListDefinitions(o, ctx),
  }),
];
