import { CAPTURE_CONTENT_TYPE, type AzureBlobUploadGrant } from './grant.js';
import { BlockReader } from './block-reader.js';
import { sendHttpRequest, type HttpResponse } from './http-client.js';
import type { UploadContext } from './upload-context.js';
import { retrying, runPool, UploadStepError, type UploadClock } from './upload-retry.js';
import { isRetryableHttpStatus } from '../lib/index.js';

// The agent speaks Azure's two block-blob REST calls itself, with the grant's SAS URL, through the
// same HTTP client as the S3 parts: Put Block and Put Block List
// (https://learn.microsoft.com/rest/api/storageservices/put-block,
// https://learn.microsoft.com/rest/api/storageservices/put-block-list). @azure/storage-blob's
// pipeline (~170 modules to load, a policy chain, a span and a header object per request) bought
// nothing for two calls with a SAS: through it the upload cost 2.2 CPU-s per GB, against 1.8 for
// S3's parts through this client, both with a new buffer per block; with BlockReader's reused
// buffers this path costs 0.54–0.59 (bench/capture-fidelity/finalise-steps.ts, issue 18).

// Blocks are staged concurrently; four 8 MiB blocks in flight saturate a loopback or LAN link
// without holding much memory on a capture host (four buffers, reused from block to block).
const concurrentBlocks = 4;

/**
 * Block id of block `index`: deterministic (so a retry or a later call re-stages the same ids
 * and never leaves a mix of old and new ids) and of one length for every block, as Azure requires.
 */
export function azureBlockId(index: number): string {
  return Buffer.from(`nw-block-${String(index).padStart(6, '0')}`).toString('base64');
}

/** Body of Put Block List: every block, latest version, in blob order. */
export function azureBlockListXml(ids: readonly string[]): string {
  // Block ids are base64 (no character XML must escape).
  return `<?xml version="1.0" encoding="utf-8"?><BlockList>${ids.map((id) => `<Latest>${id}</Latest>`).join('')}</BlockList>`;
}

/** The SAS URL with more query parameters (a SAS URL always has a query). */
function sasUrlWith(sasUrl: string, query: string): string {
  return `${sasUrl}${sasUrl.includes('?') ? '&' : '?'}${query}`;
}

/**
 * Azure's error code of an answer: the `x-ms-error-code` header (every error answer has it), else
 * the `<Code>` of the XML body; only a code's characters, so a reason never carries the body.
 */
export function azureErrorCode(response: HttpResponse): string | undefined {
  const header = response.headers['x-ms-error-code'];
  const fromHeader = typeof header === 'string' ? header : undefined;
  const code = fromHeader ?? /<Code>([^<]*)<\/Code>/.exec(response.body.toString('utf8'))?.[1];
  return code !== undefined && /^[A-Za-z0-9]{1,100}$/.test(code) ? code : undefined;
}

/** The UploadStepError for an Azure answer that is not a success (as the SDK's errors were mapped). */
function rejectionForAzure(what: string, response: HttpResponse, clock: UploadClock): UploadStepError {
  const status = response.statusCode;
  const code = azureErrorCode(response);
  if (status === 403 || status === 401) {
    if (Date.now() >= clock.grantExpiresAtInMs)
      return new UploadStepError('GrantExpired', `${what}: the upload grant has expired`, false, true);
    return new UploadStepError('GrantRejected', `${what}: storage refused the SAS (${code ?? status})`, false, true);
  }
  const answered = `${what}: storage answered ${status}${code === undefined ? '' : ` ${code}`}`;
  if (isRetryableHttpStatus(status)) return new UploadStepError('StorageError', answered, true, true);
  return new UploadStepError(
    code === 'InvalidBlockList' ? 'InvalidBlockList' : 'StorageRejected',
    answered,
    false,
    true,
  );
}

/** Uploads to Azure Blob with the SAS of the grant: stages fixed-size blocks under deterministic ids, then commits the block list. */
export async function uploadAzureBlob(grant: AzureBlobUploadGrant, ctx: UploadContext): Promise<void> {
  const blockSize = grant.blockSizeInBytes;
  const blockCount = Math.ceil(ctx.sizeInBytes / blockSize);
  const indexes = Array.from({ length: blockCount }, (_, index) => index);
  const ids = indexes.map(azureBlockId);
  // The REST version the SAS was signed for (its `sv`), as the server's SDK would send it.
  const signedVersion = new URL(grant.sasUrl).searchParams.get('sv');
  const versionHeader: Record<string, string> = signedVersion === null ? {} : { 'x-ms-version': signedVersion };
  const reader = new BlockReader(ctx.file, blockSize, ctx.tally);
  let landedBytes = 0;

  const stageAll = async (): Promise<void> => {
    await runPool(indexes, concurrentBlocks, ctx.clock.signal, async (index, signal) => {
      const position = index * blockSize;
      const length = Math.min(blockSize, ctx.sizeInBytes - position);
      const url = sasUrlWith(grant.sasUrl, `comp=block&blockid=${encodeURIComponent(ids[index] as string)}`);
      await reader.withBlock(position, length, (block) =>
        // No Content-MD5 (nor CRC64): it cost 1.2–1.7 CPU-s per GB (more than the capture's own
        // SHA-256) to guard the transport, which TCP and TLS already do; a block damaged anyway is
        // found end to end by the server's verify, which hashes the stored blob against the
        // capture's SHA-256.
        retrying(ctx.clock, `block ${index}`, async () => {
          const response = await sendHttpRequest(url, {
            method: 'PUT',
            headers: { ...versionHeader, 'content-length': String(length) },
            body: block,
            idleTimeoutInMs: ctx.idleTimeoutInMs,
            signal,
          });
          if (response.statusCode < 200 || response.statusCode >= 300)
            throw rejectionForAzure(`block ${index}`, response, ctx.clock);
        }),
      );
      landedBytes += length;
      ctx.reportProgress(landedBytes);
    });
  };

  const blockList = Buffer.from(azureBlockListXml(ids));
  const commit = (): Promise<void> =>
    retrying(ctx.clock, 'commit block list', async () => {
      const response = await sendHttpRequest(sasUrlWith(grant.sasUrl, 'comp=blocklist'), {
        method: 'PUT',
        headers: {
          ...versionHeader,
          'content-type': 'application/xml; charset=utf-8',
          'content-length': String(blockList.length),
          'x-ms-blob-content-type': CAPTURE_CONTENT_TYPE,
        },
        body: blockList,
        idleTimeoutInMs: ctx.idleTimeoutInMs,
        signal: ctx.clock.signal,
      });
      if (response.statusCode < 200 || response.statusCode >= 300)
        throw rejectionForAzure('commit block list', response, ctx.clock);
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
    await ctx.checkLocalContent(); // the blocks were read again: the file must still be the one hashed
    await commit();
  }
}
