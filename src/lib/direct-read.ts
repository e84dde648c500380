// Whole-file reads that bypass the page cache (O_DIRECT) where the file system allows it.
//
// Why: nw-capture writes capture files with O_DIRECT, so nothing of them is in the page cache when
// the engine's finalisation (the cut and SHA-256, pcap-cut.ts) and the upload read them. A cold
// buffered read costs the kernel ~1.5–2.3 CPU-s per GB on this VM (readahead, page allocation and
// reclaim, the copy out of the cache); an O_DIRECT read of the same file ~0.02 CPU-s per GB (the
// device DMAs into our buffer). Issue 18.
//
// How: a second descriptor on the same file, opened O_RDONLY|O_DIRECT through /proc/self/fd/N —
// a magic link that follows the descriptor, not a path that could now name another file (so no
// O_NOFOLLOW, which would refuse the link itself) — and its dev/ino are checked against the
// original's (tmpfs is skipped: see TMPFS_MAGIC). O_DIRECT wants the file offset, the
// length and the memory address of each read aligned (to the device's logical block; 4096 covers
// every disk here). Offsets and lengths are ours to choose: reads start at a multiple of 4096 below
// the position asked for and cover whole 4096-byte blocks (the last read returns short at EOF).
// Node does not expose a Buffer's address, so one buffer 4096 bytes larger than needed is allocated
// once and the offset k inside it that makes reads work is found by trying: a 4096-byte read at
// file offset 0 into buf.subarray(k), k = 0, 16, 32, … (V8's allocations are 16-byte aligned),
// succeeds only where buf + k is aligned as the device wants, else fails with EINVAL. That view
// serves every read. On tmpfs, where O_DIRECT cannot be opened (EINVAL), no k works, or a read fails
// with EINVAL later, the reader reads the original descriptor as before: same bytes, `direct` false.
//
// Coherence: an O_DIRECT read first writes back dirty cached pages of its range, so a file written
// through the page cache reads the same; truncates and fsyncs stay on the caller's descriptor.
//
// The price: a file that is in the page cache after all (tcpdump's, written buffered) is read from
// the disk again. Its CPU stays the same (×0.96–0.98 per GB finalised) but the finalisation's wall
// time grows ×1.5–1.8 (bench/capture-fidelity/finalise-direct.ts); callers that know their file is
// cached can pass tryDirect: false. Node has no mincore(2) or cachestat(2) to tell by itself.
import { closeSync, constants, fstatSync, openSync, read, readSync, statfsSync } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { promisify } from 'node:util';

/** Offsets, lengths and the buffer's address of every O_DIRECT read are multiples of this. */
export const DIRECT_READ_ALIGNMENT_BYTES = 4096;
/** Default size of one read: large enough that syscalls cost nothing beside the copy or the DMA. */
export const DIRECT_READ_CHUNK_BYTES = 4 * 1024 * 1024;
// statfs(2) f_type of tmpfs. Since Linux 6.6 tmpfs accepts O_DIRECT (any alignment) but its pages
// are the page cache itself: "direct" there would save nothing and say something false.
const TMPFS_MAGIC = 0x01021994;
// V8 aligns its backing stores to at least 16 bytes, so no other k can be aligned.
const PROBE_STEP_BYTES = 16;

const readAsync = promisify(read);

/** Reads of one file in large pieces, through O_DIRECT when `direct`, else the original descriptor. */
export interface WholeFileReader {
  /** True while reads go through O_DIRECT (false: the file system refused it, or it failed later). */
  readonly direct: boolean;
  /** The most bytes one read returns. */
  readonly maxReadBytes: number;
  /**
   * Up to `length` (≤ maxReadBytes) bytes of the file from `position`, in a view of the reader's
   * buffer valid until the next read; shorter at EOF, empty past it.
   */
  read(position: number, length: number): Promise<Buffer>;
  /** read, blocking the calling thread (the idle cut's worker). */
  readSync(position: number, length: number): Buffer;
  /** Closes the O_DIRECT descriptor (never the caller's); idempotent. */
  close(): void;
}

/** Options of openWholeFileReader. */
export interface WholeFileReaderOptions {
  /** Most bytes per read (rounded up to DIRECT_READ_ALIGNMENT_BYTES). Default DIRECT_READ_CHUNK_BYTES. */
  maxReadBytes?: number;
  /** false: never try O_DIRECT (the baseline of the benches and tests). Default true. */
  tryDirect?: boolean;
}

