import { ApiError, armIdKey, vmId } from '../../lib/index.js';
import type { ServerContext } from './context.js';
import type { CaptureBody, InstanceState } from './capture-types.js';
import { captureStates, evaluateCapture } from './packet-captures.js';
import { isTerminal } from './capture-status.js';
import { revokeAgentAccess, type VmBody } from './vms.js';

/** What deleting a host did. */
export interface VmDeleteResult {
  deleted: boolean;
  stoppedCaptures: string[];
}

/**
 * Deletes a host (VirtualMachines_Delete): refuses with 409 Conflict while captures run on it,
 * unless `force` — then those captures are recorded as stopped (Manual) and the agent is told
 * to stop them (its files so far stay on the host). Then its credential is revoked, its connection cut, and the VM
 * and its extensions removed. A missing VM is no error (ARM answers 204).
 */
export async function deleteVm(
  ctx: ServerContext,
  sub: string,
  rg: string,
  name: string,
  force: boolean,
): Promise<VmDeleteResult> {
  const vm = await ctx.store.getResource<VmBody>(armIdKey(vmId(sub, rg, name)));
  if (!vm) return { deleted: false, stoppedCaptures: [] };
  const running = await ctx.store.listActiveCapturesForVm<CaptureBody>(vm.key);
  if (running.length > 0 && !force) {
    const names = running.map((c) => c.name).join(', ');
    throw new ApiError(
      'Conflict',
      `Virtual machine '${name}' has ${running.length} running packet capture(s): ${names}. Stop them first, or delete with force (nw vm delete --force; API: ?forceDeletion=true).`,
      { target: 'vmName' },
    );
  }
  for (const capture of running) {
    const state = (await captureStates(ctx, capture)).get(vm.key);
    if (!state || isTerminal(state)) continue;
    // Best effort while it is still connected; the record ends here either way, since no report can come after the revocation.
    ctx.hub.send(vm.key, { type: 'capture.stop', captureUid: capture.body._internal.uid });
    // Stopped by the operator (a forced delete is a manual stop), as far as the server will ever know.
    const ended: InstanceState = { ...state, sequence: state.sequence + 1, status: 'Stopped', stopReason: 'Manual' };
    await ctx.store.upsertCaptureInstance({
      captureUid: capture.body._internal.uid,
      vmKey: vm.key,
      captureKey: capture.key,
      state: ended as InstanceState & Record<string, unknown>,
    });
    await evaluateCapture(ctx, capture.key);
  }
  await revokeAgentAccess(ctx, vm.key, `host '${name}' was deleted`);
  await ctx.store.deleteResource(vm.key);
  return { deleted: true, stoppedCaptures: running.map((c) => c.name) };
}
