import { randomUUID } from 'node:crypto';
import { ApiError, armIdKey, buildArmId } from '../../lib/index.js';
import { AGENT_EXTENSION, type VmssBody } from '../../model/index.js';
import type { OperationRecord, ResourceRecord, Store } from '../../store/index.js';
import type { CaptureBody } from './capture-types.js';
import type { ServerContext } from './context.js';
import {
  agentInstallCommand,
  assertAgentExtension,
  recordExtensionOperation,
  revokeAgentAccess,
  type ExtensionBody,
  type ExtensionInput,
  type VmBody,
} from './vms.js';

/**
 * Scale sets (issue 14): `Microsoft.Compute/virtualMachineScaleSets/{name}`, a named group of
 * enrolled hosts. Its instances are VMs whose ids are `…/virtualMachineScaleSets/{name}/virtualMachines/{instanceId}`,
 * with instance ids "0", "1", … given in the order hosts join (never reused, as Azure's).
 */

/** Stored body of a scale set (model's vmssBodySchema). */
export type { VmssBody };

/** Lifetime of the join key `vmss extension set` issues: a week, as `nw vm join-key create` by default. */
export const VMSS_EXTENSION_KEY_LIFETIME_IN_SECONDS = 7 * 24 * 3600;

/** Id of a scale set. */
export function vmssId(sub: string, rg: string, name: string): string {
  return buildArmId({
    subscriptionId: sub,
    resourceGroup: rg,
    provider: 'Microsoft.Compute',
    types: ['virtualMachineScaleSets'],
    names: [name],
  });
}

/** Id of a scale-set instance. */
export function vmssInstanceId(scaleSetId: string, instanceId: string): string {
  return `${scaleSetId}/virtualMachines/${instanceId}`;
}

/** Creates a scale set, or returns the existing one (PUT is idempotent; a different location is refused). */
export async function putScaleSet(
  ctx: ServerContext,
  sub: string,
  rg: string,
  name: string,
  input: { location?: string | undefined; tags?: Record<string, string> | undefined },
): Promise<{ record: ResourceRecord<VmssBody>; created: boolean }> {
  const id = vmssId(sub, rg, name);
  const existing = await ctx.store.getResource<VmssBody>(armIdKey(id));
  if (existing) {
    if (input.location && existing.location && existing.location.toLowerCase() !== input.location.toLowerCase()) {
      throw new ApiError(
        'InvalidParameter',
        `Location '${input.location}' does not match the location '${existing.location}' of scale set '${name}'.`,
        { target: 'location' },
      );
    }
    if (input.tags === undefined) return { record: existing, created: false };
    const updated = await ctx.store.updateResourceBody<VmssBody>(existing.key, { ...existing.body, tags: input.tags });
    return { record: updated ?? existing, created: false };
  }
  const location = input.location ?? ctx.config.defaultLocation;
  const inserted = await ctx.store.insertResource<VmssBody>({
    key: armIdKey(id),
    type: 'vmss',
    parentKey: null,
    id,
    name,
    subscriptionId: sub,
    resourceGroup: rg,
    location,
    body: {
      type: 'Microsoft.Compute/virtualMachineScaleSets',
      location,
      ...(input.tags ? { tags: input.tags } : {}),
      sku: { name: 'netwatcher-hosts', tier: 'Standard', capacity: 0 },
      properties: { provisioningState: 'Succeeded', uniqueId: randomUUID(), netwatcher: { nextInstanceId: 0 } },
    },
  });
  // Two creates at once: the other one won; answer its record.
  return { record: inserted ?? (await ctx.store.getResource<VmssBody>(armIdKey(id)))!, created: inserted !== null };
}

