import { request as httpRequest, type Agent, type ClientRequest, type IncomingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { connect as netConnect, isIP, type NetConnectOpts, type Socket } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions as TlsConnectionOptions } from 'node:tls';
import type { Readable } from 'node:stream';
import { UploadStepError } from './upload-retry.js';

/** A buffered HTTP response. */
export interface HttpResponse {
  statusCode: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/** Options of {@link sendHttpRequest}. */
export interface HttpRequestOptions {
  method: 'GET' | 'PUT' | 'POST' | 'HEAD';
  headers?: Record<string, string>;
  body?: Buffer | Readable | HttpPieceBody;
  /** Called with the size of each piece of a streamed body as it is handed to the socket. */
  onBodyBytes?: (count: number) => void;
  /** The request fails when its socket is silent this long (a hung server, not a slow one). */
  idleTimeoutInMs: number;
  signal: AbortSignal;
  /** Responses bodies are error documents and XML listings: anything beyond this is cut. */
  maxResponseBytes?: number;
  /** CA certificate(s) (PEM) trusted for this request instead of the system's (https only). */
  ca?: string;
  /** The agent the connection is made by (the server's calls: the outbound policy's, which checks the address connected to). */
  agent?: Agent;
  /**
   * A 2xx response's body goes here chunk by chunk as it arrives instead of being buffered (a
   * download that is hashed, never held whole); other statuses are buffered as usual.
   */
  bodySink?: HttpBodySink;
}

/**
 * A request body made piece by piece in buffers its maker reuses. Each piece is handed back
 * (`release`) only once the socket's write callback for it has run: until then the socket (or
 * the request's queue before it connects) may still read it, and a buffer filled again early
 * would send other bytes. A Readable piped into the request cannot know that moment, so each of
 * its pieces needs a buffer of its own.
 */
export interface HttpPieceBody {
  /** The next piece, or null at the end; may wait until a piece is released. */
  next(): Promise<Buffer | null>;
  /** The socket is done with `piece` (its write callback ran without error). */
  release(piece: Buffer): void;
  /** The request is over (sent, failed or abandoned): a waiting `next` ends with null. */
  destroy(): void;
}

function isPieceBody(body: Buffer | Readable | HttpPieceBody): body is HttpPieceBody {
  return typeof (body as Partial<HttpPieceBody>).release === 'function';
}

// Writes a piece body into the request; a failure of the body (a short read) destroys the request.
async function writePieces(
  req: ClientRequest,
  body: HttpPieceBody,
  onBodyBytes: ((count: number) => void) | undefined,
): Promise<void> {
  try {
    for (let piece = await body.next(); piece !== null; piece = await body.next()) {
      if (req.destroyed) return;
      const written = piece;
      // No wait for 'drain': at most the body's buffers are queued, and `next` waits for one to come back.
      req.write(written, (error) => {
        if (error == null) body.release(written);
      });
      onBodyBytes?.(written.length);
    }
    if (!req.destroyed) req.end();
  } catch (error) {
    req.destroy(error as Error);
  }
}

/** Where {@link sendHttpRequest} streams a 2xx response's body. */
export interface HttpBodySink {
  /** Called with the answer's head; false: the body is not wanted, the connection is closed and the response returned with an empty body. */
  accept(statusCode: number, headers: IncomingHttpHeaders): boolean;
  /** One chunk of the body, in order (valid only during the call). */
  write(chunk: Buffer): void;
}

/**
 * One HTTP(S) request with a streamed or buffered body. Transport failures (refused, reset,
 * idle timeout) become a retryable {@link UploadStepError} whose message holds no URL query;
 * any HTTP status is returned, not thrown.
 */
export function sendHttpRequest(url: string, opts: HttpRequestOptions): Promise<HttpResponse> {
  const target = new URL(url);
  const send = target.protocol === 'https:' ? httpsRequest : httpRequest;
  const maxResponseBytes = opts.maxResponseBytes ?? 4 * 1024 * 1024;
  return new Promise<HttpResponse>((resolve, reject) => {
    let settled = false;
    const fail = (error: unknown): void => {
      if (settled) return;
      settled = true;
      if (opts.signal.aborted) reject(new UploadStepError('Aborted', 'the upload was aborted', false, true));
      else
        reject(
          new UploadStepError(
            'NetworkError',
            `${opts.method} ${target.origin}${target.pathname}: ${(error as Error).message}`,
            true,
            true,
            { cause: error },
          ),
        );
    };
    const req = send(
      target,
      {
        method: opts.method,
        headers: opts.headers,
        signal: opts.signal,
        ...(opts.ca !== undefined && target.protocol === 'https:' ? { ca: opts.ca } : {}),
        ...(opts.agent !== undefined ? { agent: opts.agent } : {}),
      },
      (res) => {
        const statusCode = res.statusCode ?? 0;
        const sink = opts.bodySink;
        if (sink && statusCode >= 200 && statusCode < 300) {
          if (!sink.accept(statusCode, res.headers)) {
            settled = true;
            // Not read to its end: the socket cannot go back to the pool.
            res.destroy();
            req.destroy();
            resolve({ statusCode, headers: res.headers, body: Buffer.alloc(0) });
            return;
          }
          res.on('data', (chunk: Buffer) => sink.write(chunk));
          res.on('end', () => {
            if (settled) return;
            settled = true;
            resolve({ statusCode, headers: res.headers, body: Buffer.alloc(0) });
          });
          res.on('error', fail);
          res.on('aborted', () => fail(new Error('response aborted')));
          return;
        }
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          if (size < maxResponseBytes) chunks.push(chunk);
          size += chunk.length;
        });
        res.on('end', () => {
          // Answered before the whole body was sent (a refusal that does not read it): the
          // connection must not go back to the keep-alive pool with a write still pending, whose
          // reset would then surface on a socket nobody listens to (an uncaught ECONNRESET/EPIPE).
          if (!req.writableFinished) req.destroy();
          if (settled) return;
          settled = true;
          resolve({ statusCode: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) });
        });
        res.on('error', fail);
        res.on('aborted', () => fail(new Error('response aborted')));
      },
    );
    req.setTimeout(opts.idleTimeoutInMs, () => req.destroy(new Error(`no activity for ${opts.idleTimeoutInMs} ms`)));
    req.on('error', fail);
    const body = opts.body;
    if (body === undefined) req.end();
    else if (Buffer.isBuffer(body)) req.end(body);
    else if (isPieceBody(body)) void writePieces(req, body, opts.onBodyBytes);
    else {
      body.on('error', (error) => req.destroy(error));
      const onBodyBytes = opts.onBodyBytes;
      if (onBodyBytes) body.on('data', (chunk: Buffer) => onBodyBytes(chunk.length));
      body.pipe(req);
    }
  });
}

