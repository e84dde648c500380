// The look-back buffer (issue 13 §2): one capture process per host keeps the host's recent
// packets in a folder of small pcap files that it rotates itself — by time (`-G`, a new file
// every few seconds) and by size (`-C`) — while this process deletes the oldest files so that the
// folder holds neither packets older than `seconds` (plus one rotation) nor more than
// `maxSizeInBytes`. The capture process is the engine's own writer, nw-capture, when it runs here
// (issue 18: the same options, names, link type and stderr as tcpdump's, one copy fewer and no
// page cache, so an always-on buffer costs the host less), tcpdump otherwise (`program`). Like
// session.ts, this process is not on the packet path: the capture process writes the files, the
// buffer only lists, measures and deletes them.
// Nothing here sends a byte anywhere: a capture that asks for the past gets a filtered copy
// (lookback-merge.ts); the buffer itself never leaves the host.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { linkSync, readdirSync, rmSync, statSync, unlinkSync, watch } from 'node:fs';
import type { FSWatcher } from 'node:fs';
import { join } from 'node:path';
import { firstPacketTimeInMs } from './first-packet-time.js';
import { rootTcpdumpArgv } from './tcpdump-launch.js';
import { resolveCaptureProgram } from './capture-program.js';
import type { CaptureProgramChoice } from './capture-program.js';
import { buildTcpdumpArgs, MAX_SNAP_LENGTH_IN_BYTES } from './tcpdump-args.js';
import { isListeningLine, parseTcpdumpInfoLine, parseTcpdumpStats, tcpdumpErrorMessage } from './tcpdump-stderr.js';
import { CaptureStartError } from './types.js';

/** Bounds a look-back buffer may be given (the API and the CLI check the same ones). */
export const LOOKBACK_LIMITS = {
  minSeconds: 1,
  maxSeconds: 3600,
  /** At least four of the smallest files tcpdump rotates (-C counts whole millions of bytes). */
  minMaxSizeInBytes: 4 * 1024 * 1024,
  maxMaxSizeInBytes: 64 * 1024 * 1024 * 1024,
  maxSnapLengthInBytes: MAX_SNAP_LENGTH_IN_BYTES,
} as const;

/**
 * tcpdump -B of the buffer, in KiB. Smaller than a capture's (32 MiB): the buffer is always on,
 * so its kernel memory is a standing cost on every host; 8 MiB holds ~1 s of a saturated 1 Gbit/s
 * link at 128-byte snap lengths, and a drop is counted and reported, never hidden.
 */
export const LOOKBACK_KERNEL_BUFFER_IN_KIB = 8192;

const MILLION = 1_000_000;
const FILE_PREFIX = 'lb-';
const FILE_SUFFIX = '.pcap';

/** What a look-back buffer keeps. */
export interface LookbackBufferSpec {
  /** Interface to capture on (the agent's, so a capture's filter reads the same link type). */
  interfaceName: string;
  /** No packet older than this many seconds (plus one rotation, see rotationSecondsFor) stays. */
  seconds: number;
  /** The folder never holds more than this many bytes (one rotation check's growth aside). */
  maxSizeInBytes: number;
  /** Bytes kept per packet, 0 = whole packets. */
  snapLengthInBytes: number;
  /** Absolute folder of the buffer's files, existing and owned by this process; emptied on stop. */
  dir: string;
}

/** Options of startLookbackBuffer. */
export interface LookbackBufferOptions {
  tcpdumpPath?: string;
  /** Program and arguments to run tcpdump through, e.g. ['ip', 'netns', 'exec', 'ns1']. */
  commandPrefix?: string[];
  kernelBufferInKiB?: number;
  /** How often the folder is checked besides inotify events. Default 500 ms. */
  pollIntervalInMs?: number;
  /**
   * Who writes the files: 'auto' (default) nw-capture when it runs here, else tcpdump; 'native'
   * nw-capture or a failed start; 'tcpdump' tcpdump (the measured baseline).
   */
  program?: CaptureProgramChoice;
  /** nw-capture executable; defaults to the built dist/native/nw-capture. */
  nativeCapturePath?: string;
}

/** What a running buffer holds now. */
export interface LookbackBufferStatus {
  running: boolean;
  /** Bytes of every file of the buffer. */
  sizeInBytes: number;
  files: number;
  /** Time of the oldest packet kept, null while empty. */
  oldestPacketTime: Date | null;
  /** Seconds between the oldest packet kept and now (0 while empty). */
  spanInSeconds: number;
  /** tcpdump's counters (SIGUSR1 reports, every poll). */
  packetsCaptured: number;
  kernelPacketsDropped: number;
  /** Set when tcpdump failed or ended on its own. */
  error: string | null;
}

