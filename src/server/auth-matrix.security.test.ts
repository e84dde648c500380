/**
 * The authentication matrix: every route the server registers (which includes every path of the
 * OpenAPI document, the agent routes, the local-storage routes and the alert-capture routes), each
 * called with no token, a wrong token, an enrolled agent's credential and a revoked agent
 * credential (its extension deleted). Each must be refused — or, for the few public routes, answer
 * only what they answer anyone — and no refused request may change anything.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildOpenApiDocument } from './openapi.js';
import { startServer, type RunningServer } from './server.js';
import { rawRequest } from './testing/loopback-agent.js';

const SUB = '00000000-0000-0000-0000-000000000000';
const RG = 'authrg';
const av = 'api-version=2022-01-01';

interface Answer {
  status: number;
  body: string;
}

function call(
  server: RunningServer,
  method: string,
  path: string,
  token: string | null,
  body?: string,
  headers: Record<string, string> = {},
): Promise<Answer> {
  return rawRequest(server.url, method, path, token, body, { headers });
}

describe('authentication matrix', () => {
  let server: RunningServer;
  const dataDir = mkdtempSync(join(tmpdir(), 'nw-authm-'));
  const credentials: Record<string, string | null> = { none: null, wrong: 'nwa_not-a-real-token' };
  const admin = (method: string, path: string, body?: unknown) =>
    call(
      server,
      method,
      `${path}${path.includes('?') ? '&' : '?'}${av}`,
      server.adminToken,
      body === undefined ? undefined : JSON.stringify(body),
    );
  const rgPath = `/subscriptions/${SUB}/resourceGroups/${RG}`;

  /** What the API shows of every resource (etags included, so any write shows). */
  async function snapshot(): Promise<string> {
    const lists = [
      `/subscriptions/${SUB}/providers/Microsoft.Network/networkWatchers`,
      `${rgPath}/providers/Microsoft.Network/networkWatchers/nw1/packetCaptures`,
      `/subscriptions/${SUB}/providers/Microsoft.Compute/virtualMachines`,
      `${rgPath}/providers/Microsoft.Compute/virtualMachines/vm1/extensions`,
      `${rgPath}/providers/Microsoft.Compute/virtualMachines/vm2/extensions`,
      `/subscriptions/${SUB}/providers/Microsoft.Storage/storageAccounts`,
      `/subscriptions/${SUB}/providers/Microsoft.Insights/metricAlerts`,
      `/subscriptions/${SUB}/providers/Microsoft.Insights/actionGroups`,
      `/subscriptions/${SUB}/providers/Microsoft.AlertsManagement/alerts`,
      `/subscriptions/${SUB}/providers/Netwatcher/alertCaptures`,
      `${rgPath}/providers/Netwatcher/alertCaptures/ac1/runs`,
      `/subscriptions/${SUB}/providers/Microsoft.Compute/virtualMachineScaleSets`,
      `/subscriptions/${SUB}/providers/Netwatcher/joinKeys`,
    ];
    const answers = await Promise.all(
      lists.map(async (p) => {
        const r = await admin('GET', p);
        // The VM list holds connection times that move on their own; everything else is compared whole.
        return `${p} ${r.status} ${r.body.replace(/"lastSeen[^,}]*[,}]/g, '')}`;
      }),
    );
    return answers.join('\n');
  }

  before(async () => {
    server = await startServer({
      listenHost: '127.0.0.1',
      listenPort: 0,
      dataDir,
      defaultLocation: 'westus',
      subscriptionId: SUB,
      logLevel: 'silent',
    });
    assert.equal(
      (await admin('PUT', `${rgPath}/providers/Microsoft.Network/networkWatchers/nw1`, { location: 'westus' })).status,
      201,
    );
    const enroll = async (vm: string) => {
      const ext = await admin(
        'PUT',
        `${rgPath}/providers/Microsoft.Compute/virtualMachines/${vm}/extensions/NetworkWatcherAgentLinux`,
        {
          location: 'westus',
          properties: {
            publisher: 'Microsoft.Azure.NetworkWatcher',
            type: 'NetworkWatcherAgentLinux',
            typeHandlerVersion: '1.4',
          },
        },
      );
      assert.ok(ext.status === 201 || ext.status === 200, ext.body);
      const token = (JSON.parse(ext.body) as { properties: { enrollmentToken: string } }).properties.enrollmentToken;
      const r = await call(server, 'POST', '/agent/v1/enroll', null, JSON.stringify({ token, hostname: vm }));
      assert.equal(r.status, 200, r.body);
      return (JSON.parse(r.body) as { credential: string }).credential;
    };
    credentials.agent = await enroll('vm1');
    credentials.revoked = await enroll('vm2');
    // Revocation as an operator does it today: deleting the host's agent extension.
    assert.equal(
      (
        await admin(
          'DELETE',
          `${rgPath}/providers/Microsoft.Compute/virtualMachines/vm2/extensions/NetworkWatcherAgentLinux`,
        )
      ).status,
      200,
    );
    assert.equal(
      (
        await admin('PUT', `${rgPath}/providers/Microsoft.Insights/actionGroups/ag1`, {
          location: 'global',
          properties: { groupShortName: 'ag1', enabled: true, webhookReceivers: [] },
        })
      ).status,
      201,
    );
    const ac = await admin('PUT', `${rgPath}/providers/Netwatcher/alertCaptures/ac1`, { properties: {} });
    assert.ok(ac.status === 201, ac.body);
  });
  after(async () => {
    await server?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  /** A concrete path for a route pattern: real resources where they exist, so a refusal is never a 404 in disguise. */
  function concrete(pattern: string): string {
    const segs = pattern.split('/');
    return segs
      .map((seg, i) => {
        if (seg === '*') return 'network-watcher-logs/x.cap';
        if (!seg.startsWith(':')) return seg;
        const param = seg.slice(1);
        const collection = (segs[i - 1] ?? '').toLowerCase();
        const byCollection: Record<string, string> = {
          subscriptions: SUB,
          resourcegroups: RG,
          networkwatchers: 'nw1',
          packetcaptures: 'pc1',
          virtualmachines: 'vm1',
          extensions: 'NetworkWatcherAgentLinux',
          storageaccounts: 'nwlocal',
          metricalerts: 'rule1',
          actiongroups: 'ag1',
          alertcaptures: 'ac1',
          providers: 'Microsoft.Network',
          locations: 'westus',
          operations: '00000000-0000-0000-0000-000000000001',
          operationresults: '00000000-0000-0000-0000-000000000001',
          alerts: '00000000-0000-0000-0000-000000000002',
        };
        // Positional routes: /alert-capture/v1/:sub/:rg/:name, /storage/:account/…
        const byParam: Record<string, string> = {
          sub: SUB,
          subscriptionId: SUB,
          rg: RG,
          resourceGroupName: RG,
          name: 'ac1',
          alertCaptureName: 'ac1',
          account: 'nwlocal',
          container: 'network-watcher-logs',
        };
        return byCollection[collection] ?? byParam[param] ?? 'x';
      })
      .join('/');
  }

  test('every registered route, with no token, a wrong token, an agent credential and a revoked one: refused, nothing changed', async () => {
    // The routes of the app's plugins, the whole OpenAPI document, and the app's own two.
    const doc = buildOpenApiDocument() as { paths: Record<string, Record<string, { security?: unknown[] }>> };
    const documented = Object.entries(doc.paths).flatMap(([p, ops]) =>
      Object.keys(ops).map((m) => ({ method: m.toUpperCase(), url: p.replace(/\{(\w+)\}/g, ':$1') })),
    );
    const all = [
      ...(server.routes ?? []),
      ...documented,
      { method: 'GET', url: '/healthz' },
      { method: 'GET', url: '/openapi.json' },
    ];
    const shape = (p: string) =>
      p
        .toLowerCase()
        .replace(/\{\w+\}|:\w+/g, '{}')
        .replace(/\/+$/, '');
    const routes = [
      ...new Map(all.filter((r) => r.method !== 'OPTIONS').map((r) => [`${r.method} ${shape(r.url)}`, r])).values(),
    ];
    const registered = new Set((server.routes ?? []).map((r) => `${r.method} ${shape(r.url)}`));
    // Every documented operation but the two the app registers itself is a plugin route (so the sets agree).
    for (const r of documented)
      if (r.url !== '/openapi.json' && r.url !== '/healthz')
        assert.ok(registered.has(`${r.method} ${shape(r.url)}`), `${r.method} ${r.url} is registered`);
    assert.ok(
      routes.some((r) => r.url.startsWith('/storage/')),
      'storage routes are in the matrix',
    );
    assert.ok(
      routes.some((r) => r.url.startsWith('/agent/')),
      'agent routes are in the matrix',
    );
    assert.ok(
      routes.some((r) => r.url.startsWith('/alert-capture/')),
      'the alert-capture trigger is in the matrix',
    );

    // Public routes answer anyone the same (nothing secret) or check their own proof.
    const publicAnswers: Record<string, (r: Answer, who: string) => boolean> = {
      'GET /healthz': (r) => r.status === 200 && r.body === '{"status":"ok"}',
      'HEAD /healthz': (r) => r.status === 200,
      'GET /openapi.json': (r) => r.status === 200,
      'HEAD /openapi.json': (r) => r.status === 200,
      'GET /agent/v1/ca.pem': (r) => r.status === 404, // plain http: no CA to hand out
      'HEAD /agent/v1/ca.pem': (r) => r.status === 404,
      // Discovery for az and MSAL (sdk.md): the same public answer for anyone, never a credential.
      'GET /metadata/endpoints': (r) => r.status === 200 && !/nw[aego]_/.test(r.body),
      'HEAD /metadata/endpoints': (r) => r.status === 200,
      'GET /adfs/.well-known/openid-configuration': (r) => r.status === 200 && !/nw[aego]_/.test(r.body),
      'HEAD /adfs/.well-known/openid-configuration': (r) => r.status === 200,
      // The token endpoint checks its own proof (the form's client_secret): a JSON body is no grant.
      'POST /adfs/oauth2/token': (r) => (r.status === 400 || r.status === 401) && !/access_token/.test(r.body),
      // The portal's page and assets hold no data; its session routes check the session cookie.
      'GET /': (r) => r.status === 200 && r.body.startsWith('<!doctype html>'),
      'HEAD /': (r) => r.status === 200,
      'GET /portal/assets/:file': (r) => r.status === 404,
      'HEAD /portal/assets/:file': (r) => r.status === 404,
      'GET /portal/assets/:assetName': (r) => r.status === 404,
      'HEAD /portal/assets/:assetName': (r) => r.status === 404,
      'GET /portal/api/session': (r) =>
        r.status === 200 && r.body.includes('"signedIn":false') && !r.body.includes('csrfToken'),
      'HEAD /portal/api/session': (r) => r.status === 200,
      'POST /portal/api/sign-in': (r) => (r.status === 401 || r.status === 403) && !/set-cookie/i.test(r.body),
      'POST /portal/api/sign-out': (r) => r.status === 401,
    };
    const before = await snapshot();
    let checked = 0;
    for (const route of routes) {
      const key = `${route.method} ${route.url}`;
      const path = concrete(route.url);
      for (const [who, token] of Object.entries(credentials)) {
        const body =
          route.method === 'PUT' || route.method === 'POST'
            ? route.url === '/agent/v1/enroll'
              ? JSON.stringify({ token: token ?? 'nwe_guess', hostname: 'h' })
              : route.url === '/agent/v1/join'
                ? JSON.stringify({ joinKey: token ?? 'nwj_guess', vmName: 'h' })
                : JSON.stringify({ location: 'westus', properties: {} })
            : undefined;
        const r = await call(server, route.method, `${path}?${av}`, token, body);
        checked++;
        const what = `${key} (${path}) with ${who}: ${r.status} ${r.body.slice(0, 200)}`;
        if (publicAnswers[key]) {
          assert.ok(publicAnswers[key]!(r, who), what);
          continue;
        }
        if (route.url.startsWith('/storage/')) {
          // Uploads need a signature, reads the admin token: an agent credential opens neither.
          assert.ok(r.status === 401 || r.status === 403, what);
          continue;
        }
        if (route.url === '/agent/v1/join') {
          // A join checks its own proof (the join key in the body): no bearer token is one.
          assert.equal(r.status, 401, what);
          assert.match(r.body, /InvalidJoinKey/, what);
          continue;
        }
        if (route.url === '/agent/v1/enroll') {
          assert.equal(r.status, 401, what);
          assert.match(r.body, /InvalidEnrollmentToken/, what);
          continue;
        }
        assert.equal(r.status, 401, what);
        if (route.method !== 'HEAD') assert.match(r.body, /"code":"AuthenticationFailed"/, what);
      }
    }
    assert.ok(checked >= 4 * 50, `${checked} requests`);
    assert.equal(await snapshot(), before, 'refused requests changed nothing');
  });

  test('the agent WebSocket takes only a live agent credential', async () => {
    const upgrade = (token: string | null) =>
      call(server, 'GET', '/agent/v1/connect', token, undefined, {
        Connection: 'Upgrade',
        Upgrade: 'websocket',
        'Sec-WebSocket-Version': '13',
        'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==',
      }).catch((e: Error) => ({ status: -1, body: e.message }));
    for (const [who, token] of Object.entries({ ...credentials, admin: server.adminToken })) {
      if (who === 'agent') continue;
      const r = await upgrade(token);
      assert.equal(r.status, 401, `${who}: ${r.status} ${r.body}`);
    }
  });
});
