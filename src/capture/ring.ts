// Continuous (ring-buffer) capture (issue 13), two writers behind one surface. By default the
// engine cuts the files itself (ring-cut.ts): tcpdump writes `-w -` into this process, which
// starts each file at the record that would pass fileSizeInBytes, so every size from one record
// up is exact and the engine deletes the oldest file exactly when it starts the next. Measured
// against the second writer below at Azure's default size, it costs less CPU per packet and keeps
// at least as much (docs/continuous.md), so it is the one the agent runs.
// The second writer, `writer: 'tcpdump'`, is tcpdump's own -C rotation (whole millions only):
// one tcpdump writes the files, this process watches the directory, deletes the oldest file when
// a new one is about to start, and finishes each closed file with cutCaptureFile. It stays as the
// bench's baseline and a fallback.
import { closeSync, existsSync, openSync, readSync, renameSync, statSync, unlinkSync, watch } from 'node:fs';
import type { FSWatcher } from 'node:fs';
import { open } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { defaultTcpdumpUser, keepsTcpdumpRoot, rootTcpdumpArgv, tcpdumpLaunchPrefix } from './tcpdump-launch.js';
import type { TcpdumpLaunchOptions } from './tcpdump-launch.js';
import { cutCaptureFile } from './pcap-cut.js';
import { DEFAULT_EXECUTABLE_PATH, findExecutable } from './find-executable.js';
import { EngineCutRing } from './ring-cut.js';
import { ringFileFromCut, TcpdumpRingSession } from './ring-session.js';
import { assertRingFileSize, ringFileName, ringTcpdumpFileSizeInMillions } from './ring-rules.js';
import { buildTcpdumpArgs, DEFAULT_KERNEL_BUFFER_IN_KIB } from './tcpdump-args.js';
import { decodePcapHeader, PCAP_GLOBAL_HEADER_BYTES } from '../pcap/format.js';
import { CAPTURE_SETTINGS_LIMITS } from '../model/packet-capture.js';
import type { CaptureStopReason } from './types.js';
import type { FileIdentity } from '../lib/file-identity.js';

export {
  assertRingFileSize,
  effectiveSnapLength,
  minRingFileSizeInBytes,
  ringFileName,
  ringTcpdumpFileSizeInMillions,
} from './ring-rules.js';

/** Azure's captureSettings defaults and limits: the API's own (src/model), so the engine and the API never disagree. */
export const RING_LIMITS = CAPTURE_SETTINGS_LIMITS;

const TCPDUMP_FILE_SIZE_UNIT_BYTES = 1_000_000;

/** What a ring capture must do. */
export interface RingCaptureSpec {
  /** Identifier used in logs and errors. */
  captureId: string;
  /** Interface to capture on. */
  interfaceName: string;
  /** Compiled BPF expression, '' to keep everything. */
  bpfExpression: string;
  /** Snap length, 0 = whole packet. */
  snapLengthInBytes: number;
  /** At most this many files exist at any time (≥ 1). */
  fileCount: number;
  /** No file exceeds this many bytes; at least minRingFileSizeInBytes(snapLengthInBytes). */
  fileSizeInBytes: number;
  /** The session stops with TimeExceeded this long after tcpdump starts capturing; 0 = no limit. */
  sessionTimeLimitInSeconds: number;
  /** Absolute path like /var/captures/ring.cap: files are DIR/ring-000001.cap, DIR/ring-000002.cap, … */
  outputPath: string;
}

/** One closed (finished) file of the ring. */
export interface RingFile {
  /** File name, e.g. ring-000003.cap. */
  name: string;
  /** Absolute path on the host. */
  path: string;
  /** 1 for the first file of the session, then upward. */
  sequence: number;
  /** Size in bytes after the cut. */
  sizeInBytes: number;
  /** Hex SHA-256 of the file. */
  sha256: string;
  /** The file's identity once hashed and under its ring name (src/lib/file-identity.ts); absent if it could not be read. */
  fileIdentity?: FileIdentity;
  /** Whole records in the file. */
  packetsCaptured: number;
  /** Time of the first record, null for an empty file. */
  firstPacketTime: Date | null;
  /** Time of the last record, null for an empty file. */
  lastPacketTime: Date | null;
}

/** How a ring capture ended. */
export interface RingOutcome {
  /** Why it ended. */
  stopReason: CaptureStopReason;
  /** When tcpdump started capturing; null if it never did. */
  startedAt: Date | null;
  /** When the last file was finished. */
  endedAt: Date;
  /** The files still on the host, oldest first. */
  files: RingFile[];
  /** Files deleted because the ring wrapped. */
  filesDeleted: number;
  /** Set exactly when stopReason is 'Error'. */
  error: { code: 'CaptureFailed' | 'LocalFileFailed'; message: string } | null;
  /** tcpdump's "packets received by filter" at its exit; null when it printed none. */
  kernelPacketsReceived: number | null;
  /** tcpdump's "packets dropped by kernel" at its exit; null when it printed none. */
  kernelPacketsDropped: number | null;
}

