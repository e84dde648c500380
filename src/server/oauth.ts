import { createHmac, timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { z } from 'zod';
import { ApiError } from '../lib/index.js';
import type { Store, TokenInfo } from '../store/index.js';
import { authenticate, bearerToken, type CredentialInfo } from './auth.js';
import { ADMIN_PRINCIPAL_ID, type Principal } from './principal.js';

/**
 * OAuth 2.0 client-credentials for Azure's own clients (as az 2.45 was measured to log in; test/az-api.test.ts):
 * `az login --service-principal` and MSAL trade a netwatcher credential at the server's
 * ADFS-style token endpoint for an access token that expires. Access tokens are signed by the
 * server (HMAC-SHA256 with a key derived from the server's persisted signing key) and carry the
 * id of the credential they came from; every request re-checks that credential in the store, so
 * rotating or revoking it invalidates its access tokens at once, before they expire.
 */

/** Prefix of access tokens minted by the token endpoint (a credential never starts with it). */
export const ACCESS_TOKEN_PREFIX = 'nwo_';

/** Lifetime of an access token (MSAL renews it before it runs out; az caches it in AZURE_CONFIG_DIR). */
export const ACCESS_TOKEN_LIFETIME_IN_SECONDS = 3600;

/**
 * Kinds of principal that may trade a credential for an access token: the admin credential and a
 * service principal's client secret, each with its own verifier, in one token format.
 */
export type PrincipalKind = 'admin' | 'servicePrincipal';

/** What an access token says about its bearer. */
export const accessTokenClaimsSchema = z.object({
  /** Format version. */
  v: z.literal(1),
  /** The principal's kind. */
  pk: z.enum(['admin', 'servicePrincipal']),
  /** Id of the credential it was traded for (api_tokens.id). */
  cid: z.string().min(1),
  /** The principal it acts for (a service principal's object id; the admin's fixed id). */
  pid: z.string().min(1).optional(),
  /** Issued at and expiry, in Unix seconds. */
  iat: z.number().int(),
  exp: z.number().int(),
});

/** Claims of an access token. */
export type AccessTokenClaims = z.infer<typeof accessTokenClaimsSchema>;

/** The credential behind an authenticated request (for an access token: the credential it was traded for). */
export type AuthenticatedCredential = Pick<CredentialInfo, 'id' | 'kind' | 'vmKey' | 'principalId'>;

/** A verified client credential: the principal and the credential's id (what access tokens bind to). */
export interface VerifiedClient {
  principalKind: PrincipalKind;
  credentialId: string;
  /** The principal's id, carried in the token (`pid`). */ principalId?: string;
}

/** Checks a client id and secret for one principal kind; null when they are not that kind's. */
export type ClientCredentialVerifier = (
  store: Store,
  clientId: string | undefined,
  clientSecret: string,
) => Promise<VerifiedClient | null>;

/**
 * The admin credential (DATA_DIR/admin-token) as a client secret. The client id is not checked:
 * there is one admin, and az insists on some `--username`.
 */
export const adminClientVerifier: ClientCredentialVerifier = async (store, _clientId, clientSecret) => {
  if (clientSecret.startsWith(ACCESS_TOKEN_PREFIX)) return null;
  const info = await store.verifyToken(clientSecret);
  return info?.kind === 'admin'
    ? { principalKind: 'admin', credentialId: info.id, principalId: ADMIN_PRINCIPAL_ID }
    : null;
};

/**
 * A service principal's client secret, with its app id as the client id (`az login
 * --service-principal -u APPID -p SECRET` sends both): the secret must be one of that app's.
 */
export const servicePrincipalClientVerifier: ClientCredentialVerifier = async (store, clientId, clientSecret) => {
  if (!clientId || clientSecret.startsWith(ACCESS_TOKEN_PREFIX)) return null;
  const info = await store.verifyToken(clientSecret);
  if (info?.kind !== 'servicePrincipal' || !info.principalId) return null;
  const sp = await store.findServicePrincipal(info.principalId);
  // The client id names the app (its app id, or its object id): a secret never logs in as another app.
  if (
    !sp ||
    (clientId.toLowerCase() !== sp.appId.toLowerCase() && clientId.toLowerCase() !== sp.objectId.toLowerCase())
  )
    return null;
  return { principalKind: 'servicePrincipal', credentialId: info.id, principalId: sp.objectId };
};

/** Verifiers tried in order by the token endpoint. */
export const CLIENT_VERIFIERS: readonly ClientCredentialVerifier[] = [
  adminClientVerifier,
  servicePrincipalClientVerifier,
];

/** The HMAC key of access tokens, derived from the server's signing key so it is never the storage URL key itself. */
export function accessTokenKey(signingKey: Buffer): Buffer {
  return createHmac('sha256', signingKey).update('netwatcher oauth access token v1').digest();
}

function sign(key: Buffer, payload: string): string {
  return createHmac('sha256', key).update(payload).digest('base64url');
}

/** Mints a signed access token for a verified client. */
export function mintAccessToken(
  key: Buffer,
  client: VerifiedClient,
  nowInMs = Date.now(),
  lifetimeInSeconds = ACCESS_TOKEN_LIFETIME_IN_SECONDS,
): { accessToken: string; claims: AccessTokenClaims } {
  const iat = Math.floor(nowInMs / 1000);
  const claims: AccessTokenClaims = {
    v: 1,
    pk: client.principalKind,
    cid: client.credentialId,
    ...(client.principalId ? { pid: client.principalId } : {}),
    iat,
    exp: iat + lifetimeInSeconds,
  };
  const payload = Buffer.from(JSON.stringify(claims)).toString('base64url');
  return { accessToken: `${ACCESS_TOKEN_PREFIX}${payload}.${sign(key, payload)}`, claims };
}

/** Checks an access token's signature and expiry; the claims, or null. Does not look at the store. */
export function readAccessToken(key: Buffer, token: string, nowInMs = Date.now()): AccessTokenClaims | null {
  if (!token.startsWith(ACCESS_TOKEN_PREFIX)) return null;
  const [payload, signature, extra] = token.slice(ACCESS_TOKEN_PREFIX.length).split('.');
  if (!payload || !signature || extra !== undefined) return null;
  const expected = Buffer.from(sign(key, payload));
  const given = Buffer.from(signature);
  if (expected.length !== given.length || !timingSafeEqual(expected, given)) return null;
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
  } catch {
    return null;
  }
  const parsed = accessTokenClaimsSchema.safeParse(json);
  if (!parsed.success || parsed.data.exp * 1000 <= nowInMs) return null;
  return parsed.data;
}

