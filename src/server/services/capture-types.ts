import type { AgentCaptureState, PacketCaptureErrorCode, PacketCaptureStatus, PacketCaptureStopReason } from '../../model/index.js';

/**
 * One host a capture runs on. A scale-set instance (issue 14) has its `instanceId` and its own
 * blob in the capture's storage account (`blobPath`, verified on its own).
 */
export interface CaptureTarget {
  vmKey: string; vmId: string; vmName: string; resourceGroup: string;
  instanceId?: string; computerName?: string;
  blobPath?: string; verified?: { sizeInBytes: number; sha256: string };
}

/** Where a capture's file goes in a storage account. */
export interface CaptureStorageTarget {
  accountKey: string;
  container: string;
  blobPath: string;
  /** Set once the server read the blob back and it matched the host's file: from then on no grant is given for it, so nothing overwrites it. */
  verified?: { sizeInBytes: number; sha256: string };
}

/** Server-only state of a capture, kept in the stored body under `_internal` (never returned). */
export interface CaptureInternal {
  uid: string;
  createdAt: string;
  location: string;
  bpfExpression: string;
  targets: CaptureTarget[];
  storage: CaptureStorageTarget | null;
  localFilePath: string | null;
  stopRequested: boolean;
  deleting: { deleteFiles: boolean } | null;
  /** True while the capture holds a session (counts against the per-location limit). */
  active: boolean;
  /** Continuous capture only: the ring the hosts run (captureSettings with defaults filled in). */
  ring?: { fileCount: number; fileSizeInBytes: number; sessionTimeLimitInSeconds: number };
}

/** Stored body of a packet capture. */
export interface CaptureBody {
  type: string;
  properties: Record<string, unknown> & { provisioningState: string; storageLocation: Record<string, unknown> };
  _internal: CaptureInternal;
}

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
    captureUid, status: 'NotStarted', captureStartTime: null, stopReason: null, errors: [], errorMessage: null,
    packetsCaptured: 0, bytesCaptured: 0, kernelPacketsDropped: null, kernelPacketsReceived: null, file: null, sequence: 0,
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
  return { accountKey: internal.storage.accountKey, container: internal.storage.container, blobPath: target.blobPath, ...(target.verified ? { verified: target.verified } : {}) };
}
