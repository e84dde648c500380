import { AGENT_EXTENSION } from '../../model/index.js';
import { isArmId, nameOfId, resourceGroupOfId, vmExtensionPath, vmExtensionsPath } from '../arm-paths.js';
import { connect } from '../client-factory.js';
import type { CliContext, CommonOptions } from '../context.js';
import { UsageError } from '../errors.js';
import { beginAndWait, pollUntilDone } from '../lro.js';
import { requireOption } from '../option-values.js';
import { writeOutput, type TableColumn } from '../output.js';
import { listValue, shapeVmExtension } from '../shape.js';
import {
  defineCommand,
  defineGroup,
  type Declaration,
  type OptionTable,
  type OptionValues,
} from '../command-declaration.js';

/** `az vm extension list -o table` columns. */
export const VM_EXTENSION_TABLE: readonly TableColumn[] = [
  { header: 'Name', value: (e) => e['name'] },
  { header: 'ProvisioningState', value: (e) => e['provisioningState'] },
  { header: 'Publisher', value: (e) => e['publisher'] },
  { header: 'Version', value: (e) => e['typeHandlerVersion'] },
  { header: 'AutoUpgradeMinorVersion', value: (e) => e['autoUpgradeMinorVersion'] },
];

/** Which VM: `--vm-name` (a name, or an id whose resource group wins) and `--resource-group`. */
export type VmSelectorOptions = CommonOptions &
  Pick<OptionValues<typeof VM_EXTENSION_SET_OPTIONS>, 'resourceGroup' | 'vmName'>;

/** The flags of `nw vm extension set` (az's). */
export const VM_EXTENSION_SET_OPTIONS = {
  resourceGroup: { flags: '-g, --resource-group <rg>', description: 'resource group of the VM', required: true },
  vmName: {
    flags: '--vm-name <vm>',
    description: 'name (or id) of the VM; created on the server if new',
    required: true,
  },
  name: { flags: '-n, --name <type>', description: 'extension type: NetworkWatcherAgentLinux', required: true },
  publisher: {
    flags: '--publisher <publisher>',
    description: 'extension publisher',
    default: 'Microsoft.Azure.NetworkWatcher',
  },
  version: { flags: '--version <version>', description: 'typeHandlerVersion', default: '1.4' },
  extensionInstanceName: {
    flags: '--extension-instance-name <name>',
    description: 'instance name, when it differs from --name (e.g. AzureNetworkWatcherExtension)',
  },
  location: {
    flags: '-l, --location <location>',
    description: "location of a new VM (default: the server's default location)",
  },
  settings: { flags: '--settings <json>', description: 'public settings (JSON)' },
  protectedSettings: { flags: '--protected-settings <json>', description: 'protected settings (JSON)' },
  noAutoUpgrade: { flags: '--no-auto-upgrade', description: 'set autoUpgradeMinorVersion to false' },
  forceUpdate: { flags: '--force-update', description: 'set a new forceUpdateTag' },
  noWait: { flags: '--no-wait', description: 'print the first response without waiting' },
} as const satisfies OptionTable;

/** Options of `nw vm extension set`. */
export type VmExtensionSetOptions = CommonOptions & OptionValues<typeof VM_EXTENSION_SET_OPTIONS>;

/** The flags of `nw vm extension delete`. */
export const VM_EXTENSION_DELETE_OPTIONS = {
  resourceGroup: { flags: '-g, --resource-group <rg>', description: 'resource group of the VM', required: true },
  vmName: { flags: '--vm-name <vm>', description: 'name of the VM', required: true },
  name: { flags: '-n, --name <name>', description: 'extension instance name', required: true },
  noWait: { flags: '--no-wait', description: 'do not wait for the operation' },
} as const satisfies OptionTable;

/** Options of `nw vm extension show|delete`: delete's flags, the wider. */
export type VmExtensionNameOptions = CommonOptions & OptionValues<typeof VM_EXTENSION_DELETE_OPTIONS>;

