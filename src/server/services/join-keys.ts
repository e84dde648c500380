import { randomUUID } from 'node:crypto';
import { ApiError, armIdKey, vmId } from '../../lib/index.js';
import { AGENT_EXTENSION, assertResourceName, type JoinKeyCreateRequest } from '../../model/index.js';
import type { JoinKeyRefusal, JoinKeyRow, ResourceRecord } from '../../store/index.js';
import type { ServerContext } from './context.js';
import { addScaleSetInstance, getScaleSet } from './scale-sets.js';
import { agentInstallCommand, type ExtensionBody, type VmBody } from './vms.js';
import { ensureWatcherForLocation } from './watchers.js';

/**
 * Join keys (issue 14): one reusable secret lets a fleet provisioned by cloud-init or Ansible
 * register and enrol its hosts itself, each as a VM of a resource group or as the next instance
 * of a scale set. A key expires (7 days by default), may be limited to N uses and can be revoked;
 * revoking stops new joins only — hosts that joined have their own credentials.
 */

/** Lifetime of a join key created without `expiresInSeconds`. */
export const DEFAULT_JOIN_KEY_LIFETIME_IN_SECONDS = 7 * 24 * 3600;

/** The API view of a join key: its rules and use, never the key or its hash. */
export function joinKeyView(row: JoinKeyRow, scaleSetName: string | null): Record<string, unknown> {
  const now = Date.now();
  const state = row.revokedAt
    ? 'Revoked'
    : row.expiresAt && row.expiresAt.getTime() <= now
      ? 'Expired'
      : row.maxUses !== null && row.uses >= row.maxUses
        ? 'UsedUp'
        : 'Active';
  return {
    id: row.id,
    resourceGroup: row.resourceGroup,
    vmScaleSetName: scaleSetName,
    location: row.location,
    description: row.description,
    state,
    maxUses: row.maxUses,
    uses: row.uses,
    createdAt: row.createdAt.toISOString(),
    expiresAt: row.expiresAt?.toISOString() ?? null,
    revokedAt: row.revokedAt?.toISOString() ?? null,
    lastUsedAt: row.lastUsedAt?.toISOString() ?? null,
  };
}

/** The name of a scale set from its key (the last segment of its id), for views. */
function scaleSetNameOfKey(key: string | null): string | null {
  return key === null ? null : (key.split('/').pop() ?? null);
}

/** Creates a join key for a resource group (or one of its scale sets); the key is in this answer only. */
export async function createJoinKey(
  ctx: ServerContext,
  serverUrl: string,
  sub: string,
  rg: string,
  input: JoinKeyCreateRequest,
): Promise<Record<string, unknown>> {
  let vmssKey: string | null = null;
  let location = input.location ?? null;
  if (input.vmScaleSetName !== undefined) {
    const scaleSet = await getScaleSet(ctx, sub, rg, input.vmScaleSetName);
    if (location && scaleSet.location && location.toLowerCase() !== scaleSet.location.toLowerCase()) {
      throw new ApiError(
        'InvalidParameter',
        `location '${location}' differs from the location '${scaleSet.location}' of scale set '${scaleSet.name}'; omit it.`,
        { target: 'location' },
      );
    }
    vmssKey = scaleSet.key;
    location = scaleSet.location;
  }
  const expiresAt = new Date(Date.now() + (input.expiresInSeconds ?? DEFAULT_JOIN_KEY_LIFETIME_IN_SECONDS) * 1000);
  const { key, row } = await ctx.store.createJoinKey({
    subscriptionId: sub,
    resourceGroup: rg,
    vmssKey,
    location: location ?? ctx.config.defaultLocation,
    description: input.description ?? null,
    maxUses: input.maxUses ?? null,
    expiresAt,
  });
  ctx.logger.info(
    { joinKey: row.id, resourceGroup: rg, vmss: vmssKey, maxUses: row.maxUses, expiresAt: row.expiresAt },
    'join key created',
  );
  return {
    ...joinKeyView(row, input.vmScaleSetName ?? null),
    joinKey: key,
    installCommand: agentInstallCommand(ctx, serverUrl, ['--join-key', key], '/var/lib/netwatcher/agent'),
  };
}

/** Join keys of a resource group (or the subscription). */
export async function listJoinKeys(
  ctx: ServerContext,
  sub: string,
  rg: string | undefined,
): Promise<Record<string, unknown>[]> {
  const rows = await ctx.store.listJoinKeys({
    subscriptionId: sub,
    ...(rg !== undefined ? { resourceGroup: rg } : {}),
  });
  return rows.map((r) => joinKeyView(r, scaleSetNameOfKey(r.vmssKey)));
}

/** Revokes a join key of a resource group; 404 when it has none with this id. */
export async function revokeJoinKey(
  ctx: ServerContext,
  sub: string,
  rg: string,
  id: string,
): Promise<Record<string, unknown>> {
  const [row] = (await ctx.store.listJoinKeys({ subscriptionId: sub, resourceGroup: rg })).filter((r) => r.id === id);
  if (!row)
    throw new ApiError(
      'ResourceNotFound',
      `Resource group '${rg}' has no join key '${id}' (nw vm join-key list -g ${rg}).`,
      { target: 'joinKeyId' },
    );
  const revoked = (await ctx.store.revokeJoinKey(row.id))!;
  ctx.logger.info({ joinKey: row.id }, 'join key revoked: new joins stop, joined hosts keep their credentials');
  return joinKeyView(revoked, scaleSetNameOfKey(revoked.vmssKey));
}

