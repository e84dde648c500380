/**
 * The single sign-on settings and their check, apart from the verifier (src/server/oidc.ts) so
 * the CLI checks its flags without loading the JWT library.
 */

/** The operator's settings (`nw server --oidc-issuer … --oidc-audience …`). */
export interface OidcSettings {
  /** The provider's issuer URL, exactly as its tokens' `iss` say. */
  issuer: string;
  /** The `aud` API access tokens must carry (the API's application id URI or client id at the provider). */
  audience: string;
  /** The portal's client id at the provider (authorization code with PKCE); absent: no portal sign-in through the provider. */
  clientId?: string;
  /** Claim that lists the user's groups (default `groups`). */
  groupsClaim?: string;
  /** Tolerated clock difference for exp/nbf/iat (default 60 s, at most 300). */
  clockSkewInSeconds?: number;
  /** Least time between two JWKS fetches for an unknown key id (default 30 s). */
  jwksCooldownInMs?: number;
}

/** Default tolerated clock skew. */
export const DEFAULT_OIDC_CLOCK_SKEW_IN_SECONDS = 60;

/** Checks and normalises the settings; throws an Error naming the flag at fault. */
export function validateOidcSettings(s: OidcSettings): OidcSettings {
  let url: URL;
  try {
    url = new URL(s.issuer);
  } catch {
    throw new Error(`--oidc-issuer '${s.issuer}' is not a URL (e.g. https://login.example.com/realms/ops)`);
  }
  if (
    url.protocol !== 'https:' &&
    !(url.protocol === 'http:' && ['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname))
  ) {
    throw new Error(`--oidc-issuer must be an https URL (plain http only on loopback), not '${s.issuer}'`);
  }
  if (url.search || url.hash) throw new Error(`--oidc-issuer '${s.issuer}' must have no query or fragment`);
  if (!s.audience || s.audience.trim() === '') throw new Error('--oidc-audience is required with --oidc-issuer');
  const skew = s.clockSkewInSeconds ?? DEFAULT_OIDC_CLOCK_SKEW_IN_SECONDS;
  if (!Number.isFinite(skew) || skew < 0 || skew > 300)
    throw new Error(`the OIDC clock skew must be 0 to 300 seconds, not ${skew}`);
  if (s.groupsClaim !== undefined && !/^[A-Za-z0-9_:./-]{1,100}$/.test(s.groupsClaim))
    throw new Error(`--oidc-groups-claim '${s.groupsClaim}' is not a claim name`);
  return { ...s, clockSkewInSeconds: skew };
}
