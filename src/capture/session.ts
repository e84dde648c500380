// One capture session: tcpdump streams pcap into a pipe we read, we cut the file at packet
// boundaries, enforce the size and time limits ourselves, hash while writing, and stop tcpdump
// with SIGTERM (then SIGKILL) so it prints its kernel statistics.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { PCAP_RECORD_HEADER_BYTES, PcapStreamParser } from '../pcap/index.js';
import type { PcapHeader, PcapRecord } from '../pcap/index.js';
import { CaptureFileError, CaptureFileWriter } from './file-writer.js';
import { buildTcpdumpArgs } from './tcpdump-args.js';
import { isListeningLine, parseTcpdumpStats, tcpdumpErrorMessage } from './tcpdump-stderr.js';
import { CaptureStartError } from './types.js';
import type { CaptureOutcome, CaptureProgress, CaptureSession, CaptureSpec, CaptureStopReason } from './types.js';

/** Options of startCapture. */
export interface StartCaptureOptions {
  /** tcpdump executable; defaults to 'tcpdump' on PATH. */
  tcpdumpPath?: string;
  /**
   * Program and arguments to run tcpdump through, e.g. ['ip', 'netns', 'exec', 'ns1'] to
   * capture inside a network namespace (`ip netns exec` execs tcpdump in place, so signals
   * still reach it). Empty by default.
   */
  commandPrefix?: string[];
  /** tcpdump -B in KiB; defaults to DEFAULT_KERNEL_BUFFER_IN_KIB. */
  kernelBufferInKiB?: number;
  /** Called when capture really starts (same moment `started` resolves). */
  onStarted?(at: Date): void;
  /** Pass --immediate-mode to tcpdump (see TcpdumpArgsOptions.immediateMode). Default false. */
  immediateMode?: boolean;
  /** Pass -U to tcpdump (see TcpdumpArgsOptions.flushEachPacket). Default false. */
  flushEachPacket?: boolean;
  /**
   * After a time-limit or manual stop, how long to keep reading before SIGTERM so that packets
   * already captured by the kernel but still in an unretired TPACKET_V3 block (libpcap retires
   * blocks after 1 s when traffic is light) reach the file. Ends early as soon as a packet stamped
   * after the stop instant arrives. Default 1200 ms (100 ms in immediate mode).
   */
  stopDrainTimeoutInMs?: number;
  /** How long tcpdump gets to exit after SIGTERM before SIGKILL. Default 5000 ms. */
  killTimeoutInMs?: number;
  /** Bytes queued for disk above which tcpdump's stdout is paused (the kernel buffer takes over). Default 128 MiB. */
  maxBufferedBytes?: number;
}

/** Default for StartCaptureOptions.stopDrainTimeoutInMs. */
export const DEFAULT_STOP_DRAIN_TIMEOUT_IN_MS = 1200;
/** Default for StartCaptureOptions.killTimeoutInMs. */
export const DEFAULT_KILL_TIMEOUT_IN_MS = 5000;
/** Default for StartCaptureOptions.maxBufferedBytes. */
export const DEFAULT_MAX_BUFFERED_BYTES = 128 * 1024 * 1024;

// tcpdump's stderr is kept as its first and last 32 KiB: the start line and errors come first,
// the exit statistics last, and a chatty tcpdump must not grow this process.
const STDERR_PART_CHARS = 32 * 1024;
const EMPTY_SHA256 = createHash('sha256').digest('hex');

/**
 * Starts a capture. Throws RangeError at once for an invalid spec; every other failure
 * (tcpdump missing or refusing the interface/filter, the file not writable) becomes an outcome.
 * @example
 * const s = startCapture({ captureId: 'c1', interfaceName: 'any', bpfExpression: 'tcp', snapLengthInBytes: 0,
 *   totalBytesLimit: 1 << 30, timeLimitInSeconds: 60, outputPath: '/var/captures/c1.cap' });
 * await s.started; const outcome = await s.done;
 */
