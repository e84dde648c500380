import type { FileHandle } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { closeSync } from 'node:fs';
import type { HttpPieceBody, HttpResponse } from './http-client.js';
import {
  alignedDirectBuffer,
  isEinval,
  isRetryableHttpStatus,
  openDirectDescriptor,
  readDirectInto,
} from '../lib/index.js';
import { UploadStepError, type UploadClock } from './upload-retry.js';
import type { FileHashTally } from './file-hash-tally.js';
import { readFully } from './block-reader.js';

/** What every kind's uploader gets from uploadFile. */
export interface UploadContext {
  file: FileHandle;
  sizeInBytes: number;
  clock: UploadClock;
  /** Socket idle timeout for each request. */
  idleTimeoutInMs: number;
  /** CA (PEM) of the netwatcher server, for local grants (see UploadFileOptions.serverCa). */
  serverCa?: string;
  /** Reports the total bytes sent so far (never decreasing). */
  reportProgress(sentBytes: number): void;
  /** Hashes what readChunk and FileRangePieces read (given to them by each kind's uploader); absent where the file is not hashed here (localContentCheck 'none', or an identity that holds). */
  tally?: FileHashTally;
  /**
   * Throws LocalFileChanged (not retryable) unless the file is still the one whose SHA-256 is the
   * expected one. Each kind calls it before the step that makes the blob exist (the last local
   * chunk, the block list commit, CompleteMultipartUpload, the single PUT), so a file changed
   * since the engine hashed it is never stored. With the file's identity (UploadFileOptions
   * localContentCheck): an fstat compared with it, every call. Otherwise from the tally when every
   * byte went through it (no second read), or (a resumed upload that skipped what the storage
   * held) by hashing the file.
   */
  checkLocalContent(): Promise<void>;
}

/** Reads `length` bytes at `position` into a new buffer (and gives them to `tally`); for the one-request uploads (BlockReader reads the blocks of the others). */
export async function readChunk(
  file: FileHandle,
  position: number,
  length: number,
  tally?: FileHashTally,
): Promise<Buffer> {
  const buffer = Buffer.allocUnsafe(length);
  await readFully(file, buffer, position);
  tally?.feed(position, buffer);
  return buffer;
}

// 4 MiB pieces: a quarter of the syscalls and allocations of 1 MiB ones for the same bytes.
const rangePieceInBytes = 4 * 1024 * 1024;
// Two: one piece read while the other is written to the socket.
const rangePieceBuffers = 2;

/**
 * Bytes [start, end) of an open file as a request body (HttpPieceBody), in 4 MiB pieces read
 * into two buffers reused for the whole range: a buffer is filled again only after the socket's
 * write callback for its previous piece has run. A new 4 MiB Buffer per piece (256 per GB) was
 * external memory for V8's GC to count and the kernel to fault in, as the blocks of Azure and S3
 * were (block-reader.ts). Read with FileHandle.read, never FileHandle.createReadStream:
 * destroying such a stream closes the handle (even with autoClose: false), and an abandoned
 * request must not close the file the retry will read. Read with O_DIRECT where the file system
 * allows it (lib/direct-read.ts: a capture nw-capture wrote is not in the page cache, and a cold
 * buffered read costs the kernel ~1.5–2.3 CPU-s per GB), through a second descriptor of the body's
 * own, closed by destroy() once no read of it is in flight.
 * @example const body = new FileRangePieces(file, 0, size); try { await sendHttpRequest(url, { method: 'PUT', body, … }); } finally { body.destroy(); }
 */
export class FileRangePieces implements HttpPieceBody {
  private readonly free: Buffer[] = [];
  private waiter: (() => void) | null = null;
  private position: number;
  private made = 0;
  private destroyed = false;
  // The O_DIRECT descriptor: undefined until the first buffer is made, null when not used.
  private directFd: number | null | undefined;
  private reading = false;
  private directReadCount = 0;
  // A buffer's whole view (aligned for O_DIRECT: not at offset 0 of its ArrayBuffer), by its memory.
  private readonly views = new Map<ArrayBufferLike, Buffer>();

  constructor(
    private readonly file: FileHandle,
    start: number,
    private readonly end: number,
    private readonly tally?: FileHashTally,
    private readonly opts: { tryDirect?: boolean } = {},
  ) {
    this.position = start;
  }

  /** How many buffers the body has made (at most two, whatever the range's length). */
  get buffersMade(): number {
    return this.made;
  }

  /** How many of the body's reads went through O_DIRECT (0: the file system refused it, or tryDirect false). */
  get directReads(): number {
    return this.directReadCount;
  }