/** One file of the buffer, oldest first. */
interface BufferFile {
  name: string;
  path: string;
  startInMs: number;
  index: number;
  sizeInBytes: number;
}

/** Seconds per time-rotated file: about 30 files cover the span, so deleting one frees a thirtieth. */
export function rotationSecondsFor(seconds: number): number {
  return Math.max(1, Math.floor(seconds / 30));
}

/** Millions of bytes per size-rotated file (-C): a sixteenth of the buffer, 1…64. */
export function fileSizeInMillionsFor(maxSizeInBytes: number): number {
  return Math.min(64, Math.max(1, Math.floor(maxSizeInBytes / 16 / MILLION)));
}

/** Checks a spec against LOOKBACK_LIMITS; throws RangeError naming the field. */
export function validateLookbackSpec(
  spec: Pick<LookbackBufferSpec, 'seconds' | 'maxSizeInBytes' | 'snapLengthInBytes'>,
): void {
  const L = LOOKBACK_LIMITS;
  if (!Number.isInteger(spec.seconds) || spec.seconds < L.minSeconds || spec.seconds > L.maxSeconds)
    throw new RangeError(`seconds must be an integer ${L.minSeconds}…${L.maxSeconds}, got ${spec.seconds}`);
  if (
    !Number.isSafeInteger(spec.maxSizeInBytes) ||
    spec.maxSizeInBytes < L.minMaxSizeInBytes ||
    spec.maxSizeInBytes > L.maxMaxSizeInBytes
  )
    throw new RangeError(
      `maxSizeInBytes must be ${L.minMaxSizeInBytes}…${L.maxMaxSizeInBytes}, got ${spec.maxSizeInBytes}`,
    );
  if (
    !Number.isInteger(spec.snapLengthInBytes) ||
    spec.snapLengthInBytes < 0 ||
    spec.snapLengthInBytes > L.maxSnapLengthInBytes
  )
    throw new RangeError(`snapLengthInBytes must be 0…${L.maxSnapLengthInBytes}, got ${spec.snapLengthInBytes}`);
}

// tcpdump -G names files by strftime (%s: the rotation's epoch second); -C then appends 1, 2, …
// to a file that outgrew its size within one rotation. Sorted by (second, index) that is write order.
function parseFileName(name: string): { startInMs: number; index: number } | null {
  const m = /^lb-(\d{1,12})\.pcap(\d*)$/.exec(name);
  if (m === null) return null;
  return { startInMs: Number(m[1]) * 1000, index: m[2] === '' ? 0 : Number(m[2]) };
}

export { firstPacketTimeInMs } from './first-packet-time.js';

/** A running look-back buffer. */
export interface LookbackBuffer {
  readonly spec: LookbackBufferSpec;
  /** The program writing the files: 'native' (nw-capture) or 'tcpdump'. */
  readonly program: 'native' | 'tcpdump';
  /** Process id of the buffer's tcpdump (or of its wrapper), null before it was spawned. */
  readonly pid: number | null;
  /** Resolves when tcpdump listens; rejects with CaptureStartError if it never does. */
  readonly started: Promise<Date>;
  status(): LookbackBufferStatus;
  /**
   * Hard-links every file of the buffer into `holdDir` (same file system), so that a capture
   * reading the past keeps the files it needs while the buffer goes on deleting; returns the
   * held paths, oldest first. Files already held there are skipped.
   */
  hold(holdDir: string): string[];
  /**
   * Asks the capture process to write out what it holds (SIGUSR2), so the files hold every packet
   * handed to it: tcpdump's stdio buffer, or nw-capture's unwritten tail (which it would write
   * within 250 ms on its own).
   */
  flush(): void;
  /** Ends tcpdump and deletes every file of the buffer; idempotent. */
  stop(): Promise<void>;
}

/**
 * Starts a look-back buffer. Throws RangeError at once for an invalid spec.
 * @example const lb = startLookbackBuffer({ interfaceName: 'any', seconds: 120, maxSizeInBytes: 256 * 1024 * 1024, snapLengthInBytes: 128, dir: '/var/lib/netwatcher/agent/lookback' });
 */
