import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { Readable } from 'node:stream';
import type { FetchFunction } from './context.js';

/**
 * A fetch that trusts one extra CA (a self-signed server's), built on node:https because
 * Node 20's global fetch takes no CA option and the undici package it would need is not a
 * dependency. Covers what the CLI uses: method, headers, string body, streamed response body,
 * and redirects (GET/HEAD), dropping Authorization when a redirect changes origin, as fetch does.
 * @example const fetch = createCaFetch(await readFile('ca.pem'));
 */
export function createCaFetch(ca: string | Buffer, maxRedirects = 5): FetchFunction {
  return async function caFetch(input, init = {}) {
    let url = new URL(String(input));
    const method = (init.method ?? 'GET').toUpperCase();
    const headers = new Headers(init.headers);
    const body = init.body === undefined || init.body === null ? undefined : String(init.body);
    for (let redirects = 0; ; redirects++) {
      const response = await send(url, method, headers, body, ca);
      const location = response.headers.location;
      if (
        response.statusCode !== undefined &&
        [301, 302, 303, 307, 308].includes(response.statusCode) &&
        location &&
        (method === 'GET' || method === 'HEAD')
      ) {
        response.resume();
        if (redirects >= maxRedirects) throw new TypeError('fetch failed: too many redirects');
        const next = new URL(location, url);
        if (next.origin !== url.origin) headers.delete('authorization');
        url = next;
        continue;
      }
      return toResponse(response, url);
    }
  };
}

function send(
  url: URL,
  method: string,
  headers: Headers,
  body: string | undefined,
  ca: string | Buffer,
): Promise<IncomingMessage> {
  return new Promise((resolvePromise, reject) => {
    const outgoing: Record<string, string> = {};
    headers.forEach((value, key) => {
      outgoing[key] = value;
    });
    if (body !== undefined) outgoing['content-length'] = String(Buffer.byteLength(body));
    const options = { method, headers: outgoing };
    const req =
      url.protocol === 'https:'
        ? httpsRequest(url, { ...options, ca }, resolvePromise)
        : httpRequest(url, options, resolvePromise);
    req.on('error', (error) => reject(new TypeError('fetch failed', { cause: error })));
    req.end(body);
  });
}

function toResponse(message: IncomingMessage, url: URL): Response {
  const headers = new Headers();
  for (const [key, value] of Object.entries(message.headers)) {
    if (value === undefined) continue;
    if (Array.isArray(value)) for (const v of value) headers.append(key, v);
    else headers.set(key, value);
  }
  const status = message.statusCode ?? 500;
  // Response refuses a body for these statuses.
  const noBody = status === 204 || status === 205 || status === 304 || status < 200;
  if (noBody) message.resume();
  const body = noBody ? null : (Readable.toWeb(message) as unknown as ReadableStream<Uint8Array>);
  const response = new Response(body, { status, statusText: message.statusMessage ?? '', headers });
  Object.defineProperty(response, 'url', { value: url.toString() });
  return response;
}
