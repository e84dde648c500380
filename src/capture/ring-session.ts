// What the ring's writers (ring-cut.ts: the engine cuts tcpdump's stream; ring-directory.ts:
// nw-capture's or tcpdump's own rotation) share: the one capture process and its lifecycle
// (listening line, time limit, stop hand-over, failure), the closed files and the deletion of the
// oldest, and the outcome. Each writer adds only how its files come to be. nw-capture speaks
// tcpdump's command line and stderr (src/capture/native/nw-capture.c), so "tcpdump" below means
// either program.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { unlinkSync } from 'node:fs';
import { dirname } from 'node:path';
import type { CutCaptureFile } from './pcap-cut.js';
import { endRingTcpdump, ringKernelStats } from './ring-rules.js';
import { signalRunning, TcpdumpCounters } from './tcpdump-counters.js';
import { isListeningLine, tcpdumpErrorMessage, TcpdumpStderrReader } from './tcpdump-stderr.js';
import type { TcpdumpInfoLine } from './tcpdump-stderr.js';
import { CaptureStartError } from './types.js';
import type { CaptureStopReason } from './types.js';
import type { RingCaptureOptions, RingCaptureSession, RingCaptureSpec, RingFile, RingOutcome } from './ring.js';

export abstract class TcpdumpRingSession implements RingCaptureSession {
  readonly started: Promise<Date>;
  readonly done: Promise<RingOutcome>;
  protected readonly dir: string;
  protected child: ChildProcess | null = null;
  protected startedAt: Date | null = null;
  protected stopReason: CaptureStopReason | null = null;
  protected readonly stderr: TcpdumpStderrReader;
  protected readonly counters: TcpdumpCounters;
  protected readonly closed: RingFile[] = [];
  protected pending = 0; // closed files not yet handed on
  protected chain: Promise<void> = Promise.resolve(); // the closed files' finishing, in order
  private error: RingOutcome['error'] = null;
  private deleted = 0;
  private limitTimer: NodeJS.Timeout | null = null;
  private resolveStarted!: (d: Date) => void;
  private rejectStarted!: (e: Error) => void;
  private resolveDone!: (o: RingOutcome) => void;
  /** The capture program's name in messages. */
  protected programName = 'tcpdump';

  constructor(
    protected readonly spec: RingCaptureSpec,
    protected readonly opts: RingCaptureOptions,
  ) {
    this.dir = dirname(spec.outputPath);
    this.started = new Promise((resolve, reject) => {
      this.resolveStarted = resolve;
      this.rejectStarted = reject;
    });
    this.started.catch(() => undefined);
    this.done = new Promise((resolve) => (this.resolveDone = resolve));
    this.counters = new TcpdumpCounters((name) => this.signal(name));
    this.stderr = new TcpdumpStderrReader((info) => this.onReport(info));
  }

  files(): RingFile[] {
    return [...this.closed];
  }

  stop(): Promise<RingOutcome> {
    this.requestStop('Manual');
    return this.done;
  }

  /** Ends tcpdump, then every file: called once, when tcpdump has closed (or never started). */
  protected abstract finish(): Promise<void>;

