import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ApiError } from '../lib/index.js';
import type { Store } from '../store/index.js';
import { sessionSetCookie } from './cookies.js';
import { authenticateSession, fromSameOrigin, sessionIdOf } from './portal-auth.js';
import { PORTAL_SECURITY_HEADERS } from './security-headers.js';
import type { SessionStore } from './sessions.js';
import { signInWithToken } from './sign-in.js';
import { principalOfSession } from '../server/session-principal.js';
import { registerSsoRoutes, SSO_START_PATH, type SsoOptions } from './sso.js';

/** Prefix of the portal's own routes (assets and session API); the page itself is `/`. */
export const PORTAL_PREFIX = '/portal/';

/** Whether a path is the portal's (served without a bearer token; its session routes check their own). */
export function isPortalPath(path: string): boolean {
  return path === '/' || path === '' || path.toLowerCase().startsWith(PORTAL_PREFIX);
}

/** Where `npm run build` puts the bundle: dist/portal at the package root, from src/web or dist/web alike. */
export function defaultPortalAssetsDir(): string {
  return join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'dist', 'portal');
}

/** What the portal routes need. */
export interface PortalOptions {
  store: Store;
  sessions: SessionStore;
  /** The server is reached over https: the cookie is Secure and `__Host-` prefixed. */
  secure: boolean;
  /** Subscription the portal lists resources of. */
  subscriptionId: string;
  /** Folder of the built bundle (index.html, app.js, app.css). */
  assetsDir?: string;
  /** Sign-in through the OpenID Connect provider (`--oidc-client-id`); absent: the admin token only. */
  sso?: Omit<SsoOptions, 'sessions' | 'secure'>;
}

const ASSET_TYPES: Readonly<Record<string, string>> = {
  js: 'text/javascript; charset=utf-8',
  css: 'text/css; charset=utf-8',
  map: 'application/json; charset=utf-8',
  png: 'image/png',
  svg: 'image/svg+xml',
};

/** The session's answer to the page: who is signed in and the CSRF token its script sends on changes. */
interface SessionAnswer {
  signedIn: boolean;
  principal?: string;
  csrfToken?: string;
  subscriptionId: string;
  ssoSignInUrl?: string;
}

/**
 * The web portal: the single page at `/`, its bundled assets under /portal/assets/ (built by
 * `npm run build`; nothing from a CDN), and sign-in, session and sign-out under /portal/api/.
 * Every answer carries a strict Content-Security-Policy.
 */
export function registerPortalRoutes(app: FastifyInstance, options: PortalOptions): void {
  const assetsDir = options.assetsDir ?? defaultPortalAssetsDir();
  const { sessions, secure } = options;

  app.addHook('onSend', async (_req, reply, payload) => {
    for (const [name, value] of Object.entries(PORTAL_SECURITY_HEADERS)) reply.header(name, value);
    return payload;
  });

  const sendAsset = async (reply: FastifyReply, file: string, type: string) => {
    let content: Buffer;
    try {
      content = await readFile(join(assetsDir, file));
    } catch {
      throw new ApiError(
        'NotFound',
        file === 'index.html'
          ? `The portal is not built (no ${join(assetsDir, 'index.html')}); run 'npm run build'.`
          : `No portal asset '${file}'.`,
      );
    }
    return reply.type(type).send(content);
  };

  app.get('/', async (_req, reply) => sendAsset(reply, 'index.html', 'text/html; charset=utf-8'));
  app.get<{ Params: { file: string } }>(`${PORTAL_PREFIX}assets/:file`, async (req, reply) => {
    const m = /^([A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*)\.([a-z]+)$/.exec(req.params.file);
    const type = m ? ASSET_TYPES[m[2]!] : undefined;
    if (!m || !type) throw new ApiError('NotFound', `No portal asset '${req.params.file}'.`);
    return sendAsset(reply, req.params.file, type);
  });

  const sso = options.sso ? { ssoSignInUrl: SSO_START_PATH } : {};
  const answer = (session: { principal: string; csrfToken: string } | null): SessionAnswer =>
    session
      ? {
          signedIn: true,
          principal: session.principal,
          csrfToken: session.csrfToken,
          subscriptionId: options.subscriptionId,
          ...sso,
        }
      : { signedIn: false, subscriptionId: options.subscriptionId, ...sso };
  if (options.sso) registerSsoRoutes(app, { ...options.sso, sessions, secure });

  app.get(`${PORTAL_PREFIX}api/session`, async (req) => {
    const id = sessionIdOf(req, secure);
    return answer(id ? await sessions.get(id) : null);
  });

  // JSON only (fastify answers 415 to a form post), so a cross-site form cannot sign a victim in
  // with the attacker's token (login CSRF); a foreign Origin is refused too.
  app.post<{ Body: { token?: unknown } | undefined }>(
    `${PORTAL_PREFIX}api/sign-in`,
    async (req: FastifyRequest<{ Body: { token?: unknown } | undefined }>, reply) => {
      if (!fromSameOrigin(req)) {
        throw new ApiError('Forbidden', "Sign-in must come from the portal's own origin.");
      }
      const outcome = await signInWithToken(options.store, req.body?.token);
      if (!outcome.ok) throw new ApiError('AuthenticationFailed', outcome.message, { target: 'token' });
      // A session id the browser already had is replaced, never reused (session fixation).
      const previous = sessionIdOf(req, secure);
      if (previous) await sessions.destroy(previous);
      const created = await sessions.create(outcome.principal);
      // The activity log names who signed in (the same resolution every later request of the session gets).
      req.principal = await principalOfSession(options.store, created.session.stored);
      reply.header('Set-Cookie', sessionSetCookie(created.id, { secure, maxAgeInSeconds: created.maxAgeInSeconds }));
      return answer(created.session);
    },
  );

  app.post(`${PORTAL_PREFIX}api/sign-out`, async (req, reply) => {
    await authenticateSession(sessions, req, secure);
    await sessions.destroy(sessionIdOf(req, secure)!);
    reply.header('Set-Cookie', sessionSetCookie('', { secure, maxAgeInSeconds: 0 }));
    return reply.code(204).send();
  });
}
