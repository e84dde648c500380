import { connect } from '../client-factory.js';
import type { CliContext, CommonOptions } from '../context.js';
import { UsageError } from '../errors.js';
import { requireOption } from '../option-values.js';
import { writeOutput, type TableColumn } from '../output.js';
import { flattenResource, listValue } from '../shape.js';
import { actionGroupListPath, actionGroupPath } from './monitor-paths.js';
import { parseKeyValues } from './monitor-options.js';
import {
  defineCommand,
  defineGroup,
  type Declaration,
  type OptionTable,
  type OptionValues,
} from '../command-declaration.js';

/** The flags of `nw monitor action-group create`. */
export const ACTION_GROUP_CREATE_OPTIONS = {
  name: { flags: '-n, --name <name>', description: 'action group name', required: true },
  resourceGroup: { flags: '-g, --resource-group <rg>', description: 'resource group', required: true },
  shortName: { flags: '--short-name <name>', description: 'short name, at most 12 characters (default: the name)' },
  action: { flags: '-a, --action <words...>', description: 'webhook NAME URI [usecommonalertschema] (repeatable)' },
  location: { flags: '-l, --location <location>', description: 'location (default Global)' },
  tags: { flags: '--tags <tags...>', description: 'KEY=VALUE tags' },
} as const satisfies OptionTable;

/** Options of the `nw monitor action-group` commands: create's flags, the widest. */
export type ActionGroupOptions = CommonOptions & OptionValues<typeof ACTION_GROUP_CREATE_OPTIONS>;

/** A webhook receiver as the API takes it. */
export interface WebhookReceiverInput {
  name: string;
  serviceUri: string;
  useCommonAlertSchema: boolean;
}

const ACTION_TYPES = [
  'email',
  'sms',
  'webhook',
  'armrole',
  'azureapppush',
  'itsm',
  'automationrunbook',
  'voice',
  'logicapp',
  'azurefunction',
  'eventhub',
];

/**
 * Reads az's `--action` words: `webhook NAME URI [usecommonalertschema]` (repeatable). The word
 * list of several `--action` flags arrives joined; each action starts with its type, so they are
 * split again by the arity of webhook. Other types are refused: only webhooks are sent.
 * @example parseActionGroupActions(['webhook', 'hook1', 'https://h/x', 'usecommonalertschema'])
 */
