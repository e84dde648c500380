import { vmListPath, vmPath } from '../arm-paths.js';
import { connect } from '../client-factory.js';
import { confirmOperation, type CliContext, type CommonOptions } from '../context.js';
import { UsageError } from '../errors.js';
import { requireOption } from '../option-values.js';
import { writeOutput, type TableColumn } from '../output.js';
import { listValue, shapeVm } from '../shape.js';
import {
  defineCommand,
  defineGroup,
  type Declaration,
  type OptionTable,
  type OptionValues,
} from '../command-declaration.js';
import { VM_LOOKBACK_COMMANDS } from './vm-lookback.js';

/** Table columns of `nw vm list|show`: az's plus whether the host's agent is connected. */
export const VM_TABLE: readonly TableColumn[] = [
  { header: 'Name', value: (vm) => vm['name'] },
  { header: 'ResourceGroup', value: (vm) => vm['resourceGroup'] },
  { header: 'Location', value: (vm) => vm['location'] },
  {
    header: 'AgentConnected',
    value: (vm) => (vm['netwatcher'] as { agentConnected?: unknown } | undefined)?.agentConnected,
  },
];

/** The flags of `nw vm list`. */
export const VM_LIST_OPTIONS = {
  resourceGroup: { flags: '-g, --resource-group <rg>', description: 'only this resource group' },
} as const satisfies OptionTable;

/** Options of `nw vm list`. */
export type VmListOptions = CommonOptions & OptionValues<typeof VM_LIST_OPTIONS>;

/** The flags of `nw vm show`. */
export const VM_SHOW_OPTIONS = {
  resourceGroup: { flags: '-g, --resource-group <rg>', description: 'resource group of the VM', required: true },
  name: { flags: '-n, --name <vm>', description: 'name of the VM', required: true },
} as const satisfies OptionTable;

/** Options of `nw vm show`. */
export type VmShowOptions = CommonOptions & OptionValues<typeof VM_SHOW_OPTIONS>;

/**
 * `nw vm list`: the hosts the server knows (registered or enrolled), with their agent state.
 * @example await vmList({ output: 'table' }, ctx);
 */
export async function vmList(options: VmListOptions, ctx: CliContext): Promise<Array<Record<string, unknown>>> {
  const conn = connect(ctx, options);
  let response = await conn.client.request('GET', vmListPath(conn.subscriptionId));
  const items = listValue(response.body);
  // Long lists come in pages, as ARM's do: follow nextLink to the end.
  for (
    let next = (response.body as { nextLink?: unknown } | null)?.nextLink;
    typeof next === 'string' && next.length > 0;
    next = (response.body as { nextLink?: unknown } | null)?.nextLink
  ) {
    response = await conn.client.request('GET', next);
    items.push(...listValue(response.body));
  }
  let vms = items.map(shapeVm);
  if (options.resourceGroup)
    vms = vms.filter((vm) => String(vm['resourceGroup'] ?? '').toLowerCase() === options.resourceGroup!.toLowerCase());
  writeOutput(ctx.out, vms, options.output, VM_TABLE);
  return vms;
}

/** `nw vm show`: one host. */
export async function vmShow(options: VmShowOptions, ctx: CliContext): Promise<Record<string, unknown>> {
  const resourceGroup = requireOption('--resource-group/-g', options.resourceGroup);
  const name = requireOption('--name/-n', options.name);
  const conn = connect(ctx, options);
  const response = await conn.client.request('GET', vmPath(conn.subscriptionId, resourceGroup, name));
  const vm = shapeVm(response.body);
  writeOutput(ctx.out, vm, options.output, VM_TABLE);
  return vm;
}

/** The flags of `nw vm delete` (`--force` or az's `--force-deletion`). */
export const VM_DELETE_OPTIONS = {
  resourceGroup: { flags: '-g, --resource-group <rg>', description: 'resource group of the VM', required: true },
  name: { flags: '-n, --name <vm>', description: 'name of the VM', required: true },
  yes: { flags: '-y, --yes', description: 'do not ask for confirmation' },
  forceDeletion: {
    flags: '--force, --force-deletion',
    description: 'also when captures run on it (they are recorded as stopped and the agent is told to stop them)',
  },
} as const satisfies OptionTable;

/** Options of `nw vm delete`. */
export type VmDeleteOptions = CommonOptions & OptionValues<typeof VM_DELETE_OPTIONS>;

/**
 * `nw vm delete`: removes a host — its credential is revoked and its agent disconnected at once;
 * refused while captures run on it unless `--force`. Prints nothing (as az).
 * @example await vmDelete({ resourceGroup: 'rg', name: 'web1', yes: true }, ctx);
 */
