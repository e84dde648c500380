/**
 * Single sign-on against a real OpenID Connect provider (the `oidc-provider` package on
 * loopback, src/server/testing/oidc-provider.ts): its client-credentials access tokens reach the
 * API through `nw server --oidc-issuer … --oidc-audience …`; expired, wrong-audience,
 * wrong-issuer, unsigned, HMAC-signed and tampered tokens are refused; after the provider's keys
 * change, new tokens work (the key set is fetched again) and the old key's tokens stop; the
 * portal's authorization-code sign-in with PKCE ends in a session acting for the user.
 */
import { CONTRIBUTOR_ROLE_ID, READER_ROLE_ID } from './rbac/index.js';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { JWK } from 'jose';
import { startServer, type RunningServer } from './server.js';
import { apiCaller } from './testing/loopback-agent.js';
import { ApiError, OutboundPolicy } from '../lib/index.js';
import { outboundFetch } from '../lib/outbound-fetch.js';
import { isJwtShaped, OidcVerifier, principalOfClaims, validateOidcSettings } from './oidc.js';
import {
  CookieJar,
  newSigningKey,
  PORTAL_CLIENT_ID,
  scriptedAuthorization,
  startTestOidcProvider,
  TEST_AUDIENCE,
  type TestOidcProvider,
} from './testing/oidc-provider.js';

const SUB = '00000000-0000-0000-0000-000000000000';
const WATCHERS = `/subscriptions/${SUB}/providers/Microsoft.Network/networkWatchers?api-version=2022-01-01`;
/** Access tokens of the test provider live this long; the server tolerates 1 s of clock skew. */
const TTL_IN_SECONDS = 5;

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
const partsOf = (token: string) => token.split('.') as [string, string, string];
const claimsOf = (token: string) =>
  JSON.parse(Buffer.from(partsOf(token)[1], 'base64url').toString('utf8')) as Record<string, unknown>;

describe('single sign-on settings and claims', () => {
  test('bearer tokens: JWTs go to the verifier, netwatcher tokens do not', () => {
    assert.equal(isJwtShaped('eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln'), true);
    assert.equal(isJwtShaped('nwa_abcdef'), false);
    assert.equal(isJwtShaped('nwo_payload.signature'), false);
  });
  test('settings: https issuer (http only on loopback), an audience, a bounded skew', () => {
    assert.throws(() => validateOidcSettings({ issuer: 'http://idp.example', audience: 'a' }), /https/);
    assert.throws(() => validateOidcSettings({ issuer: 'https://idp.example', audience: '' }), /audience/);
    assert.throws(
      () => validateOidcSettings({ issuer: 'https://idp.example', audience: 'a', clockSkewInSeconds: 3600 }),
      /skew/,
    );
    assert.equal(
      validateOidcSettings({ issuer: 'https://idp.example/realms/x', audience: 'a' }).clockSkewInSeconds,
      60,
    );
  });
  test('claims mapping: oid before sub, a readable name, groups from the configured claim', () => {
    assert.deepEqual(
      principalOfClaims({ sub: 's', oid: 'o', preferred_username: 'alice@x', roles_g: ['g1', 2, 'g2'] }, 'roles_g'),
      { kind: 'user', id: 'o', displayName: 'alice@x', groups: ['g1', 'g2'], credentialId: null },
    );
    assert.equal(principalOfClaims({ sub: 's' }).displayName, 's');
    assert.throws(() => principalOfClaims({}), /subject/);
  });
});