/** A scale set by its parts; 404 ResourceNotFound when missing. */
export async function getScaleSet(
  ctx: ServerContext,
  sub: string,
  rg: string,
  name: string,
): Promise<ResourceRecord<VmssBody>> {
  const rec = await ctx.store.getResource<VmssBody>(armIdKey(vmssId(sub, rg, name)));
  if (!rec || rec.type !== 'vmss')
    throw new ApiError(
      'ResourceNotFound',
      `Scale set '${name}' was not found in resource group '${rg}'. Create it with 'nw vmss create -g ${rg} -n ${name}'.`,
      { target: 'vmScaleSetName' },
    );
  return rec;
}

/** The instances of a scale set, in join order (instance ids are numbers in text). */
export async function listScaleSetInstances(
  store: Store,
  scaleSet: ResourceRecord<VmssBody>,
): Promise<ResourceRecord<VmBody>[]> {
  const list = await store.listResources<VmBody>('vm', { parentKey: scaleSet.key });
  return list.sort((a, b) => Number(a.body.instanceId ?? 0) - Number(b.body.instanceId ?? 0));
}

/** One instance; 404 when missing. */
export async function getScaleSetInstance(
  ctx: ServerContext,
  scaleSet: ResourceRecord<VmssBody>,
  instanceId: string,
): Promise<ResourceRecord<VmBody>> {
  const rec = await ctx.store.getResource<VmBody>(armIdKey(vmssInstanceId(scaleSet.id, instanceId)));
  if (!rec || rec.type !== 'vm')
    throw new ApiError('VirtualMachineNotFound', `Scale set '${scaleSet.name}' has no instance '${instanceId}'.`, {
      target: 'instanceId',
    });
  return rec;
}

/**
 * Adds the next instance to a scale set, inside the caller's transaction (the join of a join
 * key): the scale set's row is locked, so hosts joining at once get distinct, gap-free ids in
 * the order they commit. `computerName` (the host's name) must be unique in the scale set.
 */
export async function addScaleSetInstance(
  tx: Store,
  scaleSetKey: string,
  computerName: string,
): Promise<ResourceRecord<VmBody>> {
  const scaleSet = await tx.lockResource<VmssBody>(scaleSetKey);
  if (!scaleSet || scaleSet.type !== 'vmss')
    throw new ApiError('ResourceNotFound', 'The scale set of this join key no longer exists.', { target: 'joinKey' });
  const instances = await listScaleSetInstances(tx, scaleSet);
  const clash = instances.find(
    (i) => (i.body.properties.osProfile?.computerName ?? '').toLowerCase() === computerName.toLowerCase(),
  );
  if (clash) {
    throw new ApiError(
      'VirtualMachineNameInUse',
      `Scale set '${scaleSet.name}' already has a host named '${computerName}' (instance ${clash.body.instanceId}); join with another --vm-name, or delete that instance first.`,
      { target: 'vmName' },
    );
  }
  const instanceId = String(scaleSet.body.properties.netwatcher.nextInstanceId);
  const id = vmssInstanceId(scaleSet.id, instanceId);
  const location = scaleSet.location ?? scaleSet.body.location;
  const vm = await tx.insertResource<VmBody>({
    key: armIdKey(id),
    type: 'vm',
    parentKey: scaleSet.key,
    id,
    name: `${scaleSet.name}_${instanceId}`,
    subscriptionId: scaleSet.subscriptionId,
    resourceGroup: scaleSet.resourceGroup,
    location,
    body: {
      type: 'Microsoft.Compute/virtualMachineScaleSets/virtualMachines',
      location,
      instanceId,
      properties: {
        provisioningState: 'Succeeded',
        vmId: randomUUID(),
        osProfile: { computerName },
        netwatcher: { agentConnected: false, agentVersion: null, hostname: null, enrolledAt: null, lastSeenAt: null },
      },
    },
  });
  if (!vm)
    throw new ApiError(
      'Conflict',
      `Instance '${instanceId}' of scale set '${scaleSet.name}' exists already; try again.`,
      { target: 'instanceId' },
    );
  await tx.updateResourceBody<VmssBody>(scaleSet.key, {
    ...scaleSet.body,
    sku: { ...scaleSet.body.sku, capacity: instances.length + 1 },
    properties: { ...scaleSet.body.properties, netwatcher: { nextInstanceId: Number(instanceId) + 1 } },
  });
  return vm;
}

