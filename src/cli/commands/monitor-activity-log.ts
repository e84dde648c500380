import { connect } from '../client-factory.js';
import type { CliContext, CommonOptions } from '../context.js';
import { UsageError } from '../errors.js';
import { parseIntegerOption } from '../option-values.js';
import { writeOutput, type TableColumn } from '../output.js';
import { toIsoDuration } from './monitor-options.js';
import {
  defineCommand,
  defineGroup,
  type Declaration,
  type OptionTable,
  type OptionValues,
} from '../command-declaration.js';

/** The flags of `nw monitor activity-log list`. */
export const ACTIVITY_LOG_LIST_OPTIONS = {
  resourceGroup: { flags: '-g, --resource-group <rg>', description: 'events of one resource group' },
  resourceId: { flags: '--resource-id <id>', description: 'events of one resource' },
  resourceProvider: {
    flags: '--resource-provider <namespace>',
    description: 'events of one provider (Microsoft.Network)',
  },
  correlationId: {
    flags: '--correlation-id <id>',
    description: 'events of one correlation id (x-ms-correlation-request-id)',
  },
  caller: { flags: '--caller <name-or-id>', description: 'events of one principal (display name or id)' },
  status: { flags: '--status <status>', description: 'Succeeded or Failed' },
  startTime: {
    flags: '--start-time <datetime>',
    description: 'start (ISO 8601); default: end time minus --offset',
  },
  endTime: {
    flags: '--end-time <datetime>',
    description: 'end (ISO 8601); default: now, or start time plus --offset',
  },
  offset: { flags: '--offset <period>', description: 'length of the window: 1h, 30m, 2d (default 6h)' },
  maxEvents: { flags: '--max-events <n>', parsed: 'number', description: 'at most this many events (default 50)' },
} as const satisfies OptionTable;

/** Options of `nw monitor activity-log list`. */
export type ActivityLogListOptions = CommonOptions & OptionValues<typeof ACTIVITY_LOG_LIST_OPTIONS>;

type Json = Record<string, unknown>;

/** Table columns of events. */
export const ACTIVITY_TABLE: readonly TableColumn[] = [
  { header: 'Time', value: (e) => e['eventTimestamp'] },
  { header: 'Caller', value: (e) => e['caller'] },
  { header: 'Operation', value: (e) => (e['operationName'] as Json | undefined)?.['value'] },
  {
    header: 'Status',
    value: (e) =>
      `${String((e['status'] as Json | undefined)?.['value'] ?? '')} (${String((e['subStatus'] as Json | undefined)?.['value'] ?? '')})`,
  },
  { header: 'Resource', value: (e) => e['resourceId'] },
  { header: 'Client', value: (e) => (e['httpRequest'] as Json | undefined)?.['clientIpAddress'] },
  { header: 'Correlation', value: (e) => e['correlationId'] },
];

function instant(flag: string, value: string): Date {
  const at = new Date(/(?:Z|[+-]\d{2}:?\d{2})$/i.test(value) || !/T/.test(value) ? value : `${value}Z`);
  if (Number.isNaN(at.getTime()))
    throw new UsageError(`argument ${flag}: '${value}' is not a date and time (ISO 8601, e.g. 2026-12-01T10:00:00Z)`);
  return at;
}

function seconds(iso: string): number {
  const m = /^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:([\d.]+)S)?)?$/.exec(iso)!;
  return Number(m[1] ?? 0) * 86400 + Number(m[2] ?? 0) * 3600 + Number(m[3] ?? 0) * 60 + Number(m[4] ?? 0);
}

const quoted = (v: string) => `'${v.replace(/'/g, "''")}'`;

/**
 * The `$filter` az builds for these options: the time window (from --start-time/--end-time,
 * else --offset back from now), then one of correlation id, resource group, resource id or
 * provider, then caller and status.
 * @example activityLogFilter({ resourceGroup: 'rg1', offset: '1h' }, new Date('2026-12-01T12:00:00Z'))
 */