function vmOf(
  options: VmSelectorOptions,
  subscriptionFallback: string,
): { subscriptionId: string; resourceGroup: string; vmName: string } {
  const vm = requireOption('--vm-name', options.vmName);
  if (isArmId(vm)) {
    const resourceGroup = resourceGroupOfId(vm);
    if (!resourceGroup) throw new UsageError(`argument --vm-name: '${vm}' is not a valid VM id`);
    const subscriptionId = /^\/subscriptions\/([^/]+)/i.exec(vm)?.[1] ?? subscriptionFallback;
    return { subscriptionId, resourceGroup, vmName: nameOfId(vm) };
  }
  return {
    subscriptionId: subscriptionFallback,
    resourceGroup: requireOption('--resource-group/-g', options.resourceGroup),
    vmName: vm,
  };
}

function parseJsonOption(flag: string, value: string | undefined): unknown {
  if (value === undefined) return undefined;
  try {
    return JSON.parse(value);
  } catch (error) {
    throw new UsageError(`argument ${flag}: invalid JSON: ${(error as Error).message}`);
  }
}

/**
 * `nw vm extension set`: installs the agent extension on a host (the server creates the VM
 * record if needed). The output is the extension as az prints it, plus `installCommand` and
 * `enrollmentToken` from the first response: the command to run on the host, shown only once.
 * @example await vmExtensionSet({ resourceGroup: 'rg', vmName: 'vm1', name: 'NetworkWatcherAgentLinux', publisher: 'Microsoft.Azure.NetworkWatcher', version: '1.4' }, ctx);
 */
export async function vmExtensionSet(
  options: VmExtensionSetOptions,
  ctx: CliContext,
): Promise<Record<string, unknown>> {
  const type = requireOption('--name/-n', options.name);
  const vm = vmOf(options, options.subscription ?? ctx.config.subscriptionId);
  const conn = connect(ctx, options);
  const properties: Record<string, unknown> = {
    publisher: options.publisher ?? AGENT_EXTENSION.publisher,
    type,
    typeHandlerVersion: options.version ?? AGENT_EXTENSION.typeHandlerVersion,
    autoUpgradeMinorVersion: !options.noAutoUpgrade,
  };
  const settings = parseJsonOption('--settings', options.settings);
  if (settings !== undefined) properties['settings'] = settings;
  const protectedSettings = parseJsonOption('--protected-settings', options.protectedSettings);
  if (protectedSettings !== undefined) properties['protectedSettings'] = protectedSettings;
  if (options.forceUpdate) properties['forceUpdateTag'] = new Date().toISOString();
  const body: Record<string, unknown> = { properties };
  if (options.location) body['location'] = options.location;

  const path = vmExtensionPath(vm.subscriptionId, vm.resourceGroup, vm.vmName, options.extensionInstanceName ?? type);
  const initial = await conn.client.request('PUT', path, { body });
  // The enrolment token exists only in this first response; keep it even with --no-wait.
  const initialProperties = (initial.body as { properties?: Record<string, unknown> } | null)?.properties ?? {};
  const final = options.noWait
    ? initial.body
    : (await pollUntilDone(conn.client, 'PUT', path, initial, { pollIntervalInMs: conn.pollIntervalInMs })).result;
  const shaped = shapeVmExtension(final);
  for (const key of ['installCommand', 'enrollmentToken'] as const) {
    if (initialProperties[key] !== undefined) shaped[key] = initialProperties[key];
  }
  const columns =
    shaped['installCommand'] !== undefined
      ? [
          ...VM_EXTENSION_TABLE,
          { header: 'InstallCommand', value: (e: Record<string, unknown>) => e['installCommand'] },
        ]
      : VM_EXTENSION_TABLE;
  writeOutput(ctx.out, shaped, options.output, columns);
  return shaped;
}

/** `nw vm extension show`: one extension as az prints it. */
export async function vmExtensionShow(
  options: VmExtensionNameOptions,
  ctx: CliContext,
): Promise<Record<string, unknown>> {
  const name = requireOption('--name/-n', options.name);
  const vm = vmOf(options, options.subscription ?? ctx.config.subscriptionId);
  const conn = connect(ctx, options);
  const response = await conn.client.request(
    'GET',
    vmExtensionPath(vm.subscriptionId, vm.resourceGroup, vm.vmName, name),
  );
  const shaped = shapeVmExtension(response.body);
  writeOutput(ctx.out, shaped, options.output, VM_EXTENSION_TABLE);
  return shaped;
}