/** Options of startRingCapture. */
export interface RingCaptureOptions {
  /** tcpdump executable; defaults to 'tcpdump' on PATH. */
  tcpdumpPath?: string;
  /** Program and arguments to run tcpdump through, e.g. ['ip', 'netns', 'exec', 'ns1']. */
  commandPrefix?: string[];
  /** tcpdump -B in KiB. */
  kernelBufferInKiB?: number;
  /** How often the directory is checked besides inotify events. Default 20 ms. */
  pollIntervalInMs?: number;
  /**
   * After the time limit or a stop, the longest tcpdump runs on so that the kernel ring's last,
   * unretired block reaches the files; it is ended as soon as its counters show it has handed over
   * every packet the kernel had accepted at the stop (tcpdump-counters.ts: a few ms on an idle link).
   * Default 1200 ms.
   */
  stopDrainTimeoutInMs?: number;
  /**
   * How often tcpdump is asked for its counters (SIGUSR1). With the engine's writer, a report that
   * shows packets this process has not read, on a link where nothing came since the last one, asks
   * tcpdump to flush its output buffer (SIGUSR2), so the current file grows within this interval
   * of the traffic. Default 1000 ms.
   */
  statsIntervalInMs?: number;
  /**
   * Who writes the files: 'engine' (default) cuts tcpdump's `-w -` stream itself, exact for every
   * size; 'tcpdump' lets tcpdump rotate with -C (whole millions, one record of headroom: a
   * RangeError where that cannot fit), kept as the measured baseline (docs/continuous.md).
   */
  writer?: 'engine' | 'tcpdump';
  /** stdout buffer of tcpdump when the engine cuts the files (stdbuf -o), as in session.ts. Default 64 KiB. */
  outputBufferBytes?: number;
  /** Called once per file, in order, as soon as it is closed and finished (upload it here). */
  onFileClosed?(file: RingFile): void | Promise<void>;
  /** Called when the ring deletes a file from the host (delete its stored copy here). */
  onFileDeleted?(file: RingFile): void | Promise<void>;
}

/** A running ring capture. */
export interface RingCaptureSession {
  /** Resolves when capture really starts; rejects with CaptureStartError if it never does. */
  readonly started: Promise<Date>;
  /** Resolves once tcpdump has ended and every file is finished; never rejects. */
  readonly done: Promise<RingOutcome>;
  /** The finished files on the host now, oldest first. */
  files(): RingFile[];
  /** Manual stop; idempotent. */
  stop(): Promise<RingOutcome>;
}

/**
 * Starts a ring capture. Throws RangeError at once for an invalid spec.
 * @example const ring = startRingCapture({ ...spec, fileCount: 3, fileSizeInBytes: 1048576, sessionTimeLimitInSeconds: 600, outputPath: '/var/captures/ring.cap' });
 */
