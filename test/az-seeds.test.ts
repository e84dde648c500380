/**
 * Seeds 000 and 002 with the real Azure CLI (Debian's az 2.45), every seed command run literally
 * (placeholders filled), against `nw up --tls` running in the lab's server namespace, with a real
 * agent on a test host installed from the install command that plain az shows. az runs inside
 * the server namespace (no route out of it), with HTTPS_PROXY at a closed loopback port and
 * NO_PROXY naming only the server (test/az/az-env.ts). The printed JSON is checked against the
 * seeds' sample outputs, and the capture file packet by packet as test/seed-000.test.ts does.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { decodePacket, readPcapBuffer, type DecodedPacket } from '../src/pcap/index.js';
import { Lab, LAB_SERVER_PORT, NW_BIN, stopProcess, type LabHost } from './lab/lab.js';
import { ping, runFlows, startResponder } from './lab/traffic.js';
import { comparablePacketKey } from './lab/packets.js';
import { removeAgentDataDirs, runInstallCommand } from './sdk/tls-lab.js';
import { AZ_BIN, AzEnvironment, azLoginCommands, runTimed, type AzResult } from './az/az-env.js';
import { startNwUp, type NwUp } from './az/nw-up.js';

const SUB = '00000000-0000-0000-0000-000000000000';
const LOC = 'westcentralus';
/** The seed's --filters argument, as the shell hands it to az (seed 000, "Start a packet capture", step 2). */
const SEED_FILTERS =
  '[{"protocol":"TCP", "remoteIPAddress":"1.1.1.1-255.255.255","localIPAddress":"10.0.0.3", "remotePort":"20"},{"protocol":"TCP", "remoteIPAddress":"1.1.1.1-255.255.255","localIPAddress":"10.0.0.3", "remotePort":"80"},{"protocol":"TCP", "remoteIPAddress":"1.1.1.1-255.255.255","localIPAddress":"10.0.0.3", "remotePort":"443"},{"protocol":"UDP"}]';
/** The filters of the seed's sample create output. */
const SAMPLE_FILTERS = [
  ...['20', '80', '443'].map((remotePort) => ({
    localIpAddress: '10.0.0.3',
    localPort: '',
    protocol: 'TCP',
    remoteIpAddress: '1.1.1.1-255.255.255',
    remotePort,
  })),
  { localIpAddress: '', localPort: '', protocol: 'UDP', remoteIpAddress: '', remotePort: '' },
];

/** IPv4 text to a number. */
const v4 = (a: string) => a.split('.').reduce((n, o) => n * 256 + Number(o), 0);
/** The seed's remote range as inet_aton reads `1.1.1.1-255.255.255`: 1.1.1.1 … 255.255.0.255. */
const RANGE = [v4('1.1.1.1'), v4('255.255.0.255')] as const;
/** Reference matcher for the seed's filters, written from the rules (either orientation); shares no code with src/filter. */
function seedMatches(p: DecodedPacket): boolean {
  if (p.protocol === 'UDP') return true;
  if (p.protocol !== 'TCP' || p.family !== 4) return false;
  const oriented = (local: string | null, remote: string | null, remotePort: number | null) =>
    local === '10.0.0.3' &&
    remote !== null &&
    v4(remote) >= RANGE[0] &&
    v4(remote) <= RANGE[1] &&
    [20, 80, 443].includes(remotePort ?? -1);
  return (
    oriented(p.sourceAddress, p.destinationAddress, p.destinationPort) ||
    oriented(p.destinationAddress, p.sourceAddress, p.sourcePort)
  );
}