const roundUp = (n: number): number => Math.ceil(n / DIRECT_READ_ALIGNMENT_BYTES) * DIRECT_READ_ALIGNMENT_BYTES;

/** True for the error O_DIRECT gives where the file system or the alignment does not suit it. */
export const isEinval = (err: unknown): boolean => (err as NodeJS.ErrnoException | null)?.code === 'EINVAL';

// The bytes of [position, position + want) inside an aligned read into `view` that returned
// `bytesRead` from `lead` bytes before position: a file that grew since the caller's stat gives
// no more than asked, a read that ended before position gives nothing.
function sliceOf(view: Buffer, lead: number, bytesRead: number, want: number): Buffer {
  const end = Math.min(bytesRead, lead + want);
  return end <= lead ? view.subarray(0, 0) : view.subarray(lead, end);
}

/**
 * Up to `length` bytes from `position` of the O_DIRECT descriptor `directFd`, read in whole aligned
 * blocks into `view` (from alignedDirectBuffer, made for at least `length`): a view of `view`, short
 * at EOF. Throws what read(2) throws (EINVAL: O_DIRECT refused after all).
 * @example const piece = await readDirectInto(directFd, view, 100, 4 * 1024 * 1024);
 */
export async function readDirectInto(
  directFd: number,
  view: Buffer,
  position: number,
  length: number,
): Promise<Buffer> {
  const lead = position % DIRECT_READ_ALIGNMENT_BYTES;
  const { bytesRead } = await readAsync(directFd, view, 0, roundUp(lead + length), position - lead);
  return sliceOf(view, lead, bytesRead, length);
}

/** readDirectInto, blocking the calling thread. */
export function readDirectIntoSync(directFd: number, view: Buffer, position: number, length: number): Buffer {
  const lead = position % DIRECT_READ_ALIGNMENT_BYTES;
  const bytesRead = readSync(directFd, view, 0, roundUp(lead + length), position - lead);
  return sliceOf(view, lead, bytesRead, length);
}

class Reader implements WholeFileReader {
  private directFd: number | null;
  private view: Buffer;
  readonly maxReadBytes: number;

  constructor(
    private readonly fd: number,
    maxReadBytes: number,
    direct: { fd: number; view: Buffer } | null,
  ) {
    this.maxReadBytes = maxReadBytes;
    this.directFd = direct?.fd ?? null;
    this.view = direct?.view ?? Buffer.allocUnsafeSlow(maxReadBytes);
  }

  get direct(): boolean {
    return this.directFd !== null;
  }

  async read(position: number, length: number): Promise<Buffer> {
    const want = this.clamp(length);
    if (this.directFd !== null) {
      try {
        return await readDirectInto(this.directFd, this.view, position, want);
      } catch (err) {
        if (!isEinval(err)) throw err;
        this.dropDirect();
      }
    }
    const { bytesRead } = await readAsync(this.fd, this.view, 0, want, position);
    return this.view.subarray(0, bytesRead);
  }

  readSync(position: number, length: number): Buffer {
    const want = this.clamp(length);
    if (this.directFd !== null) {
      try {
        return readDirectIntoSync(this.directFd, this.view, position, want);
      } catch (err) {
        if (!isEinval(err)) throw err;
        this.dropDirect();
      }
    }
    return this.view.subarray(0, readSync(this.fd, this.view, 0, want, position));
  }

  close(): void {
    if (this.directFd === null) return;
    const fd = this.directFd;
    this.directFd = null;
    closeSync(fd);
  }

  private clamp(length: number): number {
    if (!(length >= 0 && length <= this.maxReadBytes))
      throw new RangeError(`read of ${length} bytes: at most ${this.maxReadBytes}`);
    return length;
  }

  // A file system that took the open and the probe but refuses a later read: the buffered path,
  // from then on, in a buffer of its own size (the aligned view is larger by its lead).
  private dropDirect(): void {
    this.close();
    this.view = Buffer.allocUnsafeSlow(this.maxReadBytes);
  }
}

/**
 * The offset k into `buffer` at which O_DIRECT reads of `directFd` work (a 4096-byte read at file
 * offset 0 into buffer.subarray(k) succeeds), trying k = 0, 16, … < 4096; null when none does or a
 * read fails otherwise. `buffer` needs DIRECT_READ_ALIGNMENT_BYTES more than the reads it will serve.
 * @example const k = probeDirectAlignment(fd, buffer); if (k !== null) readSync(fd, buffer, k, 4096, 0);
 */
