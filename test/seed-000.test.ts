/**
 * Seed 000 end to end, as a user runs it: every `az` command of the seed with `nw`, against a real
 * server and a real agent installed on a test host by its install command, capturing real
 * traffic with tcpdump. The downloaded file must hold exactly the packets the seed's four filters
 * select — checked packet by packet against a bare tcpdump of the same interface, filtered by
 * a reference matcher written here from the rules (no code shared with src/filter).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { decodePacket, readPcapBuffer, type DecodedPacket } from '../src/pcap/index.js';
import { Lab, stopProcess, type LabHost } from './lab/lab.js';
import { ping, runFlows, startResponder } from './lab/traffic.js';
import { comparablePacketKey } from './lab/packets.js';

const SEED_FILTERS =
  '[{"protocol":"TCP", "remoteIPAddress":"1.1.1.1-255.255.255","localIPAddress":"10.0.0.3", "remotePort":"20"},{"protocol":"TCP", "remoteIPAddress":"1.1.1.1-255.255.255","localIPAddress":"10.0.0.3", "remotePort":"80"},{"protocol":"TCP", "remoteIPAddress":"1.1.1.1-255.255.255","localIPAddress":"10.0.0.3", "remotePort":"443"},{"protocol":"UDP"}]';

/** IPv4 text to a number. */
const v4 = (a: string) => a.split('.').reduce((n, o) => n * 256 + Number(o), 0);
/** The seed's remote range as inet_aton reads `1.1.1.1-255.255.255`: 1.1.1.1 … 255.255.0.255. */
const RANGE = [v4('1.1.1.1'), v4('255.255.0.255')] as const;

/** Reference matcher for the seed's filters, written from the rules (either orientation). */
function seedMatches(p: DecodedPacket): boolean {
  if (p.protocol === 'UDP') return true;
  if (p.protocol !== 'TCP' || p.family !== 4) return false;
  const oriented = (local: string | null, localPort: number | null, remote: string | null, remotePort: number | null) =>
    local === '10.0.0.3' &&
    remote !== null &&
    v4(remote) >= RANGE[0] &&
    v4(remote) <= RANGE[1] &&
    [20, 80, 443].includes(remotePort ?? -1);
  return (
    oriented(p.sourceAddress, p.sourcePort, p.destinationAddress, p.destinationPort) ||
    oriented(p.destinationAddress, p.destinationPort, p.sourceAddress, p.sourcePort)
  );
}

