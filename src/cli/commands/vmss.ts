import { AGENT_EXTENSION } from '../../model/index.js';
import { resourceGroupPath, vmssPath } from '../arm-paths.js';
import { connect } from '../client-factory.js';
import type { CliContext, CommonOptions } from '../context.js';
import { UsageError } from '../errors.js';
import { pollUntilDone } from '../lro.js';
import { requireOption } from '../option-values.js';
import { writeOutput, type TableColumn } from '../output.js';
import { listValue, shapeVm, shapeVmExtension } from '../shape.js';
import {
  defineCommand,
  defineGroup,
  type Declaration,
  type OptionTable,
  type OptionValues,
} from '../command-declaration.js';

/** `nw vmss list|show` table columns. */
export const VMSS_TABLE: readonly TableColumn[] = [
  { header: 'Name', value: (s) => s['name'] },
  { header: 'ResourceGroup', value: (s) => s['resourceGroup'] },
  { header: 'Location', value: (s) => s['location'] },
  { header: 'Capacity', value: (s) => (s['sku'] as { capacity?: unknown } | undefined)?.capacity },
];

/** `nw vmss list-instances` table columns: az's, with the host's name and whether its agent is connected. */
export const VMSS_INSTANCE_TABLE: readonly TableColumn[] = [
  { header: 'InstanceId', value: (i) => i['instanceId'] },
  { header: 'Name', value: (i) => i['name'] },
  { header: 'ComputerName', value: (i) => (i['osProfile'] as { computerName?: unknown } | undefined)?.computerName },
  {
    header: 'AgentConnected',
    value: (i) => (i['netwatcher'] as { agentConnected?: unknown } | undefined)?.agentConnected,
  },
];

/** The flags of `nw vmss create`. */
export const VMSS_CREATE_OPTIONS = {
  resourceGroup: { flags: '-g, --resource-group <rg>', description: 'resource group', required: true },
  name: { flags: '-n, --name <name>', description: 'name of the scale set', required: true },
  location: { flags: '-l, --location <location>', description: "location (default: the server's)" },
  tags: { flags: '--tags <tags...>', description: 'KEY=VALUE tags' },
} as const satisfies OptionTable;

/** Options of the `nw vmss` commands: create's flags, the widest. */
export type VmssOptions = CommonOptions & OptionValues<typeof VMSS_CREATE_OPTIONS>;

function shapeVmss(resource: unknown): Record<string, unknown> {
  const r = shapeVm(resource);
  const raw = resource as { sku?: unknown; properties?: { uniqueId?: unknown } };
  return { ...r, sku: raw.sku ?? null, uniqueId: raw.properties?.uniqueId ?? null };
}

function shapeInstance(resource: unknown): Record<string, unknown> {
  const raw = resource as { instanceId?: unknown; properties?: Record<string, unknown> };
  return {
    ...shapeVm(resource),
    instanceId: raw.instanceId ?? null,
    osProfile: raw.properties?.['osProfile'] ?? null,
    netwatcher: raw.properties?.['netwatcher'] ?? null,
  };
}

function parseTags(tags: string[] | undefined): Record<string, string> | undefined {
  if (!tags) return undefined;
  const out: Record<string, string> = {};
  for (const t of tags) {
    const i = t.indexOf('=');
    if (i <= 0) throw new UsageError(`argument --tags: '${t}' is not KEY=VALUE`);
    out[t.slice(0, i)] = t.slice(i + 1);
  }
  return out;
}

/**
 * `nw vmss create`: a scale set, the group hosts join as instances "0", "1", … (with the install
 * command of `nw vmss extension set`, or a join key of `nw vm join-key create --vmss`).
 * @example await vmssCreate({ resourceGroup: 'rg', name: 'web' }, ctx);
 */
export async function vmssCreate(options: VmssOptions, ctx: CliContext): Promise<Record<string, unknown>> {
  const rg = requireOption('--resource-group/-g', options.resourceGroup);
  const name = requireOption('--name/-n', options.name);
  const conn = connect(ctx, options);
  const tags = parseTags(options.tags);
  const response = await conn.client.request('PUT', vmssPath(conn.subscriptionId, rg, name), {
    body: { ...(options.location ? { location: options.location } : {}), ...(tags ? { tags } : {}) },
  });
  const shaped = shapeVmss(response.body);
  writeOutput(ctx.out, shaped, options.output, VMSS_TABLE);
  return shaped;
}

/** `nw vmss list`: the scale sets of a resource group, or of the subscription. */
export async function vmssList(options: VmssOptions, ctx: CliContext): Promise<Array<Record<string, unknown>>> {
  const conn = connect(ctx, options);
  const path = options.resourceGroup
    ? `${resourceGroupPath(conn.subscriptionId, options.resourceGroup)}/providers/Microsoft.Compute/virtualMachineScaleSets`
    : `/subscriptions/${encodeURIComponent(conn.subscriptionId)}/providers/Microsoft.Compute/virtualMachineScaleSets`;
  const shaped = listValue((await conn.client.request('GET', path)).body).map(shapeVmss);
  writeOutput(ctx.out, shaped, options.output, VMSS_TABLE);
  return shaped;
}

