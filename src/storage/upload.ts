import { open, type FileHandle } from 'node:fs/promises';
import { uploadGrantSchema, type UploadGrant } from './grant.js';
import { hashStream, sameSha256 } from './hash.js';
import { readFileRange, type UploadContext } from './upload-context.js';
import { uploadAzureBlob } from './upload-azure.js';
import { uploadLocal } from './upload-local.js';
import { asStepError, UploadStepError, type UploadClock } from './upload-retry.js';
import { FileHashTally } from './file-hash-tally.js';
import { uploadS3Multipart, uploadS3Single } from './upload-s3.js';

/** Options of {@link uploadFile}. */
export interface UploadFileOptions {
  /** Size the file must have (and the grant was made for). */
  sizeInBytes: number;
  /** SHA-256 (hex) the file must have (see localContentCheck). */
  sha256: string;
  /**
   * How the file's SHA-256 is checked on this side. 'beforeStore' (default): from the reads that
   * send it, before the step that makes the blob exist (LocalFileChanged, never stored; one
   * SHA-256 of the file, ~0.7 CPU-s per GB). 'none': not here — for a caller whose file was hashed
   * moments ago by its own writer and who has the stored blob verified against `sha256` by the
   * server anyway (the agent: the server hashes the blob, deletes it on a mismatch, and the agent
   * hashes its file only then, with fileHasSha256, to tell a changed file from a damaged upload).
   */
  localContentCheck?: 'beforeStore' | 'none';
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
    const { size } = await file.stat();
    if (size !== opts.sizeInBytes)
      return failure('LocalFileChanged', `the local file has ${size} bytes, expected ${opts.sizeInBytes}`, false);
    // The file's SHA-256 is checked against opts.sha256 before the step that makes the blob exist
    // (ctx.checkLocalContent), from the reads the upload makes anyway: a file changed after it
    // was hashed fails clearly (LocalFileChanged), is never stored, and is not read twice.
    // No tally with 'none': feeding it is the SHA-256 the option exists to leave out.
    const tally = opts.localContentCheck === 'none' ? undefined : new FileHashTally(size);
    let contentChecked = false;
    const checkLocalContent = async (): Promise<void> => {
      if (contentChecked || opts.localContentCheck === 'none') return;
      const actual =
        tally?.complete === true ? tally.digest() : (await hashStream(readFileRange(file, 0, size))).sha256;
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
    return sameSha256((await hashStream(readFileRange(file, 0, size))).sha256, sha256);
  } catch {
    return false;
  } finally {
    await file.close();
  }
}