describe('single sign-on with a real OpenID Connect provider', { timeout: 120_000 }, () => {
  let provider: TestOidcProvider;
  let otherIssuer: TestOidcProvider;
  let server: RunningServer;
  let key1: JWK;
  const dataDir = mkdtempSync(join(tmpdir(), 'nw-oidc-'));
  const api = apiCaller(() => server, null);
  const call = (method: string, path: string, token: string | null, body?: unknown) => api(method, path, body, token);
  const refusedWith = async (token: string, pattern: RegExp) => {
    const r = await call('GET', WATCHERS, token);
    assert.equal(r.status, 401, JSON.stringify(r.body));
    assert.equal(r.body.error.code, 'AuthenticationFailed');
    assert.match(r.body.error.message, pattern);
  };

  before(async () => {
    key1 = await newSigningKey('key-1');
    const port = await freePort();
    provider = await startTestOidcProvider({
      keys: [key1],
      accessTokenTtlInSeconds: TTL_IN_SECONDS,
      portalRedirectUris: [`http://127.0.0.1:${port}/portal/api/sso/callback`],
    });
    // Another issuer that signs with the same key: only the issuer check can refuse its tokens.
    otherIssuer = await startTestOidcProvider({ keys: [key1], accessTokenTtlInSeconds: TTL_IN_SECONDS });
    server = await startServer({
      listenHost: '127.0.0.1',
      listenPort: port,
      dataDir,
      defaultLocation: 'local',
      subscriptionId: SUB,
      logLevel: 'silent',
      oidc: {
        issuer: provider.issuer,
        audience: TEST_AUDIENCE,
        clientId: PORTAL_CLIENT_ID,
        clockSkewInSeconds: 1,
        jwksCooldownInMs: 100,
      },
    });
  });
  after(async () => {
    await server?.close();
    await provider?.close();
    await otherIssuer?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  test("a valid access token is accepted and acts as the provider's user; the activity log names it", async () => {
    const token = await provider.clientCredentialsToken();
    assert.equal(partsOf(token).length, 3);
    // Signed in is not allowed: without a role assignment the user is refused (403, not 401).
    const before = await call('GET', WATCHERS, token);
    assert.equal(before.status, 403, JSON.stringify(before.body));
    assert.equal(before.body.error.code, 'AuthorizationFailed');
    // A role assigned to the token's subject (the user's id) lets it act with that role.
    const assignment = await call(
      'PUT',
      `/subscriptions/${SUB}/providers/Microsoft.Authorization/roleAssignments/5a1e0000-0000-4000-8000-000000000001?api-version=2022-04-01`,
      server.adminToken,
      {
        properties: {
          roleDefinitionId: `/subscriptions/${SUB}/providers/Microsoft.Authorization/roleDefinitions/${CONTRIBUTOR_ROLE_ID}`,
          principalId: String(claimsOf(token)['sub']),
          principalType: 'User',
        },
      },
    );
    assert.equal(assignment.status, 201, JSON.stringify(assignment.body));
    const r = await call('GET', WATCHERS, token);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const put = await call(
      'PUT',
      `/subscriptions/${SUB}/resourceGroups/ssorg/providers/Microsoft.Insights/actionGroups/ag1?api-version=2023-01-01`,
      token,
      { location: 'Global', properties: { groupShortName: 'ag1', enabled: true } },
    );
    assert.ok([200, 201].includes(put.status), JSON.stringify(put.body));
    const log = await call(
      'GET',
      `/subscriptions/${SUB}/providers/Microsoft.Insights/eventtypes/management/values?api-version=2015-04-01&$filter=${encodeURIComponent("resourceGroupName eq 'ssorg'")}`,
      server.adminToken,
    );
    assert.equal(log.body.value.length, 1);
    assert.equal(log.body.value[0].caller, 'CI Robot');
    assert.equal(log.body.value[0].properties.principalKind, 'user');
    assert.equal(
      log.body.value[0].claims['http://schemas.microsoft.com/identity/claims/objectidentifier'],
      claimsOf(token)['sub'],
    );
    assert.equal(JSON.stringify(log.body).includes(partsOf(token)[2]), false, 'the token is never logged');
    // netwatcher's own credentials still work beside single sign-on.
    assert.equal((await call('GET', WATCHERS, server.adminToken)).status, 200);
  });

  test('wrong audience, wrong issuer, unsigned, HMAC-signed and tampered tokens are refused', async () => {
    await refusedWith(await provider.clientCredentialsToken({ resource: 'api://another-api' }), /'aud' claim/);
    const foreign = await otherIssuer.clientCredentialsToken();
    assert.equal(
      partsOf(foreign)[0],
      partsOf(await provider.clientCredentialsToken())[0],
      'same key id and algorithm: only the issuer differs',
    );
    await refusedWith(foreign, /'iss' claim/);
    const valid = await provider.clientCredentialsToken();
    const [, payload, signature] = partsOf(valid);
    await refusedWith(`${b64({ alg: 'none', typ: 'JWT' })}.${payload}.`, /algorithm|well-formed/);
    const hsHeader = b64({ alg: 'HS256', typ: 'JWT', kid: 'key-1' });
    await refusedWith(
      `${hsHeader}.${payload}.${createHmac('sha256', 'guessed').update(`${hsHeader}.${payload}`).digest('base64url')}`,
      /algorithm/,
    );
    await refusedWith(
      `${partsOf(valid)[0]}.${b64({ ...claimsOf(valid), sub: 'someone-else' })}.${signature}`,
      /signature/,
    );
    assert.equal((await call('GET', WATCHERS, valid)).status, 200, 'the untouched token is fine');
  });

  test('an expired token is refused (beyond the clock skew)', async () => {
    const token = await provider.clientCredentialsToken();
    assert.equal((await call('GET', WATCHERS, token)).status, 200);
    await sleep((TTL_IN_SECONDS + 1.5) * 1000);
    await refusedWith(token, /expired/);
  });

  test("rotated keys: the new key's tokens work after a refetch, the removed key's tokens stop", async () => {
    const old = await provider.clientCredentialsToken();
    assert.equal((await call('GET', WATCHERS, old)).status, 200);
    // The provider restarts at the same issuer with only a new key (the old one is gone from its key set).
    const port = provider.port;
    await provider.close();
    provider = await startTestOidcProvider({
      keys: [await newSigningKey('key-2')],
      port,
      accessTokenTtlInSeconds: TTL_IN_SECONDS,
      portalRedirectUris: [`${server.url}/portal/api/sso/callback`],
    });
    const fresh = await provider.clientCredentialsToken();
    assert.equal(JSON.parse(Buffer.from(partsOf(fresh)[0], 'base64url').toString()).kid, 'key-2');
    await sleep(150); // the refetch cooldown of this test server
    assert.equal((await call('GET', WATCHERS, fresh)).status, 200, 'unknown key id: the key set is fetched again');
    await sleep(150);
    await refusedWith(old, /no key/);
  });

  test('portal sign-in: authorization code with PKCE, state and nonce; the session acts for the user', async () => {
    const jar = new CookieJar();
    const start = await fetch(`${server.url}/portal/api/sso/start`, { redirect: 'manual' });
    assert.equal(start.status, 302);
    jar.take(start);
    const authorize = new URL(start.headers.get('location')!);
    assert.equal(authorize.origin, provider.issuer);
    assert.equal(authorize.searchParams.get('code_challenge_method'), 'S256');
    assert.equal(authorize.searchParams.get('client_id'), PORTAL_CLIENT_ID);
    assert.ok(authorize.searchParams.get('state') && authorize.searchParams.get('nonce'));
    const back = await scriptedAuthorization(authorize.toString(), 'alice', `${server.url}/portal/api/sso/callback`);
    assert.ok(new URL(back).searchParams.get('code'), back);

    // The answer without the browser's flow cookie (another browser, login CSRF) is refused.
    const stranger = await fetch(back, { redirect: 'manual' });
    assert.equal(stranger.status, 401);
    // A changed state is refused too (and spends the flow).
    const forged = new URL(back);
    forged.searchParams.set('state', 'forged');
    assert.equal((await fetch(forged, { redirect: 'manual', headers: { cookie: jar.header() } })).status, 401);

    // A second, honest run: the callback signs the user in.
    const jar2 = new CookieJar();
    const start2 = await fetch(`${server.url}/portal/api/sso/start`, { redirect: 'manual' });
    jar2.take(start2);
    const back2 = await scriptedAuthorization(
      start2.headers.get('location')!,
      'alice',
      `${server.url}/portal/api/sso/callback`,
    );
    const done = await fetch(back2, { redirect: 'manual', headers: { cookie: jar2.header() } });
    assert.equal(done.status, 200, await done.clone().text());
    assert.match(await done.text(), /Signed in as Alice Admin/);
    jar2.take(done);
    const session = (await (
      await fetch(`${server.url}/portal/api/session`, { headers: { cookie: jar2.header() } })
    ).json()) as Record<string, unknown>;
    assert.equal(session['signedIn'], true);
    assert.equal(session['principal'], 'Alice Admin');
    assert.equal(session['ssoSignInUrl'], '/portal/api/sso/start');
    // The user holds no role yet: refused; a Reader assignment to the user's oid lets the session list.
    assert.equal((await fetch(`${server.url}${WATCHERS}`, { headers: { cookie: jar2.header() } })).status, 403);
    const assignment = await call(
      'PUT',
      `/subscriptions/${SUB}/providers/Microsoft.Authorization/roleAssignments/5a1e0000-0000-4000-8000-000000000002?api-version=2022-04-01`,
      server.adminToken,
      {
        properties: {
          roleDefinitionId: `/subscriptions/${SUB}/providers/Microsoft.Authorization/roleDefinitions/${READER_ROLE_ID}`,
          principalId: '11111111-aaaa-4aaa-8aaa-111111111111',
          principalType: 'User',
        },
      },
    );
    assert.equal(assignment.status, 201, JSON.stringify(assignment.body));
    const list = await fetch(`${server.url}${WATCHERS}`, { headers: { cookie: jar2.header() } });
    assert.equal(list.status, 200, await list.clone().text());
    // The code was spent: replaying the callback gets nothing.
    assert.equal((await fetch(back2, { redirect: 'manual', headers: { cookie: jar2.header() } })).status, 401);
    const log = await call(
      'GET',
      `/subscriptions/${SUB}/providers/Microsoft.Insights/eventtypes/management/values?api-version=2015-04-01&$filter=${encodeURIComponent("caller eq 'Alice Admin'")}`,
      server.adminToken,
    );
    // The sign-in and the refused list before the role was assigned (a refusal is recorded; the allowed read is not a change).
    assert.deepEqual(
      log.body.value.map((e: any) => e.properties.statusCode).sort(),
      ['Forbidden', 'OK'],
      JSON.stringify(log.body),
    );
    assert.ok(
      log.body.value.every(
        (e: any) =>
          e.claims['http://schemas.microsoft.com/identity/claims/objectidentifier'] ===
          '11111111-aaaa-4aaa-8aaa-111111111111',
      ),
      'the user is named by oid',
    );
  });
});

describe('the verifier on its own', { timeout: 60_000 }, () => {
  test('ES256 keys work; fetches go through the outbound policy (a denied provider is said so)', async () => {
    const es = await startTestOidcProvider({ keys: [await newSigningKey('es-key', 'ES256')] });
    try {
      const token = await es.clientCredentialsToken();
      assert.equal(JSON.parse(Buffer.from(partsOf(token)[0], 'base64url').toString()).alg, 'ES256');
      const verifier = new OidcVerifier(
        { issuer: es.issuer, audience: TEST_AUDIENCE },
        outboundFetch(OutboundPolicy.fromSettings()),
      );
      const principal = await verifier.verifyAccessToken(token);
      assert.equal(principal.kind, 'user');
      assert.equal(principal.displayName, 'CI Robot');
      assert.deepEqual(principal.groups, ['ci-robots']);
      const denied = new OidcVerifier(
        { issuer: es.issuer, audience: TEST_AUDIENCE },
        outboundFetch(OutboundPolicy.fromSettings({ deny: ['127.0.0.0/8'] })),
      );
      await assert.rejects(
        denied.verifyAccessToken(token),
        (e: unknown) =>
          e instanceof ApiError && e.code === 'IdentityProviderUnavailable' && /outbound policy/.test(e.message),
      );
    } finally {
      await es.close();
    }
  });
});
