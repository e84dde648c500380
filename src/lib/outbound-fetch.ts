import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { OutboundPolicy } from './outbound-policy.js';

/** The fetch shape outbound deliveries use (a subset of the global fetch's). */
export type OutboundFetch = (url: string, init: RequestInit) => Promise<Response>;

// Answers of receivers are read only to free the socket: beyond this they are cut.
const MAX_RESPONSE_BYTES = 64 * 1024;
const NULL_BODY_STATUSES = new Set([101, 103, 204, 205, 304]);

function toHeaders(headers: IncomingHttpHeaders): Headers {
  const h = new Headers();
  for (const [k, v] of Object.entries(headers)) {
    if (v === undefined) continue;
    for (const one of [v].flat()) {
      try {
        h.append(k, one);
      } catch {
        /* a header fetch cannot hold: dropped */
      }
    }
  }
  return h;
}

/**
 * A fetch whose connections go through the outbound policy's agents, so the address checked is
 * the one connected to (Node's global fetch takes no agent or lookup). Redirects are never
 * followed (a receiver must not bounce the server elsewhere); the body sent is a string.
 * @example const res = await outboundFetch(policy)('http://hooks.example/a', { method: 'POST', body: '{}' });
 */
export function outboundFetch(policy: OutboundPolicy): OutboundFetch {
  const httpAgent = policy.httpAgent({ keepAlive: false });
  const httpsAgent = policy.httpsAgent({ keepAlive: false });
  return (url, init) =>
    new Promise<Response>((resolve, reject) => {
      let target: URL;
      try {
        target = new URL(url);
      } catch (error) {
        reject(new TypeError('invalid URL', { cause: error }));
        return;
      }
      const isHttps = target.protocol === 'https:';
      if (!isHttps && target.protocol !== 'http:') {
        reject(new TypeError(`unsupported protocol ${target.protocol}`));
        return;
      }
      const headers: Record<string, string> = {};
      new Headers(init.headers).forEach((v, k) => {
        headers[k] = v;
      });
      const body = init.body === undefined || init.body === null ? undefined : String(init.body as string);
      if (body !== undefined) headers['content-length'] = String(Buffer.byteLength(body));
      const send = isHttps ? httpsRequest : httpRequest;
      const req = send(
        target,
        {
          method: init.method ?? 'GET',
          headers,
          agent: isHttps ? httpsAgent : httpAgent,
          signal: init.signal ?? undefined,
        },
        (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (chunk: Buffer) => {
            if (size < MAX_RESPONSE_BYTES) chunks.push(chunk);
            size += chunk.length;
          });
          res.on('end', () => {
            const status = res.statusCode ?? 0;
            try {
              resolve(
                new Response(NULL_BODY_STATUSES.has(status) ? null : Buffer.concat(chunks), {
                  status,
                  headers: toHeaders(res.headers),
                }),
              );
            } catch (error) {
              reject(new TypeError(`unusable answer (HTTP ${status})`, { cause: error }));
            }
          });
          res.on('error', (error) => reject(new TypeError('fetch failed', { cause: error })));
        },
      );
      req.on('error', (error) =>
        reject(
          error.name === 'AbortError' && init.signal?.aborted
            ? init.signal.reason
            : new TypeError('fetch failed', { cause: error }),
        ),
      );
      req.end(body);
    });
}