export function startLookbackBuffer(spec: LookbackBufferSpec, opts: LookbackBufferOptions = {}): LookbackBuffer {
  validateLookbackSpec(spec);
  if (!spec.dir.startsWith('/')) throw new RangeError(`dir must be absolute, got ${spec.dir}`);
  return new RotatingLookbackBuffer(spec, opts);
}

class RotatingLookbackBuffer implements LookbackBuffer {
  readonly started: Promise<Date>;
  readonly program: 'native' | 'tcpdump';

  get pid(): number | null {
    return this.child?.pid ?? null;
  }
  private child: ChildProcess | null = null;
  private listening = false;
  private stopping = false;
  private ended: Promise<void>;
  private error: string | null = null;
  private stderr = '';
  private packets = 0;
  private dropped = 0;
  private files: BufferFile[] = [];
  private sizeInBytes = 0;
  private readonly fileCapBytes: number;
  private watcher: FSWatcher | null = null;
  private timer: NodeJS.Timeout | null = null;
  private resolveStarted!: (d: Date) => void;
  private rejectStarted!: (e: Error) => void;

  constructor(
    readonly spec: LookbackBufferSpec,
    private readonly opts: LookbackBufferOptions,
  ) {
    this.started = new Promise((resolve, reject) => {
      this.resolveStarted = resolve;
      this.rejectStarted = reject;
    });
    this.started.catch(() => undefined);
    const program = resolveCaptureProgram(opts.program ?? 'auto', opts.nativeCapturePath);
    this.program = program?.program ?? 'native';
    const programName = this.program === 'native' ? 'nw-capture' : 'tcpdump';
    // A buffer left by an agent that died: its packets are older than any bound now.
    this.removeAll();
    const millions = fileSizeInMillionsFor(spec.maxSizeInBytes);
    this.fileCapBytes = millions * MILLION + 16 + (spec.snapLengthInBytes || MAX_SNAP_LENGTH_IN_BYTES);
    const base = buildTcpdumpArgs(
      {
        captureId: 'lookback',
        interfaceName: spec.interfaceName,
        bpfExpression: '',
        snapLengthInBytes: spec.snapLengthInBytes,
        totalBytesLimit: 0,
        timeLimitInSeconds: 0,
        outputPath: spec.dir,
      },
      { kernelBufferInKiB: opts.kernelBufferInKiB ?? LOOKBACK_KERNEL_BUFFER_IN_KIB, keepRootPrivileges: true },
    );
    const dash = base.indexOf('-w');
    const args = [
      ...base.slice(0, dash),
      '-w',
      join(spec.dir, `${FILE_PREFIX}%s${FILE_SUFFIX}`),
      '-G',
      String(rotationSecondsFor(spec.seconds)),
      '-C',
      String(millions),
      ...base.slice(dash + 2),
    ];
    let resolveEnded!: () => void;
    this.ended = new Promise((r) => (resolveEnded = r));
    // The buffer must end with the agent: a capture process outliving it would keep packets
    // nobody bounds. Both programs take the same arguments (nw-capture.c: tcpdump's -w/-G/-C).
    const programPath =
      program === null ? null : program.program === 'native' ? program.path : (opts.tcpdumpPath ?? 'tcpdump');
    const launch = programPath === null ? null : rootTcpdumpArgv(programPath, opts.commandPrefix ?? []);
    if (launch === null) {
      this.fail(`spawn ${programName === 'tcpdump' ? (opts.tcpdumpPath ?? 'tcpdump') : programName} ENOENT`);
      resolveEnded();
      return;
    }
    const argv = [...launch, ...args];
    const child = spawn(argv[0] as string, argv.slice(1), { stdio: ['ignore', 'ignore', 'pipe'] });
    this.child = child;
    child.stderr?.setEncoding('utf8');
    let line = '';
    child.stderr?.on('data', (text: string) => {
      const lines = (line + text).split('\n');
      line = lines.pop() ?? '';
      for (const l of lines) {
        const info = parseTcpdumpInfoLine(l);
        if (info !== null) {
          this.packets = info.packetsCaptured;
          this.dropped = info.packetsDroppedByKernel;
        } else if (this.stderr.length < 16 * 1024) {
          this.stderr += `${l}\n`;
        }
      }
      if (isListeningLine(this.stderr) && !this.listening && !this.stopping) this.onListening();
    });
    child.on('error', () => undefined);
    child.on('close', (code) => {
      const stats = parseTcpdumpStats(this.stderr);
      if (stats.packetsDroppedByKernel !== null) this.dropped = stats.packetsDroppedByKernel;
      if (!this.stopping)
        this.fail(
          `${programName} ${!this.listening ? 'could not start' : 'ended on its own'} (exit ${code}): ${tcpdumpErrorMessage(this.stderr)}`,
        );
      this.clearTimers();
      resolveEnded();
    });
  }

