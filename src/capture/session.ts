// One capture session. The capture program writes the file itself: its stdout is the capture
// file, opened here, so this process is not on the packet path at all (measured in
// bench/capture-fidelity: parsing, copying and hashing each packet in Node cost 4–9× tcpdump's
// CPU and, at saturation, most of the packets). The engine watches the file from the side — its
// size every poll, the program's own counters once a second (SIGUSR1) — and makes the guarantees
// after the program exits, in one pass over the file (pcap-cut.ts): cut at the last whole record
// the size and time limits allow, hash exactly what remains.
//
// The program (capture-program.ts) is nw-capture, the engine's own writer, when it is built and
// runs: one copy from libpcap's ring into aligned pieces written with O_DIRECT by a thread of its
// own, where `tcpdump -w` copies twice (ring → stdio → page cache) and at saturation drops what
// it cannot copy (issue 18). Else tcpdump, as before. Both get the same argv (tcpdump-args.ts),
// the same setpriv launch (tcpdump-launch.ts: unprivileged, CAP_NET_RAW only, parent-death
// signal) and print the same stderr lines, so everything below is one state machine. What differs:
// - nw-capture's stdout is a second open of the file (its own open file description: it sets
//   O_DIRECT there, which must not reach this process's handle), tcpdump's this process's own fd;
// - tcpdump runs under stdbuf (64 KiB writes); nw-capture writes its own 4 MiB pieces;
// - tcpdump ignores write errors, so they are detected here (the SIGUSR2 flush probe in
//   onInfoLine); nw-capture exits 1 on its first failed write, taken for LocalFileFailed;
// - nw-capture holds up to 32 MiB in memory besides the kernel ring, which a drain waits for.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { fstatSync, statfsSync, writeSync } from 'node:fs';
import { open } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { captureProgramName, chooseCaptureProgram } from './capture-program.js';
import type { CaptureProgramChoice, CaptureProgramKind } from './capture-program.js';
import { DEFAULT_EXECUTABLE_PATH, findExecutable } from './find-executable.js';
import { finaliseCaptureFile } from './idle-cut.js';
import type { FinaliseOptions } from './idle-cut.js';
import { EMPTY_SHA256 } from './pcap-cut.js';
import type { CutCaptureFile } from './pcap-cut.js';
import { buildTcpdumpArgs, DEFAULT_KERNEL_BUFFER_IN_KIB } from './tcpdump-args.js';
import { signalRunning, TcpdumpCounters } from './tcpdump-counters.js';
import { defaultTcpdumpUser, keepsTcpdumpRoot, tcpdumpLaunchPrefix } from './tcpdump-launch.js';
import type { TcpdumpLaunchOptions, UnprivilegedUser } from './tcpdump-launch.js';
import { isListeningLine, parseTcpdumpInfoLine, parseTcpdumpStats, tcpdumpErrorMessage } from './tcpdump-stderr.js';
import type { TcpdumpInfoLine } from './tcpdump-stderr.js';
import { CaptureStartError } from './types.js';
import type { CaptureOutcome, CaptureProgress, CaptureSession, CaptureSpec, CaptureStopReason } from './types.js';

