/**
 * Messages between the server and an agent over the agent's WebSocket (`/agent/v1/connect`).
 * JSON, one message per frame, `type` first. The agent is the source of truth for what runs on
 * its host: on every (re)connect it sends `hello` with the state of every capture it knows, and
 * keeps sending `capture.state` until the server acknowledges it, so status and files survive a
 * lost connection on either side.
 */
import type { PacketCaptureErrorCode, PacketCaptureStatus, PacketCaptureStopReason } from './packet-capture.js';

/** Protocol version; bumped on incompatible changes. */
export const AGENT_PROTOCOL_VERSION = 1;

/** What the agent must run for one capture on its host. */
export interface AgentCaptureOrder {
  /** Unique per capture resource and host; a re-created capture of the same name gets a new one. */
  captureUid: string;
  /** Capture resource name, for logs and file names. */
  captureName: string;
  bpfExpression: string;
  snapLengthInBytes: number;
  totalBytesLimit: number;
  timeLimitInSeconds: number;
  /** Absolute path under the agent's capture root, or null: the file goes to the agent's spool. */
  localFilePath: string | null;
  /** True when the file must be uploaded to a storage account (the server grants the upload). */
  upload: boolean;
}

/** One capture file as the agent knows it. */
export interface AgentCaptureFile {
  path: string;
  sizeInBytes: number;
  sha256: string;
  /** True once the server confirmed it is stored (size and hash checked). */
  stored: boolean;
}

/** The state of one capture on one host. */
export interface AgentCaptureState {
  captureUid: string;
  status: PacketCaptureStatus;
  captureStartTime: string | null;
  stopReason: PacketCaptureStopReason | null;
  errors: PacketCaptureErrorCode[];
  errorMessage: string | null;
  packetsCaptured: number;
  bytesCaptured: number;
  kernelPacketsDropped: number | null;
  kernelPacketsReceived: number | null;
  file: AgentCaptureFile | null;
  /** Monotonic per capture, so the server ignores states that arrive out of order. */
  sequence: number;
}

/** Agent → server. */
export type AgentToServer =
  | { type: 'hello'; protocolVersion: number; agentVersion: string; hostname: string; captures: AgentCaptureState[] }
  | { type: 'capture.state'; state: AgentCaptureState }
  | { type: 'upload.request'; requestId: string; captureUid: string; sizeInBytes: number; sha256: string }
  | { type: 'upload.done'; requestId: string; captureUid: string; sizeInBytes: number; sha256: string }
  | { type: 'metrics'; at: string; values: Record<string, number> };

/** Server → agent. */
export type ServerToAgent =
  | { type: 'welcome'; vmId: string; location: string }
  | { type: 'capture.start'; order: AgentCaptureOrder }
  | { type: 'capture.stop'; captureUid: string }
  | { type: 'capture.forget'; captureUid: string; deleteFiles: boolean }
  | { type: 'capture.ack'; captureUid: string; sequence: number }
  | { type: 'upload.grant'; requestId: string; captureUid: string; grant: unknown }
  | { type: 'upload.refused'; requestId: string; captureUid: string; reason: string; retryable: boolean }
  | { type: 'upload.verified'; requestId: string; captureUid: string; ok: boolean; reason?: string }
  | { type: 'file.fetch'; requestId: string; captureUid: string };