/** Options of {@link getIntoSink}. */
export interface GetIntoSinkOptions {
  /** The outbound policy's check of a connection (OutboundPolicy.connectOptions): its lookup, or a throw for a refused IP literal. */
  connectOptions<O extends { host?: string | null }>(options: O): O;
  /** The request fails when its socket is silent this long (a hung server, not a slow one). */
  idleTimeoutInMs: number;
  /** Where a 2xx body goes; other statuses' bodies are buffered (cut at 64 KiB). */
  sink: HttpBodySink;
  /** Size of the one read buffer every read of the socket lands in. */
  readBufferBytes?: number;
  /** CA certificate(s) (PEM) trusted instead of the system's (https only). */
  ca?: string;
}

/** Thrown by {@link getIntoSink} for an answer it does not stream (no Content-Length): the caller takes another path. */
export class UnsupportedResponseError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UnsupportedResponseError';
  }
}

const maxHeadBytes = 64 * 1024;
const maxErrorBodyBytes = 64 * 1024;

function parseHead(head: string): { statusCode: number; headers: IncomingHttpHeaders } | null {
  const lines = head.split('\r\n');
  const status = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? '');
  if (!status) return null;
  const headers: Record<string, string | string[]> = {};
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    const before = headers[name];
    if (before === undefined) headers[name] = value;
    else if (name === 'set-cookie') headers[name] = [before, value].flat();
    else headers[name] = `${String(before)}, ${value}`;
  }
  return { statusCode: Number(status[1]), headers };
}

/**
 * One HTTP/1.1 GET whose every socket read lands in the same buffer (net/tls `onread`): a 2xx
 * body of a known length is handed to the sink slice by slice and never allocated. Node's HTTP
 * client allocates each 64 KiB read anew, and on a server's large heap the major GCs that 1 GB
 * of garbage brings cost more than hashing it (bench/capture-fidelity/finalise-steps.ts).
 * Transport failures become a retryable {@link UploadStepError} whose message holds no URL
 * query; any HTTP status is returned; redirects are not followed. A 2xx answer without
 * Content-Length, or any chunked answer, throws {@link UnsupportedResponseError} before any byte reaches the sink.
 */
