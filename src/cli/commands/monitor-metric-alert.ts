import { isArmId, vmPath } from '../arm-paths.js';
import { connect } from '../client-factory.js';
import type { CliContext, CommonOptions } from '../context.js';
import { UsageError } from '../errors.js';
import { parseBooleanOption, parseIntegerOption, requireOption } from '../option-values.js';
import { writeOutput, type TableColumn } from '../output.js';
import { flattenResource, listValue } from '../shape.js';
import { parseMetricAlertCondition } from './monitor-condition.js';
import { ALERT_TABLE, shapeAlert } from './monitor-alerts.js';
import { actionGroupPath, alertsPath, metricAlertListPath, metricAlertPath } from './monitor-paths.js';
import { parseKeyValues, toIsoDuration } from './monitor-options.js';
import {
  defineCommand,
  defineGroup,
  type Declaration,
  type OptionTable,
  type OptionValues,
} from '../command-declaration.js';

/** Options of `nw monitor metrics alert create|update|show|delete|list|history`. */
/** The flags of `nw monitor metrics alert update`. */
export const METRIC_ALERT_UPDATE_OPTIONS = {
  name: { flags: '-n, --name <name>', description: 'rule name', required: true },
  resourceGroup: { flags: '-g, --resource-group <rg>', description: 'resource group of the rule', required: true },
  enabled: { flags: '--enabled <bool>', parsed: 'boolean', description: 'enable or disable the rule' },
  condition: {
    flags: '--condition <condition>',
    description: 'replace the conditions (repeatable)',
    repeatable: true,
  },
  windowSize: { flags: '--window-size <period>', description: 'look-back of each evaluation' },
  evaluationFrequency: { flags: '--evaluation-frequency <period>', description: 'how often it is evaluated' },
  action: {
    flags: '-a, --action <words...>',
    description: 'replace the actions: action group name or id, then KEY=VALUE webhook properties',
  },
  description: { flags: '--description <text>', description: 'description' },
  severity: { flags: '--severity <0-4>', parsed: 'number', description: 'severity' },
  autoMitigate: { flags: '--auto-mitigate <bool>', parsed: 'boolean', description: 'resolve automatically' },
  tags: { flags: '--tags <tags...>', description: 'KEY=VALUE tags' },
} as const satisfies OptionTable;

/** The flags of `nw monitor metrics alert create`. */
export const METRIC_ALERT_CREATE_OPTIONS = {
  name: { flags: '-n, --name <name>', description: 'rule name', required: true },
  resourceGroup: { flags: '-g, --resource-group <rg>', description: 'resource group of the rule', required: true },
  scopes: {
    flags: '--scopes <ids...>',
    description: 'VM ids (or names in --resource-group), resource group or subscription ids',
    required: true,
  },
  condition: {
    flags: '--condition <condition>',
    description: 'e.g. "total TCP Segments Sent > 100" (repeat for several; all must hold)',
    required: true,
    repeatable: true,
  },
  windowSize: {
    flags: '--window-size <period>',
    description: 'look-back of each evaluation: 5m, 1h, 5s … (default 5m)',
  },
  evaluationFrequency: {
    flags: '--evaluation-frequency <period>',
    description: 'how often it is evaluated: 1m, 1s … (default 1m)',
  },
  action: {
    flags: '-a, --action <words...>',
    description: 'action group name or id, then its webhook properties KEY=VALUE (repeatable)',
  },
  description: { flags: '--description <text>', description: 'description' },
  severity: { flags: '--severity <0-4>', parsed: 'number', description: 'severity (default 2)' },
  disabled: { flags: '--disabled [bool]', description: 'create it disabled' },
  autoMitigate: {
    flags: '--auto-mitigate <bool>',
    parsed: 'boolean',
    description: 'resolve the alert when the condition no longer holds (default true)',
  },
  targetResourceRegion: {
    flags: '--target-resource-region <region>',
    description: 'region of the target resources',
  },
  tags: { flags: '--tags <tags...>', description: 'KEY=VALUE tags' },
} as const satisfies OptionTable;

/** Options of the `nw monitor metrics alert` commands: create's and update's flags. */
export type MetricAlertOptions = CommonOptions &
  OptionValues<typeof METRIC_ALERT_CREATE_OPTIONS> &
  OptionValues<typeof METRIC_ALERT_UPDATE_OPTIONS>;