export function startCapture(spec: CaptureSpec, opts: StartCaptureOptions = {}): CaptureSession {
  validateSpec(spec);
  const args = buildTcpdumpArgs(spec, {
    kernelBufferInKiB: opts.kernelBufferInKiB,
    immediateMode: opts.immediateMode,
    flushEachPacket: opts.flushEachPacket,
  });
  return new TcpdumpCaptureSession(spec, args, opts);
}

/** Size and SHA-256 of a regular file as it is on disk; zero and the empty hash otherwise. */
async function describeFileOnDisk(path: string): Promise<{ sizeInBytes: number; sha256: string }> {
  try {
    // Only regular files: hashing a device such as /dev/zero would never end.
    if (!(await stat(path)).isFile()) return { sizeInBytes: 0, sha256: EMPTY_SHA256 };
    const hash = createHash('sha256');
    let sizeInBytes = 0;
    for await (const chunk of createReadStream(path)) {
      hash.update(chunk as Buffer);
      sizeInBytes += (chunk as Buffer).length;
    }
    return { sizeInBytes, sha256: hash.digest('hex') };
  } catch {
    return { sizeInBytes: 0, sha256: EMPTY_SHA256 };
  }
}

function validateSpec(spec: CaptureSpec): void {
  const { totalBytesLimit, timeLimitInSeconds } = spec;
  if (!Number.isSafeInteger(totalBytesLimit) || totalBytesLimit < 0 || (totalBytesLimit > 0 && totalBytesLimit < 24)) {
    throw new RangeError(`totalBytesLimit must be 0 (no limit) or at least 24 (a pcap header), got ${totalBytesLimit}`);
  }
  if (!Number.isFinite(timeLimitInSeconds) || timeLimitInSeconds < 0) {
    throw new RangeError(`timeLimitInSeconds must be ≥ 0, got ${timeLimitInSeconds}`);
  }
  if (!spec.outputPath.startsWith('/')) throw new RangeError(`outputPath must be absolute, got ${spec.outputPath}`);
}

type Phase = 'starting' | 'capturing' | 'draining' | 'terminating' | 'finished';

class TcpdumpCaptureSession implements CaptureSession {
  readonly captureId: string;

  get pid(): number | null {
    return this.child?.pid ?? null;
  }
  readonly started: Promise<Date>;
  readonly done: Promise<CaptureOutcome>;

  private readonly spec: CaptureSpec;
  private readonly opts: StartCaptureOptions;
  private readonly drainTimeoutInMs: number;
  private readonly killTimeoutInMs: number;
  private readonly maxBufferedBytes: number;

  private phase: Phase = 'starting';
  private child: ChildProcess | null = null;
  private writer: CaptureFileWriter | null = null;
  private parser: PcapStreamParser;
  private header: PcapHeader | null = null;
  private stderrHead = '';
  private stderrTail = '';
  private startedAt: Date | null = null;
  private packetsCaptured = 0;
  private bytesAccepted = 0;
  private acceptingRecords = true;
  private stopReason: CaptureStopReason | null = null;
  // Records stamped after this instant (ms since epoch) are not kept: the limit or the manual
  // stop happened before the kernel saw them.
  private stopAtInMs: number | null = null;
  private error: CaptureOutcome['error'] = null;
  private stdoutPaused = false;
  // Accepted records that lie back to back in one tcpdump chunk are handed to the writer as one
  // slice (a run), so the per-packet cost stays a few hundred nanoseconds at high packet rates.
  private runBuffer: ArrayBufferLike | null = null;
  private runStart = 0;
  private runEnd = 0;

  private timeLimitTimer: NodeJS.Timeout | null = null;
  private drainTimer: NodeJS.Timeout | null = null;
  private killTimer: NodeJS.Timeout | null = null;

