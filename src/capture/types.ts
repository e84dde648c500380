// Types of the capture engine's public surface.
import type { PacketCaptureErrorCode, PacketCaptureStopReason } from '../model/packet-capture.js';
import type { FileIdentity } from '../lib/file-identity.js';
import type { CaptureProgramKind } from './capture-program.js';

/** What one capture session on a host must do. */
export interface CaptureSpec {
  /** Identifier used in logs and errors. */
  captureId: string;
  /** Interface to capture on; the agent uses 'any' by default. */
  interfaceName: string;
  /** Compiled BPF expression, '' to keep everything; passed to tcpdump as the last argv element. */
  bpfExpression: string;
  /** Azure bytesToCapturePerPacket: snap length, 0 = whole packet (values above 262144 are clamped). */
  snapLengthInBytes: number;
  /** Azure totalBytesPerSession: the output file (incl. its 24-byte header) never exceeds it; 0 = no limit. */
  totalBytesLimit: number;
  /** Azure timeLimitInSeconds, counted from tcpdump's 'listening on' line; 0 = no limit. */
  timeLimitInSeconds: number;
  /** Absolute path of the .cap file to write; its directory must exist. */
  outputPath: string;
}

/** Why a capture session ended: the model's stopReason values but AgentStopped (which the server, not the engine, decides). */
export type CaptureStopReason = Exclude<PacketCaptureStopReason, 'AgentStopped'>;

/** The error codes the engine itself gives (the model's packetCaptureError values a session can cause). */
export type CaptureErrorCode = Extract<PacketCaptureErrorCode, 'CaptureFailed' | 'LocalFileFailed'>;

/** A running session's counters. */
export interface CaptureProgress {
  /** Records accepted into the file so far. */
  packetsCaptured: number;
  /** Bytes of the file so far, header included (accepted bytes; some may still be in flight to disk). */
  fileSizeInBytes: number;
  /** When tcpdump really started capturing, or null before that. */
  startedAt: Date | null;
}

/** How a capture session ended. */
export interface CaptureOutcome {
  /** Why it ended. */
  stopReason: CaptureStopReason;
  /** When tcpdump really started capturing; null if it never did. */
  startedAt: Date | null;
  /** When the file was complete (fsynced and closed). */
  endedAt: Date;
  /** Records written to the file. */
  packetsCaptured: number;
  /** Final size of the file in bytes (0 if tcpdump never produced a pcap header). */
  fileSizeInBytes: number;
  /** Hex SHA-256 of the final file. */
  sha256: string;
  /** The file's identity when it was hashed (src/lib/file-identity.ts); absent when it is not a regular file or the cut failed. */
  fileIdentity?: FileIdentity;
  /** tcpdump's "packets received by filter" at exit; null if it never said (killed, failed to start). */
  kernelPacketsReceived: number | null;
  /** tcpdump's "packets dropped by kernel" at exit; null if it never said. */
  kernelPacketsDropped: number | null;
  /** The program that captured (capture-program.ts); absent when none was started. */
  captureProgram?: CaptureProgramKind;
  /** Set exactly when stopReason is 'Error' (a file failure after a limit stop also turns the outcome into an Error). */
  error: { code: CaptureErrorCode; message: string } | null;
}

/** A capture session started by startCapture. */
export interface CaptureSession {
  /** The spec's captureId. */
  readonly captureId: string;
  /** Resolves when capture really starts; rejects with CaptureStartError if it never does. */
  readonly started: Promise<Date>;
  /** Resolves once the session is over and its file complete; never rejects. */
  readonly done: Promise<CaptureOutcome>;
  /** Current counters. */
  progress(): CaptureProgress;
  /** Process id of tcpdump once spawned (null before, or if it could not be spawned). */
  readonly pid: number | null;
  /** The program capturing (capture-program.ts) once chosen; null before or when none could run. */
  readonly captureProgram?: CaptureProgramKind | null;
  /** Manual stop: ends the capture (SIGTERM, bounded wait, SIGKILL) and resolves with the outcome; idempotent. */
  stop(): Promise<CaptureOutcome>;
}

/** Why `CaptureSession.started` rejected: tcpdump failed, the file could not be opened, or a stop came first. */
export class CaptureStartError extends Error {
  override readonly name = 'CaptureStartError';
  /** The error code the outcome carries, or null when a stop came before the start. */
  readonly code: CaptureErrorCode | null;

  constructor(message: string, code: CaptureErrorCode | null) {
    super(message);
    this.code = code;
  }
}