/** Options of startCapture. */
export interface StartCaptureOptions {
  /**
   * Which program captures (capture-program.ts): 'auto' (default) nw-capture when it is built and
   * runs, else tcpdump; 'native' nw-capture or a CaptureFailed start error; 'tcpdump' tcpdump. With
   * 'auto', an explicit tcpdumpPath means tcpdump (that program).
   */
  captureProgram?: CaptureProgramChoice;
  /** nw-capture executable; defaults to NATIVE_CAPTURE_PATH (dist/native/nw-capture). */
  nativeCapturePath?: string;
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
   * After a time-limit or manual stop, how long tcpdump keeps running before SIGTERM so that
   * packets already captured by the kernel but still in an unretired TPACKET_V3 block (libpcap
   * retires blocks after 1 s when traffic is light, and tcpdump drops that block on SIGTERM) reach
   * the file. Ends early once the file has grown by more than the kernel buffer since the stop
   * (every block that was in the ring has then been written). Records stamped after the stop are
   * cut off afterwards. tcpdump is ended sooner, as soon as its counters show it has handed over
   * every packet the kernel had accepted at the stop (tcpdump-counters.ts: a few ms on an idle
   * link), so this is the longest a stop waits. Default 1200 ms (100 ms in immediate mode).
   */
  stopDrainTimeoutInMs?: number;
  /** How long tcpdump gets to exit after SIGTERM before SIGKILL. Default 5000 ms. */
  killTimeoutInMs?: number;
  /**
   * Unused since tcpdump writes the file itself (nothing is queued in this process any more);
   * kept so that callers passing it still compile.
   */
  maxBufferedBytes?: number;
  /**
   * Shortest interval between two checks of the file's size against the size limit. Checks are
   * spaced by the time the file would need to reach the limit at ASSUMED_MAX_WRITE_BYTES_PER_SECOND
   * (at most statsIntervalInMs apart), so they come this often only close to the limit. Default 20 ms.
   */
  sizePollIntervalInMs?: number;
  /** How often tcpdump is asked for its counters (SIGUSR1) for live progress. Default 1000 ms. */
  statsIntervalInMs?: number;
  /**
   * Run tcpdump under `setpriv --pdeathsig TERM`, so that it ends (flushing its file) when this
   * process dies instead of writing on past every limit. Default true when setpriv (util-linux)
   * is on PATH.
   */
  endWithParent?: boolean;
  /**
   * With endWithParent and when this process is root: the unprivileged user tcpdump runs as,
   * switched to by setpriv before tcpdump starts, with CAP_NET_RAW only (see tcpdump-launch.ts).
   * Default: the `tcpdump` user of /etc/passwd, else 65534 (nobody). null: tcpdump stays root
   * (`-Z root`: its own switch of user would clear the parent-death signal).
   */
  runTcpdumpAs?: UnprivilegedUser | null;
  /**
   * tcpdump's stdout buffer in bytes, set through `stdbuf -o` when coreutils' stdbuf is on PATH;
   * 0 leaves tcpdump's own (4 KiB). Default DEFAULT_OUTPUT_BUFFER_BYTES. Not used by nw-capture,
   * which writes its own 4 MiB pieces.
   */
  outputBufferBytes?: number;
  /**
   * Where the finalisation after tcpdump exits (cut, SHA-256, fsync: ~0.7 CPU-s per GB) runs:
   * 'idle' (default) a worker thread at nice 19 / SCHED_IDLE, so that it only takes CPU the host
   * does not want (idle-cut.ts); 'normal' the same worker at normal priority, 'inline' the event
   * loop (both for comparison in bench/capture-fidelity).
   */
  finalisePriority?: FinaliseOptions['priority'];
}

/** Default for StartCaptureOptions.outputBufferBytes: 64 KiB writes (see tcpdump-launch.ts). */
export const DEFAULT_OUTPUT_BUFFER_BYTES = 64 * 1024;

/** Default for StartCaptureOptions.stopDrainTimeoutInMs. */
export const DEFAULT_STOP_DRAIN_TIMEOUT_IN_MS = 1200;
/** Default for StartCaptureOptions.killTimeoutInMs. */
export const DEFAULT_KILL_TIMEOUT_IN_MS = 5000;
/** Default for StartCaptureOptions.maxBufferedBytes (unused, see there). */
export const DEFAULT_MAX_BUFFERED_BYTES = 128 * 1024 * 1024;
/** Default for StartCaptureOptions.sizePollIntervalInMs. */
export const DEFAULT_SIZE_POLL_INTERVAL_IN_MS = 20;
/**
 * Faster than tcpdump can write a file on any host this runs on (this 2-core machine: 1.5 GB/s):
 * the size watch wakes up early enough for the file to overshoot its limit by at most this rate
 * times sizePollIntervalInMs before tcpdump is stopped (the final cut takes it back).
 */
