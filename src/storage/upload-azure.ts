import { AnonymousCredential, BlockBlobClient, newPipeline } from '@azure/storage-blob';
import { CAPTURE_CONTENT_TYPE, type AzureBlobUploadGrant } from './grant.js';
import { readChunk, type UploadContext } from './upload-context.js';
import { retrying, runPool, UploadStepError, type UploadClock } from './upload-retry.js';
import { isRetryableHttpStatus } from '../lib/index.js';

// Blocks are staged concurrently; four 8 MiB blocks in flight saturate a loopback or LAN link
// without holding much memory on a capture host.
const concurrentBlocks = 4;
// The whole of one block request (not an idle timeout: the SDK has none); 8 MiB in 2 minutes
// is ~70 KB/s, below which a host has bigger problems than this upload.
const blockTryTimeoutInMs = 120_000;

/**
 * Block id of block `index`: deterministic (so a retry or a later call re-stages the same ids
 * and never leaves a mix of old and new ids) and of one length for every block, as Azure requires.
 */
export function azureBlockId(index: number): string {
  return Buffer.from(`nw-block-${String(index).padStart(6, '0')}`).toString('base64');
}

function stepErrorFromAzure(what: string, error: unknown, clock: UploadClock): UploadStepError {
  if (error instanceof UploadStepError) return error;
  const rest = error as { name?: string; statusCode?: number; code?: string; message?: string };
  if (rest.name === 'AbortError') {
    if (clock.signal.aborted) return new UploadStepError('Aborted', 'the upload was aborted', false, true);
    return new UploadStepError('NetworkError', `${what}: request timed out`, true, true, { cause: error });
  }
  const status = rest.statusCode;
  if (status === undefined || status === 0) {
    return new UploadStepError('NetworkError', `${what}: ${rest.code ?? rest.message ?? 'network error'}`, true, true, {
      cause: error,
    });
  }
  if (status === 403 || status === 401) {
    if (Date.now() >= clock.grantExpiresAtInMs)
      return new UploadStepError('GrantExpired', `${what}: the upload grant has expired`, false, true, {
        cause: error,
      });
    return new UploadStepError(
      'GrantRejected',
      `${what}: storage refused the SAS (${rest.code ?? status})`,
      false,
      true,
      { cause: error },
    );
  }
  if (isRetryableHttpStatus(status))
    return new UploadStepError('StorageError', `${what}: storage answered ${status} ${rest.code ?? ''}`, true, true, {
      cause: error,
    });
  return new UploadStepError(
    rest.code === 'InvalidBlockList' ? 'InvalidBlockList' : 'StorageRejected',
    `${what}: storage answered ${status} ${rest.code ?? ''}`,
    false,
    true,
    { cause: error },
  );
}

/** Uploads to Azure Blob with the SAS of the grant: stages fixed-size blocks under deterministic ids, then commits the block list. */
export async function uploadAzureBlob(grant: AzureBlobUploadGrant, ctx: UploadContext): Promise<void> {
  const client = new BlockBlobClient(
    grant.sasUrl,
    newPipeline(new AnonymousCredential(), { retryOptions: { maxTries: 1, tryTimeoutInMs: blockTryTimeoutInMs } }),
  );
  const blockSize = grant.blockSizeInBytes;
  const blockCount = Math.ceil(ctx.sizeInBytes / blockSize);
  const indexes = Array.from({ length: blockCount }, (_, index) => index);
  const ids = indexes.map(azureBlockId);
  let landedBytes = 0;

  const stageAll = async (): Promise<void> => {
    await runPool(indexes, concurrentBlocks, ctx.clock.signal, async (index, signal) => {
      const position = index * blockSize;
      const length = Math.min(blockSize, ctx.sizeInBytes - position);
      const chunk = await readChunk(ctx.file, position, length, ctx.tally);
      // No Content-MD5: it cost 1.7 CPU-s per GB (more than the capture's own SHA-256) to guard
      // the transport, which TLS already does; a block damaged anyway is found end to end by the
      // server's verify, which hashes the stored blob against the capture's SHA-256.
      await retrying(ctx.clock, `block ${index}`, async () => {
        try {
          await client.stageBlock(ids[index] as string, chunk, length, { abortSignal: signal });
        } catch (error) {
          throw stepErrorFromAzure(`block ${index}`, error, ctx.clock);
        }
      });
      landedBytes += length;
      ctx.reportProgress(landedBytes);
    });
  };

  const commit = (): Promise<unknown> =>
    retrying(ctx.clock, 'commit block list', async () => {
      try {
        return await client.commitBlockList(ids, {
          blobHTTPHeaders: { blobContentType: CAPTURE_CONTENT_TYPE },
          abortSignal: ctx.clock.signal,
        });
      } catch (error) {
        throw stepErrorFromAzure('commit block list', error, ctx.clock);
      }
    });

  await stageAll();
  await ctx.checkLocalContent(); // before the commit, which makes the blob exist
  try {
    await commit();
  } catch (error) {
    // Uncommitted blocks can vanish (a storage restart that lost them, garbage collection after
    // a week): stage everything once more and commit again rather than fail the capture.
    if (!(error instanceof UploadStepError) || error.code !== 'InvalidBlockList') throw error;
    landedBytes = 0;
    await stageAll();
    await commit();
  }
}