export function startRingCapture(spec: RingCaptureSpec, opts: RingCaptureOptions = {}): RingCaptureSession {
  if (!Number.isInteger(spec.fileCount) || spec.fileCount < 1 || spec.fileCount > RING_LIMITS.maxFileCount)
    throw new RangeError(`fileCount must be 1…${RING_LIMITS.maxFileCount}, got ${spec.fileCount}`);
  if (spec.fileSizeInBytes > RING_LIMITS.maxFileSizeInBytes)
    throw new RangeError(`fileSizeInBytes must be ≤ ${RING_LIMITS.maxFileSizeInBytes}`);
  if (
    !Number.isFinite(spec.sessionTimeLimitInSeconds) ||
    spec.sessionTimeLimitInSeconds < 0 ||
    spec.sessionTimeLimitInSeconds > RING_LIMITS.maxSessionTimeLimitInSeconds
  )
    throw new RangeError(`sessionTimeLimitInSeconds must be 0…${RING_LIMITS.maxSessionTimeLimitInSeconds}`);
  if (!spec.outputPath.startsWith('/')) throw new RangeError(`outputPath must be absolute, got ${spec.outputPath}`);
  assertRingFileSize(spec.fileSizeInBytes, spec.snapLengthInBytes);
  const kernelBufferInKiB = opts.kernelBufferInKiB ?? DEFAULT_KERNEL_BUFFER_IN_KIB;
  const captureSpec = { ...spec, totalBytesLimit: 0, timeLimitInSeconds: 0 };
  if (opts.writer === 'tcpdump') {
    const millions = ringTcpdumpFileSizeInMillions(spec.fileSizeInBytes, spec.snapLengthInBytes);
    return new TcpdumpRing(
      spec,
      buildTcpdumpArgs(captureSpec, { kernelBufferInKiB, keepRootPrivileges: true }),
      millions,
      opts,
    );
  }
  // The engine opens the files, so tcpdump needs no right on the folder: it runs as in session.ts
  // (its own unprivileged user with CAP_NET_RAW alone, ended with its parent, 64 KiB writes).
  const path = process.env['PATH'] ?? DEFAULT_EXECUTABLE_PATH;
  const tcpdump = findExecutable(opts.tcpdumpPath ?? 'tcpdump', path);
  const setprivPath = findExecutable('setpriv', path);
  const outputBufferBytes = opts.outputBufferBytes ?? ENGINE_OUTPUT_BUFFER_BYTES;
  const launch: TcpdumpLaunchOptions = {
    setprivPath,
    stdbufPath: outputBufferBytes > 0 ? findExecutable('stdbuf', path) : null,
    outputBufferBytes,
    runAs: setprivPath === null || process.geteuid?.() !== 0 ? null : defaultTcpdumpUser(),
  };
  const args = buildTcpdumpArgs(captureSpec, { kernelBufferInKiB, keepRootPrivileges: keepsTcpdumpRoot(launch) });
  const argv = tcpdump === null ? null : [...(opts.commandPrefix ?? []), ...tcpdumpLaunchPrefix(launch), tcpdump];
  return new EngineCutRing(spec, argv, args, opts);
}

// tcpdump's stdout buffer when it writes into the engine: the single-file engine's 64 KiB (tcpdump-launch.ts).
const ENGINE_OUTPUT_BUFFER_BYTES = 64 * 1024;

class TcpdumpRing extends TcpdumpRingSession {
  // tcpdump's own names: PART, PART1, PART2, … (hidden, so nothing mistakes them for finished files).
  private readonly partPath: string;
  private readonly thresholdBytes: number;
  private current = 0; // tcpdump's index of the file being written
  private lastSize = 0; // size of the current file at the last check
  private growthPerCheck = 0; // recent largest growth of the current file between two checks
  private lastClosed = false; // tcpdump has ended and its last file is closed
  private pollTimer: NodeJS.Timeout | null = null;
  private watcher: FSWatcher | null = null;

  constructor(spec: RingCaptureSpec, baseArgs: string[], millions: number, opts: RingCaptureOptions) {
    super(spec, opts);
    this.partPath = join(this.dir, `.${basename(spec.outputPath)}.${process.pid}.part`);
    this.thresholdBytes = millions * TCPDUMP_FILE_SIZE_UNIT_BYTES;
    // `-w -` becomes `-w PART -C N`: tcpdump opens and rotates the files itself (`-Z root`, set
    // by keepRootPrivileges, keeps it able to create them in a root-owned directory).
    const dash = baseArgs.indexOf('-w');
    const args = [...baseArgs.slice(0, dash), '-w', this.partPath, '-C', String(millions), ...baseArgs.slice(dash + 2)];
    const launch = rootTcpdumpArgv(opts.tcpdumpPath ?? 'tcpdump', opts.commandPrefix ?? []);
    this.launch(launch === null ? null : [...launch, ...args]);
  }

  protected override onListening(): void {
    super.onListening();
    try {
      this.watcher = watch(this.dir, () => this.check());
      this.watcher.on('error', () => undefined);
    } catch {
      // polling alone then
    }
    this.pollTimer = setInterval(() => this.check(), this.opts.pollIntervalInMs ?? 20);
  }

  private partName(index: number): string {
    return index === 0 ? this.partPath : `${this.partPath}${index}`;
  }

  // Called on every inotify event and poll: renames each file tcpdump has closed (a later one
  // exists) to its ring name and keeps at most fileCount files on the host.
  private check(): void {
    while (existsSync(this.partName(this.current + 1))) {
      this.closeCurrent(false);
    }
    // The current file is (nearly) full: tcpdump's next packets start a new file. Delete the oldest
    // now so the host never holds more than fileCount files, not even for the moment of the
    // switch. "Nearly": the size on disk lags tcpdump's by its stdio buffer, and the switch may
    // come before the next check, so the margin is three checks' growth plus 64 KiB.
    try {
      const size = statSync(this.partName(this.current)).size;
      this.growthPerCheck = Math.max(this.growthPerCheck * 0.9, size - this.lastSize);
      this.lastSize = size;
      const margin = Math.min(3 * this.growthPerCheck + 65536, this.thresholdBytes / 2);
      // Not once the session is stopping: what tcpdump writes during the drain past a time limit is
      // cut off, so an early deletion there could give a file holding real packets for nothing.
      if (size > this.thresholdBytes - margin && this.stopReason === null) this.enforceCount(1);
    } catch {
      // not created yet
    }
    this.enforceCount(0);
  }

