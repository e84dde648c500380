/**
 * Issue 9, points 1 and 2 through the real server (embedded database, loopback): revocation is
 * immediate, enrolment tokens are single and short-lived, the admin token rotates, agent
 * credentials are revocable per host, and every token says what it is.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import { migrate, openPglite, Store } from '../store/index.js';
import { CLOSE_CREDENTIAL_REVOKED } from './agent-hub.js';
import { AGENT_CONNECT_PATH } from '../model/index.js';
import { tokenKindOfPrefix, verifyCredential } from './credentials.js';
import { startServer, type RunningServer } from './server.js';
import { apiCaller, waitFor, startLoopbackServer } from './testing/loopback-agent.js';

const SUB = '00000000-0000-0000-0000-000000000000';
const VM_PATH = (vm: string) =>
  `/subscriptions/${SUB}/resourceGroups/rg1/providers/Microsoft.Compute/virtualMachines/${vm}`;

describe('credentials and revocation', () => {
  let server: RunningServer;
  const dataDir = mkdtempSync(join(tmpdir(), 'nw-auth-sec-'));
  let adminToken = '';
  const call = apiCaller(
    () => server,
    '2022-01-01',
    () => adminToken,
  );
  const installExtension = async (vm: string) => {
    const r = await call('PUT', `${VM_PATH(vm)}/extensions/NetworkWatcherAgentLinux`, {
      properties: { publisher: 'Microsoft.Azure.NetworkWatcher', type: 'NetworkWatcherAgentLinux' },
    });
    assert.ok(r.status === 200 || r.status === 201, JSON.stringify(r.body));
    return String(r.body.properties.enrollmentToken);
  };
  const enroll = async (token: string) => call('POST', '/agent/v1/enroll', { token, hostname: 'h' }, null);
  /** A raw agent connection: hello sent, the host connected. */
  const connectAgent = async (credential: string, vm: string) => {
    const ws = new WebSocket(`${server.url.replace('http', 'ws')}${AGENT_CONNECT_PATH}`, {
      headers: { Authorization: `Bearer ${credential}` },
    });
    const received: Array<{ type: string }> = [];
    ws.on('message', (d) => received.push(JSON.parse(d.toString())));
    const closed = once(ws, 'close') as Promise<[number, Buffer]>;
    await once(ws, 'open');
    ws.send(JSON.stringify({ type: 'hello', protocolVersion: 1, agentVersion: 't', hostname: 'h', captures: [] }));
    await waitFor(async () => (await call('GET', VM_PATH(vm))).body.properties?.netwatcher?.agentConnected === true);
    return { ws, received, closed };
  };
  const wsRefused = async (credential: string) => {
    const ws = new WebSocket(`${server.url.replace('http', 'ws')}${AGENT_CONNECT_PATH}`, {
      headers: { Authorization: `Bearer ${credential}` },
    });
    const [err] = (await once(ws, 'error')) as [Error];
    return err.message;
  };

  before(async () => {
    server = await startLoopbackServer(dataDir, SUB);
    adminToken = server.adminToken;
  });
  after(async () => {
    await server?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  test('deleting the agent extension closes the live connection at once; the VM shows disconnected; the old credential is refused', async () => {
    const enrolled = await enroll(await installExtension('vmdel'));
    assert.equal(enrolled.status, 200);
    const agent = await connectAgent(enrolled.body.credential, 'vmdel');
    const started = Date.now();
    assert.equal((await call('DELETE', `${VM_PATH('vmdel')}/extensions/NetworkWatcherAgentLinux`)).status, 200);
    const [code] = await agent.closed;
    assert.equal(code, CLOSE_CREDENTIAL_REVOKED);
    assert.ok(Date.now() - started < 2000, 'closed at once, not at a later sweep');
    assert.equal((await call('GET', VM_PATH('vmdel'))).body.properties.netwatcher.agentConnected, false);
    assert.match(await wsRefused(enrolled.body.credential), /401/);
  });

  test('a re-installed extension: the old agent is cut, only the new agent is connected', async () => {
    const first = await enroll(await installExtension('vmre'));
    const oldAgent = await connectAgent(first.body.credential, 'vmre');
    const second = await enroll(await installExtension('vmre'));
    assert.equal(second.status, 200);
    const [code] = await oldAgent.closed;
    assert.equal(code, CLOSE_CREDENTIAL_REVOKED);
    const newAgent = await connectAgent(second.body.credential, 'vmre');
    assert.match(await wsRefused(first.body.credential), /401/);
    newAgent.ws.close();
  });

  test('a new enrolment token voids the earlier unused one', async () => {
    const earlier = await installExtension('vmtok');
    const later = await installExtension('vmtok');
    const r = await enroll(earlier);
    assert.equal(r.status, 401);
    assert.equal(r.body.error.code, 'InvalidEnrollmentToken');
    assert.equal((await enroll(later)).status, 200);
  });

  test('revokeAgentCredential cuts one host and leaves the others connected', async () => {
    const a = await enroll(await installExtension('vmra'));
    const b = await enroll(await installExtension('vmrb'));
    const agentA = await connectAgent(a.body.credential, 'vmra');
    const agentB = await connectAgent(b.body.credential, 'vmrb');
    const r = await call('POST', `${VM_PATH('vmra')}/revokeAgentCredential`);
    assert.equal(r.status, 200);
    assert.ok(r.body.revokedTokens >= 1, 'the credential (and the used enrolment token) are gone');
    assert.equal((await agentA.closed)[0], CLOSE_CREDENTIAL_REVOKED);
    assert.equal(agentB.ws.readyState, WebSocket.OPEN);
    assert.equal((await call('GET', VM_PATH('vmrb'))).body.properties.netwatcher.agentConnected, true);
    assert.equal((await call('POST', `${VM_PATH('nosuchvm')}/revokeAgentCredential`)).status, 404);
    agentB.ws.close();
  });

  test('tokens have distinguishable prefixes and every row says what it is for', async () => {
    const enrolment = await installExtension('vmpre');
    const credential = String((await enroll(enrolment)).body.credential);
    assert.equal(tokenKindOfPrefix(enrolment), 'enrollment');
    assert.match(enrolment, /^nwe_/);
    assert.match(credential, /^nwg_/);
    assert.equal(tokenKindOfPrefix(adminToken), 'admin');
    const rows = (await call('GET', '/admin/v1/tokens')).body.value as Array<Record<string, unknown>>;
    assert.ok(rows.length > 0);
    for (const row of rows) {
      assert.ok(typeof row.description === 'string' && row.description.length > 0, JSON.stringify(row));
      assert.ok(['admin', 'agent', 'enrollment'].includes(String(row.kind)));
      assert.equal(JSON.stringify(row).includes(credential), false, 'no token in the list');
    }
    assert.equal(
      (await call('GET', '/admin/v1/tokens', undefined, credential)).status,
      401,
      'an agent credential is no admin token',
    );
  });

  test('rotating the admin token: the old one fails at once, the new one is in DATA_DIR/admin-token (0600)', async () => {
    const old = adminToken;
    const blind = await call('POST', '/admin/v1/rotate-admin-token');
    assert.equal(blind.status, 400, 'a POST without {"confirm": true} changes nothing');
    assert.equal((await call('GET', '/admin/v1/tokens', undefined, old)).status, 200);
    const r = await call('POST', '/admin/v1/rotate-admin-token', { confirm: true });
    assert.equal(r.status, 200);
    const fresh = String(r.body.token);
    assert.match(fresh, /^nwa_/);
    assert.notEqual(fresh, old);
    assert.equal((await call('GET', '/admin/v1/tokens', undefined, old)).status, 401);
    assert.equal((await call('GET', '/admin/v1/tokens', undefined, fresh)).status, 200);
    const file = join(dataDir, 'admin-token');
    assert.equal(readFileSync(file, 'utf8').trim(), fresh);
    assert.equal(statSync(file).mode & 0o777, 0o600);
    adminToken = fresh;
  });
});

