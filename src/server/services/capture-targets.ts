import { ApiError, armIdKey, type ArmResourceRef } from '../../lib/index.js';
import type { CaptureTargetType, PacketCaptureCreateRequest } from '../../model/index.js';
import type { ResourceRecord } from '../../store/index.js';
import { agentConnectedAnywhere, type ServerContext } from './context.js';
import { listScaleSetInstances, vmssId, type VmssBody } from './scale-sets.js';
import { findAgentExtension, type VmBody } from './vms.js';

/** The hosts a capture request names, resolved when it is created (later hosts never join it). */
export interface ResolvedTargets {
  /** `properties.target` as stored: the VM's or the scale set's id. */
  targetId: string;
  targetType: CaptureTargetType;
  scaleSet: ResourceRecord<VmssBody> | null;
  /** When a selector chose the hosts: its scope's resource group (none: the subscription) and tags. */
  selector?: { resourceGroup?: string; tags: Record<string, string> };
  /** Every selected host, with whether its agent is connected now. */
  hosts: Array<{ vm: ResourceRecord<VmBody>; connected: boolean }>;
}

const isType = (ref: ArmResourceRef, type: string) =>
  ref.provider.toLowerCase() === 'microsoft.compute' && ref.types.length === 1 && ref.types[0]!.toLowerCase() === type;

/**
 * Resolves `properties.target`/`targetType`/`scope` to hosts. A VM must have the agent and be
 * connected. A scale set's instances are chosen by `scope` (Azure: `include` the instance ids to
 * capture, `exclude` those to skip, both empty = every instance); an unknown instance id is a 400
 * naming the list, and the capture starts if at least one chosen instance is connected (the
 * others are reported offline in its status, and never block it).
 */
export async function resolveCaptureTargets(
  ctx: ServerContext,
  p: PacketCaptureCreateRequest['properties'],
  targetRef: ArmResourceRef,
  location: string,
  watcherName: string,
): Promise<ResolvedTargets> {
  const isVm = isType(targetRef, 'virtualmachines');
  const isVmss = isType(targetRef, 'virtualmachinescalesets');
  const targetType = p.targetType ?? (isVmss ? 'AzureVMSS' : 'AzureVM');
  if (targetType === 'AzureVMSS' && !isVmss)
    throw new ApiError(
      'InvalidParameter',
      `properties.targetType is AzureVMSS but properties.target '${p.target}' is not a scale set id (…/Microsoft.Compute/virtualMachineScaleSets/{name}).`,
      { target: 'properties.target' },
    );
  if (targetType === 'AzureVM' && isVmss)
    throw new ApiError(
      'InvalidParameter',
      `properties.target '${p.target}' is a scale set: set properties.targetType to AzureVMSS.`,
      { target: 'properties.targetType' },
    );
  if (!isVm && !isVmss)
    throw new ApiError('InvalidResourceId', `properties.target '${p.target}' is not a virtual machine id.`, {
      target: 'properties.target',
    });
  const include = p.scope?.include ?? [];
  const exclude = p.scope?.exclude ?? [];

  if (targetType === 'AzureVM') {
    // An accepted property is never ignored: scope selects scale-set instances only.
    if (include.length > 0 || exclude.length > 0)
      throw new ApiError(
        'InvalidParameter',
        'properties.scope (include/exclude) selects instances of a scale set; a VM target takes none.',
        { target: 'properties.scope' },
      );
    const vm = await ctx.store.getResource<VmBody>(armIdKey(p.target));
    if (!vm || vm.type !== 'vm')
      throw new ApiError(
        'VirtualMachineNotFound',
        `Virtual machine '${targetRef.names[0]}' (properties.target) was not found. Register the host with 'nw vm extension set'.`,
        { target: 'properties.target' },
      );
    assertSameLocation(vm, location, watcherName, 'Virtual machine');
    if (vm.parentKey === null && !(await findAgentExtension(ctx, vm))) {
      throw new ApiError(
        'AgentNotInstalled',
        `The Network Watcher agent is not installed on virtual machine '${vm.name}'. Install it with 'nw vm extension set --resource-group ${vm.resourceGroup} --vm-name ${vm.name} --name NetworkWatcherAgentLinux --publisher Microsoft.Azure.NetworkWatcher'.`,
        { target: 'properties.target' },
      );
    }
    if (!(await agentConnectedAnywhere(ctx, vm.key))) {
      throw new ApiError(
        'AgentNotConnected',
        `The Network Watcher agent of virtual machine '${vm.name}' is not connected; start it on the host with the install command of 'nw vm extension set'.`,
        { target: 'properties.target' },
      );
    }
    return { targetId: vm.id, targetType, scaleSet: null, hosts: [{ vm, connected: true }] };
  }

  const scaleSet = await ctx.store.getResource<VmssBody>(
    armIdKey(vmssId(targetRef.subscriptionId, targetRef.resourceGroup, targetRef.names[0]!)),
  );
  if (!scaleSet || scaleSet.type !== 'vmss')
    throw new ApiError(
      'ResourceNotFound',
      `Scale set '${targetRef.names[0]}' (properties.target) was not found in resource group '${targetRef.resourceGroup}'. Create it with 'nw vmss create'.`,
      { target: 'properties.target' },
    );
  assertSameLocation(scaleSet, location, watcherName, 'Scale set');
  const instances = await listScaleSetInstances(ctx.store, scaleSet);
  const known = new Set(instances.map((i) => i.body.instanceId));
  for (const [field, list] of [
    ['include', include],
    ['exclude', exclude],
  ] as const) {
    const unknown = list.filter((id) => !known.has(id));
    if (unknown.length > 0) {
      throw new ApiError(
        'InvalidParameter',
        `properties.scope.${field} names instance(s) ${unknown.map((u) => `'${u}'`).join(', ')} that scale set '${scaleSet.name}' does not have; its instances: ${[...known].join(', ') || 'none'}.`,
        { target: `properties.scope.${field}` },
      );
    }
  }
  const chosen = instances.filter(
    (i) => (include.length === 0 || include.includes(i.body.instanceId!)) && !exclude.includes(i.body.instanceId!),
  );
  if (chosen.length === 0) {
    throw new ApiError(
      'InvalidParameter',
      instances.length === 0
        ? `Scale set '${scaleSet.name}' has no instances yet: hosts join it with the install command of 'nw vmss extension set' or a join key of 'nw vm join-key create --vmss ${scaleSet.name}'.`
        : `properties.scope selects no instance of scale set '${scaleSet.name}'.`,
      { target: 'properties.scope' },
    );
  }
  const hosts = await Promise.all(
    chosen.map(async (vm) => ({ vm, connected: await agentConnectedAnywhere(ctx, vm.key) })),
  );
  if (!hosts.some((h) => h.connected)) {
    throw new ApiError(
      'AgentNotConnected',
      `No agent of the chosen instances of scale set '${scaleSet.name}' (${chosen.map((c) => c.body.instanceId).join(', ')}) is connected.`,
      { target: 'properties.target' },
    );
  }
  return { targetId: scaleSet.id, targetType, scaleSet, hosts };
}