  private resolveStarted!: (at: Date) => void;
  private rejectStarted!: (err: CaptureStartError) => void;
  private resolveDone!: (outcome: CaptureOutcome) => void;

  constructor(spec: CaptureSpec, args: string[], opts: StartCaptureOptions) {
    this.captureId = spec.captureId;
    this.spec = spec;
    this.opts = opts;
    this.drainTimeoutInMs = opts.stopDrainTimeoutInMs ?? (opts.immediateMode === true ? 100 : DEFAULT_STOP_DRAIN_TIMEOUT_IN_MS);
    this.killTimeoutInMs = opts.killTimeoutInMs ?? DEFAULT_KILL_TIMEOUT_IN_MS;
    this.maxBufferedBytes = opts.maxBufferedBytes ?? DEFAULT_MAX_BUFFERED_BYTES;
    this.started = new Promise<Date>((resolve, reject) => {
      this.resolveStarted = resolve;
      this.rejectStarted = reject;
    });
    // Callers that only await `done` must not get an unhandled rejection from `started`.
    this.started.catch(() => {});
    this.done = new Promise<CaptureOutcome>((resolve) => {
      this.resolveDone = resolve;
    });
    this.parser = new PcapStreamParser({
      onHeader: (h, raw) => this.onHeader(h, raw),
      onRecord: (rec, raw) => this.onRecord(rec, raw),
    });
    void this.run(args);
  }

  progress(): CaptureProgress {
    return { packetsCaptured: this.packetsCaptured, fileSizeInBytes: this.bytesAccepted, startedAt: this.startedAt };
  }

  stop(): Promise<CaptureOutcome> {
    this.requestStop('Manual', Date.now());
    return this.done;
  }

  private async run(args: string[]): Promise<void> {
    try {
      this.writer = await CaptureFileWriter.open(this.spec.outputPath);
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      this.error = { code: 'LocalFileFailed', message };
      this.stopReason = 'Error';
      this.rejectStarted(new CaptureStartError(message, 'LocalFileFailed'));
      this.phase = 'finished';
      this.resolveDone(this.outcome(null, { sizeInBytes: 0, sha256: EMPTY_SHA256 }));
      return;
    }
    this.writer.onError = (err) => this.fail('LocalFileFailed', err.message);

    if (this.stopReason !== null) {
      // stop() came while the file was being opened: never start tcpdump.
      await this.finish(null);
      return;
    }

    const argv = [...(this.opts.commandPrefix ?? []), this.opts.tcpdumpPath ?? 'tcpdump', ...args];
    const child = spawn(argv[0] as string, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    child.stdout.on('data', (chunk: Buffer) => this.onStdout(chunk));
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (text: string) => this.onStderr(text));
    let spawnError: Error | null = null;
    child.on('error', (err) => {
      spawnError = err; // ENOENT etc.; 'close' still follows
    });
    // 'close' (not 'exit') so that all of stdout and stderr has been read.
    child.on('close', (code, signal) => {
      void this.onTcpdumpClosed(code, signal, spawnError);
    });
  }

  private onStderr(text: string): void {
    const room = STDERR_PART_CHARS - this.stderrHead.length;
    if (room > 0) {
      this.stderrHead += text.slice(0, room);
      text = text.slice(room);
    }
    if (text !== '') this.stderrTail = (this.stderrTail + text).slice(-STDERR_PART_CHARS);
    if (this.startedAt === null && this.phase === 'starting' && isListeningLine(this.stderrHead)) this.onListening();
  }

  private get stderrText(): string {
    return this.stderrTail === '' ? this.stderrHead : `${this.stderrHead}\n${this.stderrTail}`;
  }

  private onListening(): void {
    const at = new Date();
    this.startedAt = at;
    this.phase = 'capturing';
    if (this.spec.timeLimitInSeconds > 0) {
      const stopAtInMs = at.getTime() + this.spec.timeLimitInSeconds * 1000;
      this.timeLimitTimer = setTimeout(() => this.requestStop('TimeExceeded', stopAtInMs), stopAtInMs - Date.now());
    }
    this.resolveStarted(at);
    try {
      this.opts.onStarted?.(at);
    } catch {
      // A throwing observer must not break the capture.
    }
  }