export function probeDirectAlignment(directFd: number, buffer: Buffer): number | null {
  for (
    let k = 0;
    k < DIRECT_READ_ALIGNMENT_BYTES && k + DIRECT_READ_ALIGNMENT_BYTES <= buffer.length;
    k += PROBE_STEP_BYTES
  ) {
    try {
      readSync(directFd, buffer, k, DIRECT_READ_ALIGNMENT_BYTES, 0);
      return k;
    } catch (err) {
      if (!isEinval(err)) return null;
    }
  }
  return null;
}

/**
 * A fresh buffer's view aligned for O_DIRECT reads of `directFd` of up to `maxReadBytes` from any
 * position (one block of lead included), or null when no offset in it works.
 * @example const view = alignedDirectBuffer(directFd, 4 * 1024 * 1024);
 */
export function alignedDirectBuffer(directFd: number, maxReadBytes: number): Buffer | null {
  // Room for the alignment offset k and, in each read, up to one block of lead before the position
  // (a read of maxReadBytes after a lead covers roundUp(maxReadBytes) + one block at most).
  const viewBytes = roundUp(maxReadBytes) + DIRECT_READ_ALIGNMENT_BYTES;
  const buffer = Buffer.allocUnsafeSlow(viewBytes + DIRECT_READ_ALIGNMENT_BYTES);
  const k = probeDirectAlignment(directFd, buffer);
  return k === null ? null : buffer.subarray(k, k + viewBytes);
}

/**
 * A second descriptor, O_RDONLY|O_DIRECT, on the open file `fd` (the same inode, checked), or null
 * where O_DIRECT does not apply (not a regular file, empty, tmpfs, refused): the caller reads `fd`
 * as before. The caller closes it. Closes what it opened on every path that returns null.
 * @example const directFd = openDirectDescriptor(handle.fd); if (directFd !== null) try { … } finally { closeSync(directFd); }
 */
export function openDirectDescriptor(fd: number): number | null {
  const st = fstatSync(fd);
  // Nothing to read (an empty file would also pass the probe whatever k: a read at EOF checks no
  // alignment), or not a regular file: no second descriptor.
  if (!st.isFile() || st.size === 0) return null;
  const self = `/proc/self/fd/${fd}`;
  let directFd: number;
  try {
    // statfs follows the magic link to the open file's own file system.
    if (statfsSync(self).type === TMPFS_MAGIC) return null;
    directFd = openSync(self, constants.O_RDONLY | constants.O_DIRECT);
  } catch {
    return null; // EINVAL: a file system without O_DIRECT (tmpfs before 6.6); no /proc
  }
  try {
    const again = fstatSync(directFd);
    if (again.dev === st.dev && again.ino === st.ino) return directFd;
  } catch {
    // fall through to the buffered reads
  }
  closeSync(directFd);
  return null;
}

// openDirectDescriptor with the reader's aligned view, or null (closed again when no view works).
function openDirect(fd: number, maxReadBytes: number): { fd: number; view: Buffer } | null {
  const directFd = openDirectDescriptor(fd);
  if (directFd === null) return null;
  let view: Buffer | null = null;
  try {
    view = alignedDirectBuffer(directFd, maxReadBytes);
  } finally {
    if (view === null) closeSync(directFd);
  }
  return view === null ? null : { fd: directFd, view };
}

/**
 * A reader of the open file `fd` (a FileHandle or a descriptor; never closed by the reader), through
 * a second O_DIRECT descriptor on the same inode when the file system allows it. Call close() when
 * done.
 * @example const reader = openWholeFileReader(handle); try { const head = reader.readSync(0, 24); } finally { reader.close(); }
 */
export function openWholeFileReader(file: FileHandle | number, opts: WholeFileReaderOptions = {}): WholeFileReader {
  const fd = typeof file === 'number' ? file : file.fd;
  const maxReadBytes = roundUp(Math.max(1, opts.maxReadBytes ?? DIRECT_READ_CHUNK_BYTES));
  const direct = (opts.tryDirect ?? true) ? openDirect(fd, maxReadBytes) : null;
  return new Reader(fd, maxReadBytes, direct);
}