  async next(): Promise<Buffer | null> {
    if (this.destroyed || this.position >= this.end) return null;
    const buffer = await this.takeBuffer();
    if (buffer === null) return null;
    const length = Math.min(rangePieceInBytes, buffer.length, this.end - this.position);
    let piece: Buffer | null = null;
    this.reading = true;
    try {
      piece = await this.readInto(buffer, length);
    } finally {
      this.reading = false;
      // The descriptor is not needed once destroyed (destroy() left it to this read), after a
      // failed or empty read, or past the range.
      if (this.destroyed || piece === null || piece.length === 0 || this.position + piece.length >= this.end)
        this.closeDirect();
    }
    const bytesRead = piece.length;
    if (bytesRead === 0)
      throw new UploadStepError(
        'LocalFileChanged',
        `the local file ended at ${this.position} bytes while uploading`,
        false,
        false,
      );
    this.tally?.feed(this.position, piece);
    this.position += bytesRead;
    return piece;
  }

  release(piece: Buffer): void {
    // The whole buffer behind the piece (allocUnsafeSlow: its own ArrayBuffer).
    this.free.push(this.views.get(piece.buffer) ?? Buffer.from(piece.buffer, 0, piece.buffer.byteLength));
    const wake = this.waiter;
    this.waiter = null;
    wake?.();
  }

  destroy(): void {
    this.destroyed = true;
    // A read in flight still uses the descriptor: next() closes it when that read ends.
    if (!this.reading) this.closeDirect();
    const wake = this.waiter;
    this.waiter = null;
    wake?.();
  }

  private async takeBuffer(): Promise<Buffer | null> {
    for (;;) {
      if (this.destroyed) return null;
      const spare = this.free.pop();
      if (spare !== undefined) return spare;
      if (this.made < rangePieceBuffers) {
        this.made += 1;
        const size = Math.min(rangePieceInBytes, this.end - this.position);
        if (this.directFd === undefined)
          this.directFd = this.opts.tryDirect === false ? null : openDirectDescriptor(this.file.fd);
        if (this.directFd !== null) {
          const view = alignedDirectBuffer(this.directFd, size);
          if (view !== null) {
            this.views.set(view.buffer, view);
            return view;
          }
          this.closeDirect(); // no aligned offset in this buffer: ordinary reads from now on
        }
        // Outside Node's shared pool, so that a piece's ArrayBuffer is its buffer alone.
        return Buffer.allocUnsafeSlow(size);
      }
      await new Promise<void>((resolve) => {
        this.waiter = resolve;
      });
    }
  }

  // `length` bytes from the position into `buffer` (a piece of it), O_DIRECT while it works.
  private async readInto(buffer: Buffer, length: number): Promise<Buffer> {
    if (typeof this.directFd === 'number') {
      try {
        const piece = await readDirectInto(this.directFd, buffer, this.position, length);
        this.directReadCount += 1;
        return piece;
      } catch (err) {
        if (!isEinval(err)) throw err;
        this.closeDirect(); // refused after all: the aligned buffers serve ordinary reads as well
      }
    }
    const { bytesRead } = await this.file.read(buffer, 0, length, this.position);
    return buffer.subarray(0, bytesRead);
  }

  private closeDirect(): void {
    const fd = this.directFd;
    this.directFd = null;
    if (typeof fd === 'number') closeSync(fd);
  }
}

/** Hex MD5 of a chunk (S3 part ETags are this, quoted, for unencrypted parts). */
export function md5Hex(chunk: Buffer): string {
  return createHash('md5').update(chunk).digest('hex');
}

/** The UploadStepError for an HTTP answer that is not a success. */
export function rejectionForResponse(
  what: string,
  response: HttpResponse,
  clock: UploadClock,
  detail = '',
): UploadStepError {
  const status = response.statusCode;
  const suffix = detail === '' ? '' : ` (${detail})`;
  if (status === 403 || status === 401) {
    if (Date.now() >= clock.grantExpiresAtInMs)
      return new UploadStepError('GrantExpired', `${what}: the upload grant has expired${suffix}`, false, true);
    return new UploadStepError(
      'GrantRejected',
      `${what}: storage refused the upload grant with ${status}${suffix}`,
      false,
      true,
    );
  }
  if (isRetryableHttpStatus(status))
    return new UploadStepError('StorageError', `${what}: storage answered ${status}${suffix}`, true, true);
  // 400/411/413 say the request itself is wrong for this grant: asking again will not help.
  const retryLater = !(status === 400 || status === 411 || status === 413);
  return new UploadStepError('StorageRejected', `${what}: storage answered ${status}${suffix}`, false, retryLater);
}
