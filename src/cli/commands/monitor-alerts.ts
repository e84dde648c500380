import { isArmId } from '../arm-paths.js';
import { connect } from '../client-factory.js';
import type { CliContext, CommonOptions } from '../context.js';
import { UsageError } from '../errors.js';
import { parseIntegerOption, requireOption } from '../option-values.js';
import { writeOutput, type TableColumn } from '../output.js';
import { listValue } from '../shape.js';
import { alertsPath } from './monitor-paths.js';
import {
  defineCommand,
  defineGroup,
  type Declaration,
  type OptionTable,
  type OptionValues,
} from '../command-declaration.js';

/** Options of `nw monitor alert list|show`. */
/** The flags of `nw monitor alert show`. */
export const ALERT_SHOW_OPTIONS = {
  id: { flags: '--id <id>', description: 'alert id (GUID or full id)', required: true },
} as const satisfies OptionTable;

/** The flags of `nw monitor alert list`. */
export const ALERT_LIST_OPTIONS = {
  rule: { flags: '--rule <name-or-id>', description: 'only alerts of this rule' },
  resource: { flags: '--resource <id>', description: 'only alerts on this VM' },
  state: { flags: '--state <condition>', description: 'Fired or Resolved' },
  top: { flags: '--top <count>', parsed: 'number', description: 'at most this many (default 250)' },
} as const satisfies OptionTable;

/** Options of `nw monitor alert list|show`. */
export type AlertListOptions = CommonOptions &
  OptionValues<typeof ALERT_LIST_OPTIONS> &
  OptionValues<typeof ALERT_SHOW_OPTIONS>;

type Json = Record<string, unknown>;

/**
 * A fired alert for the terminal: Alerts Management's essentials lifted to the top, with the
 * id, name and netwatcher's notification records.
 */
export function shapeAlert(alert: unknown): Json {
  const a = (alert ?? {}) as Json;
  const p = (a['properties'] ?? {}) as Json;
  return {
    id: a['id'],
    name: a['name'],
    type: a['type'],
    ...((p['essentials'] ?? {}) as Json),
    context: p['context'],
    netwatcher: p['netwatcher'],
  };
}

/** Table columns of alerts. */
export const ALERT_TABLE: readonly TableColumn[] = [
  { header: 'Rule', value: (a) => a['name'] },
  { header: 'Target', value: (a) => a['targetResourceName'] },
  { header: 'Condition', value: (a) => a['monitorCondition'] },
  { header: 'Severity', value: (a) => a['severity'] },
  { header: 'Fired', value: (a) => a['startDateTime'] },
  { header: 'Resolved', value: (a) => a['monitorConditionResolvedDateTime'] },
  {
    header: 'Notifications',
    value: (a) => ((a['netwatcher'] as { notifications?: unknown[] } | undefined)?.notifications ?? []).length,
  },
];

/**
 * `nw monitor alert list`: fired alerts (Azure's Alerts Management list), newest first.
 * @example await alertList({ rule: 'TCP_Segments_Sent_Exceeded', state: 'Fired' }, ctx);
 */
export async function alertList(options: AlertListOptions, ctx: CliContext): Promise<Json[]> {
  let state: string | undefined;
  if (options.state !== undefined) {
    state = ['Fired', 'Resolved'].find((s) => s.toLowerCase() === options.state!.toLowerCase());
    if (!state)
      throw new UsageError(`argument --state: invalid choice: '${options.state}' (choose from 'Fired', 'Resolved')`);
  }
  const top = parseIntegerOption('--top', options.top, 1, 1000);
  const conn = connect(ctx, options);
  const query: Record<string, string | undefined> = {
    alertRule: options.rule,
    targetResource: options.resource && isArmId(options.resource) ? options.resource : undefined,
    monitorCondition: state,
    pageCount: top === undefined ? undefined : String(top),
  };
  if (options.resource && !isArmId(options.resource))
    throw new UsageError('argument --resource: give the resource id (/subscriptions/…/virtualMachines/NAME)');
  const list = listValue((await conn.client.request('GET', alertsPath(conn.subscriptionId), { query })).body).map(
    shapeAlert,
  );
  writeOutput(ctx.out, list, options.output, ALERT_TABLE);
  return list;
}

/** `nw monitor alert show --id ID`: one alert with its conditions and notification deliveries. */
export async function alertShow(options: AlertListOptions, ctx: CliContext): Promise<Json> {
  const id = requireOption('--id', options.id);
  const conn = connect(ctx, options);
  const guid = id.replace(/\/+$/, '').split('/').pop()!;
  const shaped = shapeAlert(
    (await conn.client.request('GET', `${alertsPath(conn.subscriptionId)}/${encodeURIComponent(guid)}`)).body,
  );
  writeOutput(ctx.out, shaped, options.output, ALERT_TABLE);
  return shaped;
}

/** The commands of this file, in help order. */
export const ALERT_COMMANDS: readonly Declaration[] = [
  defineGroup({ path: ['monitor', 'alert'], description: 'fired alerts (Alerts Management)' }),
  defineCommand({
    path: ['monitor', 'alert', 'list'],
    description: 'list fired alerts, newest first',
    examples: [
      'nw monitor alert list -o table',
      'nw monitor alert list --rule TCP_Segments_Sent_Exceeded --state Fired',
    ],
    options: ALERT_LIST_OPTIONS,
    run: (o, { ctx }) => alertList(o, ctx),
  }),
  defineCommand({
    path: ['monitor', 'alert', 'show'],
    description: 'show one alert with its notifications',
    examples: ['nw monitor alert show --id 3f0c…'],
    options: ALERT_SHOW_OPTIONS,
    run: (o, { ctx }) => alertShow(o, ctx),
  }),
];
