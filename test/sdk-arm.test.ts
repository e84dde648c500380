/**
 * Azure's own SDK clients against a netwatcher server over https, without hosts: watchers, the
 * agent extension, VM lists paged with nextLink, the refusals Azure would make, ARM conventions
 * (etag and ETag, request ids, any api-version, case-insensitive paths and properties), the CA
 * hand-out for agents, and the OpenAPI document (served, committed, in step with the answers).
 *
 * The server runs in this process with a self-signed certificate; the SDK runs in a child
 * process that trusts it through NODE_EXTRA_CA_CERTS, as a user's script would.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { z } from 'zod';
import { createCaFetch } from '../src/cli/index.js';
import { API_ERROR_CODES, certificateSha256, createSelfSignedCertificate } from '../src/lib/index.js';
import {
  API_SCHEMAS,
  buildOpenApiDocument,
  openApiText,
  startServer,
  type ApiSchemaName,
  type RunningServer,
} from '../src/server/index.js';
import { SdkProcess } from './sdk/sdk-process.js';

const SUB = '00000000-0000-0000-0000-000000000000';
const LOC = 'westcentralus';
const POLL = { updateIntervalInMs: 50 };
const EXT = {
  location: LOC,
  publisher: 'Microsoft.Azure.NetworkWatcher',
  typePropertiesType: 'NetworkWatcherAgentLinux',
  typeHandlerVersion: '1.4',
  autoUpgradeMinorVersion: true,
};

describe('Azure SDK against netwatcher over https (no hosts)', { timeout: 120_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'nw-sdk-arm-'));
  const certPath = join(dir, 'tls', 'cert.pem');
  const keyPath = join(dir, 'tls', 'key.pem');
  let server: RunningServer;
  let sdk: SdkProcess;
  let caFetch: ReturnType<typeof createCaFetch>;
  /** Every answer body seen, with the schema it must follow (checked at the end). */
  const seen: Array<{ schema: ApiSchemaName; body: unknown; what: string }> = [];

  const raw = async (
    method: string,
    path: string,
    opts: { body?: string; token?: string | null; headers?: Record<string, string> } = {},
  ) => {
    const token = opts.token === undefined ? server.adminToken : opts.token;
    const res = await caFetch(`${server.url}${path}`, {
      method,
      headers: {
        ...(token ? { Authorization: `Bearer ${token}` } : {}),
        ...(opts.body !== undefined ? { 'Content-Type': 'application/json' } : {}),
        ...opts.headers,
      },
      ...(opts.body !== undefined ? { body: opts.body } : {}),
    });
    const text = await res.text();
    let body: any = text;
    try {
      body = text ? JSON.parse(text) : null;
    } catch {
      /* not JSON */
    }
    return { status: res.status, headers: res.headers, body };
  };
  const expect = (schema: ApiSchemaName, body: unknown, what: string) => {
    seen.push({ schema, body, what });
    return body;
  };

  before(async () => {
    mkdirSync(join(dir, 'tls'));
    const pair = createSelfSignedCertificate({ names: ['127.0.0.1', 'localhost'] });
    writeFileSync(certPath, pair.certPem);
    writeFileSync(keyPath, pair.keyPem, { mode: 0o600 });
    caFetch = createCaFetch(pair.certPem);
    server = await startServer({
      listenHost: '127.0.0.1',
      listenPort: 0,
      dataDir: join(dir, 'data'),
      defaultLocation: LOC,
      subscriptionId: SUB,
      logLevel: 'silent',
      tls: { certPath, keyPath },
      listPageSizeInItems: 2,
    });
    assert.match(server.url, /^https:\/\/127\.0\.0\.1:\d+$/);
    sdk = await SdkProcess.start({ endpoint: server.url, token: server.adminToken, caFile: certPath });
  });
  after(async () => {
    await sdk?.close();
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('certificate checks stay on: without the CA the SDK refuses the server', async () => {
    const untrusting = await SdkProcess.start({ endpoint: server.url, token: server.adminToken });
    try {
      const error = await untrusting.callFailing('network', 'networkWatchers.listAll');
      assert.match(`${error.code} ${error.message}`, /SELF_SIGNED|self.signed/i);
    } finally {
      await untrusting.close();
    }
  });

  test('network watchers: createOrUpdate (not long-running), get, list, listAll, and the errors', async () => {
    const created = await sdk.call('network', 'networkWatchers.createOrUpdate', 'sdkrg', 'nwEast', {
      location: 'eastus',
      tags: { team: 'net' },
    });
    assert.equal(created.name, 'nwEast');
    assert.equal(created.location, 'eastus');
    assert.equal(created.provisioningState, 'Succeeded');
    assert.deepEqual(created.tags, { team: 'net' });
    assert.match(created.etag, /^W\/"/);
    const updated = await sdk.call('network', 'networkWatchers.createOrUpdate', 'sdkrg', 'nwEast', {
      location: 'eastus',
      tags: { team: 'sre' },
    });
    assert.deepEqual(updated.tags, { team: 'sre' });
    assert.notEqual(updated.etag, created.etag, 'a write changes the etag');
    const got = await sdk.call('network', 'networkWatchers.get', 'sdkrg', 'nwEast');
    assert.equal(
      got.id,
      `/subscriptions/${SUB}/resourceGroups/sdkrg/providers/Microsoft.Network/networkWatchers/nwEast`,
    );
    const inRg = await sdk.call<Array<{ name: string }>>('network', 'networkWatchers.list', 'sdkrg');
    assert.deepEqual(
      inRg.map((w) => w.name),
      ['nwEast'],
    );
    const all = await sdk.call<Array<{ name: string }>>('network', 'networkWatchers.listAll');
    assert.ok(all.some((w) => w.name === 'nwEast'));

    const missing = await sdk.callFailing('network', 'networkWatchers.get', 'sdkrg', 'nope');
    assert.deepEqual([missing.name, missing.statusCode, missing.code], ['RestError', 404, 'NetworkWatcherNotFound']);
    const second = await sdk.callFailing('network', 'networkWatchers.createOrUpdate', 'sdkrg', 'nwEast2', {
      location: 'eastus',
    });
    assert.deepEqual([second.statusCode, second.code], [409, 'Conflict']);

    const r = await raw(
      'GET',
      `/subscriptions/${SUB}/resourceGroups/sdkrg/providers/Microsoft.Network/networkWatchers/nwEast?api-version=2025-05-01`,
    );
    expect('NetworkWatcher', r.body, 'watcher GET');
    expect(
      'NetworkWatcherListResult',
      (await raw('GET', `/subscriptions/${SUB}/providers/Microsoft.Network/networkWatchers?api-version=2025-05-01`))
        .body,
      'watcher listAll',
    );
  });

  test('agent extension through the compute SDK: long-running PUT, get; the VM exists after', async () => {
    const ext = await sdk.call(
      'compute',
      'virtualMachineExtensions.beginCreateOrUpdateAndWait',
      'sdkrg',
      'vm1',
      'NetworkWatcherAgentLinux',
      EXT,
      POLL,
    );
    assert.equal(ext.name, 'NetworkWatcherAgentLinux');
    assert.equal(ext.publisher, 'Microsoft.Azure.NetworkWatcher');
    assert.equal(ext.typePropertiesType, 'NetworkWatcherAgentLinux');
    assert.equal(ext.typeHandlerVersion, '1.4');
    assert.equal(ext.provisioningState, 'Creating', 'Creating until the agent connects');
    const got = await sdk.call('compute', 'virtualMachineExtensions.get', 'sdkrg', 'vm1', 'NetworkWatcherAgentLinux');
    assert.equal(
      got.id,
      `/subscriptions/${SUB}/resourceGroups/sdkrg/providers/Microsoft.Compute/virtualMachines/vm1/extensions/NetworkWatcherAgentLinux`,
    );
    const vm = await sdk.call('compute', 'virtualMachines.get', 'sdkrg', 'vm1');
    assert.equal(vm.location, LOC);
    const nope = await sdk.callFailing(
      'compute',
      'virtualMachineExtensions.get',
      'sdkrg',
      'novm',
      'NetworkWatcherAgentLinux',
    );
    assert.deepEqual([nope.statusCode, nope.code], [404, 'VirtualMachineNotFound']);

    // The PUT answer carries the one-time install command; with a self-signed certificate it pins the CA.
    const put = await raw(
      'PUT',
      `/subscriptions/${SUB}/resourceGroups/sdkrg/providers/Microsoft.Compute/virtualMachines/vm1/extensions/NetworkWatcherAgentLinux?api-version=2026-03-01`,
      {
        body: JSON.stringify({ location: LOC, properties: { publisher: EXT.publisher, type: EXT.typePropertiesType } }),
      },
    );
    assert.equal(put.status, 200);
    expect('VirtualMachineExtension', put.body, 'extension PUT');
    const pin = certificateSha256(readFileSync(certPath, 'utf8'));
    assert.match(
      put.body.properties.installCommand,
      new RegExp(
        `^nw agent --server https://127\\.0\\.0\\.1:\\d+ --token \\S+ --data-dir (\\S+) --ca-file \\1/server-ca\\.pem --ca-sha256 ${pin}$`,
      ),
    );
    const ca = await raw('GET', '/agent/v1/ca.pem', { token: null });
    assert.equal(ca.status, 200);
    assert.match(ca.headers.get('content-type') ?? '', /x-pem-file/);
    assert.equal(certificateSha256(ca.body), pin);
    expect(
      'VirtualMachineExtension',
      (
        await raw(
          'GET',
          `/subscriptions/${SUB}/resourceGroups/sdkrg/providers/Microsoft.Compute/virtualMachines/vm1/extensions/AzureNetworkWatcherExtension`,
        )
      ).body,
      'extension GET',
    );
    expect(
      'VirtualMachine',
      (await raw('GET', `/subscriptions/${SUB}/resourceGroups/sdkrg/providers/Microsoft.Compute/virtualMachines/vm1`))
        .body,
      'VM GET',
    );
  });

  test('VM lists come in pages with nextLink (api-version inside), and the SDK follows them', async () => {
    for (let i = 0; i < 5; i++) {
      const r = await raw(
        'PUT',
        `/subscriptions/${SUB}/resourceGroups/pagerg/providers/Microsoft.Compute/virtualMachines/host${i}/extensions/NetworkWatcherAgentLinux?api-version=2026-03-01`,
        { body: '{}' },
      );
      assert.equal(r.status, 201);
    }
    const first = await raw(
      'GET',
      `/subscriptions/${SUB}/resourceGroups/pagerg/providers/Microsoft.Compute/virtualMachines?api-version=2026-03-01`,
    );
    expect('VirtualMachineListResult', first.body, 'VM list page');
    assert.equal(first.body.value.length, 2);
    const next = new URL(first.body.nextLink);
    assert.equal(next.origin, server.url);
    assert.equal(next.searchParams.get('api-version'), '2026-03-01');
    assert.ok(next.searchParams.get('$skiptoken'));
    const names = (await sdk.call<Array<{ name: string }>>('compute', 'virtualMachines.list', 'pagerg'))
      .map((v) => v.name)
      .sort();
    assert.deepEqual(names, ['host0', 'host1', 'host2', 'host3', 'host4']);
    const all = (await sdk.call<Array<{ name: string }>>('compute', 'virtualMachines.listAll')).map((v) => v.name);
    assert.equal(new Set(all).size, all.length, 'no VM twice');
    assert.ok(['vm1', 'host0', 'host4'].every((n) => all.includes(n)));
    const bad = await raw(
      'GET',
      `/subscriptions/${SUB}/resourceGroups/pagerg/providers/Microsoft.Compute/virtualMachines?$skiptoken=garbage`,
    );
    assert.equal(bad.status, 400);
    expect('ErrorResponse', bad.body, 'bad skiptoken');
  });

  test('captures: the refusals Azure makes, as RestErrors with ARM codes; a missing capture deletes with 204', async () => {
    const watcher = ['NetworkWatcherRG', `NetworkWatcher_${LOC}`] as const;
    const target = `/subscriptions/${SUB}/resourceGroups/sdkrg/providers/Microsoft.Compute/virtualMachines/vm1`;
    const storageId = `/subscriptions/${SUB}/resourceGroups/NetworkWatcherRG/providers/Microsoft.Storage/storageAccounts/nwlocal`;
    // The first host of a location creates its watcher when its agent enrols; make it here.
    await sdk.call('network', 'networkWatchers.createOrUpdate', ...watcher, { location: LOC });
    const create = (w: readonly [string, string], name: string, params: unknown) =>
      sdk.callFailing('network', 'packetCaptures.beginCreateAndWait', ...w, name, params, POLL);
    const cases: Array<[string, readonly [string, string], unknown, number, string]> = [
      ['no storageLocation', watcher, { target }, 400, 'MissingRequiredProperty'],
      ['no target', watcher, { storageLocation: { storageId } }, 400, 'MissingRequiredProperty'],
      ['neither storageId nor filePath', watcher, { target, storageLocation: {} }, 400, 'MissingRequiredProperty'],
      [
        'unknown watcher',
        ['NetworkWatcherRG', 'NetworkWatcher_nowhere'],
        { target, storageLocation: { storageId } },
        404,
        'NetworkWatcherNotFound',
      ],
      [
        'unknown VM',
        watcher,
        { target: target.replace('vm1', 'ghost'), storageLocation: { storageId } },
        404,
        'VirtualMachineNotFound',
      ],
      ['target not a VM id', watcher, { target: 'vm1', storageLocation: { storageId } }, 400, 'InvalidResourceId'],
      [
        'time limit over 5 h',
        watcher,
        { target, storageLocation: { storageId }, timeLimitInSeconds: 18001 },
        400,
        'InvalidRequestContent',
      ],
      [
        'bad filter',
        watcher,
        { target, storageLocation: { storageId }, filters: [{ protocol: 'TCP', localPort: '99999' }] },
        400,
        'InvalidFilter',
      ],
      [
        'file outside /var/captures',
        watcher,
        { target, storageLocation: { filePath: '/etc/x.cap' } },
        400,
        'InvalidFilePath',
      ],
      [
        'filePath with continuousCapture (Azure: localPath)',
        watcher,
        { target, storageLocation: { storageId, filePath: '/var/captures/ring.cap' }, continuousCapture: true },
        400,
        'InvalidParameter',
      ],
      [
        'captureSettings not supported yet',
        watcher,
        { target, storageLocation: { storageId }, captureSettings: { fileCount: 3 } },
        400,
        'InvalidParameter',
      ],
      [
        'filePath with continuousCapture false',
        watcher,
        { target, storageLocation: { filePath: '/var/captures/x.cap' }, continuousCapture: false },
        400,
        'InvalidParameter',
      ],
      ['agent not connected', watcher, { target, storageLocation: { storageId } }, 400, 'AgentNotConnected'],
    ];
    for (const [what, w, params, statusCode, code] of cases) {
      const e = await create(w, 'refused', params);
      assert.deepEqual([e.name, e.statusCode, e.code], ['RestError', statusCode, code], `${what}: ${e.message}`);
      assert.ok(e.message.length > 10, `${what}: the message says what is wrong`);
    }
    assert.deepEqual(await sdk.call('network', 'packetCaptures.list', ...watcher), [], 'nothing was created');
    // Never silently ignored (issue 13): the refusal names the property it cannot honour.
    const pcPath = `/subscriptions/${SUB}/resourceGroups/${watcher[0]}/providers/Microsoft.Network/networkWatchers/${watcher[1]}/packetCaptures/ring?api-version=2024-05-01`;
    for (const [props, property] of [
      [{ continuousCapture: true, captureSettings: { fileCount: 1 } }, 'properties.captureSettings.fileCount'],
      [
        { captureSettings: { fileCount: 3, fileSizeInBytes: 1048576, sessionTimeLimitInSeconds: 600 } },
        'properties.captureSettings',
      ],
    ] as const) {
      const r = await raw('PUT', pcPath, {
        body: JSON.stringify({ properties: { target, storageLocation: { storageId }, ...props } }),
      });
      assert.equal(r.status, 400, property);
      const error = (r.body as { error: { code: string; target: string; message: string } }).error;
      assert.deepEqual([error.code, error.target], ['InvalidParameter', property]);
      assert.ok(error.message.includes(property), error.message);
    }

    const get = await sdk.callFailing('network', 'packetCaptures.get', ...watcher, 'missing');
    assert.deepEqual([get.statusCode, get.code], [404, 'PacketCaptureNotFound']);
    const status = await sdk.callFailing(
      'network',
      'packetCaptures.beginGetStatusAndWait',
      ...watcher,
      'missing',
      POLL,
    );
    assert.deepEqual([status.statusCode, status.code], [404, 'PacketCaptureNotFound']);
    await sdk.call('network', 'packetCaptures.beginDeleteAndWait', ...watcher, 'missing', POLL);

    // What the SDK cannot send: bad JSON and wrong types.
    const path = `/subscriptions/${SUB}/resourceGroups/${watcher[0]}/providers/Microsoft.Network/networkWatchers/${watcher[1]}/packetCaptures/raw?api-version=2025-05-01`;
    const rawCases: Array<[string, string]> = [
      ['{"properties": ', 'InvalidRequestContent'],
      ['[1,2]', 'InvalidRequestContent'],
      [
        JSON.stringify({ properties: { target, storageLocation: { storageId }, totalBytesPerSession: 'lots' } }),
        'InvalidRequestContent',
      ],
      [JSON.stringify({ properties: { target: 42, storageLocation: { storageId } } }), 'InvalidRequestContent'],
      [JSON.stringify({ properties: { target, storageLocation: 'here' } }), 'InvalidRequestContent'],
    ];
    for (const [body, code] of rawCases) {
      const r = await raw('PUT', path, { body });
      assert.equal(r.status, 400, body);
      assert.match(r.headers.get('content-type') ?? '', /^application\/json/);
      assert.equal(r.body.error.code, code, `${body}: ${JSON.stringify(r.body)}`);
      expect('ErrorResponse', r.body, `refusal of ${body}`);
    }
    const unauthenticated = await raw('GET', `/subscriptions/${SUB}/providers/Microsoft.Network/networkWatchers`, {
      token: 'wrong',
    });
    assert.equal(unauthenticated.status, 401);
    expect('ErrorResponse', unauthenticated.body, '401');
  });

  test('ARM conventions: ETag header, request ids, any api-version, case-insensitive paths and properties', async () => {
    const path = `/subscriptions/${SUB}/resourceGroups/sdkrg/providers/Microsoft.Network/networkWatchers/nwEast`;
    const r = await raw('GET', `${path}?api-version=2025-05-01`, { headers: { 'x-ms-client-request-id': 'client-1' } });
    assert.equal(r.headers.get('etag'), r.body.etag);
    assert.ok(r.headers.get('x-ms-request-id'));
    assert.equal(r.headers.get('x-ms-correlation-request-id'), 'client-1');
    const correlated = await raw('GET', path, { headers: { 'x-ms-correlation-request-id': 'corr-9' } });
    assert.equal(correlated.headers.get('x-ms-correlation-request-id'), 'corr-9');
    for (const version of ['2016-09-01', '2099-12-31-preview', '']) {
      const v = await raw('GET', `${path}${version ? `?api-version=${version}` : ''}`);
      assert.equal(v.status, 200, `api-version '${version}'`);
    }
    const shouting = await raw(
      'GET',
      path
        .replace('resourceGroups', 'RESOURCEGROUPS')
        .replace('Microsoft.Network/networkWatchers', 'MICROSOFT.NETWORK/NetworkWatchers')
        .replace('nwEast', 'NWEAST'),
    );
    assert.equal(shouting.status, 200);
    assert.equal(shouting.body.name, 'nwEast', 'the stored name is returned');
    const put = await raw('PUT', path, { body: JSON.stringify({ LoCaTiOn: 'eastus', TAGS: { x: 'y' } }) });
    assert.equal(put.status, 200);
    assert.deepEqual(put.body.tags, { x: 'y' });
    // A long-running operation's status document is an ARM document too.
    const ext = await raw(
      'PUT',
      `/subscriptions/${SUB}/resourceGroups/sdkrg/providers/Microsoft.Compute/virtualMachines/vm1/extensions/NetworkWatcherAgentLinux?api-version=2026-03-01`,
      { body: '{}' },
    );
    const opUrl = ext.headers.get('azure-asyncoperation')!;
    assert.ok(opUrl.startsWith(`${server.url}/subscriptions/${SUB}/providers/Microsoft.Network/locations/`), opUrl);
    assert.match(opUrl, /api-version=2026-03-01/);
    const op = await raw('GET', opUrl.slice(server.url.length));
    // No Retry-After anywhere: it would override the client's polling interval.
    assert.equal(ext.headers.get('retry-after'), null);
    assert.equal(op.headers.get('retry-after'), null);
    expect('OperationStatus', op.body, 'operation status');
    assert.equal(op.body.status, 'Succeeded');
  });

  test('every route the server answers is in the OpenAPI document', () => {
    const doc = buildOpenApiDocument() as { paths: Record<string, Record<string, unknown>> };
    const shape = (path: string) =>
      path
        .toLowerCase()
        .replace(/\{\w+\}|:\w+/g, '{}')
        .replace(/\/+$/, '');
    const documented = new Set(
      Object.entries(doc.paths).flatMap(([p, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${shape(p)}`)),
    );
    const routes = (server.routes ?? []).filter(
      (r) => r.method !== 'HEAD' && r.method !== 'OPTIONS' && !r.url.startsWith('/storage/'),
    );
    assert.ok(routes.length >= 30, `${routes.length} routes seen`);
    const missing = [...new Set(routes.map((r) => `${r.method} ${shape(r.url)}`))].filter((k) => !documented.has(k));
    assert.deepEqual(missing, [], 'routes missing from the OPERATIONS table of src/server/openapi.ts');
  });

  test('every stable error code is in docs/api.md with its HTTP status', () => {
    const apiDoc = readFileSync(new URL('../docs/api.md', import.meta.url), 'utf8').split('\n');
    for (const [code, statusCode] of Object.entries(API_ERROR_CODES)) {
      assert.ok(
        apiDoc.some(
          (line) => line.startsWith('|') && line.includes(`\`${code}\``) && line.includes(`| ${statusCode} |`),
        ),
        `docs/api.md lists ${code} (${statusCode})`,
      );
    }
  });

  test('OpenAPI: served without a token, committed copy in step, every documented operation exists, answers follow it', async () => {
    const served = await raw('GET', '/openapi.json', { token: null });
    assert.equal(served.status, 200);
    assert.deepEqual(served.body, { ...buildOpenApiDocument(), servers: [{ url: server.url }] });
    const committed = readFileSync(new URL('../docs/openapi.json', import.meta.url), 'utf8');
    assert.ok(committed === openApiText(), 'docs/openapi.json is out of date: run `npm run openapi` and commit it');

    const doc = buildOpenApiDocument() as {
      paths: Record<string, Record<string, { operationId: string; security?: unknown[] }>>;
    };
    const sample: Record<string, string> = {
      subscriptionId: SUB,
      resourceGroupName: 'sdkrg',
      networkWatcherName: 'nwEast',
      packetCaptureName: 'none',
      vmName: 'vm1',
      vmExtensionName: 'none',
      accountName: 'nwlocal',
      resourceProviderNamespace: 'Microsoft.Network',
      location: LOC,
      operationId: 'none',
      ruleName: 'none',
      actionGroupName: 'none',
      alertId: 'none',
      alertCaptureName: 'none',
    };
    for (const [template, methods] of Object.entries(doc.paths)) {
      const path = template.replace(/\{(\w+)\}/g, (_, name: string) => sample[name]!);
      for (const [method, op] of Object.entries(methods)) {
        if (method === 'delete' || method === 'put' || op.operationId === 'Agent_Enroll') continue; // no writes here; enrolment is tested elsewhere
        const r = await raw(method.toUpperCase(), `${path}?api-version=2025-05-01`, {
          ...(method === 'post' ? { body: '' } : {}),
          token: op.security ? null : server.adminToken,
        });
        const noRoute = r.status === 404 && /^No route/.test(r.body?.error?.message ?? '');
        assert.ok(!noRoute, `${op.operationId}: ${method.toUpperCase()} ${path} has no route`);
        assert.notEqual(r.status, 401, `${op.operationId}: public=${Boolean(op.security)}`);
      }
    }

    assert.ok(seen.length >= 10);
    for (const { schema, body, what } of seen) {
      const result = (API_SCHEMAS[schema] as z.ZodType).safeParse(body);
      assert.ok(
        result.success,
        `${what} does not follow ${schema}: ${JSON.stringify(result.error?.issues)}\n${JSON.stringify(body)}`,
      );
    }
  });
});
