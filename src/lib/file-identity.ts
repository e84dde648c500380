// A file's identity as fstat(2) gives it: which inode it is (device, inode number) and its state
// (size, modification and change times in nanoseconds). The engine records it from the descriptor
// it has just hashed the file through; the uploader compares it when it opens the file and again
// before the step that makes the blob exist, instead of hashing the file a second time (~0.5–0.7
// CPU-s per GB, issue 18). Every write(2), truncate(2) or mmap write updates mtime and ctime, and
// ctime cannot be set by a user (utimes(2) sets mtime and moves ctime to now), so an equal identity
// means the bytes the engine hashed are still the file's; a file replaced by another (even of the
// same size) has another inode or ctime. What no identity can see — a disk that flips a bit, a
// write through the raw block device — the server's verify of the stored blob against the same
// SHA-256 still catches. Numbers are kept as decimal strings: inode numbers and nanosecond times
// exceed 2^53, and the agent persists the identity in JSON.
import type { BigIntStats } from 'node:fs';
import { fstatSync, statSync } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';

/** Device, inode, size and nanosecond mtime/ctime of a file (decimal strings where they may exceed 2^53). */
export interface FileIdentity {
  dev: string;
  ino: string;
  sizeInBytes: number;
  mtimeNs: string;
  ctimeNs: string;
}

/** The identity in a bigint stat result. */
export function fileIdentityFromStats(st: BigIntStats): FileIdentity {
  return {
    dev: st.dev.toString(),
    ino: st.ino.toString(),
    sizeInBytes: Number(st.size),
    mtimeNs: st.mtimeNs.toString(),
    ctimeNs: st.ctimeNs.toString(),
  };
}

/**
 * The identity of an open file, from its descriptor (never by path: what is open is what counts).
 * @example const identity = await fileIdentityOf(handle); // { dev: '2049', ino: '131', sizeInBytes: 24, … }
 */
export async function fileIdentityOf(handle: FileHandle): Promise<FileIdentity> {
  return fileIdentityFromStats(await handle.stat({ bigint: true }));
}

/** fileIdentityOf for a raw descriptor, synchronously (the cut's worker thread). */
export function fileIdentityOfFd(fd: number): FileIdentity {
  return fileIdentityFromStats(fstatSync(fd, { bigint: true }));
}

/** The identity of the file at `path` (following symbolic links, as open(2) would). */
export function fileIdentityOfPath(path: string): FileIdentity {
  return fileIdentityFromStats(statSync(path, { bigint: true }));
}

/** True when both identities name the same inode in the same state. */
export function sameFileIdentity(a: FileIdentity, b: FileIdentity): boolean {
  return (
    a.dev === b.dev &&
    a.ino === b.ino &&
    a.sizeInBytes === b.sizeInBytes &&
    a.mtimeNs === b.mtimeNs &&
    a.ctimeNs === b.ctimeNs
  );
}

/** True when `value` has the shape of a FileIdentity (a record read back from disk may predate it or be damaged). */
export function isFileIdentity(value: unknown): value is FileIdentity {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  const digits = (x: unknown): boolean => typeof x === 'string' && /^\d{1,30}$/.test(x);
  return (
    digits(v['dev']) &&
    digits(v['ino']) &&
    digits(v['mtimeNs']) &&
    digits(v['ctimeNs']) &&
    typeof v['sizeInBytes'] === 'number' &&
    Number.isSafeInteger(v['sizeInBytes']) &&
    v['sizeInBytes'] >= 0
  );
}