describe('seed 000: manage a packet capture with nw', { timeout: 180_000 }, () => {
  let lab: Lab;
  let a: LabHost;
  let b: LabHost;
  const rg = `seedrg${process.pid}`;
  const vm = 'seedvm';
  const responders: ChildProcess[] = [];

  before(async () => {
    lab = await Lab.create();
    a = await lab.addHost('a', ['10.0.0.3/24', 'fd00:db8::3/64']);
    b = await lab.addHost('b', ['10.0.0.4/24', '255.255.1.4/24', 'fd00:db8::4/64']);
    // A reaches B's out-of-range address with its own 10.0.0.3 as source, so only the remote range decides.
    await a.ns.exec('ip', ['route', 'add', '255.255.1.0/24', 'dev', a.interfaceName, 'src', '10.0.0.3']);
    await lab.startServer();
  });
  after(async () => {
    for (const r of responders) await stopProcess(r);
    await lab?.destroy();
  });

  test('the whole seed workflow, file checked packet by packet', async () => {
    // Install the agent (seed: vm extension set), then check it (seed: vm extension show … AzureNetworkWatcherExtension).
    const { extension } = await lab.installAgent(a, rg, vm);
    for (const key of [
      'autoUpgradeMinorVersion',
      'id',
      'location',
      'name',
      'provisioningState',
      'publisher',
      'resourceGroup',
      'type',
      'typeHandlerVersion',
      'virtualMachineExtensionType',
    ]) {
      assert.ok(key in extension, `vm extension set output has ${key}`);
    }
    const shown = await lab.nwJson([
      'vm',
      'extension',
      'show',
      '--resource-group',
      rg,
      '--vm-name',
      vm,
      '--name',
      'AzureNetworkWatcherExtension',
    ]);
    assert.equal(shown.provisioningState, 'Succeeded');
    assert.equal(shown.publisher, 'Microsoft.Azure.NetworkWatcher');
    assert.equal(shown.typeHandlerVersion, '1.4');

    const accounts = await lab.nwJson<Array<{ name: string; id: string }>>(['storage', 'account', 'list']);
    const account = accounts.find((x) => x.name === 'nwlocal');
    assert.ok(account, 'the default local storage account is listed');

    // Bare tcpdump on the same host and interface, as the reference of what crossed it.
    const referencePath = join(lab.workDir, 'reference.pcap');
    const bare = a.ns.spawn('tcpdump', ['-i', 'any', '-n', '-s', '0', '-U', '-w', referencePath], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    await new Promise<void>((resolve) =>
      bare.stderr?.on('data', (d: Buffer) => {
        if (d.toString().includes('listening')) resolve();
      }),
    );
    responders.push(await startResponder(b, { tcp: [20, 80, 443, 8080], udp: [5000] }));
    responders.push(await startResponder(a, { tcp: [80, 8080, 9000], udp: [5001] }));

    const created = await lab.nwJson([
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
    for (const key of [
      'bytesToCapturePerPacket',
      'etag',
      'filters',
      'id',
      'name',
      'provisioningState',
      'resourceGroup',
      'storageLocation',
      'target',
      'timeLimitInSeconds',
      'totalBytesPerSession',
    ]) {
      assert.ok(key in created, `create output has ${key}`);
    }
    assert.equal(created.provisioningState, 'Succeeded');
    assert.equal(created.totalBytesPerSession, 1073741824);
    assert.equal(created.timeLimitInSeconds, 18000);
    assert.equal((created.filters as unknown[]).length, 4);
    const storagePath = String((created.storageLocation as { storagePath: string }).storagePath);
    assert.match(
      storagePath,
      new RegExp(
        `/network-watcher-logs/subscriptions/00000000-0000-0000-0000-000000000000/resourcegroups/${rg}/providers/microsoft.compute/virtualmachines/${vm}/\\d{4}/\\d{2}/\\d{2}/packetcapture_\\d{2}_\\d{2}_\\d{2}_\\d{3}\\.cap$`,
      ),
    );

    const running = await lab.nwJson([
      'network',
      'watcher',
      'packet-capture',
      'show-status',
      '--name',
      'packetCaptureName',
      '--location',
      'westcentralus',
    ]);
    assert.equal(running.packetCaptureStatus, 'Running');

    // Traffic both ways: TCP to the seed's ports and 8080, to an in-range and an out-of-range
    // remote, TCP from B's privileged source ports, UDP over IPv4 and IPv6, ICMP both ways, TCP over IPv6.
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

    const stop = await lab.nw([
      'network',
      'watcher',
      'packet-capture',
      'stop',
      '--name',
      'packetCaptureName',
      '--location',
      'westcentralus',
    ]);
    assert.equal(stop.code, 0, stop.stderr);
    assert.equal(stop.stdout.trim(), '', 'stop prints nothing');
    bare.kill('SIGTERM');
    await new Promise((r) => bare.once('exit', r));

    const status = await lab.nwJson([
      'network',
      'watcher',
      'packet-capture',
      'show-status',
      '--name',
      'packetCaptureName',
      '--location',
      'westcentralus',
    ]);
    for (const key of ['captureStartTime', 'id', 'name', 'packetCaptureError', 'packetCaptureStatus', 'stopReason'])
      assert.ok(key in status, `show-status has ${key}`);
    assert.equal(status.packetCaptureStatus, 'Stopped');
    assert.equal(status.stopReason, 'Manual');
    assert.deepEqual(status.packetCaptureError, []);

    const out = join(lab.workDir, 'downloaded.cap');
    await lab.waitFor(
      async () =>
        (
          await lab.nw([
            'network',
            'watcher',
            'packet-capture',
            'download',
            '--name',
            'packetCaptureName',
            '--location',
            'westcentralus',
            '--file',
            out,
          ])
        ).code === 0,
      20_000,
      'download',
    );
    assert.ok(existsSync(out));

    const got = readPcapBuffer(readFileSync(out));
    const ref = readPcapBuffer(readFileSync(referencePath));
    assert.equal(got.header.linkType, ref.header.linkType);
    const key = (data: Buffer) => comparablePacketKey(got.header.linkType, data);
    const gotDecoded = got.records.map((r) => decodePacket(got.header.linkType, r.data));
    assert.ok(
      gotDecoded.every(seedMatches),
      `every captured packet matches the seed filters: ${JSON.stringify(gotDecoded.filter((p) => !seedMatches(p)).slice(0, 3))}`,
    );
    // Every packet the filters select that crossed the interface while the capture ran is in the file.
    const startMs = Date.parse(String(status.captureStartTime));
    const expected = ref.records.filter(
      (r) =>
        seedMatches(decodePacket(ref.header.linkType, r.data)) &&
        r.timestampSeconds * 1000 + r.timestampFraction / 1000 >= startMs,
    );
    assert.deepEqual(got.records.map((r) => key(r.data)).sort(), expected.map((r) => key(r.data)).sort());
    // And the traffic really exercised every rule.
    const tcpPorts = new Set(
      gotDecoded.filter((p) => p.protocol === 'TCP').flatMap((p) => [p.sourcePort, p.destinationPort]),
    );
    for (const port of [20, 80, 443]) assert.ok(tcpPorts.has(port), `port ${port} captured`);
    assert.ok(!tcpPorts.has(8080), 'port 8080 not captured');
    assert.ok(
      gotDecoded.some((p) => p.protocol === 'UDP' && p.family === 6),
      'IPv6 UDP captured',
    );
    assert.ok(
      !gotDecoded.some((p) => p.sourceAddress === '255.255.1.4' || p.destinationAddress === '255.255.1.4'),
      'out-of-range remote not captured',
    );
    assert.ok(
      ref.records.some((r) => decodePacket(ref.header.linkType, r.data).destinationAddress === '255.255.1.4'),
      'out-of-range traffic did cross the interface',
    );

    const del = await lab.nw([
      'network',
      'watcher',
      'packet-capture',
      'delete',
      '--name',
      'packetCaptureName',
      '--location',
      'westcentralus',
    ]);
    assert.equal(del.code, 0, del.stderr);
    const list = await lab.nwJson<unknown[]>([
      'network',
      'watcher',
      'packet-capture',
      'list',
      '--location',
      'westcentralus',
    ]);
    assert.equal(list.length, 0);
  });
});
