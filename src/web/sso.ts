import { createHash, createHmac, randomBytes } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ApiError } from '../lib/index.js';
import type { OutboundFetch } from '../lib/outbound-fetch.js';
import type { OidcVerifier } from '../server/oidc.js';
import { requestBaseUrl } from '../server/request-context.js';
import { parseCookies, sessionSetCookie } from './cookies.js';
import { sessionIdOf } from './portal-auth.js';
import { secretsEqual, type SessionStore } from './sessions.js';

/**
 * Portal sign-in through the OpenID Connect provider (issue 16 §3): the authorization code flow
 * with PKCE (S256), a random state (the callback must bring it back: login CSRF) and nonce (the
 * ID token must carry it: replay). The three are kept until the callback in a short-lived
 * cookie signed by the server (HttpOnly, SameSite=Lax so the provider's redirect back carries it,
 * Path limited to the callback). The provider's ID token is verified like an access token (its
 * audience is the portal's client id) and its user becomes the session's principal.
 */

/** Where the flow starts (a link on the sign-in page) and where the provider sends the browser back. */
export const SSO_START_PATH = '/portal/api/sso/start';
export const SSO_CALLBACK_PATH = '/portal/api/sso/callback';
/** How long a started sign-in may take at the provider. */
const FLOW_LIFETIME_IN_SECONDS = 600;

/** What the SSO routes need. */
export interface SsoOptions {
  verifier: OidcVerifier;
  fetch: OutboundFetch;
  sessions: SessionStore;
  secure: boolean;
  /** Key that signs the flow cookie (derived from the server's signing key). */
  key: Buffer;
}

interface FlowState {
  state: string;
  nonce: string;
  verifier: string;
  exp: number;
}

function flowCookieName(secure: boolean): string {
  return secure ? '__Secure-nw_sso' : 'nw_sso';
}

function sign(key: Buffer, payload: string): string {
  return createHmac('sha256', key).update(payload).digest('base64url');
}

function flowCookie(key: Buffer, flow: FlowState | null, secure: boolean): string {
  const value = flow
    ? (() => {
        const p = Buffer.from(JSON.stringify(flow)).toString('base64url');
        return `${p}.${sign(key, p)}`;
      })()
    : '';
  const parts = [
    `${flowCookieName(secure)}=${value}`,
    `Path=${SSO_CALLBACK_PATH}`,
    `Max-Age=${flow ? FLOW_LIFETIME_IN_SECONDS : 0}`,
    'HttpOnly',
    'SameSite=Lax',
  ];
  if (secure) parts.push('Secure');
  return parts.join('; ');
}

function readFlow(key: Buffer, request: FastifyRequest, secure: boolean): FlowState | null {
  const raw = parseCookies(typeof request.headers.cookie === 'string' ? request.headers.cookie : undefined).get(
    flowCookieName(secure),
  );
  const [payload, signature] = (raw ?? '').split('.');
  if (!payload || !signature || !secretsEqual(signature, sign(key, payload))) return null;
  try {
    const flow = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as FlowState;
    return flow.exp * 1000 > Date.now() ? flow : null;
  } catch {
    return null;
  }
}

/** A small page that moves on to `/` (a new same-site navigation, so the SameSite=Strict session cookie is sent), or says why not. */
function page(reply: FastifyReply, status: number, text: string, to: string | null): FastifyReply {
  const escaped = text.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);
  const refresh = to ? `<meta http-equiv="refresh" content="0;url=${to}">` : '';
  return reply
    .code(status)
    .type('text/html; charset=utf-8')
    .send(
      `<!doctype html><html><head><meta charset="utf-8">${refresh}<title>netwatcher sign-in</title></head><body><p>${escaped}</p><p><a href="/">Back to the portal</a></p></body></html>`,
    );
}