/** Verifies an access token completely: signature, expiry, and the credential it came from still valid. */
export async function verifyAccessToken(
  store: Store,
  key: Buffer,
  token: string,
): Promise<AuthenticatedCredential | null> {
  const claims = readAccessToken(key, token);
  if (!claims) return null;
  const credential = await store.tokenById(claims.cid);
  // A rotated or revoked credential is gone from the store: its access tokens die with it.
  if (!credential || credential.kind === 'enrollment' || credential.kind !== claims.pk) return null;
  // The principal the token names must still own the credential (a secret never moves between principals; this is belt and braces).
  if (
    claims.pk === 'servicePrincipal' &&
    claims.pid !== undefined &&
    claims.pid.toLowerCase() !== (credential.principalId ?? '').toLowerCase()
  )
    return null;
  return { id: credential.id, kind: credential.kind, vmKey: credential.vmKey, principalId: credential.principalId };
}

/**
 * Authenticates an API request: an access token from the token endpoint, or a netwatcher
 * credential used directly as a bearer token (as `nw` and the JS SDK do).
 */
export async function authenticateRequest(
  store: Store,
  key: Buffer,
  request: FastifyRequest,
  allowed: readonly CredentialInfo['kind'][],
): Promise<AuthenticatedCredential> {
  const token = bearerToken(request);
  if (token?.startsWith(ACCESS_TOKEN_PREFIX)) {
    const info = await verifyAccessToken(store, key, token);
    if (!info || !allowed.includes(info.kind))
      throw new ApiError(
        'AuthenticationFailed',
        'Authentication failed. The access token is invalid or expired, or its credential was revoked; log in again.',
      );
    return info;
  }
  return authenticate(store, request, allowed);
}