/** Table columns of rules. */
const RULE_TABLE: readonly TableColumn[] = [
  { header: 'Name', value: (r) => r['name'] },
  { header: 'ResourceGroup', value: (r) => r['resourceGroup'] },
  { header: 'Enabled', value: (r) => r['enabled'] },
  { header: 'Severity', value: (r) => r['severity'] },
  { header: 'WindowSize', value: (r) => r['windowSize'] },
  { header: 'EvaluationFrequency', value: (r) => r['evaluationFrequency'] },
  { header: 'Description', value: (r) => r['description'] },
];

/**
 * Reads az's `--action` words: an action group name or id, then its webhook properties as
 * KEY=VALUE; the next word without `=` starts the next action.
 * @example parseRuleActions(['AG', 'team=net'], sub, 'rg') // [{ actionGroupId: '/subscriptions/…/actionGroups/AG', webHookProperties: { team: 'net' } }]
 */
export function parseRuleActions(
  words: readonly string[] | undefined,
  subscriptionId: string,
  resourceGroup: string,
): Array<{ actionGroupId: string; webHookProperties: Record<string, string> }> {
  const out: Array<{ actionGroupId: string; webHookProperties: Record<string, string> }> = [];
  for (const word of words ?? []) {
    if (word.includes('=') && !isArmId(word)) {
      const last = out[out.length - 1];
      if (!last)
        throw new UsageError(
          `argument --action: '${word}' comes before any action group. Usage: --action ACTION_GROUP_NAME_OR_ID [KEY=VAL …]`,
        );
      Object.assign(last.webHookProperties, parseKeyValues('--action', [word]));
    } else {
      out.push({
        actionGroupId: isArmId(word) ? word : actionGroupPath(subscriptionId, resourceGroup, word),
        webHookProperties: {},
      });
    }
  }
  return out;
}

/**
 * `nw monitor metrics alert create`: a metric alert rule on host metrics (az's flags; periods may be
 * given in seconds, e.g. `--window-size 5s --evaluation-frequency 1s`).
 * @example await metricAlertCreate({ name: 'TCP_Segments_Sent_Exceeded', resourceGroup: 'rg', scopes: [vmId], condition: ['total TCP Segments Sent > 100'], action: ['AG'] }, ctx);
 */
export async function metricAlertCreate(
  options: MetricAlertOptions,
  ctx: CliContext,
): Promise<Record<string, unknown>> {
  const name = requireOption('--name/-n', options.name);
  const resourceGroup = requireOption('--resource-group/-g', options.resourceGroup);
  const scopesIn = requireOption('--scopes', options.scopes);
  const conditions = requireOption('--condition', options.condition).map(parseMetricAlertCondition);
  const severity = parseIntegerOption('--severity', options.severity, 0, 4) ?? 2;
  const disabled = parseBooleanOption('--disabled', options.disabled) ?? false;
  const autoMitigate = parseBooleanOption('--auto-mitigate', options.autoMitigate) ?? true;
  const windowSize = toIsoDuration('--window-size', options.windowSize ?? '5m');
  const evaluationFrequency = toIsoDuration('--evaluation-frequency', options.evaluationFrequency ?? '1m');
  const tags = parseKeyValues('--tags', options.tags);
  const conn = connect(ctx, options);
  const scopes = scopesIn.map((s) => (isArmId(s) ? s : vmPath(conn.subscriptionId, resourceGroup, s)));
  const body = {
    location: 'global',
    ...(tags ? { tags } : {}),
    properties: {
      description: options.description ?? '',
      severity,
      enabled: !disabled,
      scopes,
      evaluationFrequency,
      windowSize,
      ...(options.targetResourceRegion ? { targetResourceRegion: options.targetResourceRegion } : {}),
      criteria: {
        'odata.type':
          scopes.length > 1
            ? 'Microsoft.Azure.Monitor.MultipleResourceMultipleMetricCriteria'
            : 'Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria',
        allOf: conditions.map((c, i) => ({ criterionType: 'StaticThresholdCriterion', name: `cond${i}`, ...c })),
      },
      autoMitigate,
      actions: parseRuleActions(options.action, conn.subscriptionId, resourceGroup),
    },
  };
  const response = await conn.client.request('PUT', metricAlertPath(conn.subscriptionId, resourceGroup, name), {
    body,
  });
  const shaped = flattenResource(response.body);
  writeOutput(ctx.out, shaped, options.output, RULE_TABLE);
  return shaped;
}

