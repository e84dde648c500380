import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { Store, migrate, openPglite, type Db } from '../store/index.js';
import { parseCookies, sessionSetCookie } from './cookies.js';
import { ADMIN_PRINCIPAL_ID } from '../server/principal.js';
import { principalOfSession } from '../server/session-principal.js';
import { SessionStore, secretsEqual } from './sessions.js';

let db: Db;
before(async () => {
  db = await openPglite(null);
  await migrate(db);
});
after(async () => {
  await db.close();
});

test('a session id is random, stored only as its hash, and finds its session', async () => {
  const sessions = new SessionStore(db);
  const a = await sessions.create('admin');
  const b = await sessions.create('admin');
  assert.notEqual(a.id, b.id);
  assert.ok(a.id.length >= 43, 'at least 256 bits');
  assert.notEqual(a.session.csrfToken, b.session.csrfToken);
  const rows = await db.query<Record<string, unknown>>('SELECT * FROM portal_sessions');
  assert.ok(!JSON.stringify(rows).includes(a.id), 'the raw id is nowhere in the table');
  const store = new Store(db);
  const got = await sessions.get(a.id);
  assert.deepEqual(got, { principal: 'admin', stored: 'admin', csrfToken: a.session.csrfToken });
  assert.deepEqual(await principalOfSession(store, got!.stored), {
    kind: 'admin',
    id: ADMIN_PRINCIPAL_ID,
    displayName: 'admin',
    groups: [],
    credentialId: null,
  });
  // A single-sign-on user's session keeps the user principal (never a token).
  const user = { kind: 'user' as const, id: 'oid-1', displayName: 'Alice', groups: ['g1'], credentialId: null };
  const u = await sessions.create(user);
  const gotUser = await sessions.get(u.id);
  assert.equal(gotUser?.principal, 'Alice');
  assert.deepEqual(await principalOfSession(store, gotUser!.stored), user);
  // A service principal's session is never the admin's: a principal that does not exist is refused.
  const sp = await sessions.create('servicePrincipal:11111111-2222-3333-4444-555555555555');
  await assert.rejects(principalOfSession(store, (await sessions.get(sp.id))!.stored), /no longer exists/);
  assert.equal(await sessions.get('not-a-session'), null);
  assert.equal(await sessions.get(''), null);
});

test('rotating the admin token ends the portal sessions signed in with it', async () => {
  const sessions = new SessionStore(db);
  const s = await sessions.create('admin');
  assert.ok(await sessions.get(s.id));
  await new Store(db).rotateAdminToken();
  assert.equal(await sessions.get(s.id), null);
});

test('sign-out destroys the session', async () => {
  const sessions = new SessionStore(db);
  const s = await sessions.create('admin');
  await sessions.destroy(s.id);
  assert.equal(await sessions.get(s.id), null);
});

test('a session expires at the end of its lifetime, and when idle too long', async () => {
  const shortLived = new SessionStore(db, { lifetimeInSeconds: 1 });
  const s = await shortLived.create('admin');
  assert.ok(await shortLived.get(s.id));
  await sleep(1200);
  assert.equal(await shortLived.get(s.id), null, 'past its lifetime');

  const idle = new SessionStore(db, { idleTimeoutInSeconds: 1 });
  const t = await idle.create('admin');
  await sleep(1200);
  assert.equal(await idle.get(t.id), null, 'idle past the timeout');
});

test('cookies: the session cookie is HttpOnly, SameSite=Strict, and Secure with the __Host- prefix on https', () => {
  assert.equal(
    sessionSetCookie('abc', { secure: false, maxAgeInSeconds: 60 }),
    'nw_session=abc; Path=/; Max-Age=60; HttpOnly; SameSite=Strict',
  );
  assert.equal(
    sessionSetCookie('abc', { secure: true, maxAgeInSeconds: 60 }),
    '__Host-nw_session=abc; Path=/; Max-Age=60; HttpOnly; SameSite=Strict; Secure',
  );
  const c = parseCookies('a=1; nw_session=xyz; nw_session=second; junk; b="q"');
  assert.equal(c.get('nw_session'), 'xyz', 'the first of a repeated name');
  assert.equal(c.get('b'), 'q');
  assert.equal(c.has('junk'), false);
  assert.equal(parseCookies(undefined).size, 0);
});

test('secretsEqual compares whole secrets', () => {
  assert.equal(secretsEqual('abc', 'abc'), true);
  assert.equal(secretsEqual('abc', 'abd'), false);
  assert.equal(secretsEqual('abc', 'ab'), false);
  assert.equal(secretsEqual('', 'a'), false);
});