  private closeCurrent(last: boolean): void {
    const sequence = this.current + 1;
    const name = ringFileName(this.spec.outputPath, sequence);
    const path = join(this.dir, name);
    const from = this.partName(this.current);
    this.current++;
    this.lastSize = 0;
    if (!existsSync(from)) return;
    // Past a time limit every file closed from now on is cut at it: tcpdump may switch files during
    // the drain, so the one before the last can hold packets stamped after the limit too.
    const stopAfterInMs =
      this.stopReason === 'TimeExceeded' && this.startedAt !== null
        ? this.startedAt.getTime() + this.spec.sessionTimeLimitInSeconds * 1000
        : null;
    // A file tcpdump began after the limit holds nothing the session keeps: removed at once, so it
    // never counts as a ring file (counting it deleted real, older files for an empty one).
    if (stopAfterInMs !== null && this.closed.length + this.pending > 0) {
      const first = firstPacketTimeInMs(from);
      if (first === null || first > stopAfterInMs) {
        try {
          unlinkSync(from);
        } catch {
          /* already gone */
        }
        return;
      }
    }
    renameSync(from, path);
    this.pending++;
    const stopping = this.stopReason !== null;
    this.chain = this.chain.then(async () => {
      let file: RingFile;
      try {
        const handle = await open(path, 'r+');
        try {
          const cut = await cutCaptureFile(handle, { maxBytes: this.spec.fileSizeInBytes, stopAfterInMs });
          await handle.sync();
          file = ringFileFromCut(name, path, sequence, cut);
        } finally {
          await handle.close();
        }
      } catch (err) {
        // Deleted by the ring before it could be finished (it wrapped faster than one file's hash).
        this.pending--;
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') this.fail('LocalFileFailed', (err as Error).message);
        return;
      }
      this.pending--;
      if ((last || stopping) && file.packetsCaptured === 0 && this.closed.length > 0) {
        // A file tcpdump started during the stop's drain whose packets all came after the limit
        // (cut off): nothing in it, so it is removed rather than kept as the ring's newest file.
        try {
          unlinkSync(path);
        } catch {
          // already gone
        }
        return;
      }
      this.closed.push(file);
      this.enforceCount(0);
      if (this.closed.includes(file)) await this.opts.onFileClosed?.(file);
    });
  }

  // Deletes the oldest files until at most fileCount - headroom exist (closed, being finished, and the current one).
  private enforceCount(headroom: number): void {
    const max = Math.max(this.spec.fileCount - headroom, 1);
    const writing = this.lastClosed ? 0 : 1; // the file tcpdump is writing, until the last one closes
    while (this.closed.length > 0 && this.closed.length + this.pending + writing > max) this.deleteOldest();
  }

  protected async finish(): Promise<void> {
    this.stopTimers();
    if (this.pollTimer) clearInterval(this.pollTimer);
    this.watcher?.close();
    if (this.startedAt !== null) {
      // Files closed since the last check, then the last one.
      while (existsSync(this.partName(this.current + 1))) this.closeCurrent(false);
      // With one file allowed, the last file replaces the previous one.
      this.enforceCount(0);
      this.lastClosed = true;
      this.closeCurrent(true);
    } else {
      try {
        unlinkSync(this.partPath);
      } catch {
        // never created
      }
    }
    await this.chain;
    this.resolveOutcome();
  }
}

/** The time of a closed pcap file's first record, in ms; null when it holds no whole record header. */
function firstPacketTimeInMs(path: string): number | null {
  const buf = Buffer.alloc(PCAP_GLOBAL_HEADER_BYTES + 8);
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return null;
  }
  try {
    if (readSync(fd, buf, 0, buf.length, 0) < buf.length) return null;
    const header = decodePcapHeader(buf.subarray(0, PCAP_GLOBAL_HEADER_BYTES));
    const seconds = header.littleEndian
      ? buf.readUInt32LE(PCAP_GLOBAL_HEADER_BYTES)
      : buf.readUInt32BE(PCAP_GLOBAL_HEADER_BYTES);
    const fraction = header.littleEndian
      ? buf.readUInt32LE(PCAP_GLOBAL_HEADER_BYTES + 4)
      : buf.readUInt32BE(PCAP_GLOBAL_HEADER_BYTES + 4);
    return seconds * 1000 + (header.magic === 'nsec' ? fraction / 1e6 : fraction / 1e3);
  } catch {
    return null;
  } finally {
    closeSync(fd);
  }
}
