import type { LocalUploadGrant } from './grant.js';
import { sendHttpRequest, type HttpResponse } from './http-client.js';
import { RECEIVED_BYTES_HEADER } from './local-routes.js';
import { Readable } from 'node:stream';
import { FileRangePieces, readChunk, rejectionForResponse, type UploadContext } from './upload-context.js';
import { retrying, UploadStepError } from './upload-retry.js';

// Each PUT carries at most this much, so one request stays well inside the server's request
// timeout (Node's default is 300 s) even on a slow link, and a failure costs at most one chunk.
const chunkSizeInBytes = 32 * 1024 * 1024;

function receivedBytes(headers: Record<string, string | string[] | undefined>): number | null {
  const value = headers[RECEIVED_BYTES_HEADER];
  if (typeof value !== 'string' || !/^\d+$/.test(value)) return null;
  return Number(value);
}

/** Uploads to the local kind's routes: chunked PUTs with Content-Range; after any failure it asks the server how much it holds and goes on from there. */
export async function uploadLocal(grant: LocalUploadGrant, ctx: UploadContext): Promise<void> {
  const size = ctx.sizeInBytes;
  const headers = { 'content-type': 'application/octet-stream' };
  const askStatus = async (): Promise<number> => {
    const response = await sendHttpRequest(grant.statusUrl, {
      method: 'HEAD',
      idleTimeoutInMs: ctx.idleTimeoutInMs,
      ca: ctx.serverCa,
      signal: ctx.clock.signal,
    });
    if (response.statusCode !== 200) throw rejectionForResponse('upload status', response, ctx.clock);
    const held = receivedBytes(response.headers);
    if (held === null || held > size)
      throw new UploadStepError(
        'StorageRejected',
        'upload status: missing or impossible received-bytes header',
        false,
        false,
      );
    return held;
  };

  if (size === 0) {
    await ctx.checkLocalContent();
    await retrying(ctx.clock, 'upload', async () => {
      const response = await sendHttpRequest(grant.uploadUrl, {
        method: 'PUT',
        headers: { ...headers, 'content-length': '0' },
        body: Buffer.alloc(0),
        idleTimeoutInMs: ctx.idleTimeoutInMs,
        ca: ctx.serverCa,
        signal: ctx.clock.signal,
      });
      if (response.statusCode !== 201) throw rejectionForResponse('upload', response, ctx.clock);
    });
    return;
  }

  // A fresh call may follow an interrupted one (or a crash): start from what the server holds.
  let offset = await retrying(ctx.clock, 'upload status', askStatus);
  ctx.reportProgress(offset);
  let complete = false;
  while (!complete) {
    const step = await retrying(ctx.clock, 'upload', async (attempt) => {
      // After a failure the server may hold more (or, after a rewind, fewer) bytes than we think.
      if (attempt > 0) offset = await askStatus();
      const end = Math.min(offset + chunkSizeInBytes, size);
      // The last chunk makes the blob exist: it is read whole first, so that the file's SHA-256
      // is checked (ctx.checkLocalContent) before any of it is sent.
      // Then sent as a stream like the other chunks, so that its bytes count as sent progress.
      let body: Readable | FileRangePieces;
      if (end === size) {
        const last = await readChunk(ctx.file, offset, end - offset, ctx.tally);
        await ctx.checkLocalContent();
        body = Readable.from([last], { objectMode: false });
      } else body = new FileRangePieces(ctx.file, offset, end, ctx.tally);
      let sent = offset;
      let response: HttpResponse;
      try {
        response = await sendHttpRequest(grant.uploadUrl, {
          method: 'PUT',
          headers: {
            ...headers,
            'content-length': String(end - offset),
            'content-range': `bytes ${offset}-${end - 1}/${size}`,
          },
          body,
          onBodyBytes: (count) => {
            sent += count;
            ctx.reportProgress(sent);
          },
          idleTimeoutInMs: ctx.idleTimeoutInMs,
          ca: ctx.serverCa,
          signal: ctx.clock.signal,
        });
      } finally {
        // An abandoned body must stop reading; it never closes the shared file handle.
        body.destroy();
      }
      if (response.statusCode === 201) return { held: size, complete: true };
      const held = receivedBytes(response.headers);
      if ((response.statusCode === 202 || response.statusCode === 416) && held !== null && held <= size)
        return { held, complete: false };
      throw rejectionForResponse('upload', response, ctx.clock, response.body.toString('utf8').slice(0, 200));
    });
    offset = step.held;
    complete = step.complete;
    ctx.reportProgress(offset);
  }
}
