/**
 * A real OpenID Connect provider for tests: the `oidc-provider` package (the certified Node
 * implementation) on loopback, with a confidential test client (client credentials: JWT access
 * tokens for an API audience) and a public portal client (authorization code with PKCE, its
 * login and consent pages answered by a script). Its signing keys are chosen by the test, so a
 * restart with other keys is a key rotation.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, type JWK } from 'jose';
import Provider from 'oidc-provider';

/** The API audience the test server is configured with. */
export const TEST_AUDIENCE = 'api://netwatcher';
/** The confidential client (client credentials). */
export const TEST_CLIENT = { id: 'nw-robot', secret: 'robot-secret-0123456789abcdef0123456789' } as const;
/** The portal's public client. */
export const PORTAL_CLIENT_ID = 'nw-portal';

/** A private signing key with its key id. */
export async function newSigningKey(kid: string, alg: 'RS256' | 'ES256' = 'RS256'): Promise<JWK> {
  const { privateKey } = await generateKeyPair(alg, { extractable: true });
  return { ...(await exportJWK(privateKey)), kid, alg, use: 'sig' };
}

/** A running provider. */
export interface TestOidcProvider {
  issuer: string;
  port: number;
  /** An access token by the client-credentials grant (`resource` chooses the audience). */
  clientCredentialsToken(options?: { resource?: string }): Promise<string>;
  close(): Promise<void>;
}

/** The users the login page accepts, by login name. */
const USERS: Record<string, { oid: string; name: string; email: string; groups: string[] }> = {
  alice: {
    oid: '11111111-aaaa-4aaa-8aaa-111111111111',
    name: 'Alice Admin',
    email: 'alice@example.test',
    groups: ['netwatcher-operators'],
  },
};

/**
 * Starts a provider at `issuer`'s port on 127.0.0.1 (port 0: any; the issuer is then
 * http://127.0.0.1:PORT), signing with `keys`, issuing access tokens that live `accessTokenTtlInSeconds`.
 */
export async function startTestOidcProvider(options: {
  keys: JWK[];
  port?: number;
  issuerPath?: string;
  accessTokenTtlInSeconds?: number;
  portalRedirectUris?: string[];
}): Promise<TestOidcProvider> {
  let handler: ((req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse) => void) | null =
    null;
  const server: Server = createServer((req, res) => handler!(req, res));
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const issuer = `http://127.0.0.1:${port}${options.issuerPath ?? ''}`;
  const ttl = options.accessTokenTtlInSeconds ?? 300;
  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: TEST_CLIENT.id,
        client_secret: TEST_CLIENT.secret,
        grant_types: ['client_credentials'],
        response_types: [],
        redirect_uris: [],
        token_endpoint_auth_method: 'client_secret_post',
        id_token_signed_response_alg: options.keys[0]!.alg,
      },
      {
        client_id: PORTAL_CLIENT_ID,
        grant_types: ['authorization_code'],
        response_types: ['code'],
        redirect_uris: options.portalRedirectUris ?? ['http://127.0.0.1/portal/api/sso/callback'],
        token_endpoint_auth_method: 'none',
        id_token_signed_response_alg: options.keys[0]!.alg,
      },
    ],
    jwks: { keys: options.keys },
    cookies: { keys: ['test-cookie-key-0123456789'] },
    claims: { openid: ['sub'], profile: ['name', 'oid'], email: ['email'], groups: ['groups'] },
    scopes: ['openid', 'profile', 'email', 'groups', 'api'],
    conformIdTokenClaims: false,
    findAccount: (_ctx: unknown, id: string) => {
      const user = USERS[id];
      return user ? { accountId: id, claims: () => ({ sub: id, ...user }) } : undefined;
    },
    features: {
      devInteractions: { enabled: true },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => TEST_AUDIENCE,
        useGrantedResource: () => true,
        getResourceServerInfo: (_ctx: unknown, resource: string) => ({
          scope: 'api',
          audience: resource,
          accessTokenFormat: 'jwt',
          accessTokenTTL: ttl,
          jwt: { sign: { alg: options.keys[0]!.alg } },
        }),
      },
    },
    extraTokenClaims: (_ctx: unknown, token: { kind: string; clientId?: string }) =>
      token.kind === 'ClientCredentials' ? { name: 'CI Robot', groups: ['ci-robots'] } : undefined,
  });
  handler = provider.callback();
  return {
    issuer,
    port,
    async clientCredentialsToken(o = {}) {
      const res = await fetch(`${issuer}/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          grant_type: 'client_credentials',
          client_id: TEST_CLIENT.id,
          client_secret: TEST_CLIENT.secret,
          scope: 'api',
          resource: o.resource ?? TEST_AUDIENCE,
        }).toString(),
      });
      const body = (await res.json()) as { access_token?: string; error?: string; error_description?: string };
      if (!body.access_token) throw new Error(`the provider gave no token: ${body.error}: ${body.error_description}`);
      return body.access_token;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Cookies of a scripted browser: name → value, per host (loopback ports share none here). */
export class CookieJar {
  private readonly cookies = new Map<string, string>();
  take(res: Response): void {
    for (const line of res.headers.getSetCookie()) {
      const [pair] = line.split(';');
      const eq = pair!.indexOf('=');
      const name = pair!.slice(0, eq).trim();
      const value = pair!.slice(eq + 1).trim();
      if (/max-age=0|expires=thu, 01 jan 1970/i.test(line) || value === '') this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
  }
  header(): string {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }
}

/**
 * Walks the provider's login and consent pages as a user would, from an authorization URL to
 * the redirect back to the client; returns that redirect URL (with `code` and `state`).
 */
export async function scriptedAuthorization(
  authorizationUrl: string,
  login: string,
  redirectPrefix: string,
): Promise<string> {
  const jar = new CookieJar();
  let url = authorizationUrl;
  for (let step = 0; step < 20; step++) {
    if (url.startsWith(redirectPrefix)) return url;
    const res = await fetch(url, { redirect: 'manual', headers: { cookie: jar.header() } });
    jar.take(res);
    if (res.status >= 300 && res.status < 400) {
      url = new URL(res.headers.get('location')!, url).toString();
      continue;
    }
    const html = await res.text();
    if (res.status !== 200) throw new Error(`the provider answered ${res.status}: ${html.slice(0, 300)}`);
    const action = /<form[^>]*action="([^"]+)"/.exec(html)?.[1];
    const prompt = /name="prompt" value="([a-z]+)"/.exec(html)?.[1];
    if (!action || !prompt) throw new Error(`no form on the provider's page: ${html.slice(0, 300)}`);
    const form = new URLSearchParams({ prompt, ...(prompt === 'login' ? { login, password: 'any' } : {}) });
    const posted = await fetch(new URL(action, url), {
      method: 'POST',
      redirect: 'manual',
      headers: { cookie: jar.header(), 'content-type': 'application/x-www-form-urlencoded' },
      body: form.toString(),
    });
    jar.take(posted);
    if (posted.status < 300 || posted.status >= 400)
      throw new Error(
        `the provider answered the ${prompt} form with ${posted.status}: ${(await posted.text()).slice(0, 300)}`,
      );
    url = new URL(posted.headers.get('location')!, url).toString();
  }
  throw new Error('the authorization did not come back to the client in 20 steps');
}
