import { CAPTURE_CONTENT_TYPE, type S3MultipartUploadGrant, type S3SingleUploadGrant } from './grant.js';
import { sendHttpRequest } from './http-client.js';
import { completeMultipartUploadXml, parseListPartsXml, parseS3ErrorCode, type ListedPart } from './s3-xml.js';
import { BlockReader } from './block-reader.js';
import { md5Hex, readChunk, rejectionForResponse, type UploadContext } from './upload-context.js';
import { retrying, runPool, UploadStepError } from './upload-retry.js';

const concurrentParts = 4;
// S3 error codes in a 200 answer to CompleteMultipartUpload that a retry can cure.
const retryableCompleteCodes = new Set(['InternalError', 'SlowDown', 'ServiceUnavailable', 'RequestTimeout']);

/**
 * Uploads a small file with one presigned PutObject. No Content-MD5, as for the parts and Azure's
 * blocks: an MD5 of every byte costs ~1.2 CPU-s per GB (a ring of small files goes up this way
 * only), and the server's verify hashes the stored object against the capture's SHA-256 anyway.
 */
export async function uploadS3Single(grant: S3SingleUploadGrant, ctx: UploadContext): Promise<void> {
  const body = await readChunk(ctx.file, 0, ctx.sizeInBytes, ctx.tally);
  await ctx.checkLocalContent();
  await retrying(ctx.clock, 'put object', async () => {
    const response = await sendHttpRequest(grant.putUrl, {
      method: 'PUT',
      headers: {
        'content-length': String(body.length),
        'content-type': CAPTURE_CONTENT_TYPE,
      },
      body,
      idleTimeoutInMs: ctx.idleTimeoutInMs,
      signal: ctx.clock.signal,
    });
    if (response.statusCode !== 200)
      throw rejectionForResponse('put object', response, ctx.clock, parseS3ErrorCode(response.body.toString('utf8')));
  });
  ctx.reportProgress(ctx.sizeInBytes);
}

/**
 * Uploads a large file into the multipart upload the server created: lists the parts already
 * there (presigned ListParts), uploads every part that is missing or whose ETag is not the MD5 of
 * our bytes, then completes the upload with the presigned CompleteMultipartUpload URL.
 */
export async function uploadS3Multipart(grant: S3MultipartUploadGrant, ctx: UploadContext): Promise<void> {
  const partSize = grant.partSizeInBytes;
  const partCount = Math.ceil(ctx.sizeInBytes / partSize);
  if (partCount !== grant.partUrls.length) {
    throw new UploadStepError(
      'GrantMismatch',
      `grant has ${grant.partUrls.length} part URLs but the file needs ${partCount}`,
      false,
      true,
    );
  }

  let sawCompleteAttempt = false;
  const listed = await retrying(ctx.clock, 'list parts', async (): Promise<ListedPart[] | 'gone'> => {
    const response = await sendHttpRequest(grant.listPartsUrl, {
      method: 'GET',
      idleTimeoutInMs: ctx.idleTimeoutInMs,
      signal: ctx.clock.signal,
    });
    if (response.statusCode === 404) return 'gone';
    if (response.statusCode !== 200)
      throw rejectionForResponse('list parts', response, ctx.clock, parseS3ErrorCode(response.body.toString('utf8')));
    return parseListPartsXml(response.body.toString('utf8'));
  });
  if (listed === 'gone') {
    // Completed by an earlier call whose answer was lost, or aborted: only the server can tell
    // (verify); the agent asks for a new grant, which starts a new multipart upload if needed.
    throw new UploadStepError(
      'MultipartUploadGone',
      'the multipart upload no longer exists (completed or aborted earlier)',
      false,
      true,
    );
  }
  const existing = new Map(listed.map((part) => [part.partNumber, part]));

  const etags = new Map<number, string>();
  const reader = new BlockReader(ctx.file, partSize, ctx.tally);
  let landedBytes = 0;
  const numbers = Array.from({ length: partCount }, (_, index) => index + 1);
  await runPool(numbers, concurrentParts, ctx.clock.signal, async (partNumber, signal) => {
    const position = (partNumber - 1) * partSize;
    const length = Math.min(partSize, ctx.sizeInBytes - position);
    const already = existing.get(partNumber);
    await reader.withBlock(position, length, async (chunk) => {
      // MD5 only where a part is already there: hashing every part costs more CPU than it saves,
      // and the server's SHA-256 verify catches a damaged part anyway.
      if (already && already.sizeInBytes === length && already.etag.toLowerCase() === md5Hex(chunk)) {
        etags.set(partNumber, already.etag);
      } else {
        const etag = await retrying(ctx.clock, `part ${partNumber}`, async () => {
          const response = await sendHttpRequest(grant.partUrls[partNumber - 1] as string, {
            method: 'PUT',
            headers: { 'content-length': String(length) },
            body: chunk,
            idleTimeoutInMs: ctx.idleTimeoutInMs,
            signal,
          });
          if (response.statusCode !== 200)
            throw rejectionForResponse(
              `part ${partNumber}`,
              response,
              ctx.clock,
              parseS3ErrorCode(response.body.toString('utf8')),
            );
          const header = response.headers.etag;
          if (typeof header !== 'string' || header === '')
            throw new UploadStepError('StorageRejected', `part ${partNumber}: no ETag in the answer`, true, true);
          return header;
        });
        etags.set(partNumber, etag);
      }
    });
    landedBytes += length;
    ctx.reportProgress(landedBytes);
  });

  await ctx.checkLocalContent(); // before CompleteMultipartUpload, which makes the object exist
  const body = Buffer.from(
    completeMultipartUploadXml(numbers.map((partNumber) => ({ partNumber, etag: etags.get(partNumber) as string }))),
  );
  await retrying(ctx.clock, 'complete multipart upload', async () => {
    const firstAttempt = !sawCompleteAttempt;
    sawCompleteAttempt = true;
    const response = await sendHttpRequest(grant.completeUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/xml', 'content-length': String(body.length) },
      body,
      idleTimeoutInMs: ctx.idleTimeoutInMs,
      signal: ctx.clock.signal,
    });
    const text = response.body.toString('utf8');
    const errorCode = parseS3ErrorCode(text);
    // An earlier attempt whose answer was lost may have completed it: the server verifies anyway.
    if (!firstAttempt && response.statusCode === 404 && errorCode === 'NoSuchUpload') return;
    if (response.statusCode !== 200)
      throw rejectionForResponse('complete multipart upload', response, ctx.clock, errorCode);
    // S3 may answer 200 and still fail, with an <Error> in the body.
    if (errorCode !== undefined) {
      throw new UploadStepError(
        'StorageError',
        `complete multipart upload: ${errorCode}`,
        retryableCompleteCodes.has(errorCode),
        true,
      );
    }
  });
}