/** Hosts of these VMs that hold an active capture: a scale set or instance is not deleted under a running capture. */
async function capturesRunningOn(ctx: ServerContext, vms: ResourceRecord<VmBody>[]): Promise<string[]> {
  const names = new Set<string>();
  for (const vm of vms) for (const c of await ctx.store.listActiveCapturesForVm<CaptureBody>(vm.key)) names.add(c.name);
  return [...names];
}

/**
 * Deletes a scale set: refused (409) while a capture runs on an instance. Its join keys are
 * revoked, every instance's credential is revoked and its connection cut, then the scale set,
 * its instances and its extensions are removed. A missing scale set is no error.
 */
export async function deleteScaleSet(ctx: ServerContext, sub: string, rg: string, name: string): Promise<boolean> {
  const scaleSet = await ctx.store.getResource<VmssBody>(armIdKey(vmssId(sub, rg, name)));
  if (!scaleSet || scaleSet.type !== 'vmss') return false;
  const instances = await listScaleSetInstances(ctx.store, scaleSet);
  const running = await capturesRunningOn(ctx, instances);
  if (running.length > 0)
    throw new ApiError(
      'Conflict',
      `Scale set '${name}' has running packet capture(s): ${running.join(', ')}. Stop them first.`,
      { target: 'vmScaleSetName' },
    );
  await ctx.store.revokeJoinKeysOfScaleSet(scaleSet.key);
  for (const vm of instances) await revokeAgentAccess(ctx, vm.key, `scale set '${name}' was deleted`);
  await ctx.store.deleteResource(scaleSet.key);
  return true;
}

/** Deletes one instance (its credential revoked, its connection cut); refused while a capture runs on it. */
export async function deleteScaleSetInstance(
  ctx: ServerContext,
  scaleSet: ResourceRecord<VmssBody>,
  instanceId: string,
): Promise<boolean> {
  const vm = await ctx.store.getResource<VmBody>(armIdKey(vmssInstanceId(scaleSet.id, instanceId)));
  if (!vm) return false;
  const running = await capturesRunningOn(ctx, [vm]);
  if (running.length > 0)
    throw new ApiError(
      'Conflict',
      `Instance '${instanceId}' of scale set '${scaleSet.name}' has running packet capture(s): ${running.join(', ')}. Stop them first.`,
      { target: 'instanceId' },
    );
  await revokeAgentAccess(ctx, vm.key, `instance ${instanceId} of scale set '${scaleSet.name}' was deleted`);
  await ctx.store.deleteResource(vm.key);
  const current = await ctx.store.getResource<VmssBody>(scaleSet.key);
  if (current)
    await ctx.store.updateResourceBody<VmssBody>(current.key, {
      ...current.body,
      sku: { ...current.body.sku, capacity: Math.max(0, current.body.sku.capacity - 1) },
    });
  return true;
}

/**
 * Installs the agent extension on a scale set (`nw vmss extension set`): records the extension
 * and issues a join key bound to the scale set, so the one install command enrols every host
 * that runs it as the scale set's next instance (cloud-init, an image). A new install command
 * revokes the keys of earlier ones; hosts that joined keep their credentials.
 */