test('a stale admin-token file (rotated elsewhere) never brings the old token back at start; legacy tokens keep working', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'nw-auth-stale-'));
  try {
    const s1 = await startServer({
      listenHost: '127.0.0.1',
      listenPort: 0,
      dataDir,
      defaultLocation: 'l',
      subscriptionId: SUB,
      logLevel: 'silent',
    });
    const old = s1.adminToken;
    await s1.close();
    // Rotation on the database alone (as `nw server rotate-admin-token --database-url` does), the file left behind.
    const db = await openPglite(join(dataDir, 'db'));
    await migrate(db);
    const store = new Store(db);
    const rotated = await store.rotateAdminToken();
    // A token from before the prefixes (agents were `nwa_` too) still verifies by its hash.
    await store.issueToken('agent', { token: 'nwa_legacy-agent-credential', vmKey: 'vmkey' });
    assert.equal((await verifyCredential(store, 'nwa_legacy-agent-credential'))?.kind, 'agent');
    assert.equal(await verifyCredential(store, old), null);
    await db.close();
    const s2 = await startServer({
      listenHost: '127.0.0.1',
      listenPort: 0,
      dataDir,
      defaultLocation: 'l',
      subscriptionId: SUB,
      logLevel: 'silent',
    });
    try {
      assert.notEqual(s2.adminToken, old);
      const res = await fetch(`${s2.url}/admin/v1/tokens`, { headers: { Authorization: `Bearer ${old}` } });
      assert.equal(res.status, 401, 'the rotated token stays revoked');
      const ok = await fetch(`${s2.url}/admin/v1/tokens`, { headers: { Authorization: `Bearer ${rotated.token}` } });
      assert.equal(ok.status, 200);
    } finally {
      await s2.close();
    }
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});