/** `nw monitor metrics alert update`: changes enabled, severity, description, periods or actions of a rule. */
export async function metricAlertUpdate(
  options: MetricAlertOptions,
  ctx: CliContext,
): Promise<Record<string, unknown>> {
  const name = requireOption('--name/-n', options.name);
  const resourceGroup = requireOption('--resource-group/-g', options.resourceGroup);
  const conn = connect(ctx, options);
  const path = metricAlertPath(conn.subscriptionId, resourceGroup, name);
  const current = (await conn.client.request('GET', path)).body as {
    location?: string;
    tags?: Record<string, string>;
    properties: Record<string, unknown>;
  };
  const p = { ...current.properties };
  const enabled = parseBooleanOption('--enabled', options.enabled);
  if (enabled !== undefined) p['enabled'] = enabled;
  const severity = parseIntegerOption('--severity', options.severity, 0, 4);
  if (severity !== undefined) p['severity'] = severity;
  if (options.description !== undefined) p['description'] = options.description;
  if (options.windowSize) p['windowSize'] = toIsoDuration('--window-size', options.windowSize);
  if (options.evaluationFrequency)
    p['evaluationFrequency'] = toIsoDuration('--evaluation-frequency', options.evaluationFrequency);
  const autoMitigate = parseBooleanOption('--auto-mitigate', options.autoMitigate);
  if (autoMitigate !== undefined) p['autoMitigate'] = autoMitigate;
  if (options.action) p['actions'] = parseRuleActions(options.action, conn.subscriptionId, resourceGroup);
  if (options.condition) {
    p['criteria'] = {
      ...(p['criteria'] as Record<string, unknown>),
      allOf: options.condition
        .map(parseMetricAlertCondition)
        .map((c, i) => ({ criterionType: 'StaticThresholdCriterion', name: `cond${i}`, ...c })),
    };
  }
  const tags = parseKeyValues('--tags', options.tags);
  const response = await conn.client.request('PUT', path, {
    body: {
      location: current.location ?? 'global',
      ...((tags ?? current.tags) ? { tags: tags ?? current.tags } : {}),
      properties: p,
    },
  });
  const shaped = flattenResource(response.body);
  writeOutput(ctx.out, shaped, options.output, RULE_TABLE);
  return shaped;
}

/** `nw monitor metrics alert show`. */
export async function metricAlertShow(options: MetricAlertOptions, ctx: CliContext): Promise<Record<string, unknown>> {
  const name = requireOption('--name/-n', options.name);
  const resourceGroup = requireOption('--resource-group/-g', options.resourceGroup);
  const conn = connect(ctx, options);
  const shaped = flattenResource(
    (await conn.client.request('GET', metricAlertPath(conn.subscriptionId, resourceGroup, name))).body,
  );
  writeOutput(ctx.out, shaped, options.output, RULE_TABLE);
  return shaped;
}

/** `nw monitor metrics alert list` (a resource group's, or the subscription's). */
export async function metricAlertList(
  options: MetricAlertOptions,
  ctx: CliContext,
): Promise<Array<Record<string, unknown>>> {
  const conn = connect(ctx, options);
  const path = options.resourceGroup
    ? metricAlertPath(conn.subscriptionId, options.resourceGroup, '')
    : metricAlertListPath(conn.subscriptionId);
  const list = listValue((await conn.client.request('GET', path)).body).map(flattenResource);
  writeOutput(ctx.out, list, options.output, RULE_TABLE);
  return list;
}

/** `nw monitor metrics alert delete`: stops the rule; its alerts stay in the history. Prints nothing. */
export async function metricAlertDelete(options: MetricAlertOptions, ctx: CliContext): Promise<void> {
  const name = requireOption('--name/-n', options.name);
  const resourceGroup = requireOption('--resource-group/-g', options.resourceGroup);
  const conn = connect(ctx, options);
  await conn.client.request('DELETE', metricAlertPath(conn.subscriptionId, resourceGroup, name));
}

