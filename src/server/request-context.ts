import type { FastifyRequest } from 'fastify';

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