/** `nw vmss show`: one scale set. */
export async function vmssShow(options: VmssOptions, ctx: CliContext): Promise<Record<string, unknown>> {
  const rg = requireOption('--resource-group/-g', options.resourceGroup);
  const name = requireOption('--name/-n', options.name);
  const conn = connect(ctx, options);
  const shaped = shapeVmss((await conn.client.request('GET', vmssPath(conn.subscriptionId, rg, name))).body);
  writeOutput(ctx.out, shaped, options.output, VMSS_TABLE);
  return shaped;
}

/** `nw vmss delete`: removes a scale set, revoking its join keys and every instance's credential; prints nothing. */
export async function vmssDelete(options: VmssOptions, ctx: CliContext): Promise<void> {
  const rg = requireOption('--resource-group/-g', options.resourceGroup);
  const name = requireOption('--name/-n', options.name);
  const conn = connect(ctx, options);
  await conn.client.request('DELETE', vmssPath(conn.subscriptionId, rg, name));
}

/** `nw vmss list-instances`: the hosts of a scale set in join order. */
export async function vmssListInstances(
  options: VmssOptions,
  ctx: CliContext,
): Promise<Array<Record<string, unknown>>> {
  const rg = requireOption('--resource-group/-g', options.resourceGroup);
  const name = requireOption('--name/-n', options.name);
  const conn = connect(ctx, options);
  const shaped = listValue(
    (await conn.client.request('GET', `${vmssPath(conn.subscriptionId, rg, name)}/virtualMachines`)).body,
  ).map(shapeInstance);
  writeOutput(ctx.out, shaped, options.output, VMSS_INSTANCE_TABLE);
  return shaped;
}

/** The flags of `nw vmss extension set`. */
export const VMSS_EXTENSION_SET_OPTIONS = {
  resourceGroup: {
    flags: '-g, --resource-group <rg>',
    description: 'resource group of the scale set',
    required: true,
  },
  vmssName: { flags: '--vmss-name <name>', description: 'name of the scale set', required: true },
  name: { flags: '-n, --name <type>', description: 'extension type: NetworkWatcherAgentLinux', required: true },
  publisher: {
    flags: '--publisher <publisher>',
    description: 'extension publisher',
    default: 'Microsoft.Azure.NetworkWatcher',
  },
  version: { flags: '--version <version>', description: 'typeHandlerVersion', default: '1.4' },
  extensionInstanceName: {
    flags: '--extension-instance-name <name>',
    description: 'instance name, when it differs from --name',
  },
  noAutoUpgrade: { flags: '--no-auto-upgrade', description: 'set autoUpgradeMinorVersion to false' },
  noWait: { flags: '--no-wait', description: 'print the first response without waiting' },
} as const satisfies OptionTable;

/** Options of `nw vmss extension set`. */
export type VmssExtensionSetOptions = CommonOptions & OptionValues<typeof VMSS_EXTENSION_SET_OPTIONS>;

/**
 * `nw vmss extension set`: installs the agent on a scale set. The output carries `installCommand`
 * (shown once): run it on every host of the scale set (cloud-init, an image); each host that runs
 * it joins as the next instance. A new `set` revokes the earlier command's join key.
 * @example await vmssExtensionSet({ resourceGroup: 'rg', vmssName: 'web', name: 'NetworkWatcherAgentLinux' }, ctx);
 */
export async function vmssExtensionSet(
  options: VmssExtensionSetOptions,
  ctx: CliContext,
): Promise<Record<string, unknown>> {
  const rg = requireOption('--resource-group/-g', options.resourceGroup);
  const vmss = requireOption('--vmss-name', options.vmssName);
  const type = requireOption('--name/-n', options.name);
  const conn = connect(ctx, options);
  const path = `${vmssPath(conn.subscriptionId, rg, vmss)}/extensions/${encodeURIComponent(options.extensionInstanceName ?? type)}`;
  const initial = await conn.client.request('PUT', path, {
    body: {
      properties: {
        publisher: options.publisher ?? AGENT_EXTENSION.publisher,
        type,
        typeHandlerVersion: options.version ?? AGENT_EXTENSION.typeHandlerVersion,
        autoUpgradeMinorVersion: !options.noAutoUpgrade,
      },
    },
  });
  const first = (initial.body as { properties?: Record<string, unknown> } | null)?.properties ?? {};
  const final = options.noWait
    ? initial.body
    : (await pollUntilDone(conn.client, 'PUT', path, initial, { pollIntervalInMs: conn.pollIntervalInMs })).result;
  const shaped = shapeVmExtension(final);
  for (const key of ['installCommand', 'joinKey', 'joinKeyId', 'joinKeyExpiresAt'] as const)
    if (first[key] !== undefined) shaped[key] = first[key];
  writeOutput(ctx.out, shaped, options.output, [
    { header: 'Name', value: (e) => e['name'] },
    { header: 'InstallCommand', value: (e) => e['installCommand'] },
  ]);
  return shaped;
}

