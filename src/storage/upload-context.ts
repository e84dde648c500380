import type { FileHandle } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import type { HttpResponse } from './http-client.js';
import { isRetryableHttpStatus } from '../lib/index.js';
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
  /** Hashes what readChunk and readFileRange read (given to them by each kind's uploader); absent with localContentCheck 'none'. */
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

/**
 * Streams bytes [start, end) of an open file. Built on FileHandle.read rather than
 * FileHandle.createReadStream because destroying such a stream closes the handle (even with
 * autoClose: false), and an abandoned request must not close the file the retry will read.
 */
export function readFileRange(file: FileHandle, start: number, end: number, tally?: FileHashTally): Readable {
  async function* pieces(): AsyncGenerator<Buffer> {
    let position = start;
    while (position < end) {
      const length = Math.min(rangePieceInBytes, end - position);
      const buffer = Buffer.allocUnsafe(length);
      const { bytesRead } = await file.read(buffer, 0, length, position);
      if (bytesRead === 0)
        throw new UploadStepError(
          'LocalFileChanged',
          `the local file ended at ${position} bytes while uploading`,
          false,
          false,
        );
      const piece = buffer.subarray(0, bytesRead);
      tally?.feed(position, piece);
      position += bytesRead;
      yield piece;
    }
  }
  return Readable.from(pieces(), { objectMode: false });
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
