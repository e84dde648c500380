import type { FastifyRequest } from 'fastify';
import { ApiError } from '../lib/index.js';

/**
 * The base URL a client used to reach this server, from the request's Host (and forwarded
 * protocol). ARM clients follow absolute polling URLs verbatim, so they must point back at the
 * server the client actually talks to, never at a hard-coded host.
 */
export function requestBaseUrl(request: FastifyRequest): string {
  const forwardedProto = request.headers['x-forwarded-proto'];
  const proto = typeof forwardedProto === 'string' ? forwardedProto.split(',')[0]!.trim() : request.protocol;
  const host = request.headers.host ?? `${request.hostname}`;
  return `${proto}://${host}`;
}

/** The api-version the client sent (any is accepted); echoed in URLs the server builds. */
export function apiVersionOf(request: FastifyRequest): string {
  const q = request.query as Record<string, unknown> | undefined;
  const v = q?.['api-version'];
  return typeof v === 'string' && v.length > 0 ? v : '2022-01-01';
}

/** What paging needs of a record: its creation time and key (the order of a list). */
interface PageableRecord { key: string; createdAt: Date }

/**
 * One page of a list, as ARM pages: `$skiptoken` in, an absolute `nextLink` out (built from the
 * request's Host, with the request's api-version and other query parameters), absent on the last
 * page. The token is the position after the last record returned (creation time and key), so
 * records added or removed between pages neither repeat nor shift the rest. Only for lists whose
 * SDK follows nextLink: Azure's SDK reads one page of watchers, captures and extensions.
 */
export function pageOf<R extends PageableRecord>(request: FastifyRequest, records: R[], pageSizeInItems: number): { page: R[]; nextLink?: string } {
  // Sorted here by what the token holds (the database's order has sub-millisecond times).
  const sorted = [...records].sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime() || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  const token = (request.query as Record<string, unknown> | undefined)?.['$skiptoken'];
  let start = 0;
  if (typeof token === 'string' && token.length > 0) {
    const [at, key] = Buffer.from(token, 'base64url').toString('utf8').split('|');
    const after = Date.parse(at ?? '');
    if (!key || Number.isNaN(after)) throw new ApiError('InvalidParameter', `$skiptoken '${token}' is not a token from a nextLink of this list.`, { target: '$skiptoken' });
    start = sorted.findIndex((r) => r.createdAt.getTime() > after || (r.createdAt.getTime() === after && r.key > key));
    if (start < 0) start = sorted.length;
  }
  const page = sorted.slice(start, start + pageSizeInItems);
  if (start + pageSizeInItems >= sorted.length) return { page };
  const last = page[page.length - 1]!;
  const next = new URL(request.url, requestBaseUrl(request));
  next.searchParams.set('$skiptoken', Buffer.from(`${last.createdAt.toISOString()}|${last.key}`).toString('base64url'));
  next.searchParams.set('api-version', apiVersionOf(request));
  return { page, nextLink: next.toString() };
}