export async function putScaleSetAgentExtension(
  ctx: ServerContext,
  serverUrl: string,
  sub: string,
  rg: string,
  name: string,
  extName: string,
  input: ExtensionInput,
): Promise<{
  record: ResourceRecord<ExtensionBody>;
  created: boolean;
  joinKey: string;
  joinKeyId: string;
  installCommand: string;
  expiresAt: string;
}> {
  assertAgentExtension(input, extName);
  if (
    input.settings !== undefined &&
    input.settings !== null &&
    !(typeof input.settings === 'object' && Object.keys(input.settings).length === 0)
  ) {
    throw new ApiError(
      'InvalidParameter',
      "The agent extension takes no settings (as Azure's); omit properties.settings.",
      { target: 'properties.settings' },
    );
  }
  const scaleSet = await getScaleSet(ctx, sub, rg, name);
  const extensions = await ctx.store.listResources<ExtensionBody>('extension', { parentKey: scaleSet.key });
  const existing = extensions.find((e) => e.body.properties.publisher === AGENT_EXTENSION.publisher);
  if (existing && existing.name.toLowerCase() !== extName.toLowerCase()) {
    throw new ApiError(
      'Conflict',
      `Scale set '${name}' already has the Network Watcher agent as extension '${existing.name}'.`,
      { target: 'vmExtensionName' },
    );
  }
  await ctx.store.revokeJoinKeysOfScaleSet(scaleSet.key);
  const expiresAt = new Date(Date.now() + VMSS_EXTENSION_KEY_LIFETIME_IN_SECONDS * 1000);
  const { id: joinKeyId, key } = await ctx.store.createJoinKey({
    subscriptionId: sub,
    resourceGroup: scaleSet.resourceGroup,
    vmssKey: scaleSet.key,
    location: scaleSet.location,
    description: `install command of extension ${extName} of scale set ${scaleSet.id}`,
    maxUses: null,
    expiresAt,
  });
  // The same command on every host of the scale set, so the same data folder.
  const installCommand = agentInstallCommand(ctx, serverUrl, ['--join-key', key], '/var/lib/netwatcher/agent');
  const extId = `${scaleSet.id}/extensions/${extName}`;
  const record = await ctx.store.putResource<ExtensionBody>({
    key: armIdKey(extId),
    type: 'extension',
    parentKey: scaleSet.key,
    id: extId,
    name: extName,
    subscriptionId: sub,
    resourceGroup: scaleSet.resourceGroup,
    location: scaleSet.location,
    body: {
      type: 'Microsoft.Compute/virtualMachineScaleSets/extensions',
      location: scaleSet.location ?? ctx.config.defaultLocation,
      properties: {
        publisher: AGENT_EXTENSION.publisher,
        type: AGENT_EXTENSION.linuxType,
        typeHandlerVersion: input.typeHandlerVersion ?? AGENT_EXTENSION.typeHandlerVersion,
        autoUpgradeMinorVersion: input.autoUpgradeMinorVersion ?? true,
        provisioningState: 'Succeeded',
        settings: null,
      },
    },
  });
  return { record, created: !existing, joinKey: key, joinKeyId, installCommand, expiresAt: expiresAt.toISOString() };
}

/** The scale sets of a subscription, or of one of its resource groups. */
export async function listScaleSets(ctx: ServerContext, sub: string, rg?: string): Promise<ResourceRecord<VmssBody>[]> {
  return ctx.store.listResources<VmssBody>('vmss', {
    subscriptionId: sub,
    ...(rg !== undefined ? { resourceGroup: rg } : {}),
  });
}

/** The instances of a scale set ({@link listScaleSetInstances} on the server's store). */
export async function scaleSetInstances(
  ctx: ServerContext,
  scaleSet: ResourceRecord<VmssBody>,
): Promise<ResourceRecord<VmBody>[]> {
  return listScaleSetInstances(ctx.store, scaleSet);
}

/**
 * Installs the agent extension on a scale set ({@link putScaleSetAgentExtension}) and records
 * its operation, done at once (the caller runs the install command after the answer).
 */
export async function installScaleSetAgentExtension(
  ctx: ServerContext,
  serverUrl: string,
  sub: string,
  rg: string,
  name: string,
  extName: string,
  input: ExtensionInput,
): Promise<Awaited<ReturnType<typeof putScaleSetAgentExtension>> & { operation: OperationRecord }> {
  const result = await putScaleSetAgentExtension(ctx, serverUrl, sub, rg, name, extName, input);
  return { ...result, operation: await recordExtensionOperation(ctx, sub, result.record) };
}