/** `nw vmss extension list`: the extensions of a scale set. */
export async function vmssExtensionList(
  options: VmssExtensionSetOptions,
  ctx: CliContext,
): Promise<Array<Record<string, unknown>>> {
  const rg = requireOption('--resource-group/-g', options.resourceGroup);
  const vmss = requireOption('--vmss-name', options.vmssName);
  const conn = connect(ctx, options);
  const shaped = listValue(
    (await conn.client.request('GET', `${vmssPath(conn.subscriptionId, rg, vmss)}/extensions`)).body,
  ).map(shapeVmExtension);
  writeOutput(ctx.out, shaped, options.output, [
    { header: 'Name', value: (e) => e['name'] },
    { header: 'Publisher', value: (e) => e['publisher'] },
  ]);
  return shaped;
}

/** The commands of this file, in help order. */
export const VMSS_COMMANDS: readonly Declaration[] = [
  defineGroup({
    path: ['vmss'],
    description: 'scale sets: groups of hosts that join as instances 0, 1, …; one capture covers them',
  }),
  defineCommand({
    path: ['vmss', 'create'],
    description: 'create a scale set',
    examples: ['nw vmss create -g myRG -n web', 'nw vmss create -g myRG -n web --location westeurope'],
    options: VMSS_CREATE_OPTIONS,
    run: (o, { ctx }) => vmssCreate(o, ctx),
  }),
  defineCommand({
    path: ['vmss', 'list'],
    description: 'list scale sets',
    examples: ['nw vmss list -o table', 'nw vmss list -g myRG'],
    options: {
      resourceGroup: { flags: '-g, --resource-group <rg>', description: 'only this resource group' },
    },
    run: (o, { ctx }) => vmssList(o, ctx),
  }),
  defineCommand({
    path: ['vmss', 'show'],
    description: 'show a scale set',
    examples: ['nw vmss show -g myRG -n web'],
    options: {
      resourceGroup: { flags: '-g, --resource-group <rg>', description: 'resource group', required: true },
      name: { flags: '-n, --name <name>', description: 'name of the scale set', required: true },
    },
    run: (o, { ctx }) => vmssShow(o, ctx),
  }),
  defineCommand({
    path: ['vmss', 'delete'],
    description:
      "delete a scale set: its join keys and every instance's credential are revoked; refused while a capture runs on it; prints nothing",
    examples: ['nw vmss delete -g myRG -n web'],
    options: {
      resourceGroup: { flags: '-g, --resource-group <rg>', description: 'resource group', required: true },
      name: { flags: '-n, --name <name>', description: 'name of the scale set', required: true },
    },
    run: (o, { ctx }) => vmssDelete(o, ctx),
  }),
  defineCommand({
    path: ['vmss', 'list-instances'],
    description: 'list the instances of a scale set (in join order) with their agent state',
    examples: ['nw vmss list-instances -g myRG -n web -o table'],
    options: {
      resourceGroup: { flags: '-g, --resource-group <rg>', description: 'resource group', required: true },
      name: { flags: '-n, --name <name>', description: 'name of the scale set', required: true },
    },
    run: (o, { ctx }) => vmssListInstances(o, ctx),
  }),
  defineGroup({ path: ['vmss', 'extension'], description: 'the agent extension of a scale set' }),
  defineCommand({
    path: ['vmss', 'extension', 'set'],
    description:
      'install the agent on a scale set; prints the install command (shown once) that enrols each host running it as the next instance',
    examples: [
      'nw vmss extension set -g myRG --vmss-name web --name NetworkWatcherAgentLinux --publisher Microsoft.Azure.NetworkWatcher --version 1.4',
      '# then run the printed installCommand on every host (cloud-init, an image), e.g.:',
      'nw agent --server https://nw.example:8817 --join-key nwj_… --data-dir /var/lib/netwatcher/agent',
    ],
    options: VMSS_EXTENSION_SET_OPTIONS,
    run: (o, { ctx }) => vmssExtensionSet(o, ctx),
  }),
  defineCommand({
    path: ['vmss', 'extension', 'list'],
    description: 'list the extensions of a scale set',
    examples: ['nw vmss extension list -g myRG --vmss-name web'],
    options: {
      resourceGroup: {
        flags: '-g, --resource-group <rg>',
        description: 'resource group of the scale set',
        required: true,
      },
      vmssName: { flags: '--vmss-name <name>', description: 'name of the scale set', required: true },
    },
    run: (o, { ctx }) => vmssExtensionList(o, ctx),
  }),
];