export function activityLogFilter(options: ActivityLogListOptions, now: Date = new Date()): string {
  const offset = seconds(toIsoDuration('--offset', options.offset ?? '6h'));
  let end = options.endTime ? instant('--end-time', options.endTime) : undefined;
  let start = options.startTime ? instant('--start-time', options.startTime) : undefined;
  if (!start && !end) end = now;
  if (!start) start = new Date(end!.getTime() - offset * 1000);
  if (!end) end = new Date(start.getTime() + offset * 1000);
  if (start.getTime() > end.getTime()) throw new UsageError('usage error: --start-time must be before --end-time');
  const scopes = [options.correlationId, options.resourceGroup, options.resourceId, options.resourceProvider].filter(
    (v) => v !== undefined,
  );
  if (scopes.length > 1)
    throw new UsageError(
      'usage error: give at most one of --correlation-id, --resource-group, --resource-id, --resource-provider',
    );
  let filter = `eventTimestamp ge ${quoted(start.toISOString())} and eventTimestamp le ${quoted(end.toISOString())}`;
  if (options.correlationId) filter += ` and correlationId eq ${quoted(options.correlationId)}`;
  else if (options.resourceGroup) filter += ` and resourceGroupName eq ${quoted(options.resourceGroup)}`;
  else if (options.resourceId) filter += ` and resourceId eq ${quoted(options.resourceId)}`;
  else if (options.resourceProvider) filter += ` and resourceProvider eq ${quoted(options.resourceProvider)}`;
  if (options.caller) filter += ` and caller eq ${quoted(options.caller)}`;
  if (options.status) {
    const status = ['Succeeded', 'Failed'].find((s) => s.toLowerCase() === options.status!.toLowerCase());
    if (!status)
      throw new UsageError(
        `argument --status: invalid choice: '${options.status}' (choose from 'Succeeded', 'Failed')`,
      );
    filter += ` and status eq ${quoted(status)}`;
  }
  return filter;
}

/**
 * `nw monitor activity-log list`: the server's activity log (who changed what, who was refused,
 * who read packets), newest first, at most --max-events (default 50, as az).
 * @example await activityLogList({ resourceGroup: 'rg1', offset: '1h' }, ctx);
 */
export async function activityLogList(options: ActivityLogListOptions, ctx: CliContext): Promise<Json[]> {
  const max = parseIntegerOption('--max-events', options.maxEvents, 1, 100000) ?? 50;
  const filter = activityLogFilter(options);
  const conn = connect(ctx, options);
  const events: Json[] = [];
  let next: string | undefined =
    `/subscriptions/${encodeURIComponent(conn.subscriptionId)}/providers/Microsoft.Insights/eventtypes/management/values`;
  let query: Record<string, string | undefined> | undefined = { 'api-version': '2015-04-01', $filter: filter };
  while (next && events.length < max) {
    const body = (await conn.client.request('GET', next, query ? { query } : {})).body as {
      value?: Json[];
      nextLink?: string;
    };
    events.push(...(body.value ?? []));
    next = body.nextLink;
    query = undefined;
  }
  const list = events.slice(0, max);
  writeOutput(ctx.out, list, options.output, ACTIVITY_TABLE);
  return list;
}

/** The commands of this file, in help order. */
export const ACTIVITY_LOG_COMMANDS: readonly Declaration[] = [
  defineGroup({
    path: ['monitor', 'activity-log'],
    description: 'the activity log: changes, refused attempts and packet reads (docs/access.md)',
  }),
  defineCommand({
    path: ['monitor', 'activity-log', 'list'],
    description:
      "list activity-log events, newest first (Azure's activity log; az monitor activity-log list works too)",
    examples: [
      'nw monitor activity-log list -g rg1 --offset 1h -o table',
      'nw monitor activity-log list --caller admin --status Failed --offset 1d',
      'nw monitor activity-log list --correlation-id 7f1c1c2e-0000-4000-8000-000000000001',
    ],
    options: ACTIVITY_LOG_LIST_OPTIONS,
    run: (o, { ctx }) => activityLogList(o, ctx),
  }),
];