/** Kinds of credential that authenticate API requests (agents' credentials open only the agent channel). */
export const API_CREDENTIAL_KINDS: readonly CredentialInfo['kind'][] = ['admin', 'servicePrincipal'];

/**
 * The principal an authenticated credential acts for: the admin, or the service principal whose
 * secret it is (401 when that principal is gone). The one place a credential becomes a Principal.
 */
export async function principalOfCredential(store: Store, credential: AuthenticatedCredential): Promise<Principal> {
  if (credential.kind === 'admin')
    return { kind: 'admin', id: ADMIN_PRINCIPAL_ID, displayName: 'admin', groups: [], credentialId: credential.id };
  if (credential.kind === 'servicePrincipal' && credential.principalId) {
    const sp = await store.findServicePrincipal(credential.principalId);
    if (sp)
      return {
        kind: 'servicePrincipal',
        id: sp.objectId,
        displayName: sp.displayName,
        groups: [],
        credentialId: credential.id,
      };
  }
  throw new ApiError(
    'AuthenticationFailed',
    'Authentication failed. The credential does not belong to a principal of the API.',
  );
}

/** Authenticates an API request (access token or credential) and answers who it acts for. */
export async function authenticatePrincipal(store: Store, key: Buffer, request: FastifyRequest): Promise<Principal> {
  return principalOfCredential(store, await authenticateRequest(store, key, request, API_CREDENTIAL_KINDS));
}

/** The closed set of OAuth errors the token endpoint answers (RFC 6749 §5.2), with their status. */
export const OAUTH_ERRORS = { invalid_request: 400, unsupported_grant_type: 400, invalid_client: 401 } as const;

/** An OAuth error answer. */
export class OAuthError extends Error {
  readonly statusCode: number;
  constructor(
    readonly code: keyof typeof OAUTH_ERRORS,
    message: string,
  ) {
    super(message);
    this.name = 'OAuthError';
    this.statusCode = OAUTH_ERRORS[code];
  }
  /** The body OAuth clients read: az prints `error_description`. */
  toBody(): { error: string; error_description: string } {
    return { error: this.code, error_description: this.message };
  }
}

/** The token request as MSAL sends it (form fields; scope, claims and client_info are read by nobody here). */
export const tokenRequestSchema = z
  .object({
    grant_type: z.string(),
    client_id: z.string().max(256).optional(),
    client_secret: z.string().max(4096).optional(),
    scope: z.string().max(4096).optional(),
  })
  .loose();

/** The successful token answer. */
export interface TokenAnswer {
  token_type: 'Bearer';
  access_token: string;
  expires_in: number;
  ext_expires_in: number;
}

/** The client-credentials grant: checks the credential and mints an access token bound to it. */
export async function exchangeClientCredentials(store: Store, key: Buffer, form: unknown): Promise<TokenAnswer> {
  const parsed = tokenRequestSchema.safeParse(form);
  if (!parsed.success)
    throw new OAuthError(
      'invalid_request',
      `The token request is malformed: ${parsed.error.issues[0]?.message ?? 'invalid'}. Send a form-encoded client_credentials request.`,
    );
  const request = parsed.data;
  if (request.grant_type !== 'client_credentials')
    throw new OAuthError(
      'unsupported_grant_type',
      `Grant type '${request.grant_type}' is not supported; netwatcher accepts client_credentials.`,
    );
  if (!request.client_secret)
    throw new OAuthError(
      'invalid_request',
      'client_secret is missing: pass the netwatcher credential as the service principal password.',
    );
  for (const verify of CLIENT_VERIFIERS) {
    const client = await verify(store, request.client_id, request.client_secret);
    if (client) {
      const { accessToken } = mintAccessToken(key, client);
      return {
        token_type: 'Bearer',
        access_token: accessToken,
        expires_in: ACCESS_TOKEN_LIFETIME_IN_SECONDS,
        ext_expires_in: ACCESS_TOKEN_LIFETIME_IN_SECONDS,
      };
    }
  }
  throw new OAuthError(
    'invalid_client',
    "The client secret is not a valid netwatcher credential for this client id (a service principal's app id and secret, or the admin token in DATA_DIR/admin-token).",
  );
}
