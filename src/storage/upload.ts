import { open, type FileHandle } from 'node:fs/promises';
import { uploadGrantSchema, type UploadGrant } from './grant.js';
import { hashFileRange, sameSha256 } from './hash.js';
import type { UploadContext } from './upload-context.js';
import { uploadAzureBlob } from './upload-azure.js';
import { uploadLocal } from './upload-local.js';
import { asStepError, UploadStepError, type UploadClock } from './upload-retry.js';
import { FileHashTally } from './file-hash-tally.js';
import { fileIdentityFromStats, sameFileIdentity, type FileIdentity } from '../lib/file-identity.js';
import { uploadS3Multipart, uploadS3Single } from './upload-s3.js';

/** Options of {@link uploadFile}. */
export interface UploadFileOptions {
  /** Size the file must have (and the grant was made for). */
  sizeInBytes: number;
  /** SHA-256 (hex) the file must have (see localContentCheck). */
  sha256: string;
  /**
   * How this side makes sure the file is still the one whose SHA-256 is `sha256`, before the
   * step that makes the blob exist (the last local chunk, the block list commit,
   * CompleteMultipartUpload, the single PUT); a file that fails it is never stored
   * (LocalFileChanged).
   * - 'beforeStore' (default): the SHA-256 of the reads that send the file (one SHA-256 of it,
   *   ~0.5–0.7 CPU-s per GB).
   * - `{ identity }`: the file's identity (src/lib/file-identity.ts: device, inode, size, mtime
   *   and ctime in ns) recorded when its writer hashed it. Compared by fstat when the file is
   *   opened and again before that step, so no byte is hashed here. A file whose identity
   *   differs at open (touched, copied back, a device number that changed with a reboot) is
   *   checked as with 'beforeStore' instead: refused only if its bytes differ. One that changes
   *   while it is uploaded fails. What an identity cannot see (a bit flipped on the disk) the
   *   server's verify of the stored blob against the same SHA-256 catches.
   * - 'none': no check here (the stored blob is still verified by the server).
   */
  localContentCheck?: 'beforeStore' | 'none' | { identity: FileIdentity };
  /** How long the upload may keep failing without any request succeeding before it gives up (each success starts the budget again). */
  retryBudgetInMs: number;
  /** Called with the total bytes sent so far, never decreasing. */
  onProgress?(sentBytes: number): void;
  signal?: AbortSignal;
  /** A request whose socket is silent this long is abandoned and retried; default 30 s (never more than the retry budget, never under 2 s). */
  requestIdleTimeoutInMs?: number;
  /**
   * CA certificate(s) (PEM) to trust for a `local` grant, whose URL is the netwatcher server's: a
   * server with a private or self-signed certificate. Only that request trusts it — nothing
   * process-wide changes, and uploads to Azure or S3 keep the system's CAs.
   */
  serverCa?: string;
}

/** Outcome of {@link uploadFile}: `retryable` says whether a later call (with a fresh grant if the reason says so) may succeed. */
export type UploadFileResult = { ok: true } | { ok: false; reason: string; retryable: boolean };

const defaultIdleTimeoutInMs = 30_000;

function failure(code: string, message: string, retryable: boolean): UploadFileResult {
  return { ok: false, reason: `${code}: ${message}`, retryable };
}

/**
 * Agent side: uploads a local file with a grant. Sends fixed-size blocks/parts/chunks with
 * retries and backoff; resumes what an earlier, interrupted call left on the storage; never
 * modifies the local file; never throws for an expected failure (storage down, grant expired,
 * file changed) but returns `{ ok: false, reason, retryable }`. `reason` starts with a stable
 * code (`StorageUnavailable`, `GrantExpired`, `GrantRejected`, `LocalFileChanged`, …) and holds no
 * credential.
 * @example
 * const result = await uploadFile(grant, '/var/captures/pc1.cap', { sizeInBytes, sha256, retryBudgetInMs: 300_000 });
 * if (!result.ok && result.retryable) scheduleRetry(result.reason);
 */