  private onListening(): void {
    this.listening = true;
    this.resolveStarted(new Date());
    try {
      this.watcher = watch(this.spec.dir, () => this.check());
      this.watcher.on('error', () => undefined);
    } catch {
      // polling alone then
    }
    this.timer = setInterval(() => {
      this.check();
      // Counters for status and metrics (one line on stderr per poll).
      this.child?.kill('SIGUSR1');
    }, this.opts.pollIntervalInMs ?? 500);
    this.timer.unref();
  }

  private fail(message: string): void {
    if (this.error === null) this.error = message;
    this.rejectStarted(new CaptureStartError(message, 'CaptureFailed'));
  }

  private list(): BufferFile[] {
    let names: string[];
    try {
      names = readdirSync(this.spec.dir);
    } catch {
      return [];
    }
    const files: BufferFile[] = [];
    for (const name of names) {
      const parsed = parseFileName(name);
      if (parsed === null) continue;
      let size = 0;
      try {
        size = statSync(join(this.spec.dir, name)).size;
      } catch {
        continue;
      }
      files.push({ name, path: join(this.spec.dir, name), sizeInBytes: size, ...parsed });
    }
    return files.sort((a, b) => a.startInMs - b.startInMs || a.index - b.index);
  }

  // Every inotify event and poll: delete the oldest files past either bound. The newest file is
  // the one tcpdump writes and is never deleted; a closed file's packets all precede the start of
  // the file after it, so it goes once that start is older than `seconds`.
  private check(): void {
    let files = this.list();
    const oldestAllowedInMs = Date.now() - this.spec.seconds * 1000;
    // Room for the file being written to grow to its cap before the next rotation.
    const sizeBudget = this.spec.maxSizeInBytes - this.fileCapBytes;
    let total = files.reduce((a, f) => a + f.sizeInBytes, 0);
    while (files.length > 1) {
      const [oldest, next] = files as [BufferFile, BufferFile];
      const expired = next.startInMs <= oldestAllowedInMs;
      if (!expired && total <= sizeBudget) break;
      try {
        unlinkSync(oldest.path);
      } catch {
        // already gone
      }
      total -= oldest.sizeInBytes;
      files = files.slice(1);
    }
    this.files = files;
    this.sizeInBytes = total;
  }

  status(): LookbackBufferStatus {
    if (this.timer !== null) this.check();
    const first = this.files[0];
    const oldest = first ? firstPacketTimeInMs(first.path) : null;
    // tcpdump may keep a few packets older than the bound in its current file until the next rotation; they are never handed out (extraction clips at the bound).
    const oldestKept = oldest === null ? null : Math.max(oldest, Date.now() - this.spec.seconds * 1000);
    return {
      running: this.listening && !this.stopping && this.error === null,
      sizeInBytes: this.sizeInBytes,
      files: this.files.length,
      oldestPacketTime: oldestKept === null ? null : new Date(oldestKept),
      spanInSeconds: oldestKept === null ? 0 : Math.max(0, (Date.now() - oldestKept) / 1000),
      packetsCaptured: this.packets,
      kernelPacketsDropped: this.dropped,
      error: this.error,
    };
  }

  hold(holdDir: string): string[] {
    const held: string[] = [];
    for (const f of this.list()) {
      const target = join(holdDir, f.name);
      try {
        linkSync(f.path, target);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') continue; // deleted meanwhile
      }
      held.push(target);
    }
    return held;
  }

  flush(): void {
    this.child?.kill('SIGUSR2');
  }

  async stop(): Promise<void> {
    if (!this.stopping) {
      this.stopping = true;
      this.clearTimers();
      const child = this.child;
      if (child !== null && child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        setTimeout(() => child.kill('SIGKILL'), 3000).unref();
      }
    }
    await this.ended;
    this.removeAll();
  }

  private clearTimers(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    this.watcher?.close();
    this.watcher = null;
  }

  private removeAll(): void {
    let names: string[] = [];
    try {
      names = readdirSync(this.spec.dir);
    } catch {
      return;
    }
    for (const name of names) if (parseFileName(name) !== null) rmSync(join(this.spec.dir, name), { force: true });
    this.files = [];
    this.sizeInBytes = 0;
  }
}
