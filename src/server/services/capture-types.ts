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
 * Where one host's file of a capture goes in its storage account: the target's own blob (each
 * instance of a scale set has one) or the capture's. Null when the capture keeps files on the hosts.
 */
export function targetStorage(internal: CaptureInternal, vmKey: string): CaptureStorageTarget | null {
  if (!internal.storage) return null;
  const target = internal.targets.find((t) => t.vmKey.toLowerCase() === vmKey.toLowerCase());
  if (!target?.blobPath) return internal.storage;
  return {
    accountKey: internal.storage.accountKey,
    container: internal.storage.container,
    blobPath: target.blobPath,
    ...(target.verified ? { verified: target.verified } : {}),
  };
}