  /**
   * Starts tcpdump (`argv` null: not found). `readStdout`, when given, reads its stdout and is
   * awaited before the outcome, so the last packets tcpdump flushes on SIGTERM are kept.
   */
  protected launch(argv: readonly string[] | null, readStdout?: (child: ChildProcess) => Promise<void>): void {
    if (argv === null) {
      this.fail(
        'CaptureFailed',
        `spawn ${this.programName === 'tcpdump' ? (this.opts.tcpdumpPath ?? 'tcpdump') : this.programName} ENOENT`,
      );
      void this.finish();
      return;
    }
    const child = spawn(argv[0] as string, argv.slice(1), {
      stdio: ['ignore', readStdout ? 'pipe' : 'ignore', 'pipe'],
    });
    this.child = child;
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (text: string) => {
      this.stderr.push(text);
      if (this.startedAt === null && isListeningLine(this.stderr.text)) this.onListening();
    });
    child.on('error', () => undefined);
    const reading = readStdout ? readStdout(child) : Promise.resolve();
    child.on('close', (code) => {
      void reading.then(() => {
        if (this.startedAt === null)
          this.fail(
            'CaptureFailed',
            tcpdumpErrorMessage(this.stderr.text) || `${this.programName} exited with ${code}`,
          );
        else if (this.stopReason === null)
          this.fail(
            this.endedOnItsOwnCode(),
            `${this.programName} ended on its own: ${tcpdumpErrorMessage(this.stderr.text)}`,
          );
        return this.finish();
      });
    });
  }

  /** The error code when the capture process ended by itself after it started: its own failure unless a writer knows better. */
  protected endedOnItsOwnCode(): 'CaptureFailed' | 'LocalFileFailed' {
    return 'CaptureFailed';
  }

  /** tcpdump is capturing: the session has started, and its time limit counts from now. */
  protected onListening(): void {
    this.startedAt = new Date();
    this.resolveStarted(this.startedAt);
    if (this.spec.sessionTimeLimitInSeconds > 0) {
      this.limitTimer = setTimeout(() => this.requestStop('TimeExceeded'), this.spec.sessionTimeLimitInSeconds * 1000);
    }
  }

  protected onReport(info: TcpdumpInfoLine): void {
    this.counters.onReport(info);
  }

  protected signal(name: NodeJS.Signals): boolean {
    return signalRunning(this.child, name);
  }

  protected fail(code: 'CaptureFailed' | 'LocalFileFailed', message: string): void {
    if (this.error === null) this.error = { code, message };
    this.stopReason = 'Error';
    this.rejectStarted(new CaptureStartError(message, code));
  }

  protected requestStop(reason: CaptureStopReason): void {
    if (this.stopReason !== null || this.child === null) return;
    this.stopReason = reason;
    const child = this.child;
    if (this.startedAt === null) endRingTcpdump(child);
    else this.counters.whenHandedOver(this.opts.stopDrainTimeoutInMs ?? 1200, () => endRingTcpdump(child));
  }

  /** Deletes the oldest closed file from the host and tells onFileDeleted. */
  protected deleteOldest(): void {
    const oldest = this.closed.shift() as RingFile;
    try {
      unlinkSync(oldest.path);
    } catch {
      // already gone
    }
    this.deleted++;
    void Promise.resolve(this.opts.onFileDeleted?.(oldest)).catch(() => undefined);
  }

  /**
   * Deletes a file that was never finished nor handed on (a writer whose files come faster than
   * they are finished): it counts as deleted, and nobody is told of a file they never got.
   */
  protected deleteUnfinished(path: string): void {
    try {
      unlinkSync(path);
    } catch {
      // already gone
    }
    this.deleted++;
  }

  /** The session's timers end and its counters stop being asked for (the start of every finish). */
  protected stopTimers(): void {
    if (this.limitTimer) clearTimeout(this.limitTimer);
    this.counters.dispose();
  }

  /** The outcome, once every file is finished (the end of every finish). */
  protected resolveOutcome(): void {
    this.resolveDone({
      stopReason: this.stopReason ?? 'Error',
      startedAt: this.startedAt,
      endedAt: new Date(),
      files: [...this.closed],
      filesDeleted: this.deleted,
      error: this.error,
      ...ringKernelStats(this.stderr.text),
    });
  }
}

/** A ring file as cutCaptureFile left it. */
export function ringFileFromCut(name: string, path: string, sequence: number, cut: CutCaptureFile): RingFile {
  return {
    name,
    path,
    sequence,
    sizeInBytes: cut.sizeInBytes,
    sha256: cut.sha256,
    ...(cut.fileIdentity !== undefined ? { fileIdentity: cut.fileIdentity } : {}),
    packetsCaptured: cut.packetsCaptured,
    firstPacketTime: cut.firstPacketTimeInMs === undefined ? null : new Date(cut.firstPacketTimeInMs),
    lastPacketTime: cut.lastPacketTimeInMs === undefined ? null : new Date(cut.lastPacketTimeInMs),
  };
}