export function getIntoSink(url: string, opts: GetIntoSinkOptions): Promise<HttpResponse> {
  const target = new URL(url);
  const isHttps = target.protocol === 'https:';
  if (!isHttps && target.protocol !== 'http:')
    return Promise.reject(new TypeError(`unsupported protocol ${target.protocol}`));
  const host = target.hostname.replace(/^\[|\]$/g, '');
  const port = Number(target.port || (isHttps ? 443 : 80));
  const requestHead =
    `GET ${target.pathname}${target.search} HTTP/1.1\r\nHost: ${target.host}\r\n` +
    'User-Agent: netwatcher\r\nAccept-Encoding: identity\r\nConnection: close\r\n\r\n';
  const buffer = Buffer.allocUnsafe(opts.readBufferBytes ?? 1024 * 1024);
  return new Promise<HttpResponse>((resolve, reject) => {
    let settled = false;
    let socket: Socket | undefined;
    const fail = (error: unknown): void => {
      if (settled) return;
      settled = true;
      socket?.destroy();
      if (error instanceof UnsupportedResponseError) reject(error);
      else
        reject(
          new UploadStepError(
            'NetworkError',
            `GET ${target.origin}${target.pathname}: ${(error as Error).message}`,
            true,
            true,
            {
              cause: error,
            },
          ),
        );
    };
    const finish = (response: HttpResponse): void => {
      if (settled) return;
      settled = true;
      socket?.destroy();
      resolve(response);
    };
    let headChunks: Buffer[] = [];
    let headBytes = 0;
    let response: { statusCode: number; headers: IncomingHttpHeaders } | null = null;
    let streaming = false;
    let remaining = -1; // body bytes still to come; -1: until the connection closes (error bodies only)
    const errorBody: Buffer[] = [];
    let errorBodyBytes = 0;
    const takeBody = (bytes: Buffer): void => {
      if (!response || bytes.length === 0) return;
      const part = remaining >= 0 && bytes.length > remaining ? bytes.subarray(0, remaining) : bytes;
      if (remaining >= 0) remaining -= part.length;
      if (streaming) opts.sink.write(part);
      else if (errorBodyBytes < maxErrorBodyBytes) {
        errorBody.push(Buffer.from(part));
        errorBodyBytes += part.length;
      }
      if (remaining === 0) finish({ ...response, body: streaming ? Buffer.alloc(0) : Buffer.concat(errorBody) });
    };
    const onRead = (length: number, bytes: Uint8Array): boolean => {
      if (settled) return false;
      const data = Buffer.from(bytes.buffer, bytes.byteOffset, length);
      if (response) {
        takeBody(data);
        return true;
      }
      // The head is copied out: the read buffer is overwritten by the next read.
      headChunks.push(Buffer.from(data));
      headBytes += length;
      const head = Buffer.concat(headChunks);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) {
        if (headBytes > maxHeadBytes) fail(new Error('response head too large'));
        else headChunks = [head];
        return true;
      }
      const parsed = parseHead(head.subarray(0, end).toString('latin1'));
      if (!parsed) {
        fail(new Error('not an HTTP/1.1 response'));
        return false;
      }
      response = parsed;
      const length_ = parsed.headers['content-length'];
      const chunked = parsed.headers['transfer-encoding'] !== undefined;
      remaining = !chunked && typeof length_ === 'string' && /^\d+$/.test(length_) ? Number(length_) : -1;
      if (chunked) {
        // Node's client decodes chunked bodies; this reader does not.
        fail(new UnsupportedResponseError('a chunked answer'));
        return false;
      }
      if (parsed.statusCode >= 200 && parsed.statusCode < 300) {
        if (!opts.sink.accept(parsed.statusCode, parsed.headers)) {
          finish({ ...parsed, body: Buffer.alloc(0) });
          return false;
        }
        if (remaining < 0) {
          fail(new UnsupportedResponseError('a 2xx answer without Content-Length'));
          return false;
        }
        streaming = true;
      }
      if (remaining === 0) {
        finish({ ...parsed, body: Buffer.alloc(0) });
        return false;
      }
      takeBody(head.subarray(end + 4));
      return true;
    };
    const base = {
      host,
      port,
      onread: { buffer, callback: onRead },
      ...(isHttps && isIP(host) === 0 ? { servername: host } : {}),
      ...(isHttps && opts.ca !== undefined ? { ca: opts.ca } : {}),
    };
    try {
      const checked = opts.connectOptions(base);
      socket = isHttps ? tlsConnect(checked as TlsConnectionOptions) : netConnect(checked as NetConnectOpts);
    } catch (error) {
      fail(error);
      return;
    }
    socket.setTimeout(opts.idleTimeoutInMs, () =>
      socket?.destroy(new Error(`no activity for ${opts.idleTimeoutInMs} ms`)),
    );
    socket.once(isHttps ? 'secureConnect' : 'connect', () => socket?.write(requestHead));
    socket.on('error', fail);
    socket.on('close', () => {
      if (settled) return;
      // Bodies of unknown length (error documents) end with the connection.
      if (response && !streaming && remaining < 0) finish({ ...response, body: Buffer.concat(errorBody) });
      else
        fail(
          new Error(
            response ? 'the connection closed before the whole body came' : 'the connection closed before an answer',
          ),
        );
    });
  });
}