describe('seeds 000 and 002 with the real az', { timeout: 600_000 }, () => {
  let lab: Lab;
  let a: LabHost;
  let b: LabHost;
  let up: NwUp;
  let azEnv: AzEnvironment;
  const rg = 'seedrg';
  const vm = 'vm';
  const vmId = `/subscriptions/${SUB}/resourceGroups/${rg}/providers/Microsoft.Compute/virtualMachines/${vm}`;
  const serverUrl = `https://10.0.0.1:${LAB_SERVER_PORT}`;
  const responders: ChildProcess[] = [];
  const agents: ChildProcess[] = [];
  /** The reference tcpdump, stopped in `after` too when an assertion fails while it runs. */
  let bare: ChildProcess | null = null;
  const transcript: string[] = [];

  /** Runs `az ARGS…` inside the server namespace. */
  const az = async (args: string[]): Promise<AzResult> => {
    const r = await runTimed(AZ_BIN, args, azEnv.env, {
      wrap: ['ip', 'netns', 'exec', lab.srv.name],
      timeoutInMs: 180_000,
    });
    transcript.push(
      `$ az ${args.join(' ')}\n(exit ${r.code}, ${Math.round(r.durationInMs)} ms)\n${r.stderr.slice(-2000)}`,
    );
    return r;
  };
  const azOk = async (args: string[]): Promise<string> => {
    const r = await az(args);
    assert.equal(r.code, 0, `az ${args.join(' ')} failed (${r.code}):\n${r.stderr}\n${r.stdout}`);
    return r.stdout;
  };
  const azJson = async <T = Record<string, any>>(args: string[]): Promise<T> => JSON.parse(await azOk(args)) as T;

  before(async () => {
    lab = await Lab.create();
    a = await lab.addHost('a', ['10.0.0.3/24', 'fd00:db8::3/64']);
    b = await lab.addHost('b', ['10.0.0.4/24', '255.255.1.4/24', 'fd00:db8::4/64']);
    await a.ns.exec('ip', ['route', 'add', '255.255.1.0/24', 'dev', a.interfaceName, 'src', '10.0.0.3']);
    up = await startNwUp({
      dataDir: join(lab.workDir, 'up'),
      configPath: join(lab.workDir, 'up-config.json'),
      listen: `0.0.0.0:${LAB_SERVER_PORT}`,
      vmName: 'srvhost',
      resourceGroup: 'netwatcher-local',
      location: LOC,
      interfaceName: 'lo',
      ns: lab.srv,
      // Listening beyond loopback, as the README says: the URL other hosts (and az) reach it at.
      extraArgs: ['--public-url', serverUrl],
    });
    azEnv = await AzEnvironment.create({ caBundle: up.certPath, noProxyHosts: ['10.0.0.1'] });
  });
  after(async () => {
    for (const r of responders) await stopProcess(r);
    for (const g of agents) await stopProcess(g);
    await stopProcess(bare);
    await up?.stop();
    azEnv?.destroy();
    removeAgentDataDirs();
    await lab?.destroy();
    if (process.env.NW_AZ_TRANSCRIPT) writeFileSync(process.env.NW_AZ_TRANSCRIPT, transcript.join('\n'));
  });

  test('cloud registration and service-principal login; a wrong secret is refused', async () => {
    const token = readFileSync(up.adminTokenPath, 'utf8').trim();
    const [register, set, login] = azLoginCommands(serverUrl, token, SUB);
    await azOk(register!);
    await azOk(set!);
    const wrong = await az(login!.map((x) => (x === token ? 'nwa_wrong' : x)));
    assert.notEqual(wrong.code, 0);
    assert.match(wrong.stderr, /not a valid netwatcher credential/);
    const accounts = await azJson<Array<Record<string, any>>>(login!);
    assert.equal(accounts.length, 1);
    assert.equal(accounts[0]!.id, SUB);
    assert.equal(accounts[0]!.state, 'Enabled');
    assert.equal(accounts[0]!.cloudName, 'netwatcher');
    assert.equal(
      readFileSync(join(azEnv.configDir, 'msal_token_cache.json'), 'utf8').includes(token),
      false,
      'az caches the access token, not the credential',
    );
  });

  test('seed 000, every command with az; the file checked packet by packet', async () => {
    // A new host, registered with plain az; then the seed's own commands.
    await azOk([
      'resource',
      'create',
      '--resource-group',
      rg,
      '--name',
      vm,
      '--resource-type',
      'Microsoft.Compute/virtualMachines',
      '--api-version',
      '2022-08-01',
      '--location',
      LOC,
      '--properties',
      '{}',
    ]);
    const set = await azJson([
      'vm',
      'extension',
      'set',
      '--resource-group',
      rg,
      '--vm-name',
      vm,
      '--publisher',
      'Microsoft.Azure.NetworkWatcher',
      '--name',
      'NetworkWatcherAgentLinux',
      '--version',
      '1.4',
    ]);
    assert.equal(set.provisioningState, 'Creating', 'awaiting enrolment');
    // The install command, with plain az: the extension's instance view while the host awaits enrolment.
    const view = await azJson([
      'vm',
      'extension',
      'show',
      '--resource-group',
      rg,
      '--vm-name',
      vm,
      '--name',
      'NetworkWatcherAgentLinux',
      '--instance-view',
    ]);
    const message = String(view.instanceView?.statuses?.[0]?.message ?? '');
    const installCommand = /^Run on the host: (nw agent .+)$/.exec(message)?.[1];
    assert.ok(installCommand, `install command in the instance view: ${JSON.stringify(view.instanceView)}`);
    assert.match(
      installCommand,
      new RegExp(
        `^nw agent --server ${serverUrl.replace(/[.]/g, '\\.')} --token nwe_\\S+ --data-dir \\S+ --ca-file \\S+ --ca-sha256 [0-9a-f]{64}$`,
      ),
    );
    agents.push(runInstallCommand(lab, a, installCommand).agent);

    const showArgs = [
      'vm',
      'extension',
      'show',
      '--resource-group',
      rg,
      '--vm-name',
      vm,
      '--name',
      'AzureNetworkWatcherExtension',
    ];
    let shown: Record<string, any> = {};
    const deadline = Date.now() + 60_000;
    for (;;) {
      shown = await azJson(showArgs);
      if (shown.provisioningState === 'Succeeded' || Date.now() > deadline) break;
      await sleep(500);
    }
    // The seed's sample output of `az vm extension show` (its virtualMachineExtensionType is az 2.45's typePropertiesType).
    assert.equal(shown.provisioningState, 'Succeeded');
    assert.equal(shown.autoUpgradeMinorVersion, true);
    assert.equal(shown.id, `${vmId}/extensions/NetworkWatcherAgentLinux`);
    assert.equal(shown.location, LOC);
    assert.equal(shown.name, 'NetworkWatcherAgentLinux');
    assert.equal(shown.publisher, 'Microsoft.Azure.NetworkWatcher');
    assert.equal(shown.resourceGroup, rg);
    assert.equal(shown.type, 'Microsoft.Compute/virtualMachines/extensions');
    assert.equal(shown.typeHandlerVersion, '1.4');
    assert.equal(shown.typePropertiesType, 'NetworkWatcherAgentLinux');
    for (const key of ['forceUpdateTag', 'instanceView', 'protectedSettings', 'settings', 'tags'])
      assert.equal(shown[key], null, key);
    const listed = await azJson<Array<{ name: string }>>([
      'vm',
      'extension',
      'list',
      '--resource-group',
      rg,
      '--vm-name',
      vm,
    ]);
    assert.deepEqual(
      listed.map((e) => e.name),
      ['NetworkWatcherAgentLinux'],
    );

    const accounts = await azJson<Array<{ name: string; id: string }>>(['storage', 'account', 'list']);
    const account = accounts.find((x) => x.name === 'nwlocal');
    assert.ok(account, 'the default account is listed');

    const referencePath = join(lab.workDir, 'reference.pcap');
    const reference = a.ns.spawn('tcpdump', ['-i', 'any', '-n', '-s', '0', '-U', '-w', referencePath], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    bare = reference;
    await new Promise<void>((resolve) =>
      reference.stderr?.on('data', (d: Buffer) => {
        if (d.toString().includes('listening')) resolve();
      }),
    );
    responders.push(await startResponder(b, { tcp: [20, 80, 443, 8080], udp: [5000] }));
    responders.push(await startResponder(a, { tcp: [80, 8080, 9000], udp: [5001] }));

    // az builds the storage id from --resource-group (seedrg); the account lives in NetworkWatcherRG.
    const created = await azJson([
      'network',
      'watcher',
      'packet-capture',
      'create',
      '--resource-group',
      rg,
      '--vm',
      vm,
      '--name',
      'packetCaptureName',
      '--storage-account',
      account.name,
      '--filters',
      SEED_FILTERS,
    ]);
    assert.equal(created.bytesToCapturePerPacket, 0);
    assert.match(String(created.etag), /^W\/"[0-9a-f-]{36}"$/);
    assert.deepEqual(created.filters, SAMPLE_FILTERS);
    assert.equal(
      created.id,
      `/subscriptions/${SUB}/resourceGroups/NetworkWatcherRG/providers/Microsoft.Network/networkWatchers/NetworkWatcher_${LOC}/packetCaptures/packetCaptureName`,
    );
    assert.equal(created.name, 'packetCaptureName');
    assert.equal(created.provisioningState, 'Succeeded');
    assert.equal(created.resourceGroup, 'NetworkWatcherRG');
    assert.equal(created.storageLocation.filePath, null);
    assert.equal(created.storageLocation.storageId, account.id, 'the real id of the account, wherever it lives');
    assert.match(
      created.storageLocation.storagePath,
      new RegExp(
        `/network-watcher-logs/subscriptions/${SUB}/resourcegroups/${rg}/providers/microsoft.compute/virtualmachines/${vm}/\\d{4}/\\d{2}/\\d{2}/packetcapture_\\d{2}_\\d{2}_\\d{2}_\\d{3}\\.cap$`,
      ),
    );
    assert.equal(created.target, vmId);
    assert.equal(created.timeLimitInSeconds, 18000);
    assert.equal(created.totalBytesPerSession, 1073741824);

    const running = await azJson([
      'network',
      'watcher',
      'packet-capture',
      'show-status',
      '--name',
      'packetCaptureName',
      '--location',
      LOC,
    ]);
    assert.equal(running.packetCaptureStatus, 'Running');

    await runFlows(a, [
      ...[20, 80, 443, 8080].map((port) => ({ proto: 'tcp' as const, host: '10.0.0.4', port })),
      ...[80, 443].map((port) => ({ proto: 'tcp' as const, host: '255.255.1.4', port })),
      { proto: 'tcp', host: 'fd00:db8::4', port: 80 },
      { proto: 'udp', host: '10.0.0.4', port: 5000 },
      { proto: 'udp', host: 'fd00:db8::4', port: 5000 },
    ]);
    await runFlows(b, [
      { proto: 'tcp', host: '10.0.0.3', port: 80 },
      { proto: 'tcp', host: '10.0.0.3', port: 8080 },
      { proto: 'tcp', host: '10.0.0.3', port: 9000, localPort: 443 },
      { proto: 'tcp', host: '10.0.0.3', port: 9000, localPort: 20 },
      { proto: 'tcp', host: '10.0.0.3', port: 9000, localAddress: '255.255.1.4', localPort: 80 },
      { proto: 'udp', host: '10.0.0.3', port: 5001 },
    ]);
    await ping(a, '10.0.0.4');
    await ping(b, '10.0.0.3');
    await sleep(300);

    const stop = await az([
      'network',
      'watcher',
      'packet-capture',
      'stop',
      '--name',
      'packetCaptureName',
      '--location',
      LOC,
    ]);
    assert.equal(stop.code, 0, stop.stderr);
    // Without Retry-After azure-core sleeps 30 s before its first poll, so a stop can never take less.
    assert.ok(
      stop.durationInMs < 30_000,
      `stop took ${Math.round(stop.durationInMs)} ms: azure-core waited its 30 s default, so Retry-After was missing`,
    );
    await stopProcess(reference);

    // The seed's sample output of show-status (it shows a TimeExceeded stop; this one was stopped by hand).
    const status = await azJson([
      'network',
      'watcher',
      'packet-capture',
      'show-status',
      '--name',
      'packetCaptureName',
      '--location',
      LOC,
    ]);
    for (const key of ['captureStartTime', 'id', 'name', 'packetCaptureError', 'packetCaptureStatus', 'stopReason'])
      assert.ok(key in status, `show-status has ${key}`);
    assert.equal(status.id, created.id);
    assert.equal(status.name, 'packetCaptureName');
    assert.equal(status.packetCaptureStatus, 'Stopped');
    assert.equal(status.stopReason, 'Manual');
    assert.deepEqual(status.packetCaptureError, []);

    // az has no download; the file is fetched with nw from the same server.
    const out = join(lab.workDir, 'downloaded.cap');
    const nwConfig = join(lab.workDir, 'nw-in-srv.json');
    writeFileSync(
      nwConfig,
      JSON.stringify({
        server: serverUrl,
        token: readFileSync(up.adminTokenPath, 'utf8').trim(),
        subscriptionId: SUB,
        caFile: up.certPath,
      }),
    );
    await lab.waitFor(
      async () =>
        (
          await runTimed(
            process.execPath,
            [
              NW_BIN,
              'network',
              'watcher',
              'packet-capture',
              'download',
              '--name',
              'packetCaptureName',
              '--location',
              LOC,
              '--file',
              out,
              '--force',
            ],
            { ...process.env, NW_CONFIG: nwConfig },
            { wrap: ['ip', 'netns', 'exec', lab.srv.name] },
          )
        ).code === 0,
      30_000,
      'download',
    );
    assert.ok(existsSync(out));
    const got = readPcapBuffer(readFileSync(out));
    const ref = readPcapBuffer(readFileSync(referencePath));
    assert.equal(got.header.linkType, ref.header.linkType);
    const gotDecoded = got.records.map((r) => decodePacket(got.header.linkType, r.data));
    assert.ok(gotDecoded.every(seedMatches), 'every captured packet matches the seed filters');
    const startMs = Date.parse(String(status.captureStartTime));
    const expected = ref.records.filter(
      (r) =>
        seedMatches(decodePacket(ref.header.linkType, r.data)) &&
        r.timestampSeconds * 1000 + r.timestampFraction / 1000 >= startMs,
    );
    const hex = (data: Buffer) => comparablePacketKey(got.header.linkType, data);
    const gotSet = new Set(got.records.map((r) => hex(r.data)));
    const expectedSet = new Set(expected.map((r) => hex(r.data)));
    const unmatched = (recs: typeof ref.records, other: Set<string>) =>
      recs
        .filter((r) => !other.has(hex(r.data)))
        .map((r) => ({
          at: r.timestampSeconds * 1000 + r.timestampFraction / 1000,
          ...decodePacket(ref.header.linkType, r.data),
          hex: hex(r.data),
        }));
    assert.deepEqual(
      got.records.map((r) => hex(r.data)).sort(),
      expected.map((r) => hex(r.data)).sort(),
      `capture start ${status.captureStartTime} (${startMs}); extra in the file: ${JSON.stringify(unmatched(got.records, expectedSet))}; missing from the file: ${JSON.stringify(unmatched(expected, gotSet))}`,
    );
    const tcpPorts = new Set(
      gotDecoded.filter((p) => p.protocol === 'TCP').flatMap((p) => [p.sourcePort, p.destinationPort]),
    );
    for (const port of [20, 80, 443]) assert.ok(tcpPorts.has(port), `port ${port} captured`);
    assert.ok(!tcpPorts.has(8080), 'port 8080 not captured');

    const del = await az([
      'network',
      'watcher',
      'packet-capture',
      'delete',
      '--name',
      'packetCaptureName',
      '--location',
      LOC,
    ]);
    assert.equal(del.code, 0, del.stderr);
    assert.deepEqual(await azJson(['network', 'watcher', 'packet-capture', 'list', '--location', LOC]), []);
  });

  test('seed 002 with az: action group with a webhook, the metric alert, update/list/show, metrics list', async () => {
    const group = await azJson([
      'monitor',
      'action-group',
      'create',
      '--name',
      'AG',
      '--resource-group',
      rg,
      '--action',
      'webhook',
      'capture',
      'https://10.0.0.1:9/capture',
      'usecommonalertschema',
    ]);
    assert.equal(group.name, 'AG');
    assert.deepEqual(
      group.webhookReceivers.map((w: Record<string, unknown>) => [w.name, w.serviceUri, w.useCommonAlertSchema]),
      [['capture', 'https://10.0.0.1:9/capture', true]],
    );

    // The seed's alert rule table: TCP_Segments_Sent_Exceeded, TCP segments sent > 100 over the last 5 minutes, the webhook.
    const rule = await azJson([
      'monitor',
      'metrics',
      'alert',
      'create',
      '--name',
      'TCP_Segments_Sent_Exceeded',
      '--resource-group',
      rg,
      '--scopes',
      vmId,
      '--condition',
      'total TCP Segments Sent > 100',
      '--window-size',
      '5m',
      '--evaluation-frequency',
      '1m',
      '--action',
      'AG',
      '--description',
      'TCP segments sent exceeded the threshold',
    ]);
    assert.equal(rule.name, 'TCP_Segments_Sent_Exceeded');
    assert.equal(rule.description, 'TCP segments sent exceeded the threshold');
    assert.equal(rule.enabled, true);
    assert.equal(rule.windowSize, '0:05:00');
    assert.equal(rule.evaluationFrequency, '0:01:00');
    assert.deepEqual(rule.scopes, [vmId]);
    const criterion = rule.criteria.allOf[0];
    assert.deepEqual(
      [criterion.metricName, criterion.operator, criterion.threshold, criterion.timeAggregation],
      ['TCP Segments Sent', 'GreaterThan', 100, 'Total'],
    );
    assert.equal(String(rule.actions[0].actionGroupId).toLowerCase(), String(group.id).toLowerCase());

    assert.equal(
      (
        await azJson([
          'monitor',
          'metrics',
          'alert',
          'update',
          '--name',
          'TCP_Segments_Sent_Exceeded',
          '--resource-group',
          rg,
          '--enabled',
          'false',
        ])
      ).enabled,
      false,
    );
    assert.deepEqual(
      (await azJson<Array<{ name: string }>>(['monitor', 'metrics', 'alert', 'list', '--resource-group', rg])).map(
        (r) => r.name,
      ),
      ['TCP_Segments_Sent_Exceeded'],
    );
    assert.equal(
      (
        await azJson([
          'monitor',
          'metrics',
          'alert',
          'show',
          '--name',
          'TCP_Segments_Sent_Exceeded',
          '--resource-group',
          rg,
        ])
      ).enabled,
      false,
    );
    assert.equal(
      (await azJson(['monitor', 'action-group', 'show', '--name', 'AG', '--resource-group', rg])).groupShortName,
      'AG',
    );

    // The host's own metric (az double-encodes timespan); seed 000's flows ran within the last hour.
    const metrics = await azJson(['monitor', 'metrics', 'list', '--resource', vmId, '--metric', 'TCP Segments Sent']);
    assert.equal(metrics.value[0].name.value, 'TCP Segments Sent');
    const total = metrics.value[0].timeseries[0].data.reduce(
      (s: number, d: { total: number | null }) => s + (d.total ?? 0),
      0,
    );
    assert.ok(total > 0, `TCP Segments Sent total ${total}`);

    assert.equal(
      (
        await az([
          'monitor',
          'metrics',
          'alert',
          'delete',
          '--name',
          'TCP_Segments_Sent_Exceeded',
          '--resource-group',
          rg,
        ])
      ).code,
      0,
    );
    assert.equal((await az(['monitor', 'action-group', 'delete', '--name', 'AG', '--resource-group', rg])).code, 0);
  });
});