  private onStdout(chunk: Buffer): void {
    try {
      this.parser.push(chunk);
    } catch (err) {
      this.flushRun();
      // Garbage on tcpdump's stdout (a tcpdump that is not writing pcap): nothing more can be trusted.
      this.fail('CaptureFailed', `tcpdump output is not a pcap stream: ${(err as Error).message}`);
      return;
    }
    this.flushRun();
    if (this.writer !== null && !this.stdoutPaused && this.writer.pendingBytes > this.maxBufferedBytes && this.child !== null) {
      // The disk is far behind: stop reading so the kernel buffer absorbs the rest and its drops
      // are counted honestly, instead of growing this process without bound.
      this.stdoutPaused = true;
      this.child.stdout?.pause();
      void this.writer.whenDrained().then(() => {
        this.stdoutPaused = false;
        this.child?.stdout?.resume();
      });
    }
  }

  private onHeader(header: PcapHeader, raw: Buffer): void {
    this.header = header;
    if (this.spec.totalBytesLimit > 0 && raw.length > this.spec.totalBytesLimit) {
      this.acceptingRecords = false;
      this.requestStop('SizeExceeded', Date.now());
      return;
    }
    this.accept(raw);
  }

  private onRecord(rec: PcapRecord, raw: Buffer): void {
    if (!this.acceptingRecords || this.header === null) return;
    if (this.stopAtInMs !== null) {
      const fractionInMs = this.header.magic === 'nsec' ? rec.timestampFraction / 1e6 : rec.timestampFraction / 1e3;
      const stampInMs = rec.timestampSeconds * 1000 + fractionInMs;
      if (stampInMs > this.stopAtInMs) {
        // Records arrive in (nearly) kernel order: one stamped after the stop means the packets
        // before it have been delivered, so the drain can end now. Later records stamped before
        // the stop (tiny cross-CPU reordering) are still kept.
        if (this.phase === 'draining') this.terminate();
        return;
      }
    }
    if (this.spec.totalBytesLimit > 0 && this.bytesAccepted + raw.length > this.spec.totalBytesLimit) {
      this.acceptingRecords = false;
      this.requestStop('SizeExceeded', Date.now());
      return;
    }
    this.packetsCaptured++;
    this.accept(raw);
  }

  private accept(raw: Buffer): void {
    if (this.writer === null || this.writer.error !== null) return;
    this.bytesAccepted += raw.length;
    if (raw.buffer === this.runBuffer && raw.byteOffset === this.runEnd) {
      this.runEnd += raw.length;
      return;
    }
    this.flushRun();
    this.runBuffer = raw.buffer;
    this.runStart = raw.byteOffset;
    this.runEnd = raw.byteOffset + raw.length;
  }

  // Hands the current run to the writer. The slice is a view of the parser's chunk, which the
  // writer keeps only until it is on disk.
  private flushRun(): void {
    if (this.runBuffer === null) return;
    const run = Buffer.from(this.runBuffer, this.runStart, this.runEnd - this.runStart);
    this.runBuffer = null;
    if (this.writer !== null && this.writer.error === null) this.writer.append(run);
  }

  private fail(code: 'CaptureFailed' | 'LocalFileFailed', message: string): void {
    if (this.error === null) this.error = { code, message };
    this.acceptingRecords = false;
    this.stopReason = 'Error';
    this.terminate();
  }

