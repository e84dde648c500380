import { request as httpRequest, type Agent, type IncomingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';
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
  body?: Buffer | Readable;
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
    else {
      body.on('error', (error) => req.destroy(error));
      const onBodyBytes = opts.onBodyBytes;
      if (onBodyBytes) body.on('data', (chunk: Buffer) => onBodyBytes(chunk.length));
      body.pipe(req);
    }
  });
}
