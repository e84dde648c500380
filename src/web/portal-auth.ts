import type { FastifyRequest } from 'fastify';
import { ApiError } from '../lib/index.js';
import { parseCookies, sessionCookieName } from './cookies.js';
import { secretsEqual, type PortalSession, type SessionStore } from './sessions.js';

/** Header in which the portal sends its CSRF token with every change. */
export const CSRF_HEADER = 'x-nw-csrf-token';

/** Methods that change nothing, and so need no CSRF token. */
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** The session id the request's cookie carries, or null. */
export function sessionIdOf(request: FastifyRequest, secure: boolean): string | null {
  const header = request.headers.cookie;
  return parseCookies(typeof header === 'string' ? header : undefined).get(sessionCookieName(secure)) ?? null;
}

/**
 * A change from a browser must come from this origin: `Origin` (sent by browsers on every
 * non-GET fetch) naming another host is refused even with a valid token (defence in depth on
 * top of SameSite=Strict and the CSRF token).
 */
export function fromSameOrigin(request: FastifyRequest): boolean {
  const origin = request.headers.origin;
  if (typeof origin !== 'string' || origin === '') return true;
  if (origin === 'null') return false;
  try {
    return new URL(origin).host.toLowerCase() === String(request.headers.host ?? '').toLowerCase();
  } catch {
    return false;
  }
}

/**
 * Authenticates a request by its portal session cookie: 401 when the session is unknown or over;
 * for a change (any method but GET/HEAD/OPTIONS), 403 unless it carries the session's CSRF token
 * in `x-nw-csrf-token` and comes from this origin. Requests with a bearer token never get here.
 */
export async function authenticateSession(
  sessions: SessionStore,
  request: FastifyRequest,
  secure: boolean,
): Promise<PortalSession> {
  const id = sessionIdOf(request, secure);
  const session = id ? await sessions.get(id) : null;
  if (!session)
    throw new ApiError(
      'AuthenticationFailed',
      'Authentication failed. The portal session is missing, has expired or was signed out; sign in again.',
    );
  if (!SAFE_METHODS.has(request.method.toUpperCase())) {
    const given = request.headers[CSRF_HEADER];
    if (typeof given !== 'string' || !secretsEqual(given, session.csrfToken)) {
      throw new ApiError(
        'Forbidden',
        `A change made with a portal session must carry the session's CSRF token in the ${CSRF_HEADER} header.`,
      );
    }
    if (!fromSameOrigin(request))
      throw new ApiError('Forbidden', "A change made with a portal session must come from the portal's own origin.");
  }
  return session;
}
