/**
 * The real Azure CLI (Debian's az 2.45) reads netwatcher's activity log:
 * `az monitor activity-log list --resource-group rg1` (and --correlation-id, --caller) against a
 * server on loopback with a self-signed certificate, az confined as in test/az/az-env.ts.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureSelfSignedCertificate } from '../src/lib/index.js';
import { startServer, type RunningServer } from '../src/server/index.js';
import { AZ_BIN, AzEnvironment, azLoginCommands, runTimed } from './az/az-env.js';

const SUB = '00000000-0000-0000-0000-000000000000';

describe('az monitor activity-log list', { timeout: 180_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'nw-actaz-'));
  let server: RunningServer;
  let az: AzEnvironment;
  let ca: string;
  const az$ = async (...args: string[]) => {
    const r = await runTimed(AZ_BIN, args, az.env, { timeoutInMs: 90_000 });
    assert.equal(r.code, 0, `az ${args.join(' ')}\n${r.stderr}\n${r.stdout}`);
    return r.stdout;
  };
  /** A call with Node's https (the server's certificate as the only CA). */
  const call = (
    method: string,
    path: string,
    body: unknown,
    headers: Record<string, string> = {},
    token: string | null = server.adminToken,
  ) =>
    new Promise<number>((resolve, reject) => {
      const url = new URL(path, server.url);
      const text = body === undefined ? '' : JSON.stringify(body);
      const req = request(
        url,
        {
          method,
          ca,
          headers: {
            ...(token ? { Authorization: `Bearer ${token}` } : {}),
            'Content-Type': 'application/json',
            'Content-Length': String(Buffer.byteLength(text)),
            ...headers,
          },
        },
        (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        },
      );
      req.on('error', reject);
      req.end(text);
    });

  before(async () => {
    const tls = ensureSelfSignedCertificate(join(dir, 'tls'), ['127.0.0.1', 'localhost']);
    ca = readFileSync(tls.certPath, 'utf8');
    server = await startServer({
      listenHost: '127.0.0.1',
      listenPort: 0,
      dataDir: join(dir, 'data'),
      defaultLocation: 'local',
      subscriptionId: SUB,
      logLevel: 'silent',
      tls: { certPath: tls.certPath, keyPath: tls.keyPath },
    });
    az = await AzEnvironment.create({ caBundle: tls.certPath });
    for (const args of azLoginCommands(server.url, server.adminToken, SUB)) await az$(...args);
  });
  after(async () => {
    await server?.close();
    az?.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  test("a change and a refusal in rg1 are listed by az with Azure's fields; other groups are not", async () => {
    const watcher = (rg: string, name: string) =>
      `/subscriptions/${SUB}/resourceGroups/${rg}/providers/Microsoft.Network/networkWatchers/${name}?api-version=2022-01-01`;
    const created = await call(
      'PUT',
      watcher('rg1', 'nw1'),
      { location: 'local' },
      { 'x-ms-correlation-request-id': '11111111-2222-4333-8444-555555555555' },
    );
    assert.ok([200, 201].includes(created), String(created));
    assert.equal(await call('DELETE', watcher('rg1', 'nw1'), undefined, {}, 'nwa_wrong'), 401);
    const other = await call(
      'PUT',
      `/subscriptions/${SUB}/resourceGroups/rg2/providers/Microsoft.Insights/actionGroups/ag2?api-version=2023-01-01`,
      { location: 'Global', properties: { groupShortName: 'ag2', enabled: true } },
    );
    assert.ok([200, 201].includes(other), String(other));

    const events = JSON.parse(
      await az$('monitor', 'activity-log', 'list', '--resource-group', 'rg1', '--offset', '1h'),
    ) as Array<Record<string, any>>;
    assert.deepEqual(events.map((e) => e.httpRequest.method).sort(), ['DELETE', 'PUT'], JSON.stringify(events));
    const put = events.find((e) => e.httpRequest.method === 'PUT')!;
    assert.equal(put.operationName.value, 'Microsoft.Network/networkWatchers/write');
    assert.equal(put.caller, 'admin');
    assert.equal(put.status.value, 'Succeeded');
    assert.equal(put.resourceGroupName, 'rg1');
    assert.equal(put.correlationId, '11111111-2222-4333-8444-555555555555');
    assert.ok(Date.parse(put.eventTimestamp) > Date.now() - 600_000);
    const refused = events.find((e) => e.httpRequest.method === 'DELETE')!;
    assert.equal(refused.status.value, 'Failed');
    assert.equal(refused.subStatus.value, 'Unauthorized');

    const byCorrelation = JSON.parse(
      await az$('monitor', 'activity-log', 'list', '--correlation-id', '11111111-2222-4333-8444-555555555555'),
    ) as unknown[];
    assert.equal(byCorrelation.length, 1);
    const byCaller = JSON.parse(
      await az$('monitor', 'activity-log', 'list', '--caller', 'admin', '--offset', '1h'),
    ) as Array<Record<string, any>>;
    assert.ok(byCaller.length >= 2 && byCaller.every((e) => e.caller === 'admin'), JSON.stringify(byCaller));
  });
});
