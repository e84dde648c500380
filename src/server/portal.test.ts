// The portal's security as the server wires it: sign-in into a cookie session, the CSRF token on
// every change made with that cookie, the Content-Security-Policy, and bearer clients unaffected.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer, type RunningServer } from './index.js';

const SUB = '00000000-0000-0000-0000-000000000000';
const RG_PATH = `/subscriptions/${SUB}/resourceGroups/portalrg/providers/Microsoft.Insights/actionGroups`;

describe('portal sessions, CSRF and CSP', () => {
  let dir: string;
  let server: RunningServer;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'nw-portal-'));
    server = await startServer({
      listenHost: '127.0.0.1',
      listenPort: 0,
      dataDir: dir,
      defaultLocation: 'local',
      subscriptionId: SUB,
      logLevel: 'silent',
    });
  });
  after(async () => {
    await server?.close();
    await rm(dir, { recursive: true, force: true });
  });

  const call = (method: string, path: string, init: { headers?: Record<string, string>; body?: string } = {}) =>
    fetch(`${server.url}${path}${path.startsWith('/subscriptions/') ? '?api-version=2023-01-01' : ''}`, {
      method,
      headers: init.headers ?? {},
      ...(init.body !== undefined ? { body: init.body } : {}),
    });
  const signIn = async () => {
    const res = await call('POST', '/portal/api/sign-in', {
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ token: server.adminToken }),
    });
    assert.equal(res.status, 200);
    const cookie = res.headers.get('set-cookie')!;
    const body = (await res.json()) as { csrfToken: string; signedIn: boolean; subscriptionId: string };
    return { cookie: cookie.split(';')[0]!, setCookie: cookie, csrf: body.csrfToken, body };
  };
  const actionGroup = (name: string) =>
    JSON.stringify({
      location: 'global',
      properties: { groupShortName: name.slice(0, 12), enabled: true, webhookReceivers: [] },
    });

  test('the page and its assets carry a strict CSP and load nothing from elsewhere', async () => {
    const page = await call('GET', '/');
    assert.equal(page.status, 200);
    const csp = page.headers.get('content-security-policy') ?? '';
    assert.match(csp, /default-src 'self'/);
    assert.match(csp, /script-src 'self'(;|$)/);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
    assert.match(csp, /frame-ancestors 'none'/);
    assert.equal(page.headers.get('x-content-type-options'), 'nosniff');
    const html = await page.text();
    assert.doesNotMatch(html, /<script(?![^>]*\bsrc=)[^>]*>/, 'no inline script');
    assert.doesNotMatch(html, /\b(src|href)="(https?:)?\/\//, 'nothing from another host');
    const js = await call('GET', '/portal/assets/app.js');
    assert.equal(js.status, 200);
    assert.match(js.headers.get('content-type') ?? '', /javascript/);
    assert.match(js.headers.get('content-security-policy') ?? '', /default-src 'self'/);
    assert.equal((await call('GET', '/portal/assets/..%2Fadmin-token')).status, 404);
    assert.equal((await call('GET', '/portal/assets/nothing.js')).status, 404);
  });

  test('a wrong token is refused and sets no cookie; a form post cannot sign in', async () => {
    const wrong = await call('POST', '/portal/api/sign-in', {
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ token: 'nope' }),
    });
    assert.equal(wrong.status, 401);
    assert.equal(wrong.headers.get('set-cookie'), null);
    assert.equal(((await wrong.json()) as { error: { code: string } }).error.code, 'AuthenticationFailed');
    const form = await call('POST', '/portal/api/sign-in', {
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: `token=${server.adminToken}`,
    });
    assert.equal(form.status, 415);
    assert.equal(form.headers.get('set-cookie'), null);
    const foreign = await call('POST', '/portal/api/sign-in', {
      headers: { 'content-type': 'application/json', origin: 'http://evil.example' },
      body: JSON.stringify({ token: server.adminToken }),
    });
    assert.equal(foreign.status, 403);
    assert.equal(foreign.headers.get('set-cookie'), null);
  });

  test('sign-in sets an HttpOnly SameSite=Strict session cookie and answers the CSRF token', async () => {
    const s = await signIn();
    assert.match(s.setCookie, /^nw_session=[A-Za-z0-9_-]{43}; Path=\/; Max-Age=\d+; HttpOnly; SameSite=Strict$/);
    assert.ok(!s.setCookie.includes(server.adminToken), 'the cookie is not the token');
    assert.equal(s.body.signedIn, true);
    assert.equal(s.body.subscriptionId, SUB);
    assert.ok(s.csrf.length >= 43);
    const session = (await (await call('GET', '/portal/api/session', { headers: { cookie: s.cookie } })).json()) as {
      signedIn: boolean;
      csrfToken: string;
    };
    assert.deepEqual([session.signedIn, session.csrfToken], [true, s.csrf]);
    const anonymous = (await (await call('GET', '/portal/api/session')).json()) as {
      signedIn: boolean;
      csrfToken?: string;
    };
    assert.equal(anonymous.signedIn, false);
    assert.equal(anonymous.csrfToken, undefined);
  });

  test('the API reads with the cookie; a change needs the CSRF token and this origin, and nothing changes without', async () => {
    const s = await signIn();
    const list = await call('GET', `/subscriptions/${SUB}/providers/Microsoft.Compute/virtualMachines`, {
      headers: { cookie: s.cookie },
    });
    assert.equal(list.status, 200);
    const json = { 'content-type': 'application/json' };

    const none = await call('PUT', `${RG_PATH}/nocsrf`, {
      headers: { ...json, cookie: s.cookie },
      body: actionGroup('nocsrf'),
    });
    assert.equal(none.status, 403);
    assert.equal(((await none.json()) as { error: { code: string } }).error.code, 'Forbidden');
    const wrong = await call('PUT', `${RG_PATH}/nocsrf`, {
      headers: { ...json, cookie: s.cookie, 'x-nw-csrf-token': `${s.csrf.slice(0, -1)}x` },
      body: actionGroup('nocsrf'),
    });
    assert.equal(wrong.status, 403);
    const other = await signIn();
    const crossed = await call('PUT', `${RG_PATH}/nocsrf`, {
      headers: { ...json, cookie: s.cookie, 'x-nw-csrf-token': other.csrf },
      body: actionGroup('nocsrf'),
    });
    assert.equal(crossed.status, 403, "another session's token does not do");
    const foreign = await call('PUT', `${RG_PATH}/nocsrf`, {
      headers: { ...json, cookie: s.cookie, 'x-nw-csrf-token': s.csrf, origin: 'http://evil.example' },
      body: actionGroup('nocsrf'),
    });
    assert.equal(foreign.status, 403);
    assert.equal(
      (await call('GET', `${RG_PATH}/nocsrf`, { headers: { cookie: s.cookie } })).status,
      404,
      'nothing was created',
    );
    const del = await call('DELETE', `${RG_PATH}/whatever`, { headers: { cookie: s.cookie } });
    assert.equal(del.status, 403, 'DELETE is a change too');

    const ok = await call('PUT', `${RG_PATH}/withcsrf`, {
      headers: { ...json, cookie: s.cookie, 'x-nw-csrf-token': s.csrf, origin: server.url },
      body: actionGroup('withcsrf'),
    });
    assert.ok(ok.status === 200 || ok.status === 201, `status ${ok.status}`);
  });

  test('token clients are unaffected: a bearer token needs no CSRF token, and a bad cookie does not get in', async () => {
    const bearer = await call('PUT', `${RG_PATH}/bearer`, {
      headers: { 'content-type': 'application/json', authorization: `Bearer ${server.adminToken}` },
      body: actionGroup('bearer'),
    });
    assert.ok(bearer.status === 200 || bearer.status === 201, `status ${bearer.status}`);
    assert.equal((await call('GET', `${RG_PATH}/bearer`)).status, 401, 'no credentials');
    assert.equal(
      (await call('GET', `${RG_PATH}/bearer`, { headers: { cookie: 'nw_session=forged' } })).status,
      401,
      'a forged session',
    );
    assert.equal(
      (
        await call('GET', `${RG_PATH}/bearer`, {
          headers: { cookie: 'nw_session=forged', authorization: `Bearer ${server.adminToken}` },
        })
      ).status,
      200,
      'the bearer token counts',
    );
  });

  test('sign-out needs the CSRF token, destroys the session and clears the cookie', async () => {
    const s = await signIn();
    assert.equal((await call('POST', '/portal/api/sign-out', { headers: { cookie: s.cookie } })).status, 403);
    assert.equal(
      (await call('GET', `${RG_PATH}/bearer`, { headers: { cookie: s.cookie } })).status,
      200,
      'still signed in',
    );
    const out = await call('POST', '/portal/api/sign-out', {
      headers: { cookie: s.cookie, 'x-nw-csrf-token': s.csrf },
    });
    assert.equal(out.status, 204);
    assert.match(out.headers.get('set-cookie') ?? '', /^nw_session=; Path=\/; Max-Age=0; HttpOnly; SameSite=Strict$/);
    assert.equal(
      (await call('GET', `${RG_PATH}/bearer`, { headers: { cookie: s.cookie } })).status,
      401,
      'the old cookie is dead',
    );
    const session = (await (await call('GET', '/portal/api/session', { headers: { cookie: s.cookie } })).json()) as {
      signedIn: boolean;
    };
    assert.equal(session.signedIn, false);
  });
});
