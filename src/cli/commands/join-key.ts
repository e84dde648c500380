import { JOIN_KEY_MAX_LIFETIME_IN_SECONDS, JOIN_KEY_MAX_USES } from '../../model/index.js';
import { resourceGroupPath } from '../arm-paths.js';
import { connect } from '../client-factory.js';
import type { CliContext, CommonOptions } from '../context.js';
import { UsageError } from '../errors.js';
import { parseIntegerOption, requireOption } from '../option-values.js';
import { writeOutput, type TableColumn } from '../output.js';
import { listValue } from '../shape.js';
import {
  defineCommand,
  defineGroup,
  type Declaration,
  type OptionTable,
  type OptionValues,
} from '../command-declaration.js';

/** `nw vm join-key list` table columns (never the key: it is shown once, at create). */
export const JOIN_KEY_TABLE: readonly TableColumn[] = [
  { header: 'Id', value: (k) => k['id'] },
  { header: 'ResourceGroup', value: (k) => k['resourceGroup'] },
  { header: 'ScaleSet', value: (k) => k['vmScaleSetName'] },
  { header: 'State', value: (k) => k['state'] },
  {
    header: 'Uses',
    value: (k) => (k['maxUses'] === null ? `${String(k['uses'])}` : `${String(k['uses'])}/${String(k['maxUses'])}`),
  },
  { header: 'ExpiresAt', value: (k) => k['expiresAt'] },
];

/** Options of `nw vm join-key …`. */
/** The flags of `nw vm join-key revoke`. */
export const JOIN_KEY_REVOKE_OPTIONS = {
  resourceGroup: { flags: '-g, --resource-group <rg>', description: 'resource group of the key', required: true },
  id: { flags: '--id <id>', description: 'id of the key (nw vm join-key list)', required: true },
} as const satisfies OptionTable;

/** The flags of `nw vm join-key create`. */
export const JOIN_KEY_CREATE_OPTIONS = {
  resourceGroup: {
    flags: '-g, --resource-group <rg>',
    description: 'resource group the hosts join',
    required: true,
  },
  vmss: { flags: '--vmss <name>', description: 'scale set the hosts join, each as its next instance' },
  expiresIn: {
    flags: '--expires-in <duration>',
    description: 'lifetime: seconds, or 30m, 12h, 7d (default 7d; at most 366d)',
  },
  maxUses: {
    flags: '--max-uses <n>',
    parsed: 'number',
    description: 'how many hosts may join with it (default: no limit)',
  },
  description: { flags: '--description <text>', description: 'what the key is for' },
  location: {
    flags: '-l, --location <location>',
    description: "location of the VMs it creates (default: the scale set's, or the server's)",
  },
} as const satisfies OptionTable;

/** Options of the `nw vm join-key` commands: create's and revoke's flags. */
export type JoinKeyOptions = CommonOptions &
  OptionValues<typeof JOIN_KEY_CREATE_OPTIONS> &
  OptionValues<typeof JOIN_KEY_REVOKE_OPTIONS>;

/**
 * A lifetime as `nw vm join-key create --expires-in` takes it: a number of seconds, or a number
 * with `s`, `m`, `h` or `d`.
 * @example parseDurationInSeconds('7d') // 604800
 */
export function parseDurationInSeconds(flag: string, text: string): number {
  const m = /^(\d+)\s*([smhd]?)$/i.exec(text.trim());
  if (!m) throw new UsageError(`argument ${flag}: '${text}' is not a duration (e.g. 3600, 30m, 12h, 7d)`);
  const seconds =
    Number(m[1]) * ({ '': 1, s: 1, m: 60, h: 3600, d: 86400 } as Record<string, number>)[m[2]!.toLowerCase()]!;
  if (seconds < 60 || seconds > JOIN_KEY_MAX_LIFETIME_IN_SECONDS)
    throw new UsageError(
      `argument ${flag}: '${text}' must be between 1 minute and ${JOIN_KEY_MAX_LIFETIME_IN_SECONDS / 86400} days`,
    );
  return seconds;
}

const joinKeysPath = (sub: string, rg: string) => `${resourceGroupPath(sub, rg)}/providers/Netwatcher/joinKeys`;

/**
 * `nw vm join-key create`: a reusable key with which hosts register and enrol themselves
 * (`nw agent --server URL --join-key KEY`). The key is in this output only.
 * @example await joinKeyCreate({ resourceGroup: 'rg', vmss: 'web', expiresIn: '1d', maxUses: 10 }, ctx);
 */
