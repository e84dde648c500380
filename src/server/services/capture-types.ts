import type {
  AgentCaptureState,
  CaptureBody,
  CaptureInternal,
  CaptureStorageTarget,
  CaptureTarget,
  PacketCaptureErrorCode,
  PacketCaptureStatus,
  PacketCaptureStopReason,
} from '../../model/index.js';

/** A capture's stored body and its parts (model's captureBodySchema and the schemas it is made of). */
export type { CaptureBody, CaptureInternal, CaptureStorageTarget, CaptureTarget };

/** Per-host state, as reported by the agent (or made up by the server before the agent spoke). */
export type InstanceState = AgentCaptureState;

/** A capture's aggregate status across its hosts. */
export interface AggregateStatus {
  packetCaptureStatus: PacketCaptureStatus;
  captureStartTime: string | null;
  stopReason: PacketCaptureStopReason | null;
  packetCaptureError: PacketCaptureErrorCode[];
}

/** The initial state of a host's capture before its agent reported anything. */
export function notStartedState(captureUid: string): InstanceState {
  return {
    captureUid,
    status: 'NotStarted',
    captureStartTime: null,
    stopReason: null,
    errors: [],
    errorMessage: null,
    packetsCaptured: 0,
    bytesCaptured: 0,
    kernelPacketsDropped: null,
    kernelPacketsReceived: null,
    file: null,
    sequence: 0,
  };
}

/**
 * The key a host is known by in ownership checks: VM keys are ARM ids, which compare
 * case-insensitively (an agent's `…/virtualMachines/VM1` is the capture's `…/virtualmachines/vm1`).
 * @example hostKeyOf('/subscriptions/S/…/virtualMachines/VM1') === '/subscriptions/s/…/virtualmachines/vm1'
 */
export function hostKeyOf(vmKey: string): string {
  return vmKey.toLowerCase();
}

/**
 * The capture's target on host `vmKey`, or undefined when the capture does not run there. The one
 * ownership check: a host reports on, gets grants for and finishes uploads of its own captures only.
 * @example captureTargetOf(rec.body._internal, vmKey) ?? refuse('not this host's capture')
 */
export function captureTargetOf(internal: CaptureInternal, vmKey: string): CaptureTarget | undefined {
  const key = hostKeyOf(vmKey);
  return internal.targets.find((t) => hostKeyOf(t.vmKey) === key);
}

/**
 * Where one host's file of a capture goes in its storage account: the target's own blob (each
 * instance of a scale set has one) or the capture's. Null when the capture keeps files on the hosts.
 */
export function targetStorage(internal: CaptureInternal, vmKey: string): CaptureStorageTarget | null {
  if (!internal.storage) return null;
  const target = captureTargetOf(internal, vmKey);
  if (!target?.blobPath) return internal.storage;
  return {
    accountKey: internal.storage.accountKey,
    container: internal.storage.container,
    blobPath: target.blobPath,
    ...(target.verified ? { verified: target.verified } : {}),
  };
}
