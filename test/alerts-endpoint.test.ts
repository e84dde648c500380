/**
 * The alert-capture endpoint through the real server, agent and tcpdump: every payload fixture
 * (Azure's three schemas and Alertmanager's, `src/alerts/fixtures/`, naming vm1 in rg1 of the
 * default subscription) is accepted and starts a capture on vm1, resolved payloads and repeats
 * start nothing, and every bad input gets a clear 4xx and starts nothing.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Lab, type LabHost } from './lab/lab.js';

const SUB = '00000000-0000-0000-0000-000000000000';
const LOC = 'westcentralus';
const fixture = (name: string): string =>
  readFileSync(new URL(`../src/alerts/fixtures/${name}.json`, import.meta.url), 'utf8');

describe('alert-capture endpoint: payloads and refusals', { timeout: 180_000 }, () => {
  let lab: Lab;
  let host: LabHost;
  let url = '';
  let key = '';

  before(async () => {
    lab = await Lab.create();
    host = await lab.addHost('a', ['10.0.0.3/24']);
    await lab.startServer();
    // The fixtures name vm1 in rg1: the agent's data folder is this lab's own, not the install command's shared default.
    const ext = await lab.nwJson([
      'vm',
      'extension',
      'set',
      '--resource-group',
      'rg1',
      '--vm-name',
      'vm1',
      '--publisher',
      'Microsoft.Azure.NetworkWatcher',
      '--name',
      'NetworkWatcherAgentLinux',
      '--version',
      '1.4',
    ]);
    const argv = String(ext.installCommand).split(/\s+/).filter(Boolean);
    argv[argv.indexOf('--data-dir') + 1] = join(lab.workDir, 'agent-vm1');
    lab.startAgentProcess(host, argv);
    await lab.waitForAgent('rg1', 'vm1');
    const endpoint = await lab.nwJson([
      'network',
      'watcher',
      'alert-capture',
      'create',
      '--name',
      'fixtures',
      '--capture-name',
      'fx',
      '--time-limit',
      '1',
    ]);
    url = String(endpoint.url);
    key = new URL(url).searchParams.get('code')!;
  });
  after(async () => {
    await lab?.destroy();
  });

  // The lab's server is reached from the test process at serverUrl; the endpoint URL names the public one.
  const localUrl = (u: string) => u.replace('http://10.0.0.1:8817', lab.serverUrl);
  const post = async (body: string, opts: { url?: string; headers?: Record<string, string> } = {}) => {
    const res = await fetch(localUrl(opts.url ?? url), {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', ...opts.headers },
      body,
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : null };
  };
  const runs = async () =>
    (await lab.nwJson(['network', 'watcher', 'alert-capture', 'list-runs', '--name', 'fixtures'])) as unknown as Array<
      Record<string, any>
    >;
  const captureStatus = async () => {
    const r = await lab.nw(['network', 'watcher', 'packet-capture', 'show-status', '--name', 'fx', '--location', LOC]);
    return r.code === 0 ? (JSON.parse(r.stdout) as Record<string, unknown>) : null;
  };

  test('each fixture is accepted and starts a capture on vm1; resolved and repeated payloads start nothing', async () => {
    const firing = [
      'azure-common-alert-schema.fired',
      'azure-metric-alert-v2.activated',
      'azure-classic-metric-alert.activated',
      'alertmanager-0.25.firing',
    ];
    const ids = new Set<string>();
    for (const name of firing) {
      const r = await post(fixture(name));
      assert.equal(r.status, 202, `${name}: ${JSON.stringify(r.body)}`);
      assert.equal(r.body.alerts[0].outcome, 'started', name);
      assert.match(
        r.body.alerts[0].target,
        /\/resourceGroups\/rg1\/providers\/Microsoft\.Compute\/virtualMachines\/vm1$/i,
        name,
      );
      ids.add(r.body.alerts[0].runId);
      // The capture really runs on the host, then ends by its 1 s limit and is stored.
      await lab.waitFor(
        async () => (await captureStatus())?.packetCaptureStatus === 'Stopped',
        20_000,
        `the capture of ${name} to end`,
      );
      await lab.waitFor(
        async () => (await runs()).find((x) => x.id === r.body.alerts[0].runId)?.state === 'completed',
        20_000,
        `${name}'s run to complete`,
      );
      const again = await post(fixture(name));
      assert.equal(again.status, 200, `${name} posted twice`);
      assert.equal(again.body.alerts[0].outcome, 'duplicate');
    }
    const done = (await runs()).filter((r) => r.state === 'completed');
    assert.equal(done.length, 4);
    assert.deepEqual(
      new Set(done.map((r) => r.schema)),
      new Set([
        'azureMonitorCommonAlertSchema',
        'AzureMonitorMetricAlert',
        'AzureClassicMetricAlert',
        'AlertmanagerWebhookV4',
      ]),
    );
    assert.ok(
      done.every((r) => r.completion.packetCaptureStatus === 'Stopped' && r.completion.stopReason === 'TimeExceeded'),
    );

    const resolved = await post(fixture('alertmanager-0.25.resolved'));
    assert.equal(resolved.status, 200);
    assert.equal(resolved.body.status, 'Ignored');
    // The key may come in Azure Functions' header instead of the query.
    const common = JSON.parse(fixture('azure-common-alert-schema.fired'));
    common.data.essentials.monitorCondition = 'Resolved';
    const viaHeader = await post(JSON.stringify(common), {
      url: url.split('?')[0],
      headers: { 'x-functions-key': key },
    });
    assert.equal(viaHeader.status, 200);
    assert.equal(viaHeader.body.status, 'Ignored');
    const captures = (await lab.nwJson([
      'network',
      'watcher',
      'packet-capture',
      'list',
      '--location',
      LOC,
    ])) as unknown as unknown[];
    assert.equal(captures.length, 1, "one capture of the name at a time: the seed's clean-up removed the earlier ones");
  });

  test('bad keys, unknown endpoints and hosts, malformed and oversized payloads: clear 4xx, nothing started', async () => {
    const before = (await runs()).filter((r) => r.state === 'running' || r.state === 'completed').length;
    const statusBefore = await captureStatus();
    const good = fixture('azure-common-alert-schema.fired');
    const base = url.split('?')[0]!;
    const cases: Array<[string, Promise<{ status: number; body: any }>, number, string]> = [
      // The last character is changed to one it is not, so the wrong key is never the key by chance.
      [
        'wrong key',
        post(good, { url: `${base}?code=${key.slice(0, -1)}${key.endsWith('A') ? 'B' : 'A'}` }),
        401,
        'AuthenticationFailed',
      ],
      ['no key', post(good, { url: base }), 401, 'AuthenticationFailed'],
      [
        'a bearer token is no key',
        post(good, { url: base, headers: { Authorization: `Bearer ${lab.adminToken}` } }),
        401,
        'AuthenticationFailed',
      ],
      ['unknown endpoint', post(good, { url: url.replace('/fixtures?', '/nosuch?') }), 404, 'NotFound'],
      ['malformed JSON', post('{"schemaId": "azureMonitorCommonAlertSchema", '), 400, 'InvalidRequestContent'],
      ['empty body', post(''), 400, 'InvalidRequestContent'],
      ['not an alert', post('{"hello":"world"}'), 400, 'InvalidRequestContent'],
      ['missing target', post(good.replace('"alertTargetIDs"', '"targets"')), 400, 'InvalidRequestContent'],
      [
        'unknown host',
        post(good.replace(/virtualmachines\/vm1/g, 'virtualmachines/ghost')),
        404,
        'VirtualMachineNotFound',
      ],
      [
        'oversized',
        post(JSON.stringify({ ...JSON.parse(good), padding: 'x'.repeat(300 * 1024) })),
        413,
        'PayloadTooLarge',
      ],
    ];
    for (const [what, p, status, code] of cases) {
      const r = await p;
      assert.equal(r.status, status, `${what}: ${JSON.stringify(r.body)}`);
      assert.equal(r.body.error.code, code, what);
      assert.ok(r.body.error.message.length > 10, what);
    }
    assert.equal((await runs()).filter((r) => r.state === 'running' || r.state === 'completed').length, before);
    assert.deepEqual(await captureStatus(), statusBefore, 'the capture was not touched');
    assert.doesNotMatch(lab.serverOutput, new RegExp(key.replace(/[-]/g, '\\-')), 'the key never reaches the log');
  });

  test('the public prefix opens nothing else: dot segments do not reach the bearer-protected API', async () => {
    const target = new URL(lab.serverUrl);
    const raw = (path: string) =>
      new Promise<number>((resolve, reject) => {
        const req = request({ host: target.hostname, port: target.port, method: 'GET', path }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        });
        req.on('error', reject);
        req.end();
      });
    assert.equal(
      await raw(`/alert-capture/v1/../../subscriptions/${SUB}/providers/Microsoft.Storage/storageAccounts`),
      404,
    );
    assert.equal(
      await raw(`/alert-capture/v1/%2e%2e/%2e%2e/subscriptions/${SUB}/providers/Microsoft.Storage/storageAccounts`),
      404,
    );
    assert.equal(await raw(`/subscriptions/${SUB}/providers/Microsoft.Storage/storageAccounts`), 401);
  });
});