export async function vmDelete(options: VmDeleteOptions, ctx: CliContext): Promise<void> {
  const resourceGroup = requireOption('--resource-group/-g', options.resourceGroup);
  const name = requireOption('--name/-n', options.name);
  if (!(await confirmOperation(ctx, options.yes))) return;
  const conn = connect(ctx, options);
  await conn.client.request('DELETE', vmPath(conn.subscriptionId, resourceGroup, name), {
    ...(options.forceDeletion ? { query: { forceDeletion: 'true' } } : {}),
  });
}

/** The flags of `nw vm update` (az's generic --set/--remove; only tags can be set on a host). */
export const VM_UPDATE_OPTIONS = {
  resourceGroup: { flags: '-g, --resource-group <rg>', description: 'resource group of the VM', required: true },
  name: { flags: '-n, --name <vm>', description: 'name of the VM', required: true },
  set: { flags: '--set <items...>', description: 'tags.KEY=VALUE to set' },
  remove: { flags: '--remove <items...>', description: 'tags.KEY to remove (tags: all)' },
} as const satisfies OptionTable;

/** Options of `nw vm update`. */
export type VmUpdateOptions = CommonOptions & OptionValues<typeof VM_UPDATE_OPTIONS>;

/**
 * `nw vm update --set tags.KEY=VALUE --remove tags.KEY`: changes a host's tags, which capture
 * target selectors match (`packet-capture create --target-selector "tags.role=web"`).
 * @example await vmUpdate({ resourceGroup: 'rg', name: 'web1', set: ['tags.role=web'] }, ctx);
 */
export async function vmUpdate(options: VmUpdateOptions, ctx: CliContext): Promise<Record<string, unknown>> {
  const resourceGroup = requireOption('--resource-group/-g', options.resourceGroup);
  const name = requireOption('--name/-n', options.name);
  if (!options.set?.length && !options.remove?.length)
    throw new UsageError('usage error: --set tags.KEY=VALUE … | --remove tags.KEY …');
  const sets = (options.set ?? []).map((item) => {
    const m = /^tags\.([^=]+)=(.*)$/s.exec(item);
    if (!m) throw new UsageError(`argument --set: '${item}' is not tags.KEY=VALUE (only tags can be set on a host)`);
    return [m[1]!, m[2]!] as const;
  });
  const removes = (options.remove ?? []).map((item) => {
    if (item === 'tags') return null;
    const m = /^tags\.(.+)$/s.exec(item);
    if (!m) throw new UsageError(`argument --remove: '${item}' is not tags.KEY or tags`);
    return m[1]!;
  });
  const conn = connect(ctx, options);
  const path = vmPath(conn.subscriptionId, resourceGroup, name);
  const current = (await conn.client.request('GET', path)).body as { tags?: Record<string, string> } | null;
  let tags: Record<string, string> = { ...(current?.tags ?? {}) };
  for (const key of removes) {
    if (key === null) tags = {};
    else for (const k of Object.keys(tags)) if (k.toLowerCase() === key.toLowerCase()) delete tags[k];
  }
  for (const [k, v] of sets) tags[k] = v;
  const vm = shapeVm((await conn.client.request('PATCH', path, { body: { tags } })).body);
  writeOutput(ctx.out, vm, options.output, VM_TABLE);
  return vm;
}

/** The commands of this file, in help order. */
export const VM_COMMANDS: readonly Declaration[] = [
  defineGroup({ path: ['vm'], description: 'hosts (virtual machines) and their agent extension' }),
  defineCommand({
    path: ['vm', 'list'],
    description: 'list the hosts the server knows, with their agent state',
    examples: ['nw vm list -o table'],
    options: VM_LIST_OPTIONS,
    run: (o, { ctx }) => vmList(o, ctx),
  }),
  defineCommand({
    path: ['vm', 'show'],
    description: 'show one host',
    examples: ['nw vm show -g netwatcher-local -n myhost'],
    options: VM_SHOW_OPTIONS,
    run: (o, { ctx }) => vmShow(o, ctx),
  }),
  defineCommand({
    path: ['vm', 'delete'],
    description:
      "remove a host: revokes its agent's credential and disconnects it at once; refused while captures run on it unless --force; prints nothing",
    examples: ['nw vm delete -g myRG -n web1 --yes', 'nw vm delete -g myRG -n web1 --yes --force'],
    options: VM_DELETE_OPTIONS,
    run: (o, { ctx }) => vmDelete(o, ctx),
  }),
  ...VM_LOOKBACK_COMMANDS,
  defineCommand({
    path: ['vm', 'update'],
    description: "change a host's tags, which capture target selectors match",
    examples: [
      'nw vm update -g myRG -n web1 --set tags.role=web',
      'nw vm update -g myRG -n web1 --set tags.role=web tags.tier=front --remove tags.old',
    ],
    options: VM_UPDATE_OPTIONS,
    run: (o, { ctx }) => vmUpdate(o, ctx),
  }),
];
