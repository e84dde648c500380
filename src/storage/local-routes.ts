import { createReadStream } from 'node:fs';
import { link, open, stat, truncate, unlink, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { BlobLocation } from './blob-path.js';
import { InvalidBlobLocationError } from './errors.js';
import { CAPTURE_CONTENT_TYPE } from './grant.js';
import { localBlobFilePath, localUploadTempPath, prepareParentInsideRoot } from './local-paths.js';
import { verifyLocalSignature, type LocalSignedMethod } from './local-signing.js';

// Local upload protocol (what uploadFile speaks; see docs/storage.md):
//   HEAD {statusUrl}                 → 200, `x-nw-received-bytes: N` = bytes of the unfinished upload
//   PUT  {uploadUrl}                 with `Content-Range: bytes a-b/total` (or none for the whole file)
//        a must be ≤ N (a < N rewinds: the server truncates to a first); total = the signed size
//        → 202 + `x-nw-received-bytes` while incomplete, 201 once the file is renamed into place
//        → 416 + `x-nw-received-bytes` when a > N
// Writes go to {root}/.uploads/…part and are renamed atomically, after fsync, when complete.

/** Header in which the local routes report how many bytes of an unfinished upload they hold. */
export const RECEIVED_BYTES_HEADER = 'x-nw-received-bytes';

/** Options of {@link registerLocalStorageRoutes}. */
export interface LocalStorageRoutesOptions {
  /** Root folder of a registered local account, or null if no such local account exists. */
  resolveLocalRoot(accountName: string): Promise<string | null>;
  /** Same key the local BlobStore signs with. */
  signingKey: Buffer;
  /** The server's normal bearer-token check, for downloads (GET/HEAD without a signature): false when unauthenticated, `{ forbidden }` (a 403 with that message) when the caller may not read blobs here. */
  authorizeRead(request: FastifyRequest): Promise<boolean | { forbidden: string }>;
}

interface BlobRouteParams {
  account: string;
  container: string;
  '*': string;
}

interface SignedQuery {
  se?: string;
  sz?: string;
  sig?: string;
}

interface ContentRange {
  start: number;
  length: number;
  total: number;
}

class RequestRejection extends Error {
  constructor(
    readonly statusCode: number,
    readonly code: string,
    message: string,
    readonly receivedBytes?: number,
  ) {
    super(message);
    this.name = 'RequestRejection';
  }
}

function parseContentRange(
  header: string | undefined,
  contentLength: number | undefined,
  signedSize: number,
): ContentRange {
  if (header === undefined) {
    if (contentLength === undefined)
      throw new RequestRejection(411, 'MissingContentLength', 'Content-Length or Content-Range is required');
    if (contentLength !== signedSize)
      throw new RequestRejection(
        400,
        'SizeMismatch',
        `body is ${contentLength} bytes but the upload was granted for ${signedSize}`,
      );
    return { start: 0, length: contentLength, total: signedSize };
  }
  const match = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(header.trim());
  if (!match) throw new RequestRejection(400, 'InvalidContentRange', 'Content-Range must be "bytes first-last/total"');
  const start = Number(match[1]);
  const last = Number(match[2]);
  const total = Number(match[3]);
  if (total !== signedSize)
    throw new RequestRejection(
      400,
      'SizeMismatch',
      `Content-Range total ${total} differs from the granted size ${signedSize}`,
    );
  if (last < start || last >= total)
    throw new RequestRejection(400, 'InvalidContentRange', 'Content-Range is outside the file');
  const length = last - start + 1;
  if (contentLength !== undefined && contentLength !== length)
    throw new RequestRejection(400, 'InvalidContentRange', 'Content-Length differs from the Content-Range length');
  return { start, length, total };
}

function parseRangeHeader(
  header: string | undefined,
  size: number,
): { start: number; end: number } | null | 'unsatisfiable' {
  if (header === undefined) return null;
  const match = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!match || (match[1] === '' && match[2] === '')) return null; // multi-range and odd forms: serve the whole file
  if (match[1] === '') {
    const suffix = Number(match[2]);
    if (suffix === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(match[1]);
  const end = match[2] === '' ? size - 1 : Math.min(Number(match[2]), size - 1);
  if (start >= size || end < start) return 'unsatisfiable';
  return { start, end };
}

async function fileSizeOrZero(path: string): Promise<number> {
  try {
    return (await stat(path)).size;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw error;
  }
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

async function fsyncPath(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

// Socket reads arrive in pieces of up to 64 KiB; one write(2) per piece through the thread pool
// (fs.WriteStream), behind a Transform that counted them, was ~1 µs of the event loop's CPU and
// a thread-pool round trip per 64 KiB. Gathered into ~1 MiB writev(2)s: a sixteenth of the calls.
const appendBatchInBytes = 1024 * 1024;

/** Writes every buffer of `pieces` at the end of the file (a short write is continued). */
async function appendAll(handle: FileHandle, pieces: Buffer[]): Promise<void> {
  let rest = pieces;
  while (rest.length > 0) {
    const { bytesWritten } = await handle.writev(rest);
    let skip = bytesWritten;
    const left: Buffer[] = [];
    for (const piece of rest) {
      if (skip >= piece.length) skip -= piece.length;
      else {
        left.push(skip > 0 ? piece.subarray(skip) : piece);
        skip = 0;
      }
    }
    if (left.length === rest.length && bytesWritten === 0) throw new Error('the disk took no bytes');
    rest = left;
  }
}

/**
 * Appends the request's body to the file at `path` (at most `maxBytes`: more is a 400) and returns
 * how many bytes it appended. Bytes that arrived before the body broke off (a client gone, a
 * takeover) are written before the error is passed on: they are kept for the resume.
 */
async function appendBody(body: AsyncIterable<Buffer>, path: string, maxBytes: number): Promise<number> {
  const handle = await open(path, 'a');
  let appended = 0;
  let batch: Buffer[] = [];
  let batchBytes = 0;
  const flush = async (): Promise<void> => {
    if (batchBytes === 0) return;
    const pieces = batch;
    batch = [];
    batchBytes = 0;
    await appendAll(handle, pieces);
  };
  try {
    try {
      for await (const chunk of body) {
        if (appended + chunk.length > maxBytes)
          throw new RequestRejection(400, 'InvalidContentRange', 'body is longer than its Content-Range');
        batch.push(chunk);
        batchBytes += chunk.length;
        appended += chunk.length;
        if (batchBytes >= appendBatchInBytes) await flush();
      }
    } finally {
      await flush();
    }
  } finally {
    await handle.close();
  }
  return appended;
}

function sendError(reply: FastifyReply, statusCode: number, code: string, message: string): FastifyReply {
  return reply.code(statusCode).send({ error: { code, message } });
}

/**
 * Server side of the local kind: under `/storage/{account}/{container}/{blobPath}`, signed PUT
 * (upload, resumable with Content-Range) and signed HEAD (upload status) for agents, and
 * GET/HEAD downloads behind `authorizeRead`. Paths are confined to the account's root folder.
 */
export function registerLocalStorageRoutes(app: FastifyInstance, opts: LocalStorageRoutesOptions): void {
  // One writer per blob: a new PUT for a blob takes over from one still in flight (its client
  // has usually given up on it already), so two requests never append to the same file.
  const inFlight = new Map<string, { abort(): void; done: Promise<void> }>();

  async function takeOver(key: string, request: FastifyRequest): Promise<() => void> {
    for (let previous = inFlight.get(key); previous !== undefined; previous = inFlight.get(key)) {
      previous.abort();
      await previous.done;
    }
    let release!: () => void;
    const done = new Promise<void>((resolve) => {
      release = resolve;
    });
    inFlight.set(key, { abort: () => request.raw.destroy(), done });
    return () => {
      if (inFlight.get(key)?.done === done) inFlight.delete(key);
      release();
    };
  }

  async function resolveSigned(
    request: FastifyRequest<{ Params: BlobRouteParams; Querystring: SignedQuery }>,
    method: LocalSignedMethod,
  ): Promise<{ root: string; loc: BlobLocation; sizeInBytes: number }> {
    const { account, container } = request.params;
    const loc = { container, blobPath: request.params['*'] };
    const check = verifyLocalSignature({ method, account, ...loc }, request.query, opts.signingKey);
    if (!check.ok) {
      throw new RequestRejection(
        403,
        'AuthenticationFailed',
        check.reason === 'expired' ? 'the signed URL has expired' : 'the signed URL is not valid for this request',
      );
    }
    const root = await opts.resolveLocalRoot(account);
    if (root === null)
      throw new RequestRejection(404, 'StorageAccountNotFound', `no local storage account named ${account}`);
    return { root, loc, sizeInBytes: check.sizeInBytes };
  }

  async function handleUpload(
    request: FastifyRequest<{ Params: BlobRouteParams; Querystring: SignedQuery }>,
    reply: FastifyReply,
  ): Promise<FastifyReply> {
    const { root, loc, sizeInBytes } = await resolveSigned(request, 'PUT');
    const tempPath = localUploadTempPath(root, loc);
    const finalPath = localBlobFilePath(root, loc);
    const lengthHeader = request.headers['content-length'];
    const range = parseContentRange(
      request.headers['content-range'],
      lengthHeader === undefined ? undefined : Number(lengthHeader),
      sizeInBytes,
    );
    const release = await takeOver(`${root}\n${loc.container}\n${loc.blobPath}`, request);
    try {
      // A stored blob is never overwritten: a signed URL is good for the one upload that creates it.
      if (await isFile(finalPath)) {
        throw new RequestRejection(
          409,
          'BlobAlreadyExists',
          'the blob already exists and is never overwritten; delete it first',
        );
      }
      await prepareParentInsideRoot(root, tempPath);
      const held = await fileSizeOrZero(tempPath);
      if (range.start > held) {
        throw new RequestRejection(
          416,
          'RangeNotContiguous',
          `the server holds ${held} bytes; resume from there`,
          held,
        );
      }
      if (range.start < held) await truncate(tempPath, range.start);
      const appended = await appendBody(request.raw, tempPath, range.length);
      const received = range.start + appended;
      if (appended !== range.length) {
        throw new RequestRejection(
          400,
          'IncompleteBody',
          `body ended after ${appended} of ${range.length} bytes`,
          received,
        );
      }
      reply.header(RECEIVED_BYTES_HEADER, String(received));
      if (received < range.total) return reply.code(202).send();
      await fsyncPath(tempPath);
      await prepareParentInsideRoot(root, finalPath);
      // link(2) creates the name only if it is free (rename would replace a blob stored meanwhile).
      try {
        await link(tempPath, finalPath);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'EEXIST')
          throw new RequestRejection(
            409,
            'BlobAlreadyExists',
            'the blob already exists and is never overwritten; delete it first',
          );
        throw error;
      }
      await unlink(tempPath);
      // fsync the folder so the rename itself survives a crash.
      await fsyncPath(dirname(finalPath));
      return reply.code(201).send();
    } finally {
      release();
    }
  }

  async function handleUploadStatus(
    request: FastifyRequest<{ Params: BlobRouteParams; Querystring: SignedQuery }>,
    reply: FastifyReply,
  ): Promise<FastifyReply> {
    const { root, loc } = await resolveSigned(request, 'HEAD');
    const held = await fileSizeOrZero(localUploadTempPath(root, loc));
    return reply.code(200).header(RECEIVED_BYTES_HEADER, String(held)).send();
  }

  async function resolveReadable(
    request: FastifyRequest<{ Params: BlobRouteParams }>,
  ): Promise<{ path: string; sizeInBytes: number }> {
    const allowed = await opts.authorizeRead(request);
    if (allowed === false)
      throw new RequestRejection(401, 'AuthenticationFailed', 'authentication is required to read blobs');
    if (allowed !== true) throw new RequestRejection(403, 'AuthorizationFailed', allowed.forbidden);
    const root = await opts.resolveLocalRoot(request.params.account);
    if (root === null)
      throw new RequestRejection(
        404,
        'StorageAccountNotFound',
        `no local storage account named ${request.params.account}`,
      );
    const path = localBlobFilePath(root, { container: request.params.container, blobPath: request.params['*'] });
    try {
      const info = await stat(path);
      if (info.isFile()) return { path, sizeInBytes: info.size };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
    throw new RequestRejection(404, 'BlobNotFound', 'the specified blob does not exist');
  }

  app.register(async (scope) => {
    // Upload bodies are streamed to disk by the handler, never parsed or buffered.
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', (_request, _payload, done) => done(null, undefined));

    scope.setErrorHandler((error, request, reply) => {
      if (error instanceof RequestRejection) {
        if (error.receivedBytes !== undefined) reply.header(RECEIVED_BYTES_HEADER, String(error.receivedBytes));
        return sendError(reply, error.statusCode, error.code, error.message);
      }
      if (error instanceof InvalidBlobLocationError) return sendError(reply, 400, error.code, error.message);
      if (request.raw.destroyed) return reply; // client went away mid-upload: the bytes it sent are kept for resume
      request.log.error({ err: error }, 'local storage request failed');
      return sendError(reply, 500, 'InternalError', 'the storage request failed');
    });

    const url = '/storage/:account/:container/*';
    scope.put<{ Params: BlobRouteParams; Querystring: SignedQuery }>(url, handleUpload);

    scope.route<{ Params: BlobRouteParams; Querystring: SignedQuery }>({
      method: 'HEAD',
      url,
      handler: async (request, reply) => {
        if (request.query.sig !== undefined) return handleUploadStatus(request, reply);
        const blob = await resolveReadable(request);
        return reply
          .code(200)
          .header('accept-ranges', 'bytes')
          .header('content-type', CAPTURE_CONTENT_TYPE)
          .header('content-length', String(blob.sizeInBytes))
          .send();
      },
    });

    scope.get<{ Params: BlobRouteParams }>(url, { exposeHeadRoute: false }, async (request, reply) => {
      const blob = await resolveReadable(request);
      reply.header('accept-ranges', 'bytes').header('content-type', CAPTURE_CONTENT_TYPE);
      const range = parseRangeHeader(request.headers.range, blob.sizeInBytes);
      if (range === 'unsatisfiable') {
        return reply.code(416).header('content-range', `bytes */${blob.sizeInBytes}`).send();
      }
      if (range === null) {
        return reply.code(200).header('content-length', String(blob.sizeInBytes)).send(createReadStream(blob.path));
      }
      return reply
        .code(206)
        .header('content-range', `bytes ${range.start}-${range.end}/${blob.sizeInBytes}`)
        .header('content-length', String(range.end - range.start + 1))
        .send(createReadStream(blob.path, { start: range.start, end: range.end }));
    });
  });
}