/** `nw monitor metrics alert history`: the alerts a rule fired, newest first, with their notifications. */
export async function metricAlertHistory(
  options: MetricAlertOptions,
  ctx: CliContext,
): Promise<Array<Record<string, unknown>>> {
  const name = requireOption('--name/-n', options.name);
  const resourceGroup = requireOption('--resource-group/-g', options.resourceGroup);
  const conn = connect(ctx, options);
  const ruleId = metricAlertPath(conn.subscriptionId, resourceGroup, name);
  const list = listValue(
    (await conn.client.request('GET', alertsPath(conn.subscriptionId), { query: { alertRule: ruleId } })).body,
  ).map(shapeAlert);
  writeOutput(ctx.out, list, options.output, ALERT_TABLE);
  return list;
}

/** The commands of this file, in help order. */
export const METRIC_ALERT_COMMANDS: readonly Declaration[] = [
  defineGroup({ path: ['monitor', 'metrics', 'alert'], description: 'metric alert rules' }),
  defineCommand({
    path: ['monitor', 'metrics', 'alert', 'create'],
    description: 'create a metric alert rule on host metrics',
    examples: [
      'nw monitor metrics alert create --name TCP_Segments_Sent_Exceeded --resource-group myRG --scopes VM_ID \\',
      '  --condition "total TCP Segments Sent > 100" --window-size 5m --evaluation-frequency 1m --action AG --description "TCP segments sent exceeded the threshold"',
      'nw monitor metrics alert create -n fast -g myRG --scopes VM_ID --condition "total TCP Segments Sent > 100" --window-size 5s --evaluation-frequency 1s --action AG',
    ],
    options: METRIC_ALERT_CREATE_OPTIONS,
    run: (o, { ctx }) => metricAlertCreate(o, ctx),
  }),
  defineCommand({
    path: ['monitor', 'metrics', 'alert', 'update'],
    description: 'change a metric alert rule',
    examples: ['nw monitor metrics alert update -n TCP_Segments_Sent_Exceeded -g myRG --enabled false'],
    options: METRIC_ALERT_UPDATE_OPTIONS,
    run: (o, { ctx }) => metricAlertUpdate(o, ctx),
  }),
  defineCommand({
    path: ['monitor', 'metrics', 'alert', 'show'],
    description: 'show a metric alert rule',
    examples: ['nw monitor metrics alert show -n TCP_Segments_Sent_Exceeded -g myRG'],
    options: {
      name: { flags: '-n, --name <name>', description: 'rule name', required: true },
      resourceGroup: { flags: '-g, --resource-group <rg>', description: 'resource group of the rule', required: true },
    },
    run: (o, { ctx }) => metricAlertShow(o, ctx),
  }),
  defineCommand({
    path: ['monitor', 'metrics', 'alert', 'list'],
    description: 'list metric alert rules',
    examples: ['nw monitor metrics alert list -g myRG -o table'],
    options: {
      resourceGroup: { flags: '-g, --resource-group <rg>', description: 'only this resource group' },
    },
    run: (o, { ctx }) => metricAlertList(o, ctx),
  }),
  defineCommand({
    path: ['monitor', 'metrics', 'alert', 'delete'],
    description: 'delete a metric alert rule (its alerts stay in the history); prints nothing',
    examples: ['nw monitor metrics alert delete -n TCP_Segments_Sent_Exceeded -g myRG'],
    options: {
      name: { flags: '-n, --name <name>', description: 'rule name', required: true },
      resourceGroup: { flags: '-g, --resource-group <rg>', description: 'resource group of the rule', required: true },
    },
    run: (o, { ctx }) => metricAlertDelete(o, ctx),
  }),
  defineCommand({
    path: ['monitor', 'metrics', 'alert', 'history'],
    description: 'the alerts a rule fired (and resolved), newest first, with their webhook deliveries',
    examples: ['nw monitor metrics alert history -n TCP_Segments_Sent_Exceeded -g myRG -o table'],
    options: {
      name: { flags: '-n, --name <name>', description: 'rule name', required: true },
      resourceGroup: { flags: '-g, --resource-group <rg>', description: 'resource group of the rule', required: true },
    },
    run: (o, { ctx }) => metricAlertHistory(o, ctx),
  }),
];