export async function uploadFile(
  grant: UploadGrant,
  filePath: string,
  opts: UploadFileOptions,
): Promise<UploadFileResult> {
  const parsed = uploadGrantSchema.safeParse(grant);
  if (!parsed.success)
    return failure('InvalidGrant', `the upload grant is malformed: ${parsed.error.issues[0]?.message ?? ''}`, true);
  const checked = parsed.data;
  if (checked.sizeInBytes !== opts.sizeInBytes) {
    return failure(
      'GrantMismatch',
      `the grant is for ${checked.sizeInBytes} bytes but the file has ${opts.sizeInBytes}`,
      true,
    );
  }
  const grantExpiresAtInMs = Date.parse(checked.expiresAt);
  if (Date.now() >= grantExpiresAtInMs) return failure('GrantExpired', 'the upload grant has expired', true);
  const signal = opts.signal ?? new AbortController().signal;
  if (signal.aborted) return failure('Aborted', 'the upload was aborted', true);

  let file: FileHandle;
  try {
    file = await open(filePath, 'r');
  } catch (error) {
    return failure(
      'LocalFileMissing',
      `cannot open the local file: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
      false,
    );
  }
  try {
    const opened = fileIdentityFromStats(await file.stat({ bigint: true }));
    const size = opened.sizeInBytes;
    if (size !== opts.sizeInBytes)
      return failure('LocalFileChanged', `the local file has ${size} bytes, expected ${opts.sizeInBytes}`, false);
    const check = opts.localContentCheck ?? 'beforeStore';
    // The identity holds from the open on, or the file is hashed as it is read (the tally).
    const identity = typeof check === 'object' && sameFileIdentity(opened, check.identity) ? check.identity : null;
    // A tally only where the SHA-256 is checked here: feeding it is that SHA-256.
    const tally = check === 'none' || identity !== null ? undefined : new FileHashTally(size);
    let contentChecked = false;
    const checkLocalContent = async (): Promise<void> => {
      if (check === 'none') return;
      if (identity !== null) {
        // An fstat, not cached: each step that makes the blob exist asks again.
        if (!sameFileIdentity(fileIdentityFromStats(await file.stat({ bigint: true })), identity))
          throw new UploadStepError(
            'LocalFileChanged',
            'the local file changed while it was uploaded (its size, times or inode are no longer those it was hashed with)',
            false,
            false,
          );
        return;
      }
      if (contentChecked) return;
      // The file's SHA-256 from the reads the upload makes anyway (the tally): a file changed
      // after it was hashed fails clearly (LocalFileChanged), is never stored, and is not read
      // twice; a resumed upload that skipped what the storage held hashes the file instead.
      const actual = tally?.complete === true ? tally.digest() : (await hashFileRange(file, 0, size)).sha256;
      if (!sameSha256(actual, opts.sha256))
        throw new UploadStepError(
          'LocalFileChanged',
          'the local file no longer has the expected SHA-256',
          false,
          false,
        );
      contentChecked = true;
    };

    const clock: UploadClock = {
      retryBudgetInMs: opts.retryBudgetInMs,
      lastProgressAtInMs: Date.now(),
      grantExpiresAtInMs,
      signal,
    };
    let reported = 0;
    const ctx: UploadContext = {
      file,
      sizeInBytes: opts.sizeInBytes,
      clock,
      idleTimeoutInMs: Math.max(
        2_000,
        Math.min(opts.requestIdleTimeoutInMs ?? defaultIdleTimeoutInMs, opts.retryBudgetInMs),
      ),
      ...(opts.serverCa !== undefined ? { serverCa: opts.serverCa } : {}),
      ...(tally !== undefined ? { tally } : {}),
      checkLocalContent,
      reportProgress(sentBytes) {
        if (sentBytes <= reported) return;
        reported = sentBytes;
        opts.onProgress?.(sentBytes);
      },
    };
    switch (checked.kind) {
      case 'local':
        await uploadLocal(checked, ctx);
        break;
      case 'azureBlob':
        await uploadAzureBlob(checked, ctx);
        break;
      case 's3':
        if (checked.mode === 'single') await uploadS3Single(checked, ctx);
        else await uploadS3Multipart(checked, ctx);
        break;
    }
    return { ok: true };
  } catch (thrown) {
    const error = asStepError(thrown);
    return failure(error.code, error.message, error.retryLater);
  } finally {
    await file.close();
  }
}

/**
 * Whether the file at `filePath` has this SHA-256 (false when it cannot be read), in 4 MiB reads.
 * @example if (!(await fileHasSha256(path, status.sha256))) giveUp('LocalFileChanged');
 */
export async function fileHasSha256(filePath: string, sha256: string): Promise<boolean> {
  let file: FileHandle;
  try {
    file = await open(filePath, 'r');
  } catch {
    return false;
  }
  try {
    const { size } = await file.stat();
    const read = await hashFileRange(file, 0, size);
    return read.sizeInBytes === size && sameSha256(read.sha256, sha256);
  } catch {
    return false;
  } finally {
    await file.close();
  }
}
