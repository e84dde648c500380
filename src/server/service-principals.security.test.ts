/**
 * Service principals and their secrets: the secret is answered once and only its SHA-256 is
 * stored; the token endpoint trades it (with its own app id only) for an access token that
 * carries the principal; resetting the secret and deleting the principal cut access at once,
 * access tokens already issued included; deleting a role assignment takes effect at the next
 * request; an agent's credential is never a principal of the API. A Reader lists and shows but
 * cannot create, stop, delete or download; a Data Reader downloads but cannot create.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { PACKET_CAPTURE_DATA_READER_ROLE_ID, READER_ROLE_ID, NETWORK_CONTRIBUTOR_ROLE_ID } from './rbac/index.js';
import { startRbacServer, type RbacServer } from './testing/rbac-server.js';

const SUB = '00000000-0000-0000-0000-000000000000';
const rg = `/subscriptions/${SUB}/resourceGroups/sprg`;
const av = 'api-version=2022-01-01';
const watchers = `${rg}/providers/Microsoft.Network/networkWatchers`;

describe('service principals and their secrets', () => {
  let s: RbacServer;
  before(async () => {
    s = await startRbacServer(SUB);
  });
  after(async () => {
    await s?.close();
  });

  const token = async (clientId: string, secret: string) => {
    const u = new URL(s.server.url);
    const r = await fetch(`${u.origin}/adfs/oauth2/token`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'client_credentials',
        client_id: clientId,
        client_secret: secret,
      }).toString(),
    });
    return { status: r.status, body: (await r.json()) as { access_token?: string; error?: string } };
  };

  test('the secret is answered once, kept as its hash only, and never listed', async () => {
    const sp = await s.createServicePrincipal('ci-bot');
    assert.match(sp.password, /^nws_[A-Za-z0-9_-]{40,}$/);
    assert.match(sp.appId, /^[0-9a-f-]{36}$/);
    const listed = await s.admin('GET', '/admin/v1/servicePrincipals');
    assert.equal(listed.status, 200);
    assert.ok(
      listed.body.includes(sp.appId) && !listed.body.includes(sp.password) && !/password/i.test(listed.body),
      listed.body,
    );
    assert.ok(!(await s.admin('GET', `/admin/v1/servicePrincipals/${sp.appId}`)).body.includes(sp.password));
    assert.ok(!(await s.admin('GET', '/admin/v1/tokens')).body.includes(sp.password));
    const rows = await s.sql.query('SELECT token_hash FROM api_tokens WHERE principal_id = $1', [sp.objectId]);
    assert.deepEqual(
      rows.rows.map((r) => r.token_hash),
      [createHash('sha256').update(sp.password).digest('hex')],
    );
    const dump =
      JSON.stringify((await s.sql.query('SELECT * FROM api_tokens')).rows) +
      JSON.stringify((await s.sql.query('SELECT * FROM service_principals')).rows);
    assert.ok(!dump.includes(sp.password), 'no table holds the secret');
    // A second principal of the same name is refused and changes nothing.
    const again = await s.admin('POST', '/admin/v1/servicePrincipals', { displayName: 'CI-BOT' });
    assert.equal(again.status, 409, again.body);
    assert.equal((await s.admin('GET', '/admin/v1/servicePrincipals')).json.value.length, 1);
    // Only the admin manages principals: a principal with Owner on its subscription cannot list them.
    await s.assign('8e3af657-a8ff-443c-a75c-2fe8c4bcb635', sp.objectId, `/subscriptions/${SUB}`);
    const asOwner = await s.call('GET', '/admin/v1/servicePrincipals', sp.password);
    assert.equal(asOwner.status, 403, asOwner.body);
    assert.match(asOwner.json.error.message, /Netwatcher\/servicePrincipals\/read' over scope '\/'/);
  });

  test('the token endpoint trades the secret with its own app id only; the access token carries the principal', async () => {
    const a = await s.createServicePrincipal('app-a');
    const b = await s.createServicePrincipal('app-b');
    await s.assign(READER_ROLE_ID, a.objectId, rg);
    assert.equal((await token(b.appId, a.password)).status, 401, "another app's id");
    assert.equal((await token(a.appId, 'nws_wrong')).status, 401);
    const ok = await token(a.appId, a.password);
    assert.equal(ok.status, 200, JSON.stringify(ok.body));
    const access = ok.body.access_token!;
    assert.equal((await s.call('GET', `${watchers}?${av}`, access)).status, 200);
    // b has no role: its own access token is refused with AuthorizationFailed naming b.
    const asB = await s.call('GET', `${watchers}?${av}`, (await token(b.appId, b.password)).body.access_token!);
    assert.equal(asB.status, 403);
    assert.ok(asB.json.error.message.includes(`'app-b' with object id '${b.objectId}'`), asB.body);
  });

  test('resetting the secret cuts the old one and its access tokens at once; deleting the principal cuts everything', async () => {
    const sp = await s.createServicePrincipal('rotating');
    await s.assign(READER_ROLE_ID, sp.objectId, rg);
    const access = (await token(sp.appId, sp.password)).body.access_token!;
    assert.equal((await s.call('GET', `${watchers}?${av}`, access)).status, 200);
    const reset = await s.admin('POST', `/admin/v1/servicePrincipals/${sp.appId}/resetCredential`, {});
    assert.equal(reset.status, 200, reset.body);
    const fresh = reset.json.password as string;
    assert.notEqual(fresh, sp.password);
    assert.equal((await s.call('GET', `${watchers}?${av}`, sp.password)).status, 401, 'old secret');
    assert.equal((await s.call('GET', `${watchers}?${av}`, access)).status, 401, 'access token of the old secret');
    assert.equal((await token(sp.appId, sp.password)).status, 401);
    assert.equal((await s.call('GET', `${watchers}?${av}`, fresh)).status, 200, 'new secret');
    const freshAccess = (await token(sp.appId, fresh)).body.access_token!;
    assert.equal((await s.admin('DELETE', `/admin/v1/servicePrincipals/${sp.appId}`)).status, 200);
    assert.equal((await s.call('GET', `${watchers}?${av}`, fresh)).status, 401);
    assert.equal((await s.call('GET', `${watchers}?${av}`, freshAccess)).status, 401);
    const left = await s.sql.query('SELECT count(*)::int AS n FROM role_assignments WHERE principal_id = $1', [
      sp.objectId,
    ]);
    assert.equal(left.rows[0].n, 0, 'its role assignments are gone');
  });

  test('deleting a role assignment takes effect at the next request', async () => {
    const sp = await s.createServicePrincipal('temporary');
    const id = await s.assign(NETWORK_CONTRIBUTOR_ROLE_ID, sp.objectId, rg);
    assert.equal((await s.call('PUT', `${watchers}/nw1?${av}`, sp.password, { location: 'westus' })).status, 201);
    assert.equal(
      (await s.admin('DELETE', `${rg}/providers/Microsoft.Authorization/roleAssignments/${id}?${av}`)).status,
      200,
    );
    assert.equal((await s.call('GET', `${watchers}/nw1?${av}`, sp.password)).status, 403);
  });

  test('Reader lists and shows but cannot create, stop, delete or download; Data Reader downloads but cannot create; refusals change nothing', async () => {
    const reader = await s.createServicePrincipal('oncall');
    const dataReader = await s.createServicePrincipal('analyst');
    await s.assign(READER_ROLE_ID, reader.objectId, rg);
    await s.assign(PACKET_CAPTURE_DATA_READER_ROLE_ID, dataReader.objectId, rg);
    assert.equal((await s.admin('PUT', `${watchers}/nw2?${av}`, { location: 'eastus' })).status, 201);
    const pc = `${watchers}/nw2/packetCaptures/pc1`;
    const before =
      (await s.admin('GET', `${watchers}/nw2/packetCaptures?${av}`)).body +
      (await s.admin('GET', `${watchers}/nw2?${av}`)).body;
    assert.equal((await s.call('GET', `${watchers}?${av}`, reader.password)).status, 200);
    assert.equal((await s.call('GET', `${watchers}/nw2?${av}`, reader.password)).status, 200);
    const body = {
      properties: {
        target: `${rg}/providers/Microsoft.Compute/virtualMachines/vm1`,
        storageLocation: { filePath: '/tmp/x.cap' },
      },
    };
    for (const [method, path, b] of [
      ['PUT', pc, body],
      ['POST', `${pc}/stop`, undefined],
      ['DELETE', pc, undefined],
      ['GET', `${pc}/download`, undefined],
      ['GET', `${pc}/packets`, undefined],
      ['GET', `${pc}/analysis`, undefined],
      ['DELETE', `${watchers}/nw2`, undefined],
    ] as const) {
      const r = await s.call(method, `${path}?${av}`, reader.password, b);
      assert.equal(r.status, 403, `Reader ${method} ${path}: ${r.body}`);
    }
    // Status is no packet: a Reader gets past the check (404: there is no such capture).
    assert.equal((await s.call('POST', `${pc}/queryStatus?${av}`, reader.password)).status, 404);
    assert.equal((await s.call('PUT', `${pc}?${av}`, dataReader.password, body)).status, 403);
    const download = await s.call('GET', `${pc}/download?${av}`, dataReader.password);
    assert.equal(download.status, 404, `the Data Reader passes the check: ${download.body}`);
    assert.equal(
      (await s.admin('GET', `${watchers}/nw2/packetCaptures?${av}`)).body +
        (await s.admin('GET', `${watchers}/nw2?${av}`)).body,
      before,
    );
  });

  test("the portal acts for the principal signed in: its session has that principal's roles, and ends with its secret", async () => {
    const sp = await s.createServicePrincipal('portal-user');
    const signIn = await s.call('POST', '/portal/api/sign-in', null, { token: sp.password });
    assert.equal(signIn.status, 200, signIn.body);
    const cookie = String(([] as string[]).concat(signIn.headers['set-cookie'] ?? [])[0]).split(';')[0]!;
    const withCookie = (path: string) => s.call('GET', `${path}?${av}`, null, undefined, { Cookie: cookie });
    const refused = await withCookie(watchers);
    assert.equal(refused.status, 403, refused.body);
    assert.ok(refused.json.error.message.includes(`'portal-user' with object id '${sp.objectId}'`));
    await s.assign(READER_ROLE_ID, sp.objectId, rg);
    assert.equal((await withCookie(watchers)).status, 200);
    await s.admin('POST', `/admin/v1/servicePrincipals/${sp.appId}/resetCredential`, {});
    assert.equal((await withCookie(watchers)).status, 401, 'a new secret ends the sessions of the old one');
  });

  test('reading a blob of a local storage account is a data action: a Reader is refused, a Data Reader is not', async () => {
    const reader = await s.createServicePrincipal('blob-reader');
    const dataReader = await s.createServicePrincipal('blob-data-reader');
    await s.assign(READER_ROLE_ID, reader.objectId, `/subscriptions/${SUB}`);
    await s.assign(PACKET_CAPTURE_DATA_READER_ROLE_ID, dataReader.objectId, `/subscriptions/${SUB}`);
    const blob = '/storage/nwlocal/network-watcher-logs/none.cap';
    const asReader = await s.call('GET', blob, reader.password);
    assert.equal(asReader.status, 403, asReader.body);
    assert.match(asReader.body, /blobServices\/containers\/blobs\/read/);
    assert.equal((await s.call('GET', blob, dataReader.password)).status, 404, 'past the check: there is no such blob');
    assert.equal((await s.call('GET', blob, null)).status, 401);
  });

  test("an agent's credential is no principal: refused by the API and by the token endpoint", async () => {
    const ext = await s.admin(
      'PUT',
      `${rg}/providers/Microsoft.Compute/virtualMachines/vm9/extensions/NetworkWatcherAgentLinux?${av}`,
      {
        location: 'westus',
        properties: {
          publisher: 'Microsoft.Azure.NetworkWatcher',
          type: 'NetworkWatcherAgentLinux',
          typeHandlerVersion: '1.4',
        },
      },
    );
    const enrollment = ext.json.properties.enrollmentToken as string;
    const enrolled = await s.call('POST', '/agent/v1/enroll', null, { token: enrollment, hostname: 'vm9' });
    assert.equal(enrolled.status, 200, enrolled.body);
    const credential = enrolled.json.credential as string;
    assert.equal((await s.call('GET', `/subscriptions/${SUB}?${av}`, credential)).status, 401);
    assert.equal((await token('anything', credential)).status, 401);
    // Nor can a role assignment name it: the principal must be a service principal, user or group.
    const r = await s.admin(
      'PUT',
      `${rg}/providers/Microsoft.Authorization/roleAssignments/${crypto.randomUUID()}?${av}`,
      { properties: { roleDefinitionId: READER_ROLE_ID, principalId: 'vm9' } },
    );
    assert.equal(r.status, 400, r.body);
    assert.equal(r.json.error.code, 'PrincipalNotFound');
  });
});
