// The capture engine alone in its own long-lived Node process (one per bench run, like an agent),
// driven over IPC by capturers.ts, so that its CPU is measured apart from the bench's own work
// (iperf3 runs, counting, printing) and from a fresh Node process's start-up (~4 ms/s of JIT and
// GC for its first seconds).
import { startCapture, startRingCapture } from '../../src/capture/index.js';
import type {
  CaptureSpec,
  RingCaptureOptions,
  RingCaptureSession,
  RingCaptureSpec,
  RingOutcome,
  StartCaptureOptions,
} from '../../src/capture/index.js';

/** Messages from the bench to this process. */
export type EngineChildRequest =
  | { type: 'start'; spec: CaptureSpec; options: StartCaptureOptions; previousEngine?: boolean }
  | { type: 'start-ring'; spec: RingCaptureSpec; options: Pick<RingCaptureOptions, 'commandPrefix' | 'writer'> }
  | { type: 'cpu' }
  | { type: 'stop' };

/** What the child reports when a ring stops: its outcome and the packets of every file it closed, deleted ones included. */
export interface RingStopReply {
  type: 'ring-stopped';
  outcome: RingOutcome;
  packetsInAllFiles: number;
  filesClosed: number;
  cpuAfterStopSeconds: number;
}

const cpuSeconds = (): number => {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1e6;
};

let session: ReturnType<typeof startCapture> | null = null;
let ring: RingCaptureSession | null = null;
let ringPackets = 0;
let ringFiles = 0;
const send = (message: unknown): void => {
  process.send?.(message);
};

// An untracked copy of an earlier engine (bench/capture-fidelity/previous-engine.ts, see README)
// for before/after figures measured in the same run.
const PREVIOUS_ENGINE = './previous-engine.js';

process.on('message', (message: EngineChildRequest) => {
  if (message.type === 'start') {
    if (message.previousEngine === true) {
      void (import(PREVIOUS_ENGINE) as Promise<{ startCapture: typeof startCapture }>).then((m) => {
        session = m.startCapture(message.spec, message.options);
        session.started.then(
          () => send({ type: 'started', pid: session?.pid ?? null }),
          (err: unknown) => send({ type: 'failed', message: err instanceof Error ? err.message : String(err) }),
        );
      });
      return;
    }
    session = startCapture(message.spec, message.options);
    session.started.then(
      () => send({ type: 'started', pid: session?.pid ?? null }),
      (err: unknown) => send({ type: 'failed', message: err instanceof Error ? err.message : String(err) }),
    );
  } else if (message.type === 'start-ring') {
    ringPackets = 0;
    ringFiles = 0;
    ring = startRingCapture(message.spec, {
      ...message.options,
      onFileClosed: (f) => {
        ringPackets += f.packetsCaptured;
        ringFiles++;
      },
    });
    ring.started.then(
      () => send({ type: 'started', pid: null }),
      (err: unknown) => send({ type: 'failed', message: err instanceof Error ? err.message : String(err) }),
    );
  } else if (message.type === 'stop' && ring !== null) {
    const atStop = cpuSeconds();
    const stopping = ring;
    ring = null;
    void stopping.stop().then((outcome) => {
      send({
        type: 'ring-stopped',
        outcome,
        packetsInAllFiles: ringPackets,
        filesClosed: ringFiles,
        cpuAfterStopSeconds: cpuSeconds() - atStop,
      } satisfies RingStopReply);
    });
  } else if (message.type === 'cpu') {
    send({ type: 'cpu', cpuSeconds: cpuSeconds(), progress: session?.progress() ?? null });
  } else if (message.type === 'stop' && session !== null) {
    const atStop = cpuSeconds();
    void session.stop().then((outcome) => {
      send({ type: 'stopped', outcome, cpuAfterStopSeconds: cpuSeconds() - atStop });
      session = null;
    });
  }
});