export function parseActionGroupActions(words: readonly string[] | undefined): WebhookReceiverInput[] {
  const out: WebhookReceiverInput[] = [];
  const list = [...(words ?? [])];
  while (list.length > 0) {
    const type = list.shift()!.toLowerCase();
    if (type !== 'webhook') {
      if (ACTION_TYPES.includes(type))
        throw new UsageError(
          `argument --action: '${type}' actions are not supported: netwatcher sends alerts to webhooks only`,
        );
      throw new UsageError(
        `argument --action: expected an action type (webhook), got '${type}'. Usage: --action webhook NAME URI [usecommonalertschema]`,
      );
    }
    const name = list.shift();
    const uri = list.shift();
    if (!name || !uri) throw new UsageError('usage error: --action webhook NAME URI [usecommonalertschema]');
    if (!/^https?:\/\//i.test(uri))
      throw new UsageError(`argument --action: webhook URI '${uri}' must be an http or https URL`);
    let useCommonAlertSchema = false;
    while (list.length > 0 && !ACTION_TYPES.includes(list[0]!.toLowerCase())) {
      const flag = list.shift()!.toLowerCase();
      if (flag === 'usecommonalertschema') useCommonAlertSchema = true;
      else if (flag === 'useaadauth')
        throw new UsageError('argument --action: useaadauth is not supported: put a key in the webhook URL instead');
      else throw new UsageError(`argument --action: unknown webhook option '${flag}' (known: usecommonalertschema)`);
    }
    out.push({ name, serviceUri: uri, useCommonAlertSchema });
  }
  return out;
}

/** Table columns of action groups. */
const ACTION_GROUP_TABLE: readonly TableColumn[] = [
  { header: 'Name', value: (g) => g['name'] },
  { header: 'ResourceGroup', value: (g) => g['resourceGroup'] },
  { header: 'ShortName', value: (g) => g['groupShortName'] },
  { header: 'Enabled', value: (g) => g['enabled'] },
  { header: 'Webhooks', value: (g) => (Array.isArray(g['webhookReceivers']) ? g['webhookReceivers'].length : 0) },
];

/**
 * `nw monitor action-group create`: an action group with webhook receivers (az's syntax).
 * @example await actionGroupCreate({ name: 'AG', resourceGroup: 'rg', action: ['webhook', 'capture', 'https://nw/alert-capture/…', 'usecommonalertschema'] }, ctx);
 */
export async function actionGroupCreate(
  options: ActionGroupOptions,
  ctx: CliContext,
): Promise<Record<string, unknown>> {
  const name = requireOption('--name/-n', options.name);
  const resourceGroup = requireOption('--resource-group/-g', options.resourceGroup);
  const receivers = parseActionGroupActions(options.action);
  const shortName = options.shortName ?? name.slice(0, 12);
  if (shortName.length > 12)
    throw new UsageError(`argument --short-name: at most 12 characters, got ${shortName.length}`);
  const tags = parseKeyValues('--tags', options.tags);
  const conn = connect(ctx, options);
  const body = {
    location: options.location ?? 'Global',
    ...(tags ? { tags } : {}),
    properties: { groupShortName: shortName, enabled: true, webhookReceivers: receivers },
  };
  const response = await conn.client.request('PUT', actionGroupPath(conn.subscriptionId, resourceGroup, name), {
    body,
  });
  const shaped = flattenResource(response.body);
  writeOutput(ctx.out, shaped, options.output, ACTION_GROUP_TABLE);
  return shaped;
}

/** `nw monitor action-group show`. */
export async function actionGroupShow(options: ActionGroupOptions, ctx: CliContext): Promise<Record<string, unknown>> {
  const name = requireOption('--name/-n', options.name);
  const resourceGroup = requireOption('--resource-group/-g', options.resourceGroup);
  const conn = connect(ctx, options);
  const shaped = flattenResource(
    (await conn.client.request('GET', actionGroupPath(conn.subscriptionId, resourceGroup, name))).body,
  );
  writeOutput(ctx.out, shaped, options.output, ACTION_GROUP_TABLE);
  return shaped;
}

/** `nw monitor action-group list` (a resource group's, or the subscription's). */
export async function actionGroupList(
  options: ActionGroupOptions,
  ctx: CliContext,
): Promise<Array<Record<string, unknown>>> {
  const conn = connect(ctx, options);
  const path = options.resourceGroup
    ? actionGroupPath(conn.subscriptionId, options.resourceGroup, '')
    : actionGroupListPath(conn.subscriptionId);
  const list = listValue((await conn.client.request('GET', path)).body).map(flattenResource);
  writeOutput(ctx.out, list, options.output, ACTION_GROUP_TABLE);
  return list;
}

/** `nw monitor action-group delete`: prints nothing. */
export async function actionGroupDelete(options: ActionGroupOptions, ctx: CliContext): Promise<void> {
  const name = requireOption('--name/-n', options.name);
  const resourceGroup = requireOption('--resource-group/-g', options.resourceGroup);
  const conn = connect(ctx, options);
  await conn.client.request('DELETE', actionGroupPath(conn.subscriptionId, resourceGroup, name));
}

/** The commands of this file, in help order. */
export const ACTION_GROUP_COMMANDS: readonly Declaration[] = [
  defineGroup({
    path: ['monitor', 'action-group'],
    description: 'action groups: where alert notifications go (webhooks)',
  }),
  defineCommand({
    path: ['monitor', 'action-group', 'create'],
    description: 'create an action group with webhook receivers',
    examples: [
      'nw monitor action-group create --name AG --resource-group myRG --action webhook capture "https://nw.example:8817/alert-capture/v1/…?code=KEY" usecommonalertschema',
      'nw monitor action-group create -n AG2 -g myRG -a webhook ops https://hooks.example/ops -a webhook audit https://hooks.example/audit',
    ],
    options: ACTION_GROUP_CREATE_OPTIONS,
    run: (o, { ctx }) => actionGroupCreate(o, ctx),
  }),
  defineCommand({
    path: ['monitor', 'action-group', 'show'],
    description: 'show an action group',
    examples: ['nw monitor action-group show -n AG -g myRG'],
    options: {
      name: { flags: '-n, --name <name>', description: 'action group name', required: true },
      resourceGroup: { flags: '-g, --resource-group <rg>', description: 'resource group', required: true },
    },
    run: (o, { ctx }) => actionGroupShow(o, ctx),
  }),
  defineCommand({
    path: ['monitor', 'action-group', 'list'],
    description: 'list action groups',
    examples: ['nw monitor action-group list -o table'],
    options: {
      resourceGroup: { flags: '-g, --resource-group <rg>', description: 'only this resource group' },
    },
    run: (o, { ctx }) => actionGroupList(o, ctx),
  }),
  defineCommand({
    path: ['monitor', 'action-group', 'delete'],
    description: 'delete an action group; prints nothing',
    examples: ['nw monitor action-group delete -n AG -g myRG'],
    options: {
      name: { flags: '-n, --name <name>', description: 'action group name', required: true },
      resourceGroup: { flags: '-g, --resource-group <rg>', description: 'resource group', required: true },
    },
    run: (o, { ctx }) => actionGroupDelete(o, ctx),
  }),
];
