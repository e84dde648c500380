import type { FastifyInstance } from 'fastify';
import { ApiError } from '../../lib/index.js';
import { accessTokenKey, OAuthError } from '../oauth.js';
import { requestBaseUrl } from '../request-context.js';
import type { ServerContext } from '../services/context.js';
import { issueAccessToken } from '../services/tokens.js';
import { SUB, type ArmParams } from './arm-paths.js';

/** Cloud metadata, read by `az cloud register` (public). */
export const METADATA_ENDPOINTS_PATH = '/metadata/endpoints';
/** The ADFS-style authority az and MSAL log in at (`authentication.loginEndpoint`). */
export const AUTHORITY_PATH = '/adfs';
/** OpenID discovery document of the authority (public). */
export const OPENID_CONFIGURATION_PATH = `${AUTHORITY_PATH}/.well-known/openid-configuration`;
/** The token endpoint (public; the client secret is the proof). */
export const TOKEN_PATH = `${AUTHORITY_PATH}/oauth2/token`;

/** Paths of this file that need no bearer token (lower case, duplicate slashes collapsed). */
export function isIdentityPublicPath(path: string): boolean {
  return path === METADATA_ENDPOINTS_PATH || path === OPENID_CONFIGURATION_PATH || path === TOKEN_PATH;
}

/** The subscription object of ARM's Subscriptions_List, as az reads it at login. */
function subscriptionView(sub: string): Record<string, unknown> {
  return {
    id: `/subscriptions/${sub}`,
    subscriptionId: sub,
    tenantId: sub,
    displayName: 'netwatcher',
    state: 'Enabled',
    managedByTenants: [],
    subscriptionPolicies: { locationPlacementId: 'Public_2014-09-01', quotaId: 'netwatcher', spendingLimit: 'Off' },
    authorizationSource: 'RoleBased',
  };
}

/**
 * Discovery and login for Azure's own clients (as az 2.45 was measured to need them; test/az-api.test.ts):
 * cloud metadata, an ADFS-style OpenID authority with a client-credentials token endpoint,
 * and the subscription list az reads after login.
 */
export function registerIdentityRoutes(app: FastifyInstance, ctx: ServerContext): void {
  const key = accessTokenKey(ctx.signingKey);

  app.get(METADATA_ENDPOINTS_PATH, async (req) => {
    const base = requestBaseUrl(req);
    // az reads loginEndpoint, audiences[0] (the token audience), graphEndpoint and galleryEndpoint.
    return {
      // microsoftGraphResourceId: az 2.45 calls Microsoft Graph there (role assignments resolve --assignee).
      galleryEndpoint: `${base}/`,
      graphEndpoint: `${base}/`,
      portalEndpoint: `${base}/`,
      microsoftGraphResourceId: `${base}/`,
      authentication: {
        loginEndpoint: `${base}${AUTHORITY_PATH}`,
        audiences: [`${base}/`],
        tenant: 'adfs',
        identityProvider: 'ADFS',
      },
      name: 'netwatcher',
      suffixes: {},
    };
  });

  app.get(OPENID_CONFIGURATION_PATH, async (req) => {
    const base = `${requestBaseUrl(req)}${AUTHORITY_PATH}`;
    // MSAL raises without authorization_endpoint and token_endpoint, and takes the tenant from
    // the token endpoint's first path segment ("adfs").
    return {
      issuer: base,
      authorization_endpoint: `${base}/oauth2/authorize`,
      token_endpoint: `${base}/oauth2/token`,
      token_endpoint_auth_methods_supported: ['client_secret_post'],
      grant_types_supported: ['client_credentials'],
      response_types_supported: ['token'],
      scopes_supported: ['openid'],
      subject_types_supported: ['public'],
    };
  });

  // The token endpoint reads OAuth's form encoding, in a scope of its own.
  const NOT_FORM_ENCODED = Symbol('not form-encoded');
  void app.register(async (tokenScope) => {
    tokenScope.removeAllContentTypeParsers();
    tokenScope.addContentTypeParser(
      'application/x-www-form-urlencoded',
      { parseAs: 'string', bodyLimit: 64 * 1024 },
      (_req, body, done) => {
        done(null, Object.fromEntries(new URLSearchParams(String(body))));
      },
    );
    // Any other body is no token request: OAuth's invalid_request, not the API's 415 (RFC 6749 §4.4.2).
    tokenScope.addContentTypeParser('*', { parseAs: 'string', bodyLimit: 64 * 1024 }, (_req, _body, done) =>
      done(null, NOT_FORM_ENCODED),
    );
    tokenScope.post(TOKEN_PATH, async (req, reply) => {
      try {
        if (req.body === NOT_FORM_ENCODED)
          throw new OAuthError(
            'invalid_request',
            'The token request must be form-encoded (Content-Type: application/x-www-form-urlencoded).',
          );
        const answer = await issueAccessToken(ctx, key, req.body ?? {});
        return await reply.code(200).header('Cache-Control', 'no-store').header('Pragma', 'no-cache').send(answer);
      } catch (error) {
        if (!(error instanceof OAuthError)) throw error;
        return reply.code(error.statusCode).header('Cache-Control', 'no-store').send(error.toBody());
      }
    });
  });

  app.get('/subscriptions', async () => ({ value: [subscriptionView(ctx.config.subscriptionId)] }));
  app.get<{ Params: ArmParams }>(SUB, async (req) => {
    if (req.params.sub.toLowerCase() !== ctx.config.subscriptionId.toLowerCase())
      throw new ApiError(
        'NotFound',
        `Subscription '${req.params.sub}' is not served here; this server's subscription is '${ctx.config.subscriptionId}'.`,
        { target: 'subscriptionId' },
      );
    return subscriptionView(ctx.config.subscriptionId);
  });
}
