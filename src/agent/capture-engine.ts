import type { CaptureProgramChoice } from '../capture/index.js';
import {
  startCapture,
  startRingCapture,
  type CaptureSession,
  type CaptureSpec,
  type RingCaptureOptions,
  type RingCaptureSession,
  type RingCaptureSpec,
} from '../capture/index.js';

/** Options the capture manager passes to the engine for a single-file capture. */
export interface EngineCaptureOptions {
  tcpdumpPath?: string;
  /** Which program captures (StartCaptureOptions.captureProgram); default 'auto'. */
  captureProgram?: CaptureProgramChoice;
}

/** Options the capture manager passes to the engine for a ring (continuous capture). */
export type EngineRingOptions = Pick<RingCaptureOptions, 'tcpdumpPath' | 'writer' | 'onFileClosed' | 'onFileDeleted'>;

/**
 * The ring writer for the agent's capture-program choice: 'tcpdump' the engine's cut of tcpdump's
 * stream (tcpdump is the process that captures), 'native' nw-capture, 'auto' the ring's own choice
 * (nw-capture from 64 MiB files, when it runs).
 * @example ringWriterFor('tcpdump') // 'engine'
 */
export function ringWriterFor(choice: CaptureProgramChoice): NonNullable<RingCaptureOptions['writer']> {
  return choice === 'tcpdump' ? 'engine' : choice;
}

/**
 * The capture engine as the agent's capture manager sees it: the seam between the lifecycle of
 * the server's orders and the tcpdump sessions that carry them out (as Retina's capture
 * provider interface is for its callers). The real engine is src/capture; tests of the manager's
 * lifecycle give it a fake one, so they need neither root nor tcpdump.
 */
export interface CaptureEngine {
  /** Starts a single-file capture (src/capture startCapture: never throws, failures come as outcomes). */
  startCapture(spec: CaptureSpec, opts: EngineCaptureOptions): CaptureSession;
  /** Starts a ring (src/capture startRingCapture: throws RangeError for a spec it cannot run). */
  startRingCapture(spec: RingCaptureSpec, opts: EngineRingOptions): RingCaptureSession;
}

/** The engine of src/capture: tcpdump sessions. */
export const tcpdumpCaptureEngine: CaptureEngine = {
  startCapture: (spec, opts) => startCapture(spec, opts),
  startRingCapture: (spec, opts) => startRingCapture(spec, opts),
};
