import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  CaptureStreamParser,
  LinkType,
  encodePcapngInterface,
  encodePcapngPacket,
  encodePcapngSectionHeader,
  encodePcapngStatistics,
  buildFrame,
} from '../pcap/index.js';
import type { CapturePacket } from '../pcap/index.js';
import { analyzeCapture, filteredCapture, listPackets } from './analyze.js';
import type { CaptureSource } from './analyze.js';
import { DisplayFilterError } from './display-filter.js';
import { dnsExchange, inTimeOrder, tcpConnection, writeCapture, cooked } from './testing/scenario.js';

const source = (bytes: Buffer): CaptureSource => ({ open: () => [bytes], fileName: 'x', sha256: null, instance: null });
const frames = inTimeOrder([
  ...tcpConnection({
    client: '10.0.0.1',
    clientPort: 40000,
    server: '10.0.0.2',
    serverPort: 9000,
    start: 0,
    segments: 3,
  }).frames,
  ...dnsExchange({
    client: '10.0.0.1',
    clientPort: 33000,
    server: '10.0.0.53',
    id: 5,
    name: 'nx.example',
    start: 0.001,
    rcode: 3,
  }),
]);

async function collect(chunks: AsyncIterable<Buffer>): Promise<{ format: string | null; packets: CapturePacket[] }> {
  const packets: CapturePacket[] = [];
  const parser = new CaptureStreamParser({ onPacket: (p) => packets.push({ ...p, data: Buffer.from(p.data) }) });
  for await (const c of chunks) parser.push(c);
  assert.equal(parser.end(), 0);
  return { format: parser.format, packets };
}

test('filtered download: pcap stays pcap with records copied byte for byte; pcapng stays pcapng', async () => {
  const pcap = writeCapture(frames);
  const dns = await collect(filteredCapture(source(pcap), 'dns.flags.rcode == 3 || udp.srcport == 33000'));
  assert.equal(dns.format, 'pcap');
  assert.equal(dns.packets.length, 2);
  assert.deepEqual(
    dns.packets.map((p) => p.data),
    frames
      .filter((f) => (f.frame.length > 0 && f.frame.readUInt16BE(36) === 53) || f.frame.readUInt16BE(34) === 53)
      .map((f) => f.frame),
  );
  const everything = await collect(filteredCapture(source(pcap), undefined));
  assert.equal(everything.packets.length, frames.length);
  const none = await collect(filteredCapture(source(pcap), 'arp'));
  assert.equal(none.packets.length, 0, 'no match: a valid, empty pcap');

  const ng = await collect(filteredCapture(source(writeCapture(frames, { pcapng: true })), 'tcp.flags.syn'));
  assert.equal(ng.format, 'pcapng');
  assert.equal(ng.packets.length, 2);
  assert.equal(ng.packets[1]!.timestampNanoseconds, 5_000_000, 'nanosecond timestamps survive');
  assert.throws(() => filteredCapture(source(pcap), 'tcp.port =='), DisplayFilterError);
});

test('packet list: decoded layers, paging over matches, exact counts', async () => {
  const bytes = writeCapture(cooked(frames, 2), { linkType: LinkType.LINUX_SLL2 });
  const page = await listPackets(source(bytes), { offset: 1, limit: 2, filter: 'tcp' });
  assert.equal(page.totalPackets, frames.length);
  assert.equal(page.matchingPackets, frames.length - 2);
  // Frame 2 is the DNS query (at 1 ms), between the SYN and the SYN/ACK.
  assert.deepEqual(
    page.packets.map((p) => p.number),
    [3, 5],
  );
  const synAck = page.packets[0]!;
  assert.deepEqual(
    synAck.layers.map((l) => l.layer),
    ['sll2', 'ip', 'tcp'],
  );
  assert.match(synAck.info, /^9000 → 40000 \[SYN, ACK\] Seq=5000 Ack=1001/);
  const dns = await listPackets(source(bytes), { offset: 0, limit: 10, filter: 'dns' });
  assert.equal(dns.packets[1]!.info, 'Standard query response 0x0005 NXDOMAIN A nx.example');
  assert.equal(dns.packets[1]!.layers.at(-1)!.fields['dns.flags.rcode'], 'NXDOMAIN');
  // The totals known (from a cache), reading stops after the page with the same answer.
  const known = await listPackets(source(bytes), {
    offset: 1,
    limit: 2,
    filter: 'tcp',
    knownMatchingPackets: { total: page.totalPackets, matching: page.matchingPackets },
  });
  assert.deepEqual({ ...known, source: null }, { ...page, source: null });
});

test('summary: drops from pcapng statistics blocks, or from the capture status; multiple interfaces', async () => {
  const frame = buildFrame({
    family: 4,
    protocol: 'UDP',
    sourceAddress: '10.0.0.1',
    destinationAddress: '10.0.0.2',
    sourcePort: 1,
    destinationPort: 2,
  });
  const ng = Buffer.concat([
    encodePcapngSectionHeader(),
    encodePcapngInterface({ linkType: LinkType.ETHERNET, snapLength: 65535, name: 'eth0' }),
    encodePcapngInterface({ linkType: LinkType.ETHERNET, snapLength: 128, name: 'eth1', timestampResolution: 9 }),
    encodePcapngPacket({ interfaceId: 0, timestamp: 1_000_000n, data: frame }),
    encodePcapngPacket({ interfaceId: 1, timestamp: 2_000_000_500n, data: frame }),
    encodePcapngStatistics({ interfaceId: 0, packetsReceived: 10, packetsDropped: 2 }),
    encodePcapngStatistics({ interfaceId: 1, packetsReceived: 5, packetsDropped: 1 }),
  ]);
  const s = (await analyzeCapture(source(ng))).sections.summary;
  assert.deepEqual(
    [s.packets, s.kernelPacketsDropped, s.kernelPacketsReceived, s.snapLengthInBytes],
    [2, 3, 15, 65535],
  );
  assert.deepEqual(
    s.interfaces.map((i) => [i.name, i.packets, i.timestampResolution]),
    [
      ['eth0', 1, 'us'],
      ['eth1', 1, 'ns'],
    ],
  );
  assert.equal(s.durationInSeconds, 1.0000005);
  assert.equal(s.lastPacketTime, '1970-01-01T00:00:02.000000Z');
  const withStatus = (
    await analyzeCapture({ ...source(writeCapture(frames)), kernel: { packetsDropped: 4, packetsReceived: 99 } })
  ).sections.summary;
  assert.deepEqual([withStatus.kernelPacketsDropped, withStatus.kernelPacketsReceived], [4, 99]);
});