export async function joinKeyCreate(options: JoinKeyOptions, ctx: CliContext): Promise<Record<string, unknown>> {
  const rg = requireOption('--resource-group/-g', options.resourceGroup);
  const maxUses = parseIntegerOption('--max-uses', options.maxUses, 1, JOIN_KEY_MAX_USES);
  const body: Record<string, unknown> = {};
  if (options.vmss) body['vmScaleSetName'] = options.vmss;
  if (options.expiresIn !== undefined)
    body['expiresInSeconds'] = parseDurationInSeconds('--expires-in', options.expiresIn);
  if (maxUses !== undefined) body['maxUses'] = maxUses;
  if (options.description !== undefined) body['description'] = options.description;
  if (options.location !== undefined) body['location'] = options.location;
  const conn = connect(ctx, options);
  const created = (await conn.client.request('POST', joinKeysPath(conn.subscriptionId, rg), { body })).body as Record<
    string,
    unknown
  >;
  writeOutput(ctx.out, created, options.output, [...JOIN_KEY_TABLE, { header: 'JoinKey', value: (k) => k['joinKey'] }]);
  return created;
}

/** `nw vm join-key list`: the join keys of a resource group (or the subscription): their rules and uses, never the keys. */
export async function joinKeyList(options: JoinKeyOptions, ctx: CliContext): Promise<Array<Record<string, unknown>>> {
  const conn = connect(ctx, options);
  const path = options.resourceGroup
    ? joinKeysPath(conn.subscriptionId, options.resourceGroup)
    : `/subscriptions/${encodeURIComponent(conn.subscriptionId)}/providers/Netwatcher/joinKeys`;
  const keys = listValue((await conn.client.request('GET', path)).body) as Array<Record<string, unknown>>;
  writeOutput(ctx.out, keys, options.output, JOIN_KEY_TABLE);
  return keys;
}

/** `nw vm join-key revoke`: no new host can join with the key; hosts that joined stay. */
export async function joinKeyRevoke(options: JoinKeyOptions, ctx: CliContext): Promise<Record<string, unknown>> {
  const rg = requireOption('--resource-group/-g', options.resourceGroup);
  const id = requireOption('--id', options.id);
  const conn = connect(ctx, options);
  const revoked = (
    await conn.client.request('POST', `${joinKeysPath(conn.subscriptionId, rg)}/${encodeURIComponent(id)}/revoke`)
  ).body as Record<string, unknown>;
  writeOutput(ctx.out, revoked, options.output, JOIN_KEY_TABLE);
  return revoked;
}

/** The commands of this file, in help order. */
export const JOIN_KEY_COMMANDS: readonly Declaration[] = [
  defineGroup({
    path: ['vm', 'join-key'],
    description: 'reusable keys with which hosts register and enrol themselves (cloud-init, Ansible)',
  }),
  defineCommand({
    path: ['vm', 'join-key', 'create'],
    description:
      'create a join key (printed once): hosts run nw agent --join-key KEY to join the resource group, or a scale set as its next instances',
    examples: [
      'nw vm join-key create -g myRG --expires-in 7d',
      'nw vm join-key create -g myRG --vmss web --expires-in 1d --max-uses 20',
      '# then on each host (cloud-init runcmd, an Ansible task):',
      'nw agent --server https://nw.example:8817 --join-key nwj_… --data-dir /var/lib/netwatcher/agent',
    ],
    options: JOIN_KEY_CREATE_OPTIONS,
    run: (o, { ctx }) => joinKeyCreate(o, ctx),
  }),
  defineCommand({
    path: ['vm', 'join-key', 'list'],
    description: 'list join keys: state, uses, expiry (never the keys)',
    examples: ['nw vm join-key list -g myRG -o table'],
    options: {
      resourceGroup: { flags: '-g, --resource-group <rg>', description: 'only this resource group' },
    },
    run: (o, { ctx }) => joinKeyList(o, ctx),
  }),
  defineCommand({
    path: ['vm', 'join-key', 'revoke'],
    description: 'revoke a join key: no new host can join with it; hosts that joined keep working',
    examples: ['nw vm join-key revoke -g myRG --id 3f2c…'],
    options: JOIN_KEY_REVOKE_OPTIONS,
    run: (o, { ctx }) => joinKeyRevoke(o, ctx),
  }),
];
