// Continuous (ring-buffer) capture (issues 13, 18), three writers behind one surface
// (docs/continuous.md has the measurements):
// - 'native': nw-capture (src/capture/native/nw-capture.c, the engine's own writer) writes and
//   rotates the files itself at exact sizes (`--file-size-bytes`: a new file before the record
//   that would pass fileSizeInBytes), with one copy fewer than tcpdump and without the page cache;
//   this process watches the directory (ring-directory.ts), renames, finishes (count, SHA-256, and
//   a cut at the time limit) and deletes the files. It cannot delete the oldest exactly when the
//   next starts (nw-capture starts it on its own): the oldest goes when the current file is nearly
//   full, so a ring may end with fileCount - 1 files; and when files close faster than they are
//   finished (each is read back), the oldest unfinished ones are deleted unfinished, so the host
//   never holds more than fileCount.
// - 'engine': tcpdump writes `-w -` into this process, which starts each file at the record that
//   would pass fileSizeInBytes (ring-cut.ts): exact for every size, and since it starts each file
//   itself it deletes the oldest exactly then, pausing its reading while a file is finished.
// - 'tcpdump': tcpdump's own -C rotation (whole millions only), watched as for nw-capture; the
//   bench's baseline.
// 'auto' (the default) is 'native' for files of NATIVE_RING_MIN_FILE_SIZE_IN_BYTES and more when
// nw-capture runs here, 'engine' otherwise: below that size nw-capture, handed a whole kernel
// block at once, can start many files before the oldest can be deleted.
import { defaultTcpdumpUser, keepsTcpdumpRoot, rootTcpdumpArgv, tcpdumpLaunchPrefix } from './tcpdump-launch.js';
import type { TcpdumpLaunchOptions } from './tcpdump-launch.js';
import { DEFAULT_EXECUTABLE_PATH, findExecutable } from './find-executable.js';
import { EngineCutRing } from './ring-cut.js';
import { DirectoryRing } from './ring-directory.js';
import { findNativeCapture } from './capture-program.js';
import { assertRingFileSize, effectiveSnapLength, ringTcpdumpFileSizeInMillions } from './ring-rules.js';
import { buildTcpdumpArgs, DEFAULT_KERNEL_BUFFER_IN_KIB } from './tcpdump-args.js';
import { PCAP_RECORD_HEADER_BYTES } from '../pcap/format.js';
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
   * Who writes the files: 'native', nw-capture writing and rotating them itself at exact sizes
   * (`--file-size-bytes`); 'engine', this process cutting tcpdump's `-w -` stream, exact for every
   * size; 'tcpdump', tcpdump's own -C (whole millions, one record of headroom: a RangeError where
   * that cannot fit), kept as the measured baseline. 'auto' (default): 'native' when nw-capture
   * runs here (capture-program.ts) and the files are large enough for it to keep fileCount
   * (chooseRingWriter), else 'engine' (docs/continuous.md).
   */
  writer?: 'auto' | 'native' | 'engine' | 'tcpdump';
  /** nw-capture executable for 'native' and 'auto'; defaults to the built dist/native/nw-capture. */
  nativeCapturePath?: string;
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
  const writer = chooseRingWriter(spec, opts);
  if (writer.writer === 'tcpdump') {
    const millions = ringTcpdumpFileSizeInMillions(spec.fileSizeInBytes, spec.snapLengthInBytes);
    return new DirectoryRing(spec, opts, {
      programName: 'tcpdump',
      launchArgv: rootTcpdumpArgv(opts.tcpdumpPath ?? 'tcpdump', opts.commandPrefix ?? []),
      baseArgs: buildTcpdumpArgs(captureSpec, { kernelBufferInKiB, keepRootPrivileges: true }),
      rotationArgs: (part) => ['-w', part, '-C', String(millions)],
      switchFromBytes: millions * TCPDUMP_FILE_SIZE_UNIT_BYTES,
      lagBytes: 64 * 1024, // stdio's buffer of tcpdump's file writes
      marginAtMostHalf: true,
      isWriteError: () => false,
    });
  }
  if (writer.writer === 'native') {
    const maxRecordBytes = PCAP_RECORD_HEADER_BYTES + effectiveSnapLength(spec.snapLengthInBytes);
    return new DirectoryRing(spec, opts, {
      programName: 'nw-capture',
      launchArgv: writer.path === null ? null : rootTcpdumpArgv(writer.path, opts.commandPrefix ?? []),
      baseArgs: buildTcpdumpArgs(captureSpec, { kernelBufferInKiB, keepRootPrivileges: true }),
      rotationArgs: (part) => ['-w', part, '--file-size-bytes', String(spec.fileSizeInBytes)],
      // nw-capture starts the next file before the record that would pass the size: at the
      // earliest when one record of the snap length no longer fits.
      switchFromBytes: spec.fileSizeInBytes - maxRecordBytes,
      // Its piece being filled (4 MiB) reaches the file at once (at load, or 0.5 s after a quiet
      // link's last packet), so a smaller file can appear whole: no half-full wait.
      lagBytes: NATIVE_PIECE_BYTES + 64 * 1024,
      marginAtMostHalf: false,
      // "nw-capture: write PATH: strerror" (nw-capture.c): the disk refused the file.
      isWriteError: (stderr) => /^nw-capture: write /m.test(stderr),
    });
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

// nw-capture's piece (PIECE_BYTES in nw-capture.c): what it hands to the disk in one write.
const NATIVE_PIECE_BYTES = 4 * 1024 * 1024;

/**
 * The smallest file size at which 'auto' lets nw-capture rotate the ring's files. nw-capture
 * starts each file on its own, and libpcap hands over a whole kernel block at once (up to 1 s of a
 * quiet link, or many blocks at load), so small files can be created many at a time, faster than
 * this process can delete the oldest: 93 files of 2,040 bytes at once in a ring of 3 (ring.test.ts).
 * A file of 64 MiB holds more than nw-capture keeps in memory (8 pieces of 4 MiB, 32 MiB) and
 * takes ≥ 40 ms to write at this disk's 1.6 GB/s, so two never start between two checks (20 ms).
 */
export const NATIVE_RING_MIN_FILE_SIZE_IN_BYTES = 64 * 1024 * 1024;

/**
 * Which writer startRingCapture runs for these options: 'auto' is nw-capture for files of
 * NATIVE_RING_MIN_FILE_SIZE_IN_BYTES and more when it runs here, else the engine's cut; 'native'
 * is nw-capture whatever the size (path null: not found, the session then fails with CaptureFailed).
 * @example chooseRingWriter({ ...spec, fileSizeInBytes: 104857600 }, {}) // { writer: 'native', path: '/…/dist/native/nw-capture' }
 */
export function chooseRingWriter(
  spec: Pick<RingCaptureSpec, 'fileSizeInBytes'>,
  opts: Pick<RingCaptureOptions, 'writer' | 'nativeCapturePath'>,
): { writer: 'native'; path: string | null } | { writer: 'engine' | 'tcpdump' } {
  const writer = opts.writer ?? 'auto';
  if (writer === 'engine' || writer === 'tcpdump') return { writer };
  if (writer === 'auto' && spec.fileSizeInBytes < NATIVE_RING_MIN_FILE_SIZE_IN_BYTES) return { writer: 'engine' };
  const path = findNativeCapture(opts.nativeCapturePath);
  if (path === null && writer === 'auto') return { writer: 'engine' };
  return { writer: 'native', path };
}

// tcpdump's stdout buffer when it writes into the engine: the single-file engine's 64 KiB (tcpdump-launch.ts).
const ENGINE_OUTPUT_BUFFER_BYTES = 64 * 1024;
