/**
 * Filters end to end: one capture with a mixed IPv4/IPv6 filter set between two test hosts. The
 * downloaded file must hold exactly the packets that crossed the host's interfaces while the
 * capture ran and that the filter set keeps — judged packet by packet by the reference matcher
 * (src/filter/reference-matcher.ts, which shares no code with the compiler).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { referenceFilterSet, type ReferencePacket } from '../src/filter/reference-matcher.js';
import { decodePacket, readPcapBuffer, type DecodedPacket } from '../src/pcap/index.js';
import { Lab, stopProcess, type LabHost } from './lab/lab.js';
import { ping, runFlows, startResponder } from './lab/traffic.js';
import { comparablePacketKey } from './lab/packets.js';

const FILTERS = [
  { protocol: 'TCP', localIPAddress: 'fd00:db8::3', remoteIPAddress: 'fd00:db8::4-fd00:db8::ff', remotePort: '80;443' },
  { protocol: 'udp', localPort: '5001-5003', remoteIPAddress: '10.0.0.0-10.0.0.255' },
  { protocol: 'Any', localIPAddress: '10.0.0.3', remoteIPAddress: '10.0.0.4', remotePort: '8080;9000-9001' },
  { REMOTEIPADDRESS: 'fd00:db8::5' },
];

function toReference(p: DecodedPacket): ReferencePacket {
  if (p.family === null || p.sourceAddress === null || p.destinationAddress === null) return { kind: 'other' };
  const protocol = p.protocol === 'TCP' || p.protocol === 'UDP' ? p.protocol : 'ICMP';
  if (p.protocol === 'OTHER') return { kind: 'other' };
  return {
    kind: 'ip',
    family: p.family,
    protocol,
    source: p.sourceAddress,
    destination: p.destinationAddress,
    ...(p.sourcePort !== null ? { sourcePort: p.sourcePort } : {}),
    ...(p.destinationPort !== null ? { destinationPort: p.destinationPort } : {}),
  };
}

describe('filters end to end: mixed IPv4/IPv6 set', { timeout: 180_000 }, () => {
  let lab: Lab;
  let a: LabHost;
  let b: LabHost;
  const rg = `fltrg${process.pid}`;
  const responders: ChildProcess[] = [];

  before(async () => {
    lab = await Lab.create();
    a = await lab.addHost('a', ['10.0.0.3/24', 'fd00:db8::3/64']);
    b = await lab.addHost('b', ['10.0.0.4/24', 'fd00:db8::4/64', 'fd00:db8::5/64', 'fd00:db8::1:4/64']);
    await lab.startServer();
    await lab.installAgent(a, rg, 'vma');
  });
  after(async () => {
    for (const r of responders) await stopProcess(r);
    await lab?.destroy();
  });

  test('the file holds exactly the packets the filter set keeps', async () => {
    const verdict = referenceFilterSet(FILTERS);
    assert.ok(verdict.valid);
    const referencePath = join(lab.workDir, 'reference.pcap');
    const bare = a.ns.spawn('tcpdump', ['-i', 'any', '-n', '-s', '0', '-U', '-w', referencePath], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    await new Promise<void>((resolve) =>
      bare.stderr?.on('data', (d: Buffer) => {
        if (d.toString().includes('listening')) resolve();
      }),
    );
    responders.push(await startResponder(b, { tcp: [80, 443, 8080, 9000, 9002], udp: [5000, 5001, 5003, 5004] }));
    responders.push(await startResponder(a, { tcp: [80, 9001], udp: [5001, 5002, 5004] }));

    await lab.nwJson([
      'network',
      'watcher',
      'packet-capture',
      'create',
      '--resource-group',
      rg,
      '--vm',
      'vma',
      '--name',
      'mixed',
      '--storage-account',
      'nwlocal',
      '--filters',
      JSON.stringify(FILTERS),
    ]);
    await runFlows(a, [
      ...[80, 443, 8080].map((port) => ({ proto: 'tcp' as const, host: 'fd00:db8::4', port })),
      { proto: 'tcp', host: 'fd00:db8::1:4', port: 80 }, // outside the remote range
      ...[80, 8080, 9000, 9002].map((port) => ({ proto: 'tcp' as const, host: '10.0.0.4', port })),
      ...[5000, 5001, 5003, 5004].map((port) => ({ proto: 'udp' as const, host: '10.0.0.4', port })),
      ...[5000, 5001].map((port) => ({ proto: 'udp' as const, host: 'fd00:db8::4', port })),
      { proto: 'udp', host: '10.0.0.4', port: 5000, localPort: 5002 }, // local port in range
      { proto: 'tcp', host: 'fd00:db8::5', port: 80 },
    ]);
    await runFlows(b, [
      { proto: 'tcp', host: 'fd00:db8::3', port: 80, localPort: 443 },
      { proto: 'tcp', host: '10.0.0.3', port: 9001 },
      { proto: 'udp', host: '10.0.0.3', port: 5002 },
      { proto: 'udp', host: '10.0.0.3', port: 5004 },
      { proto: 'udp', host: 'fd00:db8::3', port: 5001 },
    ]);
    await ping(a, 'fd00:db8::5');
    await ping(a, 'fd00:db8::4');
    await ping(a, '10.0.0.4');
    await sleep(300);
    assert.equal(
      (await lab.nw(['network', 'watcher', 'packet-capture', 'stop', '--name', 'mixed', '--location', 'westcentralus']))
        .code,
      0,
    );
    bare.kill('SIGTERM');
    await new Promise((r) => bare.once('exit', r));
    const status = await lab.nwJson([
      'network',
      'watcher',
      'packet-capture',
      'show-status',
      '--name',
      'mixed',
      '--location',
      'westcentralus',
    ]);
    const out = join(lab.workDir, 'mixed.cap');
    await lab.waitFor(
      async () =>
        (
          await lab.nw([
            'network',
            'watcher',
            'packet-capture',
            'download',
            '--name',
            'mixed',
            '--location',
            'westcentralus',
            '--file',
            out,
            '--force',
          ])
        ).code === 0,
      20_000,
      'download',
    );

    const got = readPcapBuffer(readFileSync(out));
    const ref = readPcapBuffer(readFileSync(referencePath));
    assert.equal(got.header.linkType, ref.header.linkType);
    const startMs = Date.parse(String(status.captureStartTime));
    const keeps = (linkType: number, data: Buffer) => verdict.keeps(toReference(decodePacket(linkType, data)));
    assert.ok(
      got.records.every((r) => keeps(got.header.linkType, r.data)),
      'every captured packet is kept by the reference',
    );
    const expected = ref.records.filter(
      (r) => keeps(ref.header.linkType, r.data) && r.timestampSeconds * 1000 + r.timestampFraction / 1000 >= startMs,
    );
    const hex = (d: Buffer) => comparablePacketKey(got.header.linkType, d);
    assert.deepEqual(got.records.map((r) => hex(r.data)).sort(), expected.map((r) => hex(r.data)).sort());
    const decoded = got.records.map((r) => decodePacket(got.header.linkType, r.data));
    // Each filter kept something, and the excluded traffic existed.
    assert.ok(
      decoded.some(
        (p) => p.family === 6 && p.protocol === 'TCP' && (p.destinationPort === 443 || p.sourcePort === 443),
      ),
      'IPv6 TCP 443',
    );
    assert.ok(
      decoded.some(
        (p) => p.family === 4 && p.protocol === 'UDP' && (p.sourcePort === 5002 || p.destinationPort === 5002),
      ),
      'IPv4 UDP local port 5002',
    );
    assert.ok(
      decoded.some(
        (p) => p.family === 4 && p.protocol === 'TCP' && (p.destinationPort === 9000 || p.sourcePort === 9000),
      ),
      'IPv4 TCP 9000',
    );
    assert.ok(
      decoded.some(
        (p) => p.protocol === 'ICMPv6' && (p.destinationAddress === 'fd00:db8::5' || p.sourceAddress === 'fd00:db8::5'),
      ),
      'ICMPv6 to ::5',
    );
    assert.ok(!decoded.some((p) => p.destinationAddress === 'fd00:db8::1:4'), 'out-of-range IPv6 remote excluded');
    assert.ok(!decoded.some((p) => p.protocol === 'ICMP'), 'IPv4 ICMP excluded');
    assert.ok(expected.length < ref.records.length, 'the filters excluded some traffic');
  });
});
