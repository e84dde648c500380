import type { AgentLookbackSettings, AgentLookbackState, StoredLookback, VmLookbackPut } from '../../model/index.js';
import type { ResourceRecord } from '../../store/index.js';
import type { ServerContext } from './context.js';
import { findAgentExtension, type VmBody } from './vms.js';
import { ApiError } from '../../lib/index.js';

/** A host's look-back setting as stored on its VM (model's storedLookbackSchema); absent or null: off. */
export type { StoredLookback };

/** The look-back setting of a host, or null when it has none. */
export function lookbackOf(vm: ResourceRecord<VmBody>): StoredLookback | null {
  return vm.body.properties.netwatcher.lookback ?? null;
}

/** The ARM view of a host's look-back buffer (`GET …/virtualMachines/{vm}/lookback`). */
export function lookbackView(vm: ResourceRecord<VmBody>): Record<string, unknown> {
  const lb = lookbackOf(vm);
  return {
    id: `${vm.id}/lookback`,
    name: 'lookback',
    type: 'Microsoft.Compute/virtualMachines/lookback',
    properties: {
      enabled: lb !== null,
      seconds: lb?.settings.seconds ?? null,
      maxSizeInBytes: lb?.settings.maxSizeInBytes ?? null,
      snapLengthInBytes: lb?.settings.snapLengthInBytes ?? null,
      enabledAt: lb?.enabledAt ?? null,
      // What the host last said its buffer holds (every few seconds while it is connected).
      status: lb?.state ?? null,
    },
  };
}

async function save(
  ctx: ServerContext,
  vm: ResourceRecord<VmBody>,
  lookback: StoredLookback | null,
): Promise<ResourceRecord<VmBody>> {
  // Under the VM's lock: the agent's connection state and tags written meanwhile are kept.
  const saved = await ctx.store.modifyResourceBody<VmBody>(vm.key, (current) => ({
    ...current,
    properties: { ...current.properties, netwatcher: { ...current.properties.netwatcher, lookback } },
  }));
  return saved ?? vm;
}

/**
 * Turns a host's look-back buffer on (or changes its bounds) and tells its agent at once; an
 * agent away now gets it at its next hello. The host needs the agent extension.
 */
export async function enableLookback(
  ctx: ServerContext,
  vm: ResourceRecord<VmBody>,
  input: VmLookbackPut,
): Promise<ResourceRecord<VmBody>> {
  if (!(await findAgentExtension(ctx, vm))) {
    throw new ApiError(
      'AgentNotInstalled',
      `The Network Watcher agent is not installed on virtual machine '${vm.name}'; install it with 'nw vm extension set' before enabling look-back.`,
      { target: 'vmName' },
    );
  }
  const settings: AgentLookbackSettings = {
    seconds: input.properties.seconds,
    maxSizeInBytes: input.properties.maxSizeInBytes,
    snapLengthInBytes: input.properties.snapLengthInBytes ?? 0,
  };
  const previous = lookbackOf(vm);
  const same = previous !== null && JSON.stringify(previous.settings) === JSON.stringify(settings);
  const saved = await save(ctx, vm, {
    settings,
    enabledAt: same ? previous.enabledAt : new Date().toISOString(),
    state: previous?.state ?? null,
  });
  ctx.hub.send(vm.key, { type: 'lookback.configure', settings });
  return saved;
}

/** Turns a host's look-back buffer off: the agent stops it and deletes its files. */
export async function disableLookback(ctx: ServerContext, vm: ResourceRecord<VmBody>): Promise<ResourceRecord<VmBody>> {
  const saved = await save(ctx, vm, null);
  ctx.hub.send(vm.key, { type: 'lookback.configure', settings: null });
  return saved;
}

/**
 * After a hello: the agent gets the host's setting again (it may have missed a change while
 * away), from the VM as its hello wrote it (no second read of the row per hello).
 */
export function sendLookbackSetting(ctx: ServerContext, vm: ResourceRecord<VmBody>): void {
  ctx.hub.send(vm.key, { type: 'lookback.configure', settings: lookbackOf(vm)?.settings ?? null });
}

/** Records what a host says its buffer holds (a host with look-back off has nothing to record). */
export async function recordLookbackState(ctx: ServerContext, vmKey: string, state: AgentLookbackState): Promise<void> {
  const vm = await ctx.store.getResource<VmBody>(vmKey);
  if (!vm) return;
  const lb = lookbackOf(vm);
  // A report from before a disable is never taken for a setting.
  if (lb === null || !state.enabled) return;
  await save(ctx, vm, { ...lb, state: { ...state, reportedAt: new Date().toISOString() } });
}