/** Registers the SSO start and callback routes (only when the provider and a portal client id are configured). */
export function registerSsoRoutes(app: FastifyInstance, options: SsoOptions): void {
  const { verifier, secure, key } = options;
  const clientId = verifier.settings.clientId!;

  app.get(SSO_START_PATH, async (req, reply) => {
    const discovery = await verifier.discover();
    if (!discovery.authorization_endpoint)
      throw new ApiError(
        'IdentityProviderUnavailable',
        "The identity provider's discovery document names no authorization_endpoint.",
      );
    const flow: FlowState = {
      state: randomBytes(32).toString('base64url'),
      nonce: randomBytes(32).toString('base64url'),
      verifier: randomBytes(32).toString('base64url'),
      exp: Math.floor(Date.now() / 1000) + FLOW_LIFETIME_IN_SECONDS,
    };
    const target = new URL(discovery.authorization_endpoint);
    target.searchParams.set('response_type', 'code');
    target.searchParams.set('client_id', clientId);
    target.searchParams.set('redirect_uri', `${requestBaseUrl(req)}${SSO_CALLBACK_PATH}`);
    target.searchParams.set('scope', 'openid profile email');
    target.searchParams.set('state', flow.state);
    target.searchParams.set('nonce', flow.nonce);
    target.searchParams.set('code_challenge', createHash('sha256').update(flow.verifier).digest('base64url'));
    target.searchParams.set('code_challenge_method', 'S256');
    reply.header('Set-Cookie', flowCookie(key, flow, secure));
    return reply.redirect(target.toString(), 302);
  });

  app.get<{ Querystring: Record<string, string | undefined> }>(SSO_CALLBACK_PATH, async (req, reply) => {
    const flow = readFlow(key, req, secure);
    // The flow cookie is single-use, whatever happens next.
    reply.header('Set-Cookie', flowCookie(key, null, secure));
    const q = req.query;
    if (!flow)
      return page(
        reply,
        401,
        'This sign-in was not started here or took longer than 10 minutes; start it again.',
        null,
      );
    if (typeof q['state'] !== 'string' || !secretsEqual(q['state'], flow.state))
      return page(
        reply,
        401,
        'The sign-in answer does not belong to the sign-in this browser started (state mismatch).',
        null,
      );
    if (q['error'])
      return page(reply, 401, `The identity provider refused the sign-in: ${String(q['error']).slice(0, 100)}.`, null);
    if (typeof q['code'] !== 'string' || q['code'] === '')
      return page(reply, 400, 'The identity provider sent no authorization code.', null);
    const discovery = await verifier.discover();
    if (!discovery.token_endpoint)
      throw new ApiError(
        'IdentityProviderUnavailable',
        "The identity provider's discovery document names no token_endpoint.",
      );
    const form = new URLSearchParams({
      grant_type: 'authorization_code',
      code: q['code'],
      redirect_uri: `${requestBaseUrl(req)}${SSO_CALLBACK_PATH}`,
      client_id: clientId,
      code_verifier: flow.verifier,
    });
    let tokens: { id_token?: unknown; error?: unknown };
    try {
      const res = await options.fetch(discovery.token_endpoint, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
        body: form.toString(),
        signal: AbortSignal.timeout(10_000),
      });
      tokens = (await res.json()) as typeof tokens;
    } catch (error) {
      throw new ApiError(
        'IdentityProviderUnavailable',
        `The identity provider's token endpoint could not be reached: ${(error as Error).message}${(error as { cause?: { message?: string } }).cause?.message ? `: ${(error as { cause: { message: string } }).cause.message}` : ''}.`,
        { cause: error },
      );
    }
    if (typeof tokens.id_token !== 'string')
      return page(
        reply,
        401,
        `The identity provider did not trade the code for an ID token${typeof tokens.error === 'string' ? ` (${tokens.error.slice(0, 100)})` : ''}.`,
        null,
      );
    let principal;
    try {
      principal = (await verifier.verifyIdToken(tokens.id_token, flow.nonce)).principal;
    } catch (error) {
      if (error instanceof ApiError && error.code === 'AuthenticationFailed')
        return page(reply, 401, error.message, null);
      throw error;
    }
    const previous = sessionIdOf(req, secure);
    if (previous) await options.sessions.destroy(previous);
    const created = await options.sessions.create(principal);
    reply.header('Set-Cookie', [
      flowCookie(key, null, secure),
      sessionSetCookie(created.id, { secure, maxAgeInSeconds: created.maxAgeInSeconds }),
    ]);
    req.principal = principal;
    return page(reply, 200, `Signed in as ${principal.displayName}.`, '/');
  });
}
