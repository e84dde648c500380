import { createRemoteJWKSet, customFetch, errors as joseErrors, jwtVerify, type JWTPayload } from 'jose';
import { ApiError } from '../lib/index.js';
import type { OutboundFetch } from '../lib/outbound-fetch.js';
import type { Principal } from './principal.js';
import { DEFAULT_OIDC_CLOCK_SKEW_IN_SECONDS, validateOidcSettings, type OidcSettings } from './oidc-settings.js';

export { DEFAULT_OIDC_CLOCK_SKEW_IN_SECONDS, validateOidcSettings, type OidcSettings };

/**
 * Single sign-on (issue 16 §3): access tokens from an external OpenID Connect provider. The
 * provider's discovery document names its JWKS; the key set is fetched and cached, and a token
 * signed with a key id not in the cache makes it fetched again (at most once per cooldown), so a
 * rotated key works at once and a removed key stops working at the next fetch. Verification is
 * jose's: signature with an allow-listed algorithm (RS256, ES256; `none` and HMAC never),
 * issuer and audience compared exactly, exp and nbf with a bounded clock skew.
 */

/** Signature algorithms accepted (asymmetric only: a shared-secret HMAC token could be forged by anyone knowing the secret). */
export const OIDC_ALGORITHMS = ['RS256', 'ES256'] as const;
/** How long the discovery document is kept. */
const DISCOVERY_MAX_AGE_IN_MS = 3600_000;
/** Least time between two discovery fetches after a failure. */
const DISCOVERY_RETRY_IN_MS = 10_000;
/** Time allowed for one fetch from the provider. */
const FETCH_TIMEOUT_IN_MS = 5000;

/** What the server reads of the discovery document. */
export interface OidcDiscovery {
  issuer: string;
  jwks_uri: string;
  authorization_endpoint?: string;
  token_endpoint?: string;
}

/** Whether a bearer token looks like a JWT (three base64url parts), and so goes to the OIDC verifier. */
export function isJwtShaped(token: string): boolean {
  return /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/.test(token);
}

/** The principal a verified token's claims name. */
export function principalOfClaims(claims: JWTPayload, groupsClaim = 'groups'): Principal {
  const text = (v: unknown) => (typeof v === 'string' && v.trim() !== '' ? v : undefined);
  const id = text(claims['oid']) ?? text(claims.sub);
  if (!id)
    throw new ApiError('AuthenticationFailed', 'Authentication failed. The token names no subject (oid or sub).');
  const rawGroups = claims[groupsClaim];
  const groups = Array.isArray(rawGroups)
    ? rawGroups.filter((g): g is string => typeof g === 'string').slice(0, 500)
    : typeof rawGroups === 'string'
      ? [rawGroups]
      : [];
  return {
    kind: 'user',
    id,
    displayName:
      text(claims['name']) ?? text(claims['preferred_username']) ?? text(claims['email']) ?? text(claims['upn']) ?? id,
    groups,
    credentialId: null,
  };
}

/** A fetch failure with its cause (the outbound policy's refusal, a refused connection), for the operator. */
function fetchFailure(error: unknown): string {
  const e = error as Error & { cause?: { message?: string } };
  return e.cause?.message ? `${e.message}: ${e.cause.message}` : e.message;
}

/** Why a token was refused, for the caller (never the token itself). */
function refusal(error: unknown): ApiError {
  let reason = 'the token could not be verified';
  if (error instanceof joseErrors.JWTExpired) reason = 'the token has expired';
  else if (error instanceof joseErrors.JWTClaimValidationFailed)
    reason = `its '${error.claim}' claim is not accepted (${error.reason})`;
  else if (error instanceof joseErrors.JOSEAlgNotAllowed)
    reason = `its signature algorithm is not accepted (accepted: ${OIDC_ALGORITHMS.join(', ')})`;
  else if (error instanceof joseErrors.JWKSNoMatchingKey)
    reason = "no key of the identity provider's key set matches its key id";
  else if (error instanceof joseErrors.JWSSignatureVerificationFailed) reason = 'its signature is not valid';
  else if (error instanceof joseErrors.JWSInvalid || error instanceof joseErrors.JWTInvalid)
    reason = 'it is not a well-formed signed JWT';
  return new ApiError(
    'AuthenticationFailed',
    `Authentication failed. The identity provider's token is refused: ${reason}.`,
  );
}

/** Verifies tokens of one OpenID Connect provider. */
export class OidcVerifier {
  readonly settings: OidcSettings;
  private discovery: { doc: OidcDiscovery; at: number } | null = null;
  private discovering: Promise<OidcDiscovery> | null = null;
  private lastDiscoveryFailure = 0;
  private jwks: ReturnType<typeof createRemoteJWKSet> | null = null;
  private jwksUri: string | null = null;

