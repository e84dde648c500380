import type { IncomingHttpHeaders } from 'node:http';
import type { FastifyRequest } from 'fastify';
import { ApiError } from '../lib/index.js';
import type { Store } from '../store/index.js';
import { verifyCredential, type CredentialInfo } from './credentials.js';

/** Reads `Authorization: Bearer …` of a request (a Fastify one or a bare WebSocket upgrade); null when absent or malformed. */
export function bearerToken(
  request: Pick<FastifyRequest, 'headers'> | { headers: IncomingHttpHeaders },
): string | null {
  const header = request.headers.authorization;
  if (typeof header !== 'string') return null;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return m ? m[1]! : null;
}

/** Checks the request's bearer token; throws 401 AuthenticationFailed when missing or wrong. */
export async function authenticate(
  store: Store,
  request: FastifyRequest,
  allowed: readonly CredentialInfo['kind'][],
): Promise<CredentialInfo> {
  const token = bearerToken(request);
  if (!token)
    throw new ApiError(
      'AuthenticationFailed',
      'Authentication failed. The Authorization header is missing or is not a Bearer token.',
    );
  const info = await verifyCredential(store, token);
  if (!info || !allowed.includes(info.kind))
    throw new ApiError('AuthenticationFailed', 'Authentication failed. The access token is invalid or expired.');
  return info;
}

export { verifyCredential, tokenKindOfPrefix, type CredentialInfo } from './credentials.js';