const REFUSALS: Record<JoinKeyRefusal, (row: JoinKeyRow | null) => string> = {
  unknown: () =>
    "The join key is unknown (mistyped, or not one of this server's). Ask for a key made with 'nw vm join-key create'.",
  revoked: (r) => `The join key was revoked at ${r?.revokedAt?.toISOString()}; ask for a new one.`,
  expired: (r) => `The join key expired at ${r?.expiresAt?.toISOString()}; ask for a new one.`,
  exhausted: (r) =>
    `The join key has been used ${r?.uses} times, its limit (maxUses ${r?.maxUses}); ask for a new one.`,
};

/**
 * Registers and enrols a host with a join key, in one transaction: the key is checked and its use
 * counted, the VM (or the scale set's next instance) created, and the host's credential issued.
 * A name in use is refused with 409 VirtualMachineNameInUse and uses nothing of the key.
 */
export async function joinWithKey(
  ctx: ServerContext,
  joinKey: string,
  vmName: string | undefined,
  hostname: string,
): Promise<{ credential: string; vm: ResourceRecord<VmBody> }> {
  const name = vmName ?? hostname;
  if (!name)
    throw new ApiError(
      'MissingRequiredProperty',
      'The host has no usable host name: give the VM a name (nw agent --vm-name NAME).',
      { target: 'vmName' },
    );
  assertResourceName('virtualMachines', name, true, 'vmName');
  const result = await ctx.store.useJoinKey(joinKey, async (tx, row) => {
    let vm: ResourceRecord<VmBody>;
    if (row.vmssKey) {
      vm = await addScaleSetInstance(tx, row.vmssKey, name);
    } else {
      const id = vmId(row.subscriptionId, row.resourceGroup, name);
      const location = row.location ?? ctx.config.defaultLocation;
      const inserted = await tx.insertResource<VmBody>({
        key: armIdKey(id),
        type: 'vm',
        parentKey: null,
        id,
        name,
        subscriptionId: row.subscriptionId,
        resourceGroup: row.resourceGroup,
        location,
        body: {
          type: 'Microsoft.Compute/virtualMachines',
          location,
          properties: {
            provisioningState: 'Succeeded',
            vmId: randomUUID(),
            netwatcher: {
              agentConnected: false,
              agentVersion: null,
              hostname: null,
              enrolledAt: null,
              lastSeenAt: null,
            },
          },
        },
      });
      // A host may never take over another host's VM (and its captures and credential) by naming it.
      if (!inserted)
        throw new ApiError(
          'VirtualMachineNameInUse',
          `A virtual machine named '${name}' already exists in resource group '${row.resourceGroup}'; join with another name (nw agent --vm-name NAME), or delete that VM first.`,
          { target: 'vmName' },
        );
      vm = inserted;
      // The host has the agent as if installed by `nw vm extension set`: deleting that extension revokes it, as for any host.
      const extId = `${vm.id}/extensions/${AGENT_EXTENSION.linuxType}`;
      await tx.putResource<ExtensionBody>({
        key: armIdKey(extId),
        type: 'extension',
        parentKey: vm.key,
        id: extId,
        name: AGENT_EXTENSION.linuxType,
        subscriptionId: vm.subscriptionId,
        resourceGroup: vm.resourceGroup,
        location,
        body: {
          type: 'Microsoft.Compute/virtualMachines/extensions',
          location,
          properties: {
            publisher: AGENT_EXTENSION.publisher,
            type: AGENT_EXTENSION.linuxType,
            typeHandlerVersion: AGENT_EXTENSION.typeHandlerVersion,
            autoUpgradeMinorVersion: true,
            provisioningState: 'Creating',
            settings: null,
          },
        },
      });
    }
    const { token } = await tx.issueToken('agent', {
      vmKey: vm.key,
      description: `agent credential of host ${vm.id} (joined with join key ${row.id})`,
    });
    const enrolled = await tx.updateResourceBody<VmBody>(vm.key, {
      ...vm.body,
      properties: {
        ...vm.body.properties,
        netwatcher: {
          ...vm.body.properties.netwatcher,
          hostname: hostname || null,
          enrolledAt: new Date().toISOString(),
        },
      },
    });
    return { credential: token, vm: enrolled ?? vm, joinKeyId: row.id };
  });
  if (!result.ok) {
    ctx.logger.warn({ joinKey: result.row?.id ?? null, refusal: result.refusal, vmName: name }, 'a join was refused');
    throw new ApiError('InvalidJoinKey', REFUSALS[result.refusal](result.row), { target: 'joinKey' });
  }
  const { vm } = result.value;
  ctx.logger.info({ vm: vm.id, joinKey: result.value.joinKeyId }, 'a host joined');
  await ensureWatcherForLocation(ctx, vm.subscriptionId, vm.location ?? ctx.config.defaultLocation);
  return { credential: result.value.credential, vm };
}
