import type { IncomingHttpHeaders, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { hostname } from 'node:os';
import type { FastifyRequest } from 'fastify';
import { ApiError } from '../lib/index.js';
import { DEFAULT_API_VERSION } from '../model/index.js';

/**
 * How the server names itself in the absolute URLs it builds. Request headers are the client's
 * to choose, so they shape URLs only when the operator says so:
 * - links answered to the requester (operation links, nextLink, storagePath, agents' upload
 *   URLs): with `trustProxy`, X-Forwarded-Proto/-Host (first hop) or Host; otherwise
 *   `publicUrl`; otherwise the server's own address (see baseUrlOf);
 * - what is handed to other hosts (install commands): `publicUrl` first (see handoffBaseUrlOf).
 */
export interface BaseUrlPolicy {
  /** `--public-url`: every URL starts with it. */
  publicUrl?: string | undefined;
  /** `--trust-proxy`: a proxy in front sets X-Forwarded-* and Host. */
  trustProxy?: boolean | undefined;
  /** Whether the server itself serves https. */
  tls: boolean;
  /** The address it listens on. */
  listenHost: string;
  /** The port actually bound (known once it listens). */
  port(): number;
}

declare module 'fastify' {
  interface FastifyInstance {
    /** How this app names itself in URLs (ServerContext.urlPolicy; buildApp decorates the app with it). */
    baseUrlPolicy: BaseUrlPolicy;
  }
}

/** The port of a listening server (0 before it listens). */
export function boundPort(server: Server): number {
  const address = server.address() as AddressInfo | string | null;
  return address && typeof address === 'object' ? address.port : 0;
}

// A host name, IPv4 address or bracketed IPv6 address, with an optional port: nothing a URL or a
// shell could read as more than a host.
const HOST_HEADER =
  /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?)*|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?$/;
const LOOPBACK_NAME = /^(?:localhost|127(?:\.[0-9]{1,3}){3}|\[::1\])$/i;

function firstValue(value: string | string[] | undefined): string | undefined {
  const text = Array.isArray(value) ? value[0] : value;
  return text?.split(',')[0]?.trim() || undefined;
}

function withoutTrailingSlash(url: string): string {
  return url.replace(/\/+$/, '');
}

/** The server's own base URL: its listen address, or the host name for a wildcard address. */
export function ownBaseUrl(policy: BaseUrlPolicy): string {
  const wildcard = policy.listenHost === '0.0.0.0' || policy.listenHost === '::' || policy.listenHost === '';
  const host = wildcard
    ? hostname()
    : policy.listenHost.includes(':')
      ? `[${policy.listenHost.replace(/^\[|\]$/g, '')}]`
      : policy.listenHost;
  return `${policy.tls ? 'https' : 'http'}://${host}:${policy.port()}`;
}

/**
 * The base URL under a policy for a request with these headers. Without --trust-proxy the only
 * Host kept is a loopback name at the server's own port (a local client — `nw up`'s CLI config
 * names 127.0.0.1 — gets links it can follow with its token, and a certificate check that
 * expects that name; such a Host cannot point anywhere else); then --public-url, then the
 * server's own address.
 * @example baseUrlOf({ host: 'evil.example' }, false, { tls: false, listenHost: '127.0.0.1', port: () => 8817 }) // 'http://127.0.0.1:8817'
 */
export function baseUrlOf(headers: IncomingHttpHeaders, encrypted: boolean, policy: BaseUrlPolicy): string {
  const ownProto = policy.tls ? 'https' : 'http';
  if (policy.trustProxy) {
    const proto = firstValue(headers['x-forwarded-proto'])?.toLowerCase();
    const host = firstValue(headers['x-forwarded-host']) ?? firstValue(headers.host);
    if (host && HOST_HEADER.test(host))
      return `${proto === 'http' || proto === 'https' ? proto : encrypted ? 'https' : 'http'}://${host}`;
  }
  const host = firstValue(headers.host);
  if (host && HOST_HEADER.test(host)) {
    const colon = host.lastIndexOf(':');
    const name = colon > host.lastIndexOf(']') ? host.slice(0, colon) : host;
    const port = colon > host.lastIndexOf(']') ? Number(host.slice(colon + 1)) : policy.tls ? 443 : 80;
    if (LOOPBACK_NAME.test(name) && port === policy.port()) return `${ownProto}://${host}`;
  }
  if (policy.publicUrl) return withoutTrailingSlash(policy.publicUrl);
  return ownBaseUrl(policy);
}

/** The base URL handed to other hosts (install commands): `publicUrl` first, else as baseUrlOf. */
export function handoffBaseUrlOf(headers: IncomingHttpHeaders, encrypted: boolean, policy: BaseUrlPolicy): string {
  return policy.publicUrl ? withoutTrailingSlash(policy.publicUrl) : baseUrlOf(headers, encrypted, policy);
}

function policyOf(request: FastifyRequest): BaseUrlPolicy {
  return request.server.baseUrlPolicy;
}

/** The base URL for what a request hands to other hosts (install commands); see BaseUrlPolicy. */
export function requestHandoffBaseUrl(request: FastifyRequest): string {
  return handoffBaseUrlOf(request.headers, request.protocol === 'https', policyOf(request));
}

/**
 * The base URL of this server for a request (see BaseUrlPolicy). ARM clients follow absolute
 * polling URLs verbatim, so they must point back at a server the client can reach, never at a
 * host a request header chose without the operator's say-so.
 */
export function requestBaseUrl(request: FastifyRequest): string {
  return baseUrlOf(request.headers, request.protocol === 'https', policyOf(request));
}

/** The api-version the client sent (any is accepted); echoed in URLs the server builds. */
export function apiVersionOf(request: FastifyRequest): string {
  const q = request.query as Record<string, unknown> | undefined;
  const v = q?.['api-version'];
  return typeof v === 'string' && v.length > 0 ? v : DEFAULT_API_VERSION;
}

/** What paging needs of a record: its creation time and key (the order of a list). */
interface PageableRecord {
  key: string;
  createdAt: Date;
}

/** Where a page starts: after the record of the request's `$skiptoken` (null: from the first). 400 InvalidParameter for a token no nextLink made. */
export function pagePosition(request: FastifyRequest): { createdAtInMs: number; key: string } | null {
  const token = (request.query as Record<string, unknown> | undefined)?.['$skiptoken'];
  if (typeof token !== 'string' || token.length === 0) return null;
  const [at, key] = Buffer.from(token, 'base64url').toString('utf8').split('|');
  const after = Date.parse(at ?? '');
  if (!key || Number.isNaN(after))
    throw new ApiError('InvalidParameter', `$skiptoken '${token}' is not a token from a nextLink of this list.`, {
      target: '$skiptoken',
    });
  return { createdAtInMs: after, key };
}

/**
 * A page from `records`, the records from the page's position in list order, of which at most
 * `pageSizeInItems + 1` are needed (one more than a page says whether there is a next one): the
 * database can then read just a page ({@link pagePosition}) instead of the whole list.
 */
export function pageLink<R extends PageableRecord>(
  request: FastifyRequest,
  records: R[],
  pageSizeInItems: number,
): { page: R[]; nextLink?: string } {
  const page = records.slice(0, pageSizeInItems);
  if (records.length <= pageSizeInItems) return { page };
  const last = page[page.length - 1]!;
  const next = new URL(request.url, requestBaseUrl(request));
  next.searchParams.set('$skiptoken', Buffer.from(`${last.createdAt.toISOString()}|${last.key}`).toString('base64url'));
  next.searchParams.set('api-version', apiVersionOf(request));
  return { page, nextLink: next.toString() };
}
