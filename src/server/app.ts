import { createHmac, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import Fastify, { type FastifyError, type FastifyInstance, type FastifyReply } from 'fastify';
import { ApiError, OutboundPolicy } from '../lib/index.js';
import { outboundFetch } from '../lib/outbound-fetch.js';
import { registerLocalStorageRoutes } from '../storage/index.js';
import { authenticateSession, isPortalPath, sessionIdOf, registerPortalRoutes, SessionStore } from '../web/index.js';
import { AGENT_CA_PATH, AGENT_ENROLL_PATH, AGENT_JOIN_PATH, parseJsonBody } from '../model/index.js';
import { authenticate, bearerToken } from './auth.js';
import { assertCleanUrl, assertRouteNames } from './input-guard.js';
import { accessTokenKey, authenticatePrincipal } from './oauth.js';
import { principalOfSession } from './session-principal.js';
import { isIdentityPublicPath, registerIdentityRoutes } from './routes/identity.js';
import { retryAfterFor } from './retry-after.js';
import type { ServerContext } from './services/context.js';
import { registerAgentRoutes } from './routes/agents.js';
import { registerScaleSetRoutes } from './routes/scale-sets.js';
import { buildOpenApiDocument, OPENAPI_PATH, routeAuthorization } from './openapi.js';
import { authorizationFailed, authorizeRoute, BLOB_READ_DATA_ACTION, isAuthorized } from './rbac/index.js';
import { requestBaseUrl } from './request-context.js';
import { registerOperationRoutes } from './routes/operations.js';
import { registerPacketCaptureRoutes } from './routes/packet-captures.js';
import { registerAnalysisRoutes } from './routes/analysis.js';
import { storageAccountsNamed } from './services/storage-accounts.js';
import { registerStorageAccountRoutes } from './routes/storage-accounts.js';
import { registerVmRoutes } from './routes/vms.js';
import { registerExtensionImageRoutes } from './routes/extension-images.js';
import { registerWatcherRoutes } from './routes/watchers.js';
import {
  isAlertCaptureTriggerPath,
  registerAlertCaptureRoutes,
  registerAlertCaptureTrigger,
} from './routes/alert-capture.js';
import { registerAlertRoutes } from './routes/alerts.js';
import { registerMetricRoutes } from './routes/metrics.js';
import { registerCredentialRoutes } from './routes/credentials.js';
import { registerAuthorizationRoutes } from './routes/authorization.js';
import { registerServicePrincipalRoutes } from './routes/service-principals.js';
import { registerActivityLogRoutes } from './routes/activity-log.js';
import { registerActivityLogHooks } from './activity-log.js';
import { isJwtShaped } from './oidc.js';

/** Largest JSON body accepted (ARM's own limit is 4 MiB; ours are small). */
const MAX_JSON_BODY_BYTES = 1024 * 1024;

/** Routes that carry their own proof instead of a bearer token. */
function isPublicPath(path: string): boolean {
  // The router ignores duplicate slashes (az asks for `//metadata/endpoints`), so this check does too.
  const p = path.toLowerCase().replace(/\/{2,}/g, '/');
  return (
    isIdentityPublicPath(p) ||
    p === '/healthz' ||
    p === AGENT_ENROLL_PATH ||
    p === AGENT_JOIN_PATH ||
    p === AGENT_CA_PATH ||
    p === OPENAPI_PATH ||
    p.startsWith('/storage/') ||
    isAlertCaptureTriggerPath(p)
  );
}

/**
 * Builds the HTTP app: ARM routes (bearer-authenticated, case-insensitive paths, ARM error bodies
 * and request-id headers), agent enrolment, and the local storage endpoints (signed URLs).
 */
export function buildApp(ctx: ServerContext): FastifyInstance {
  const tls = ctx.config.tls;
  const app = Fastify({
    logger: false,
    // Names go up to 260 characters (metric alerts); find-my-way's default of 100 would make longer ones a 404.
    routerOptions: {
      caseSensitive: false,
      ignoreTrailingSlash: true,
      ignoreDuplicateSlashes: true,
      maxParamLength: 300,
    },
    // A URL the router cannot decode (bad percent-encoding) gets ARM's error shape too.
    frameworkErrors: (error, req, reply) => {
      const e = new ApiError(
        'InvalidRequestContent',
        error.code === 'FST_ERR_BAD_URL'
          ? 'The request URL is not valid percent-encoded UTF-8.'
          : `The request is not accepted: ${error.message}`,
      );
      void (reply as unknown as FastifyReply)
        .code(e.statusCode)
        .type('application/json; charset=utf-8')
        .send(e.toBody());
    },
    bodyLimit: MAX_JSON_BODY_BYTES,
    genReqId: () => randomUUID(),
    ...(tls ? { https: { cert: readFileSync(tls.certPath), key: readFileSync(tls.keyPath) } } : {}),
  }) as unknown as FastifyInstance;
  app.decorate('baseUrlPolicy', ctx.urlPolicy);

  const sessions = new SessionStore(ctx.store.db);
  // Behind a TLS-terminating proxy the public URL says https even when this process serves http.
  const sessionCookieSecure = Boolean(tls) || (ctx.config.publicUrl ?? '').toLowerCase().startsWith('https:');
  const accessKey = accessTokenKey(ctx.signingKey);
  const routeCheck = { store: ctx.store, subscriptionId: ctx.config.subscriptionId };

  app.addHook('onRequest', async (req, reply) => {
    const clientId = req.headers['x-ms-client-request-id'];
    const correlation = req.headers['x-ms-correlation-request-id'] ?? clientId ?? req.id;
    reply
      .header('x-ms-request-id', req.id)
      .header('x-ms-correlation-request-id', String(correlation))
      .header('Cache-Control', 'no-cache');
    if (typeof clientId === 'string') reply.header('x-ms-client-request-id', clientId);
    // NUL, control characters and bad encodings in the path or query: a 400 before anything reads them.
    assertCleanUrl(req.url);
    const path = req.url.split('?')[0]!;
    if (isPublicPath(path) || isPortalPath(path)) return;
    // The portal's requests carry its session cookie instead of a bearer token (and its CSRF
    // token on changes); a bearer token, when given, is what counts, so API clients are unaffected.
    const bearer = bearerToken(req);
    if (bearer === null && sessionIdOf(req, sessionCookieSecure) !== null) {
      const session = await authenticateSession(sessions, req, sessionCookieSecure);
      req.principal = await principalOfSession(ctx.store, session.stored);
    } else if (ctx.oidc && bearer !== null && isJwtShaped(bearer)) {
      // Single sign-on: a JWT goes to the identity provider's verifier (netwatcher's own tokens are never JWTs).
      req.principal = await ctx.oidc.verifyAccessToken(bearer);
    } else {
      req.principal = await authenticatePrincipal(ctx.store, accessKey, req);
    }
    // Every route's action at its scope, from the operation table (src/server/rbac).
    await authorizeRoute(
      routeCheck,
      req,
      req.principal,
      req.routeOptions.url === undefined ? undefined : routeAuthorization(req.method, req.routeOptions.url),
    );
  });
  // The activity log: after the authentication hook (it reads request.principal), before the route plugins load.
  registerActivityLogHooks(app, {
    store: ctx.activityLog,
    logger: ctx.logger,
    trustProxy: Boolean(ctx.config.trustProxy),
  });

  app.setErrorHandler((error: FastifyError | ApiError, req, reply) => {
    let apiError: ApiError;
    if (error instanceof ApiError) {
      apiError = error;
      // A full disk or a stopped database: the operator must hear of it, not only the caller.
      if (apiError.statusCode >= 500)
        ctx.logger.error({ code: apiError.code, method: req.method, url: req.url.split('?')[0] }, apiError.message);
    } else if (error.code === 'FST_ERR_CTP_BODY_TOO_LARGE')
      apiError = new ApiError('PayloadTooLarge', `The request body is larger than ${MAX_JSON_BODY_BYTES} bytes.`);
    else if (error.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE')
      apiError = new ApiError(
        'UnsupportedMediaType',
        `Content-Type '${req.headers['content-type'] ?? ''}' is not supported on this route.`,
      );
    else if (error.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || error instanceof SyntaxError || error.statusCode === 400)
      apiError = new ApiError('InvalidRequestContent', `The request content is not valid JSON: ${error.message}`);
    else {
      ctx.logger.error({ err: error, method: req.method, url: req.url.split('?')[0] }, 'request failed');
      apiError = new ApiError(
        'InternalServerError',
        'An internal error occurred; see the server log for request id ' + req.id + '.',
        { cause: error },
      );
    }
    return reply.code(apiError.statusCode).type('application/json; charset=utf-8').send(apiError.toBody());
  });

  app.setNotFoundHandler((req, reply) => {
    const e = new ApiError('NotFound', `No route for ${req.method} ${req.url.split('?')[0]}.`);
    return reply.code(404).send(e.toBody());
  });

  // Unauthenticated, so it says only that the server answers (counts are on the authenticated /metrics).
  app.get('/healthz', async () => ({ status: 'ok' }));
  // Public, like Azure's published REST specs: it holds no data, only the API's shape.
  let openApi: Record<string, unknown> | null = null;
  app.get(OPENAPI_PATH, async (req) => ({
    ...(openApi ??= buildOpenApiDocument()),
    servers: [{ url: requestBaseUrl(req) }],
  }));

  // ARM returns a resource's etag as the ETag header of a GET too.
  app.addHook('preSerialization', async (req, reply, payload) => {
    const tag =
      req.method === 'GET' && reply.statusCode === 200 ? (payload as { etag?: unknown } | null)?.etag : undefined;
    if (typeof tag === 'string') reply.header('ETag', tag);
    return payload;
  });

  // Long-running answers tell Python pollers when to come back (azure-core waits 30 s without it).
  app.addHook('onSend', async (req, reply, payload) => {
    const status = reply.statusCode;
    // An Azure-AsyncOperation on a 200 (an extension update) is polled too.
    const pollable =
      (reply.hasHeader('Azure-AsyncOperation') && status >= 200 && status <= 202) ||
      (status === 202 && reply.hasHeader('Location'));
    if (pollable && !reply.hasHeader('Retry-After')) {
      const seconds = retryAfterFor(ctx.config, req);
      if (seconds !== null) reply.header('Retry-After', String(seconds));
    }
    return payload;
  });

  void app.register(async (identity) => registerIdentityRoutes(identity, ctx));

  // ARM and agent routes: JSON bodies, where an empty body (Azure clients POST with
  // Content-Length: 0, sometimes with a JSON content type) means "no body".
  void app.register(async (arm) => {
    arm.removeAllContentTypeParsers();
    arm.addContentTypeParser('*', { parseAs: 'string' }, (_req, body, done) => {
      const text = String(body);
      if (text.trim() === '') {
        done(null, undefined);
        return;
      }
      try {
        done(null, parseJsonBody(text));
      } catch (error) {
        done(error as ApiError, undefined);
      }
    });
    // Names in the path follow ARM's rules (a 400 naming the field, before any lookup).
    arm.addHook('preValidation', async (req) => assertRouteNames(req));
    registerWatcherRoutes(arm, ctx);
    registerPacketCaptureRoutes(arm, ctx);
    registerAnalysisRoutes(arm, ctx);
    registerOperationRoutes(arm, ctx);
    registerVmRoutes(arm, ctx);
    registerScaleSetRoutes(arm, ctx);
    registerExtensionImageRoutes(arm, ctx);
    registerStorageAccountRoutes(arm, ctx);
    registerAgentRoutes(arm, ctx);
    registerAlertRoutes(arm, ctx);
    registerMetricRoutes(arm, ctx);
    registerAlertCaptureRoutes(arm, ctx);
    registerCredentialRoutes(arm, ctx);
    registerAuthorizationRoutes(arm, ctx);
    registerServicePrincipalRoutes(arm, ctx);
    registerActivityLogRoutes(arm, ctx);
  });

  // The web portal: its page and assets, and sign-in/out into a cookie session (src/web).
  const sso = ctx.oidc?.settings.clientId
    ? {
        verifier: ctx.oidc,
        fetch: outboundFetch(ctx.outboundPolicy ?? OutboundPolicy.fromSettings()),
        key: createHmac('sha256', ctx.signingKey).update('netwatcher portal sso v1').digest(),
      }
    : undefined;
  void app.register(async (portal) =>
    registerPortalRoutes(portal, {
      store: ctx.store,
      sessions,
      secure: sessionCookieSecure,
      subscriptionId: ctx.config.subscriptionId,
      ...(sso ? { sso } : {}),
    }),
  );

  // The alert-capture trigger checks its own key and reads any content type, up to 256 KB.
  void app.register(async (trigger) => registerAlertCaptureTrigger(trigger, ctx));

  void app.register(async (storage) => {
    registerLocalStorageRoutes(storage, {
      signingKey: ctx.signingKey,
      resolveLocalRoot: async (accountName: string) => {
        if (accountName === '_hostfiles') return `${ctx.config.dataDir}/host-files`;
        const [account] = await storageAccountsNamed(ctx.store, accountName);
        const secret = account?.secret as { type?: string; rootDir?: string } | null | undefined;
        return secret?.type === 'local' && secret.rootDir ? secret.rootDir : null;
      },
      authorizeRead: async (req) => {
        let principal;
        try {
          const bearer = bearerToken(req);
          principal =
            ctx.oidc && bearer !== null && isJwtShaped(bearer)
              ? await ctx.oidc.verifyAccessToken(bearer)
              : await authenticatePrincipal(ctx.store, accessKey, req);
        } catch {
          return false;
        }
        req.principal = principal;
        // Reading a blob is a data action, at the account's scope (host files: the subscription's).
        const accountName = (req.params as { account?: string }).account ?? '';
        const [account] = await storageAccountsNamed(ctx.store, accountName);
        const scope = account?.id ?? `/subscriptions/${ctx.config.subscriptionId}`;
        if (await isAuthorized(ctx.store, principal, BLOB_READ_DATA_ACTION, true, scope)) return true;
        return { forbidden: authorizationFailed(principal, BLOB_READ_DATA_ACTION, scope).message };
      },
    });
  });
  return app;
}