  constructor(
    settings: OidcSettings,
    private readonly fetchFn: OutboundFetch,
  ) {
    this.settings = validateOidcSettings(settings);
  }

  /** The discovery document (cached an hour); its issuer must be the configured one, exactly. */
  async discover(): Promise<OidcDiscovery> {
    if (this.discovery && Date.now() - this.discovery.at < DISCOVERY_MAX_AGE_IN_MS) return this.discovery.doc;
    if (this.discovering) return this.discovering;
    if (!this.discovery && Date.now() - this.lastDiscoveryFailure < DISCOVERY_RETRY_IN_MS) {
      throw new ApiError(
        'IdentityProviderUnavailable',
        `The identity provider ${this.settings.issuer} could not be reached a moment ago; retry shortly.`,
      );
    }
    this.discovering = (async () => {
      const url = `${this.settings.issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`;
      try {
        const res = await this.fetchFn(url, {
          method: 'GET',
          headers: { accept: 'application/json' },
          signal: AbortSignal.timeout(FETCH_TIMEOUT_IN_MS),
        });
        if (res.status !== 200) throw new Error(`HTTP ${res.status}`);
        const doc = (await res.json()) as Partial<OidcDiscovery>;
        if (doc.issuer !== this.settings.issuer)
          throw new Error(
            `its issuer is '${String(doc.issuer)}', not '${this.settings.issuer}' (they must match exactly)`,
          );
        if (typeof doc.jwks_uri !== 'string') throw new Error('it names no jwks_uri');
        const full = doc as OidcDiscovery;
        this.discovery = { doc: full, at: Date.now() };
        if (full.jwks_uri !== this.jwksUri) {
          this.jwksUri = full.jwks_uri;
          this.jwks = createRemoteJWKSet(new URL(full.jwks_uri), {
            timeoutDuration: FETCH_TIMEOUT_IN_MS,
            cooldownDuration: this.settings.jwksCooldownInMs ?? 30_000,
            cacheMaxAge: 10 * 60_000,
            // Every fetch goes through the server's outbound policy (no redirects followed).
            [customFetch]: (u: string, init: RequestInit) => this.fetchFn(u, init),
          });
        }
        return full;
      } catch (error) {
        if (this.discovery) return this.discovery.doc; // a stale document beats none while the provider is down
        this.lastDiscoveryFailure = Date.now();
        throw new ApiError(
          'IdentityProviderUnavailable',
          `The identity provider's discovery document (${url}) could not be read: ${fetchFailure(error)}.`,
          { cause: error },
        );
      } finally {
        this.discovering = null;
      }
    })();
    return this.discovering;
  }

  private async verify(token: string, audience: string): Promise<JWTPayload> {
    await this.discover();
    try {
      const { payload } = await jwtVerify(token, this.jwks!, {
        issuer: this.settings.issuer,
        audience,
        algorithms: [...OIDC_ALGORITHMS],
        clockTolerance: this.settings.clockSkewInSeconds ?? DEFAULT_OIDC_CLOCK_SKEW_IN_SECONDS,
        requiredClaims: ['exp', 'iss', 'aud'],
      });
      return payload;
    } catch (error) {
      if (error instanceof joseErrors.JWKSTimeout || (error instanceof TypeError && !(error instanceof ApiError))) {
        throw new ApiError(
          'IdentityProviderUnavailable',
          `The identity provider's key set (${this.jwksUri}) could not be fetched: ${fetchFailure(error)}.`,
          { cause: error },
        );
      }
      throw refusal(error);
    }
  }

  /** Verifies an API access token (audience: --oidc-audience); the user principal it names. */
  async verifyAccessToken(token: string): Promise<Principal> {
    return principalOfClaims(await this.verify(token, this.settings.audience), this.settings.groupsClaim);
  }

  /** Verifies an ID token of the portal's sign-in (audience: the client id) and its nonce. */
  async verifyIdToken(token: string, nonce: string): Promise<{ principal: Principal; claims: JWTPayload }> {
    if (!this.settings.clientId)
      throw new ApiError(
        'OperationNotSupported',
        'Portal sign-in through the identity provider needs --oidc-client-id.',
      );
    const claims = await this.verify(token, this.settings.clientId);
    if (claims['nonce'] !== nonce)
      throw new ApiError(
        'AuthenticationFailed',
        "Authentication failed. The ID token's nonce is not the one this sign-in sent.",
      );
    return { principal: principalOfClaims(claims, this.settings.groupsClaim), claims };
  }
}