function assertSameLocation(
  rec: ResourceRecord<{ location?: string }>,
  location: string,
  watcherName: string,
  what: string,
): void {
  if ((rec.location ?? '').toLowerCase() !== location.toLowerCase()) {
    throw new ApiError(
      'InvalidParameter',
      `${what} '${rec.name}' is in location '${rec.location}', but network watcher '${watcherName}' is in '${location}'; use the watcher of its location.`,
      { target: 'properties.target' },
    );
  }
}

/**
 * Resolves `properties.targetSelector` (netwatcher's addition): every VM in the scope that
 * `properties.target` names — a resource group id (`/subscriptions/{sub}/resourceGroups/{rg}`) or
 * the subscription id — in the watcher's location, with all of `tags` (scale-set instances
 * included). Resolved once, now: hosts that join or are tagged later are not part of the capture.
 * Hosts whose agent is away are reported offline, as scale-set instances are; at least one must
 * be connected.
 */
export async function resolveSelectorTargets(
  ctx: ServerContext,
  sub: string,
  p: PacketCaptureCreateRequest['properties'],
  location: string,
): Promise<ResolvedTargets> {
  const scope = /^\/subscriptions\/([^/]+)(?:\/resourceGroups\/([^/]+))?\/?$/i.exec(p.target);
  if (!scope)
    throw new ApiError(
      'InvalidResourceId',
      `With properties.targetSelector, properties.target is the scope: a resource group id (/subscriptions/{sub}/resourceGroups/{rg}) or the subscription id, not '${p.target}'.`,
      { target: 'properties.target' },
    );
  if (scope[1]!.toLowerCase() !== sub.toLowerCase())
    throw new ApiError(
      'InvalidParameter',
      `properties.target '${p.target}' is in another subscription than the watcher's ('${sub}').`,
      { target: 'properties.target' },
    );
  const resourceGroup = scope[2];
  if ((p.scope?.include ?? []).length > 0 || (p.scope?.exclude ?? []).length > 0)
    throw new ApiError(
      'InvalidParameter',
      'properties.scope selects instances of a scale set target; a targetSelector takes none.',
      { target: 'properties.scope' },
    );
  if (p.targetType !== undefined && p.targetType !== 'AzureVM')
    throw new ApiError(
      'InvalidParameter',
      'A targetSelector picks VMs: omit properties.targetType or set it to AzureVM.',
      { target: 'properties.targetType' },
    );
  const tags = Object.entries(p.targetSelector?.tags ?? {});
  const vms = await ctx.store.listResources<VmBody>('vm', {
    subscriptionId: sub,
    location,
    ...(resourceGroup !== undefined ? { resourceGroup } : {}),
  });
  // Tag names compare case-insensitively and values exactly, as Azure's tag filters do.
  const chosen = vms.filter((vm) =>
    tags.every(([k, v]) =>
      Object.entries(vm.body.tags ?? {}).some(([vk, vv]) => vk.toLowerCase() === k.toLowerCase() && vv === v),
    ),
  );
  const described = [
    resourceGroup !== undefined ? `resourceGroup=${resourceGroup}` : `subscription ${sub}`,
    ...tags.map(([k, v]) => `tags.${k}=${v}`),
  ].join(',');
  if (chosen.length === 0)
    throw new ApiError(
      'InvalidParameter',
      `properties.targetSelector (${described}) matches no VM in location '${location}'.`,
      { target: 'properties.targetSelector' },
    );
  const hosts = await Promise.all(
    chosen.map(async (vm) => ({ vm, connected: await agentConnectedAnywhere(ctx, vm.key) })),
  );
  if (!hosts.some((h) => h.connected))
    throw new ApiError(
      'AgentNotConnected',
      `No agent of the ${chosen.length} VM(s) that properties.targetSelector (${described}) matches is connected.`,
      { target: 'properties.targetSelector' },
    );
  return {
    targetId: p.target,
    targetType: 'AzureVM',
    scaleSet: null,
    hosts,
    selector: { ...(resourceGroup !== undefined ? { resourceGroup } : {}), tags: Object.fromEntries(tags) },
  };
}