/** `nw vm extension list`: the extensions of a VM. */
export async function vmExtensionList(
  options: VmSelectorOptions,
  ctx: CliContext,
): Promise<Array<Record<string, unknown>>> {
  const vm = vmOf(options, options.subscription ?? ctx.config.subscriptionId);
  const conn = connect(ctx, options);
  const response = await conn.client.request('GET', vmExtensionsPath(vm.subscriptionId, vm.resourceGroup, vm.vmName));
  const shaped = listValue(response.body).map(shapeVmExtension);
  writeOutput(ctx.out, shaped, options.output, VM_EXTENSION_TABLE);
  return shaped;
}

/** `nw vm extension delete`: removes the extension (the agent's credential is revoked by the server). Prints nothing. */
export async function vmExtensionDelete(options: VmExtensionNameOptions, ctx: CliContext): Promise<void> {
  const name = requireOption('--name/-n', options.name);
  const vm = vmOf(options, options.subscription ?? ctx.config.subscriptionId);
  const conn = connect(ctx, options);
  const path = vmExtensionPath(vm.subscriptionId, vm.resourceGroup, vm.vmName, name);
  if (options.noWait) await conn.client.request('DELETE', path);
  else await beginAndWait(conn.client, 'DELETE', path, {}, { pollIntervalInMs: conn.pollIntervalInMs });
}

/** The commands of this file, in help order. */
export const VM_EXTENSION_COMMANDS: readonly Declaration[] = [
  defineGroup({ path: ['vm', 'extension'], description: 'the agent extension (NetworkWatcherAgentLinux)' }),
  defineCommand({
    path: ['vm', 'extension', 'set'],
    description: 'install the agent extension on a host; prints the command to run on the host (shown once)',
    examples: [
      'nw vm extension set --resource-group myRG --vm-name myVM --publisher Microsoft.Azure.NetworkWatcher --name NetworkWatcherAgentLinux --version 1.4',
      '# then run the printed installCommand on the host, e.g.:',
      'nw agent --server https://nw.example:8817 --token <one-time token> --data-dir /var/lib/netwatcher/agent',
    ],
    options: VM_EXTENSION_SET_OPTIONS,
    run: (o, { ctx }) => vmExtensionSet(o, ctx),
  }),
  defineCommand({
    path: ['vm', 'extension', 'show'],
    description: 'show an extension of a host',
    examples: [
      'nw vm extension show --resource-group myRG --vm-name myVM --name AzureNetworkWatcherExtension',
      'nw vm extension show -g myRG --vm-name myVM -n NetworkWatcherAgentLinux -o table',
    ],
    options: {
      resourceGroup: { flags: '-g, --resource-group <rg>', description: 'resource group of the VM', required: true },
      vmName: { flags: '--vm-name <vm>', description: 'name of the VM', required: true },
      name: { flags: '-n, --name <name>', description: 'extension instance name', required: true },
      instanceView: { flags: '--instance-view', description: 'accepted for az compatibility' },
    },
    run: (o, { ctx }) => vmExtensionShow(o, ctx),
  }),
  defineCommand({
    path: ['vm', 'extension', 'list'],
    description: 'list the extensions of a host',
    examples: ['nw vm extension list -g myRG --vm-name myVM -o table'],
    options: {
      resourceGroup: { flags: '-g, --resource-group <rg>', description: 'resource group of the VM', required: true },
      vmName: { flags: '--vm-name <vm>', description: 'name of the VM', required: true },
    },
    run: (o, { ctx }) => vmExtensionList(o, ctx),
  }),
  defineCommand({
    path: ['vm', 'extension', 'delete'],
    description: "remove the agent extension (revokes the host's credential); prints nothing",
    examples: ['nw vm extension delete -g myRG --vm-name myVM -n NetworkWatcherAgentLinux'],
    options: VM_EXTENSION_DELETE_OPTIONS,
    run: (o, { ctx }) => vmExtensionDelete(o, ctx),
  }),
];
