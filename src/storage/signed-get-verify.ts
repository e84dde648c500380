// The server's check that an uploaded blob is the agent's file: one signed GET (a read SAS for
// Azure, a presigned GetObject for S3) through the project's HTTP client, every socket read
// landing in one reused buffer and hashed there (getIntoSink). The SDKs' download streams, like
// Node's HTTP client, allocate each 64 KiB read anew: on the server's heap the major GCs of 1 GB
// of garbage cost more than SHA-256 itself (bench/capture-fidelity/finalise-steps.ts).
import { createHash } from 'node:crypto';
import type { Agent } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { StorageServiceError, UNREACHABLE_STORAGE } from './errors.js';
import { sameSha256 } from './hash.js';
import {
  UnsupportedResponseError,
  getIntoSink,
  sendHttpRequest,
  type HttpBodySink,
  type HttpResponse,
} from './http-client.js';
import { UploadStepError } from './upload-retry.js';

/** How {@link verifyBySignedGet} reaches one store. */
export interface SignedGetVerifyOptions {
  /** Start of the error messages, e.g. `azure blob download`. */
  what: string;
  /** The outbound policy's check of a connection (OutboundPolicy.connectOptions). */
  connectOptions<O extends { host?: string | null }>(options: O): O;
  /** The outbound policy's agent for the URL's protocol (an answer without Content-Length goes through Node's client). */
  agentFor(protocol: string): Agent;
  /** The service's error code in a non-2xx answer (a header, an XML document), if any. */
  errorCodeOf(response: HttpResponse): string | undefined;
  /** Silence on the socket this long fails the try (a hung endpoint, not a slow one). */
  idleTimeoutInMs?: number;
}

// As the SDK pipelines were set for the server's calls: three tries, 200 ms then 400 ms apart —
// a blip is absorbed, an outage shows at once (the agent has its own retry loop).
const maxTries = 3;
const firstRetryDelayInMs = 200;
const retryableStatuses = new Set([408, 429, 500, 502, 503, 504]);

type TryOutcome = { kind: 'done'; matches: boolean } | { kind: 'retry'; error: StorageServiceError };

async function tryOnce(
  signedUrl: string,
  expected: { sizeInBytes: number; sha256: string },
  opts: SignedGetVerifyOptions,
): Promise<TryOutcome> {
  const hash = createHash('sha256');
  let sizeInBytes = 0;
  let sizeMismatch = false;
  const sink: HttpBodySink = {
    accept(_status, headers) {
      const length = headers['content-length'];
      // A blob of another size is refused without reading it.
      if (length !== undefined && Number(length) !== expected.sizeInBytes) sizeMismatch = true;
      return !sizeMismatch;
    },
    write(chunk) {
      hash.update(chunk);
      sizeInBytes += chunk.length;
    },
  };
  const idleTimeoutInMs = opts.idleTimeoutInMs ?? 30_000;
  let response: HttpResponse;
  try {
    try {
      response = await getIntoSink(signedUrl, { connectOptions: opts.connectOptions, idleTimeoutInMs, sink });
    } catch (error) {
      if (!(error instanceof UnsupportedResponseError)) throw error;
      // A chunked answer (no Content-Length): Node's client decodes it; nothing was hashed yet.
      response = await sendHttpRequest(signedUrl, {
        method: 'GET',
        agent: opts.agentFor(new URL(signedUrl).protocol),
        idleTimeoutInMs,
        signal: new AbortController().signal,
        maxResponseBytes: 64 * 1024,
        bodySink: sink,
      });
    }
  } catch (error) {
    // No complete answer (refused, reset, idle, the outbound policy): one message whatever the
    // socket said (UNREACHABLE_STORAGE); the cause is the client's error, whose text holds no query.
    if (error instanceof UploadStepError)
      return {
        kind: 'retry',
        error: new StorageServiceError(`${opts.what} failed: ${UNREACHABLE_STORAGE}`, { cause: error }),
      };
    throw error;
  }
  const status = response.statusCode;
  if (status === 404) return { kind: 'done', matches: false };
  if (status < 200 || status >= 300) {
    const error = new StorageServiceError(`${opts.what} failed: ${status} ${opts.errorCodeOf(response) ?? ''}`.trim());
    if (retryableStatuses.has(status)) return { kind: 'retry', error };
    throw error;
  }
  if (sizeMismatch) return { kind: 'done', matches: false };
  const matches = sizeInBytes === expected.sizeInBytes && sameSha256(hash.digest('hex'), expected.sha256);
  return { kind: 'done', matches };
}

/**
 * True only if the blob behind `signedUrl` exists with exactly this size and SHA-256 (hex);
 * false if it is missing or differs. Throws {@link StorageServiceError} (never holding the URL's
 * query) when the store cannot be reached or answers an error, after three tries.
 * @example await verifyBySignedGet(sasUrl, { sizeInBytes: 10, sha256: '…' }, azureOptions)
 */
export async function verifyBySignedGet(
  signedUrl: string,
  expected: { sizeInBytes: number; sha256: string },
  opts: SignedGetVerifyOptions,
): Promise<boolean> {
  let lastError: StorageServiceError | undefined;
  for (let attempt = 1; attempt <= maxTries; attempt++) {
    if (attempt > 1) await sleep(firstRetryDelayInMs * 2 ** (attempt - 2));
    const outcome = await tryOnce(signedUrl, expected, opts);
    if (outcome.kind === 'done') return outcome.matches;
    lastError = outcome.error;
  }
  throw lastError!;
}