  private requestStop(reason: CaptureStopReason, stopAtInMs: number): void {
    if (this.stopReason !== null || this.phase === 'finished') return;
    this.stopReason = reason;
    this.stopAtInMs = stopAtInMs;
    this.clearTimer('timeLimitTimer');
    if (reason === 'SizeExceeded' || this.phase !== 'capturing' || this.drainTimeoutInMs <= 0) {
      this.terminate();
      return;
    }
    this.phase = 'draining';
    this.drainTimer = setTimeout(() => this.terminate(), this.drainTimeoutInMs);
  }

  private terminate(): void {
    this.clearTimer('timeLimitTimer');
    this.clearTimer('drainTimer');
    if (this.phase === 'terminating' || this.phase === 'finished') return;
    this.phase = 'terminating';
    const child = this.child;
    if (child === null || child.exitCode !== null || child.signalCode !== null) return;
    // SIGTERM makes tcpdump break its loop, flush its output and print its statistics.
    child.kill('SIGTERM');
    this.killTimer = setTimeout(() => child.kill('SIGKILL'), this.killTimeoutInMs);
  }

  private clearTimer(name: 'timeLimitTimer' | 'drainTimer' | 'killTimer'): void {
    const t = this[name];
    if (t !== null) clearTimeout(t);
    this[name] = null;
  }

  private async onTcpdumpClosed(code: number | null, signal: NodeJS.Signals | null, spawnError: Error | null): Promise<void> {
    this.clearTimer('timeLimitTimer');
    this.clearTimer('drainTimer');
    this.clearTimer('killTimer');
    this.parser.end();
    if (this.stopReason === null) {
      // tcpdump ended without being asked to: bad interface or filter, interface gone, crash.
      const detail = spawnError !== null ? spawnError.message : tcpdumpErrorMessage(this.stderrText);
      const how = signal !== null ? `killed by ${signal}` : `exited with code ${code}`;
      this.fail('CaptureFailed', `tcpdump ${how}${detail !== '' ? `: ${detail}` : ''}`);
    }
    // A trailing partial record (tcpdump killed mid-write) is simply not written: the file only
    // ever receives whole records, so it stays a valid pcap.
    if (this.startedAt === null) {
      const message = this.error?.message ?? 'capture stopped before it started';
      this.rejectStarted(new CaptureStartError(message, this.error?.code ?? null));
    }
    await this.finish({ code, signal });
  }

  private async finish(exit: { code: number | null; signal: NodeJS.Signals | null } | null): Promise<void> {
    this.phase = 'finished';
    let written = { sizeInBytes: 0, sha256: EMPTY_SHA256 };
    if (this.writer !== null) {
      try {
        written = await this.writer.finish();
        // Trust the disk, not our counters, for the size we report.
        written.sizeInBytes = (await stat(this.spec.outputPath)).size;
      } catch (err) {
        const message = err instanceof CaptureFileError || err instanceof Error ? err.message : String(err);
        if (this.error === null) this.error = { code: 'LocalFileFailed', message };
        this.stopReason = 'Error';
        // What we meant to write never fully reached the disk: describe what is there instead.
        written = await describeFileOnDisk(this.spec.outputPath);
      }
    }
    if (this.startedAt === null) {
      this.rejectStarted(new CaptureStartError(this.error?.message ?? 'capture stopped before it started', this.error?.code ?? null));
    }
    this.resolveDone(this.outcome(exit, written));
  }

  private outcome(exit: { code: number | null; signal: NodeJS.Signals | null } | null, written: { sizeInBytes: number; sha256: string }): CaptureOutcome {
    const stats = exit === null ? null : parseTcpdumpStats(this.stderrText);
    return {
      stopReason: this.error !== null ? 'Error' : this.stopReason ?? 'Error',
      startedAt: this.startedAt,
      endedAt: new Date(),
      packetsCaptured: this.packetsCaptured,
      fileSizeInBytes: written.sizeInBytes,
      sha256: written.sha256,
      kernelPacketsReceived: stats?.packetsReceivedByFilter ?? null,
      kernelPacketsDropped: stats?.packetsDroppedByKernel ?? null,
      error: this.error,
    };
  }
}