export const ASSUMED_MAX_WRITE_BYTES_PER_SECOND = 4e9;
// While draining after a stop, the file is watched this often for the end of the drain.
const DRAIN_POLL_INTERVAL_IN_MS = 50;
// What nw-capture may hold in memory on top of the kernel ring: 8 pieces of 4 MiB (its contract).
const NATIVE_IN_FLIGHT_BYTES = 8 * 4 * 1024 * 1024;
/** Default for StartCaptureOptions.statsIntervalInMs. */
export const DEFAULT_STATS_INTERVAL_IN_MS = 1000;

// tcpdump's stderr is kept as its first and last 32 KiB: the start line and errors come first,
// the exit statistics last, and a chatty tcpdump must not grow this process.
const STDERR_PART_CHARS = 32 * 1024;
// Below this much free space (for an unprivileged writer) a stalled file is taken for a full disk.
const FULL_DISK_FREE_BYTES = 1024 * 1024;

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
  const outputBufferBytes = opts.outputBufferBytes ?? DEFAULT_OUTPUT_BUFFER_BYTES;
  if (!Number.isSafeInteger(outputBufferBytes) || outputBufferBytes < 0)
    throw new RangeError(`outputBufferBytes must be an integer ≥ 0, got ${outputBufferBytes}`);
  const path = process.env['PATH'] ?? DEFAULT_EXECUTABLE_PATH;
  const setprivPath = opts.endWithParent === false ? null : findExecutable('setpriv', path);
  const launch: TcpdumpLaunchOptions = {
    setprivPath,
    stdbufPath: outputBufferBytes > 0 ? findExecutable('stdbuf', path) : null,
    outputBufferBytes,
    // Switching user needs root; a non-root agent's tcpdump runs as that user anyway.
    runAs:
      setprivPath === null || process.geteuid?.() !== 0
        ? null
        : opts.runTcpdumpAs === undefined
          ? defaultTcpdumpUser()
          : opts.runTcpdumpAs,
  };
  const args = buildTcpdumpArgs(spec, {
    kernelBufferInKiB: opts.kernelBufferInKiB,
    immediateMode: opts.immediateMode,
    flushEachPacket: opts.flushEachPacket,
    keepRootPrivileges: keepsTcpdumpRoot(launch),
  });
  // nw-capture takes the same argv and the same setpriv launch, without stdbuf: it does not write
  // through stdio (its pieces are 4 MiB, aligned for O_DIRECT).
  const prefixes = {
    tcpdump: tcpdumpLaunchPrefix(launch),
    native: tcpdumpLaunchPrefix({ ...launch, stdbufPath: null }),
  };
  return new TcpdumpCaptureSession(spec, args, prefixes, opts);
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
  get captureProgram(): CaptureProgramKind | null {
    return this.program;
  }
  readonly started: Promise<Date>;
  readonly done: Promise<CaptureOutcome>;

  private readonly spec: CaptureSpec;
  private readonly opts: StartCaptureOptions;
  private readonly args: string[];
  private readonly launchPrefixes: Record<CaptureProgramKind, string[]>;
  // Chosen in run(): null until then, or when none can run.
  private program: CaptureProgramKind | null = null;
  private readonly drainTimeoutInMs: number;
  private readonly killTimeoutInMs: number;
  private drainEnoughBytes: number;

  private phase: Phase = 'starting';
  private child: ChildProcess | null = null;
  private file: FileHandle | null = null;
  private fileIsRegular = false;
  private stderrHead = '';
  private stderrTail = '';
  private stderrLine = '';
  private startedAt: Date | null = null;
  private stopReason: CaptureStopReason | null = null;
  // Records stamped after this instant (ms since epoch) are cut off: the stop happened before
  // the kernel saw them.
  private stopAtInMs: number | null = null;
  private error: CaptureOutcome['error'] = null;

  // Live progress, from the side: the file's size and tcpdump's own packet counter.
  private liveFileBytes = 0;
  private livePackets = 0;
  private final: CutCaptureFile | null = null;
  // Write-failure detection (tcpdump ignores its own write errors, see onInfoLine).
  private lastInfo: { packets: number; fileBytes: number } | null = null;
  private flushProbeFileBytes: number | null = null;
  private flushProbeMisses = 0;
  private fileBytesAtStop = 0;

  private readonly counters = new TcpdumpCounters((name) => this.signal(name));
  private timeLimitTimer: NodeJS.Timeout | null = null;
  private killTimer: NodeJS.Timeout | null = null;
  // One timer for the size watch and the stats requests: every wake-up of this process costs
  // ~0.2 ms of CPU on a small VM, which at 20 Hz alone was more than tcpdump's own CPU at
  // header-only snap length (bench/capture-fidelity).
  private tickTimer: NodeJS.Timeout | null = null;
  private lastStatsAtInMs = 0;

  private resolveStarted!: (at: Date) => void;
  private rejectStarted!: (err: CaptureStartError) => void;
  private resolveDone!: (outcome: CaptureOutcome) => void;

  constructor(
    spec: CaptureSpec,
    args: string[],
    launchPrefixes: Record<CaptureProgramKind, string[]>,
    opts: StartCaptureOptions,
  ) {
    this.captureId = spec.captureId;
    this.spec = spec;
    this.opts = opts;
    this.args = args;
    this.launchPrefixes = launchPrefixes;
    this.drainTimeoutInMs =
      opts.stopDrainTimeoutInMs ?? (opts.immediateMode === true ? 100 : DEFAULT_STOP_DRAIN_TIMEOUT_IN_MS);
    this.killTimeoutInMs = opts.killTimeoutInMs ?? DEFAULT_KILL_TIMEOUT_IN_MS;
    // More than the kernel ring plus tcpdump's own buffers: once the file has grown this much
    // since a stop, every packet the kernel held at the stop instant is in it.
    this.drainEnoughBytes = (opts.kernelBufferInKiB ?? DEFAULT_KERNEL_BUFFER_IN_KIB) * 1024 + 1024 * 1024;
    this.started = new Promise<Date>((resolve, reject) => {
      this.resolveStarted = resolve;
      this.rejectStarted = reject;
    });
    // Callers that only await `done` must not get an unhandled rejection from `started`.
    this.started.catch(() => {});
    this.done = new Promise<CaptureOutcome>((resolve) => {
      this.resolveDone = resolve;
    });
    void this.run();
  }

  progress(): CaptureProgress {
    if (this.final !== null)
      return {
        packetsCaptured: this.final.packetsCaptured,
        fileSizeInBytes: this.final.sizeInBytes,
        startedAt: this.startedAt,
      };
    const limit = this.spec.totalBytesLimit;
    return {
      packetsCaptured: this.livePackets,
      fileSizeInBytes: limit > 0 ? Math.min(limit, this.liveFileBytes) : this.liveFileBytes,
      startedAt: this.startedAt,
    };
  }

  stop(): Promise<CaptureOutcome> {
    this.requestStop('Manual', Date.now());
    return this.done;
  }

  private async run(): Promise<void> {
    try {
      // 'w+': read back by the final cut.
      this.file = await open(this.spec.outputPath, 'w+', 0o640);
      this.fileIsRegular = (await this.file.stat()).isFile();
    } catch (err) {
      const message = `cannot open ${this.spec.outputPath}: ${err instanceof Error ? err.message : String(err)}`;
      await this.file?.close().catch(() => {});
      this.file = null;
      this.error = { code: 'LocalFileFailed', message };
      this.stopReason = 'Error';
      this.rejectStarted(new CaptureStartError(message, 'LocalFileFailed'));
      this.phase = 'finished';
      this.resolveDone(this.outcome(null, null));
      return;
    }

    // Probed once per process (cached): only the first capture waits for `nw-capture --version`.
    const chosen = await chooseCaptureProgram({
      choice: this.opts.captureProgram ?? 'auto',
      ...(this.opts.tcpdumpPath !== undefined ? { tcpdumpPath: this.opts.tcpdumpPath } : {}),
      ...(this.opts.nativeCapturePath !== undefined ? { nativeCapturePath: this.opts.nativeCapturePath } : {}),
    });
    if (this.stopReason !== null) {
      // stop() came while the file was being opened: never start tcpdump.
      await this.finish(null);
      return;
    }
    if (chosen.kind === null) {
      this.fail('CaptureFailed', chosen.reason);
      await this.finish(null);
      return;
    }
    this.program = chosen.kind;
    const program = findExecutable(chosen.path, process.env['PATH'] ?? DEFAULT_EXECUTABLE_PATH);
    if (program === null) {
      // Checked here because setpriv or stdbuf, not spawn, would otherwise be the one not finding it.
      this.fail('CaptureFailed', `spawn ${chosen.path} ENOENT`);
      await this.finish(null);
      return;
    }
    const argv = [...(this.opts.commandPrefix ?? []), ...this.launchPrefixes[chosen.kind], program, ...this.args];
    let stdout: number = this.file.fd;
    let childOutput: FileHandle | null = null;
    if (chosen.kind === 'native') {
      // nw-capture sets O_DIRECT on its stdout (fcntl), a flag of the open file description: on
      // this process's own description it would make the final cut's reads direct too. So the
      // child gets a second open of the same file — by /proc/self/fd, the very inode opened
      // above, not the path again (which could name another file by now). At load it writes
      // 4 MiB pieces, up to 8 of them in memory besides the kernel ring: a drain is over only once
      // the file has grown by all of that.
      try {
        childOutput = await open(`/proc/self/fd/${this.file.fd}`, 'r+');
      } catch (err) {
        this.fail(
          'LocalFileFailed',
          `cannot open ${this.spec.outputPath} again for nw-capture: ${(err as Error).message}`,
        );
        await this.finish(null);
        return;
      }
      stdout = childOutput.fd;
      this.drainEnoughBytes += NATIVE_IN_FLIGHT_BYTES;
    }
    // The capture program's stdout is the capture file: `-w -` then writes it exactly as
    // `-w FILE` would, while the file stays opened here with this process's rights.
    const child = spawn(argv[0] as string, argv.slice(1), { stdio: ['ignore', stdout, 'pipe'] });
    // The child has its own copy now (spawn duplicates it before returning).
    await childOutput?.close().catch(() => {});
    this.child = child;
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (text: string) => this.onStderr(text));
    let spawnError: Error | null = null;
    child.on('error', (err) => {
      spawnError = err; // ENOENT etc.; 'close' still follows
    });
    // 'close' (not 'exit') so that all of stderr has been read.
    child.on('close', (code, signal) => {
      void this.onTcpdumpClosed(code, signal, spawnError);
    });
  }

  private onStderr(text: string): void {
    // tcpdump's SIGUSR1 reports are read as they come and not kept: over a long capture they
    // would push its start line and errors out of the kept text.
    const lines = (this.stderrLine + text).split('\n');
    this.stderrLine = lines.pop() ?? '';
    // A line that never ends (not tcpdump's) is kept like any other text, not grown without bound.
    if (this.stderrLine.length > STDERR_PART_CHARS) {
      lines.push(this.stderrLine);
      this.stderrLine = '';
    }
    let kept = '';
    for (const line of lines) {
      const info = parseTcpdumpInfoLine(line);
      if (info !== null) this.onInfoLine(info);
      else kept += `${line}\n`;
    }
    if (kept === '') return;
    const room = STDERR_PART_CHARS - this.stderrHead.length;
    if (room > 0) {
      this.stderrHead += kept.slice(0, room);
      kept = kept.slice(room);
    }
    if (kept !== '') this.stderrTail = (this.stderrTail + kept).slice(-STDERR_PART_CHARS);
    if (this.startedAt === null && this.phase === 'starting' && isListeningLine(this.stderrHead)) this.onListening();
  }

  private get stderrText(): string {
    const head = this.stderrTail === '' ? this.stderrHead : `${this.stderrHead}\n${this.stderrTail}`;
    return this.stderrLine === '' ? head : `${head}${this.stderrLine}\n`;
  }

  private onListening(): void {
    const at = new Date();
    this.startedAt = at;
    this.phase = 'capturing';
    if (this.spec.timeLimitInSeconds > 0) {
      const stopAtInMs = at.getTime() + this.spec.timeLimitInSeconds * 1000;
      this.timeLimitTimer = setTimeout(() => this.requestStop('TimeExceeded', stopAtInMs), stopAtInMs - Date.now());
    }
    this.lastInfo = { packets: 0, fileBytes: this.fileBytesNow() };
    this.lastStatsAtInMs = Date.now();
    this.scheduleTick();
    this.resolveStarted(at);
    try {
      this.opts.onStarted?.(at);
    } catch {
      // A throwing observer must not break the capture.
    }
  }

  private signal(name: NodeJS.Signals): boolean {
    return signalRunning(this.child, name);
  }

  private fileBytesNow(): number {
    if (this.file === null || !this.fileIsRegular) return 0;
    try {
      return fstatSync(this.file.fd).size;
    } catch {
      return this.liveFileBytes;
    }
  }

  private scheduleTick(): void {
    if (this.phase !== 'capturing' && this.phase !== 'draining') return;
    const statsIntervalInMs = this.opts.statsIntervalInMs ?? DEFAULT_STATS_INTERVAL_IN_MS;
    let delayInMs = Math.max(0, this.lastStatsAtInMs + statsIntervalInMs - Date.now());
    const limit = this.spec.totalBytesLimit;
    if (limit > 0) {
      const untilLimitInMs = ((limit - this.liveFileBytes) / ASSUMED_MAX_WRITE_BYTES_PER_SECOND) * 1000;
      delayInMs = Math.min(
        delayInMs,
        Math.max(this.opts.sizePollIntervalInMs ?? DEFAULT_SIZE_POLL_INTERVAL_IN_MS, untilLimitInMs),
      );
    }
    if (this.phase === 'draining') delayInMs = Math.min(delayInMs, DRAIN_POLL_INTERVAL_IN_MS);
    this.tickTimer = setTimeout(() => this.tick(), delayInMs);
  }

  private tick(): void {
    this.tickTimer = null;
    this.pollSize();
    const statsIntervalInMs = this.opts.statsIntervalInMs ?? DEFAULT_STATS_INTERVAL_IN_MS;
    if (Date.now() - this.lastStatsAtInMs >= statsIntervalInMs - 5) {
      this.lastStatsAtInMs = Date.now();
      this.counters.request();
    }
    this.scheduleTick();
  }

  // The size limit, from the side: tcpdump is stopped as soon as the file passes it, and the
  // final cut takes the file back to the last whole record that fits.
  private pollSize(): void {
    this.liveFileBytes = this.fileBytesNow();
    const limit = this.spec.totalBytesLimit;
    if (limit > 0 && this.liveFileBytes > limit) this.requestStop('SizeExceeded', Date.now());
    if (this.phase === 'draining' && this.liveFileBytes - this.fileBytesAtStop > this.drainEnoughBytes)
      this.terminate();
  }

  /**
   * tcpdump has reported how many packets it has handed to its output. Two things follow from
   * comparing that with the file across reports:
   * - packets arrived but the file did not grow: they sit in tcpdump's stdio buffer (64 KiB, on a
   *   quiet link for a long time), so ask tcpdump to flush it (SIGUSR2, tcpdump's
   *   flush-the-savefile signal) and the counters stay live;
   * - such a flush did not make the file grow either: tcpdump's writes are failing. tcpdump
   *   ignores write errors on its output (it would capture into the void until stopped), so the
   *   failure is detected here and ends the capture.
   */
  private onInfoLine(info: TcpdumpInfoLine): void {
    this.counters.onReport(info);
    const packets = info.packetsCaptured;
    this.livePackets = packets;
    const fileBytes = this.fileBytesNow();
    this.liveFileBytes = fileBytes;
    if (this.phase !== 'capturing' && this.phase !== 'draining') return;
    // nw-capture writes on its own within ~0.5 s on a quiet link and exits with a message when a
    // write fails, so the probe (which finds tcpdump's silent write errors) is not needed for it.
    if (this.program === 'native') return;
    const previous = this.lastInfo;
    this.lastInfo = { packets, fileBytes };
    if (this.flushProbeFileBytes !== null) {
      const probe = this.flushProbeFileBytes;
      this.flushProbeFileBytes = null;
      if (fileBytes !== probe) {
        this.flushProbeMisses = 0;
      } else if (++this.flushProbeMisses >= 2) {
        // Twice, because a starved tcpdump may answer SIGUSR1 before it handles the SIGUSR2 sent
        // a second earlier (the kernel delivers the lower-numbered pending signal first).
        this.fail('LocalFileFailed', this.writeFailureMessage(packets));
        return;
      } else {
        this.flushProbeFileBytes = fileBytes;
        this.signal('SIGUSR2');
        return;
      }
    }
    if (previous !== null && packets > previous.packets && fileBytes === previous.fileBytes) {
      this.flushProbeFileBytes = fileBytes;
      this.signal('SIGUSR2');
    }
  }

  // tcpdump does not say why its writes fail; find out the way they fail for us.
  private writeFailureMessage(packets: number): string {
    const path = this.spec.outputPath;
    const what = `writes to ${path} are failing (tcpdump has captured ${packets} packets, the file holds ${this.liveFileBytes} bytes)`;
    try {
      const fs = statfsSync(path);
      if (this.fileIsRegular && fs.bavail * fs.bsize < FULL_DISK_FREE_BYTES)
        return `${what}: ENOSPC: no space left on device`;
    } catch {
      // fall through to the probe
    }
    if (this.file !== null) {
      try {
        // One byte at the end: the final cut removes it again (it is no whole record).
        writeSync(this.file.fd, Buffer.alloc(1), 0, 1, this.liveFileBytes);
      } catch (err) {
        return `${what}: ${(err as Error).message}`;
      }
    }
    return what;
  }

  private fail(code: 'CaptureFailed' | 'LocalFileFailed', message: string): void {
    if (this.error === null) this.error = { code, message };
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
    this.fileBytesAtStop = this.fileBytesNow();
    this.counters.whenHandedOver(this.drainTimeoutInMs, () => this.terminate());
    this.clearTimer('tickTimer');
    this.scheduleTick();
  }

  private terminate(): void {
    this.clearTimer('timeLimitTimer');
    this.counters.dispose();
    if (this.phase === 'terminating' || this.phase === 'finished') return;
    this.phase = 'terminating';
    const child = this.child;
    if (child === null || child.exitCode !== null || child.signalCode !== null) return;
    // SIGTERM makes tcpdump break its loop, flush its output and print its statistics.
    child.kill('SIGTERM');
    this.killTimer = setTimeout(() => child.kill('SIGKILL'), this.killTimeoutInMs);
  }

  private clearTimer(name: 'timeLimitTimer' | 'killTimer' | 'tickTimer'): void {
    const t = this[name];
    if (t !== null) clearTimeout(t);
    this[name] = null;
  }

  private async onTcpdumpClosed(
    code: number | null,
    signal: NodeJS.Signals | null,
    spawnError: Error | null,
  ): Promise<void> {
    for (const t of ['timeLimitTimer', 'killTimer', 'tickTimer'] as const) this.clearTimer(t);
    this.counters.dispose();
    const name = captureProgramName(this.program ?? 'tcpdump');
    const detail = spawnError !== null ? spawnError.message : tcpdumpErrorMessage(this.stderrText);
    const how = signal !== null ? `killed by ${signal}` : `exited with code ${code}`;
    if (this.program === 'native' && code === 1 && isNativeWriteFailure(detail)) {
      // nw-capture stops at its first failed write (ENOSPC, EIO) and says so: the file's fault,
      // even after a limit stop (what it had not yet written is missing).
      this.fail('LocalFileFailed', `writes to ${this.spec.outputPath} failed: ${detail}`);
    } else if (this.stopReason === null) {
      // tcpdump ended without being asked to: bad interface or filter, interface gone, crash.
      this.fail('CaptureFailed', `${name} ${how}${detail !== '' ? `: ${detail}` : ''}`);
    }
    await this.finish({ code, signal });
  }

  private async finish(exit: { code: number | null; signal: NodeJS.Signals | null } | null): Promise<void> {
    this.phase = 'finished';
    let cut: CutCaptureFile | null = null;
    if (this.file !== null) {
      const file = this.file;
      try {
        // Only a time or manual stop has an instant after which the kernel's packets are not wanted.
        const timed = this.stopReason === 'TimeExceeded' || this.stopReason === 'Manual';
        const finalised = await finaliseCaptureFile(
          file,
          { maxBytes: this.spec.totalBytesLimit, stopAfterInMs: timed ? this.stopAtInMs : null },
          {
            sync: this.fileIsRegular,
            priority: this.opts.finalisePriority ?? 'idle',
            // nw-capture's file is not in the page cache (O_DIRECT writes): read it the same way.
            // tcpdump's is, and an O_DIRECT read would fetch it from the disk again (×1.5–1.9 wall).
            tryDirect: this.program === 'native',
          },
        );
        // The priority it ran at is the bench's business (idle-cut.test.ts checks it), not the outcome's.
        const { priority: _priority, ...kept } = finalised;
        cut = kept;
        if (cut.reason === 'malformed' && this.error === null) {
          this.error = {
            code: 'CaptureFailed',
            message: `tcpdump's output is not a pcap stream (cut after ${cut.packetsCaptured} whole records)`,
          };
        }
      } catch (err) {
        if (this.error === null)
          this.error = {
            code: 'LocalFileFailed',
            message: `cannot finish ${this.spec.outputPath}: ${(err as Error).message}`,
          };
      }
      try {
        await file.close();
      } catch (err) {
        if (this.error === null)
          this.error = {
            code: 'LocalFileFailed',
            message: `cannot close ${this.spec.outputPath}: ${(err as Error).message}`,
          };
      }
      this.file = null;
    }
    if (this.error !== null) this.stopReason = 'Error';
    this.final = cut ?? { sizeInBytes: 0, sha256: EMPTY_SHA256, packetsCaptured: 0, reason: 'end' };
    if (this.startedAt === null) {
      this.rejectStarted(
        new CaptureStartError(this.error?.message ?? 'capture stopped before it started', this.error?.code ?? null),
      );
    }
    this.resolveDone(this.outcome(exit, this.final));
  }

  private outcome(
    exit: { code: number | null; signal: NodeJS.Signals | null } | null,
    cut: CutCaptureFile | null,
  ): CaptureOutcome {
    const stats = exit === null ? null : parseTcpdumpStats(this.stderrText);
    return {
      stopReason: this.error !== null ? 'Error' : (this.stopReason ?? 'Error'),
      startedAt: this.startedAt,
      endedAt: new Date(),
      packetsCaptured: cut?.packetsCaptured ?? 0,
      fileSizeInBytes: cut?.sizeInBytes ?? 0,
      sha256: cut?.sha256 ?? EMPTY_SHA256,
      ...(cut?.fileIdentity !== undefined ? { fileIdentity: cut.fileIdentity } : {}),
      kernelPacketsReceived: stats?.packetsReceivedByFilter ?? null,
      kernelPacketsDropped: stats?.packetsDroppedByKernel ?? null,
      ...(this.program !== null ? { captureProgram: this.program } : {}),
      error: this.error,
    };
  }
}

// nw-capture's write errors ("nw-capture: write standard output: No space left on device"), told from its
// capture errors (interface, filter), which are the capture's fault, not the file's.
function isNativeWriteFailure(message: string): boolean {
  return /(^|; )write\b|no space left|input\/output error|disk quota/i.test(message);
}
