import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { LinkType, buildFrame } from '../pcap/index.js';
import { analyzeCapture, reportOf } from './analyze.js';
import type { CaptureSource } from './analyze.js';
import type { AnalyzerOptions } from './analyzer.js';
import {
  SCENARIO_EPOCH_SECONDS,
  arpRequest,
  cooked,
  dnsExchange,
  inTimeOrder,
  tcpConnection,
  tlsClientHello,
  writeCapture,
} from './testing/scenario.js';
import type { TcpScenario, TimedFrame } from './testing/scenario.js';

const source = (bytes: Buffer): CaptureSource => ({
  open: () => [bytes],
  fileName: 'x.pcap',
  sha256: null,
  instance: null,
});
const analyse = async (bytes: Buffer, options: AnalyzerOptions = {}) =>
  (await analyzeCapture(source(bytes), options)).sections;
const sum = (xs: number[]): number => xs.reduce((a, b) => a + b, 0);

/** The mixed capture of the docs: four TCP connections with anomalies, DNS with failures, TLS, ARP, ICMP, IPv6. */
function mixed() {
  const conns = {
    retrans: tcpConnection({
      client: '10.0.0.1',
      clientPort: 40000,
      server: '10.0.0.2',
      serverPort: 9000,
      start: 0,
      segments: 5,
      retransmit: [2],
      duplicateAcks: 3,
    }),
    reset: tcpConnection({
      client: '10.0.0.3',
      clientPort: 40001,
      server: '10.0.0.2',
      serverPort: 9000,
      start: 0.5,
      segments: 2,
      reset: true,
      zeroWindows: 2,
    }),
    tls: tcpConnection({
      client: '10.0.0.1',
      clientPort: 40002,
      server: '10.0.0.9',
      serverPort: 443,
      start: 0.7,
      segments: 2,
      firstPayload: tlsClientHello('api.example.com'),
    }),
    v6: tcpConnection({
      family: 6,
      client: 'fd00::1',
      clientPort: 40003,
      server: 'fd00::2',
      serverPort: 9000,
      start: 0.8,
      segments: 3,
    }),
  };
  const dns = [
    dnsExchange({
      client: '10.0.0.1',
      clientPort: 33000,
      server: '10.0.0.53',
      id: 1,
      name: 'ok.example',
      start: 0.1,
      answers: ['1.2.3.4'],
    }),
    dnsExchange({
      client: '10.0.0.1',
      clientPort: 33001,
      server: '10.0.0.53',
      id: 2,
      name: 'nx.example',
      start: 0.2,
      rcode: 3,
    }),
    dnsExchange({
      client: '10.0.0.1',
      clientPort: 33002,
      server: '10.0.0.53',
      id: 3,
      name: 'fail.example',
      start: 0.3,
      rcode: 2,
      responseAfterSeconds: 0.02,
    }),
    dnsExchange({
      client: '10.0.0.1',
      clientPort: 33003,
      server: '10.0.0.53',
      id: 4,
      name: 'lost.example',
      start: 0.4,
      responseAfterSeconds: null,
    }),
  ];
  const other: TimedFrame[] = [
    { time: SCENARIO_EPOCH_SECONDS + 0.05, frame: arpRequest('10.0.0.1', '10.0.0.2') },
    {
      time: SCENARIO_EPOCH_SECONDS + 0.06,
      frame: buildFrame({
        family: 4,
        protocol: 'ICMP',
        sourceAddress: '10.0.0.1',
        destinationAddress: '10.0.0.2',
        payloadBytes: 56,
      }),
    },
  ];
  const frames = inTimeOrder([...Object.values(conns).flatMap((c) => c.frames), ...dns.flat(), ...other]);
  return { conns, dns, other, frames };
}

test('a capture with known conversations and anomalies gives exactly the expected figures', async () => {
  const { conns, dns, frames } = mixed();
  for (const pcapng of [false, true]) {
    const s = await analyse(writeCapture(frames, { pcapng }));
    const totalBytes = sum(frames.map((f) => f.frame.length));
    assert.equal(s.summary.packets, frames.length);
    assert.equal(s.summary.bytes, totalBytes);
    assert.equal(s.summary.firstPacketTime, '2026-01-01T00:00:00.000000Z');
    assert.equal(s.summary.durationInSeconds, Number((frames.at(-1)!.time - frames[0]!.time).toFixed(6)));
    assert.deepEqual(s.summary.linkTypes, ['ETHERNET']);
    assert.equal(s.summary.interfaces[0]!.timestampResolution, pcapng ? 'ns' : 'us');

    const tcp = s.conversations.tcp;
    assert.equal(tcp.totalRows, 4);
    for (const [c, addressA, portA] of [
      [conns.retrans, '10.0.0.1', 40000],
      [conns.reset, '10.0.0.3', 40001],
      [conns.tls, '10.0.0.1', 40002],
      [conns.v6, 'fd00::1', 40003],
    ] as const) {
      const row = tcp.rows.find((r) => r.addressA === addressA && r.portA === portA)!;
      assert.deepEqual(
        [row.packetsAToB, row.bytesAToB, row.packetsBToA, row.bytesBToA],
        [c.clientFrames, c.clientBytes, c.serverFrames, c.serverBytes],
        `${addressA}:${portA}`,
      );
    }
    const health = s.tcp;
    assert.deepEqual(
      [
        health.connections,
        health.handshakes,
        health.retransmissions,
        health.duplicateAcks,
        health.zeroWindows,
        health.resets,
        health.outOfOrder,
      ],
      [4, 4, 1, 3, 2, 1, 0],
    );
    const resetRow = health.table.rows.find((r) => r.portA === 40001)!;
    assert.equal(resetRow.state, 'reset');
    assert.equal(resetRow.zeroWindows, 2);
    assert.equal(health.table.rows.find((r) => r.portA === 40000)!.retransmissions, 1);
    assert.ok(Math.abs(health.handshakeRttInMs!.avg - 10) < 1e-6, 'the scenario handshake RTT is 10 ms');

    assert.equal(s.conversations.udp.totalRows, 4);
    assert.equal(s.conversations.ipv4.totalRows, 4);
    assert.equal(s.conversations.ipv6.totalRows, 1);
    assert.deepEqual([s.dns.queries, s.dns.responses, s.dns.unansweredQueries], [4, 3, 1]);
    assert.deepEqual(s.dns.responseCodes, { NOERROR: 1, SERVFAIL: 1, NXDOMAIN: 1 });
    assert.ok(Math.abs(s.dns.responseTimeInMs!.max - 20) < 1e-6 && Math.abs(s.dns.responseTimeInMs!.min - 5) < 1e-6);
    assert.deepEqual(s.dns.names.rows.find((r) => r.name === 'nx.example')!.responseCodes, { NXDOMAIN: 1 });
    assert.equal(s.dns.names.rows.find((r) => r.name === 'lost.example')!.responses, 0);
    assert.equal(s.tls.clientHellos, 1);
    assert.deepEqual(s.tls.serverNames.rows, [
      { serverName: 'api.example.com', clientHellos: 1, serverAddresses: ['10.0.0.9'] },
    ]);

    const eth = s.protocols.roots[0]!;
    assert.equal(eth.protocol, 'eth');
    assert.equal(eth.packets, frames.length);
    const ip = eth.children.find((n) => n.protocol === 'ip')!;
    assert.equal(ip.children.find((n) => n.protocol === 'udp')!.children[0]!.packets, sum(dns.map((d) => d.length)));
    assert.equal(eth.children.find((n) => n.protocol === 'arp')!.packets, 1);
    // Payload segments on port 9000 are 'data', except the retransmission, which tshark leaves at tcp.
    assert.equal(
      ip.children.find((n) => n.protocol === 'tcp')!.children.find((n) => n.protocol === 'data')!.packets,
      5 + 2,
    );

    assert.equal(sum(s.io.packets), frames.length);
    assert.equal(sum(s.io.bytes), totalBytes);
    assert.equal(sum(s.io.series.find((x) => x.protocol === 'arp')!.packets), 1);
    assert.ok(s.io.packets.length <= 500);
  }
});

test('Linux cooked captures (tcpdump -i any: SLL and SLL2) give the same conversations and anomalies', async () => {
  const { frames } = mixed();
  const ethernet = await analyse(writeCapture(frames));
  for (const [version, linkType, name] of [
    [1, LinkType.LINUX_SLL, 'LINUX_SLL'],
    [2, LinkType.LINUX_SLL2, 'LINUX_SLL2'],
  ] as const) {
    const cookedFrames = cooked(frames, version);
    const s = await analyse(writeCapture(cookedFrames, { linkType }));
    assert.deepEqual(s.summary.linkTypes, [name]);
    assert.equal(s.protocols.roots[0]!.protocol, 'sll');
    assert.equal(s.summary.bytes, sum(cookedFrames.map((f) => f.frame.length)));
    const strip = (rows: typeof ethernet.conversations.tcp.rows) =>
      rows.map((r) => [r.addressA, r.portA, r.addressB, r.portB, r.packetsAToB, r.packetsBToA]).sort();
    assert.deepEqual(strip(s.conversations.tcp.rows), strip(ethernet.conversations.tcp.rows));
    assert.deepEqual(
      { ...s.tcp, table: null, handshakeRttInMs: null },
      { ...ethernet.tcp, table: null, handshakeRttInMs: null },
    );
    assert.deepEqual(s.dns.responseCodes, ethernet.dns.responseCodes);
  }
});

test('a small snap length keeps bytes and TCP analysis exact (lengths come from the IP header)', async () => {
  const { frames } = mixed();
  const full = await analyse(writeCapture(frames));
  // 74 bytes: Ethernet + IPv6 + TCP headers, no payload (`tcpdump -s 74`).
  const cut = await analyse(writeCapture(frames, { snapLength: 74 }));
  assert.equal(cut.summary.bytes, full.summary.bytes);
  assert.ok(cut.summary.truncatedPackets > 0);
  assert.equal(cut.summary.snapLengthInBytes, 74);
  assert.deepEqual({ ...cut.tcp, table: null }, { ...full.tcp, table: null });
});

test('tables stay bounded with exact totals: top N, and a cap on tracked keys', async () => {
  const frames: TimedFrame[] = [];
  for (let i = 0; i < 20; i++) {
    for (let k = 0; k <= i; k++)
      frames.push({
        time: SCENARIO_EPOCH_SECONDS + i + k / 100,
        frame: buildFrame({
          family: 4,
          protocol: 'UDP',
          sourceAddress: '10.1.0.1',
          destinationAddress: `10.1.1.${i + 1}`,
          sourcePort: 5000 + i,
          destinationPort: 7000,
          payloadBytes: 10,
        }),
      });
  }
  const bytes = writeCapture(frames);
  const totalBytes = sum(frames.map((f) => f.frame.length));
  const top = await analyse(bytes, { top: 3 });
  const udp = top.conversations.udp;
  assert.equal(udp.rows.length, 3);
  assert.deepEqual(
    udp.rows.map((r) => r.packets),
    [20, 19, 18],
  );
  assert.equal(udp.totalRows, 20);
  assert.ok(udp.truncated && udp.totalRowsIsExact);
  assert.equal(sum(udp.rows.map((r) => r.bytes)) + udp.otherBytes, totalBytes);
  const capped = await analyse(bytes, { maxTrackedKeys: 5 });
  const c = capped.conversations.udp;
  assert.equal(c.rows.length, 5);
  assert.equal(c.totalRowsIsExact, false);
  assert.equal(
    sum(c.rows.map((r) => r.packets)) + c.otherPackets,
    frames.length,
    'packets of untracked conversations still count',
  );
  assert.equal(capped.summary.packets, frames.length);
});

test('I/O: a fixed interval, and an interval too small for the capture is refused', async () => {
  const { frames } = mixed();
  const bytes = writeCapture(frames);
  const s = await analyse(bytes, { ioIntervalInSeconds: 0.1 });
  assert.equal(s.io.intervalInSeconds, 0.1);
  assert.equal(s.io.packets.length, 9);
  assert.equal(sum(s.io.packets), frames.length);
  await assert.rejects(analyse(bytes, { ioIntervalInSeconds: 0.000001, maxIoBuckets: 1000 }), /more than 1000 buckets/);
});

test('reportOf gives one section or all', async () => {
  const { frames } = mixed();
  const full = await analyzeCapture(source(writeCapture(frames)));
  assert.deepEqual(Object.keys(reportOf(full, 'dns')), ['source', 'dns']);
  assert.equal(Object.keys(reportOf(full)).length, 9);
  assert.equal(full.source.format, 'pcap');
  assert.match(full.source.sha256, /^[0-9a-f]{64}$/);
});

const tcpScenario = fc.record({
  segments: fc.integer({ min: 1, max: 6 }),
  retransmitMask: fc.integer({ min: 0, max: 63 }),
  duplicateAcks: fc.integer({ min: 0, max: 4 }),
  zeroWindows: fc.integer({ min: 0, max: 3 }),
  reset: fc.boolean(),
  family: fc.constantFrom(4 as const, 6 as const),
  // From 2: a 1-byte segment resent at the next sequence number minus one is a keep-alive (as Wireshark says).
  segmentBytes: fc.integer({ min: 2, max: 1400 }),
});

test('property: generated connections give their own frame counts and exactly their anomalies', async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(tcpScenario, { minLength: 1, maxLength: 5 }), async (specs) => {
      const results = specs.map((spec, i) => {
        const retransmit = [...Array(spec.segments).keys()].filter((k) => (spec.retransmitMask >> k) & 1);
        const s: TcpScenario = {
          family: spec.family,
          client: spec.family === 4 ? `10.2.0.${i + 1}` : `fd00::${i + 1}`,
          clientPort: 41000 + i,
          server: spec.family === 4 ? '10.2.1.1' : 'fd00::ff',
          serverPort: 9100,
          start: i * 0.37,
          segments: spec.segments,
          segmentBytes: spec.segmentBytes,
          retransmit,
          duplicateAcks: spec.duplicateAcks,
          zeroWindows: spec.zeroWindows,
          reset: spec.reset,
        };
        return { s, r: tcpConnection(s), retransmit };
      });
      const frames = inTimeOrder(results.flatMap((x) => x.r.frames));
      const out = await analyse(writeCapture(frames));
      for (const { s, r, retransmit } of results) {
        const row = out.tcp.table.rows.find((x) => x.portA === s.clientPort)!;
        const conv = out.conversations.tcp.rows.find((x) => x.portA === s.clientPort)!;
        assert.deepEqual(
          [conv.packetsAToB, conv.bytesAToB, conv.packetsBToA, conv.bytesBToA],
          [r.clientFrames, r.clientBytes, r.serverFrames, r.serverBytes],
        );
        assert.deepEqual(
          [row.retransmissions, row.duplicateAcks, row.zeroWindows, row.resets, row.outOfOrder],
          [retransmit.length, s.duplicateAcks, s.zeroWindows, s.reset ? 1 : 0, 0],
        );
        assert.equal(row.state, s.reset ? 'reset' : 'closed');
      }
    }),
    { numRuns: 60 },
  );
});

test('HTTP and TLS are recognised by content on any port, and by port', async () => {
  const http = tcpConnection({
    client: '10.4.0.1',
    clientPort: 40100,
    server: '10.4.0.2',
    serverPort: 7777,
    start: 0,
    segments: 1,
    firstPayload: Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'),
  });
  const tls = tcpConnection({
    client: '10.4.0.1',
    clientPort: 40101,
    server: '10.4.0.3',
    serverPort: 8888,
    start: 0.1,
    segments: 1,
    firstPayload: tlsClientHello('odd-port.example'),
  });
  const s = await analyse(writeCapture(inTimeOrder([...http.frames, ...tls.frames])));
  const tcp = s.protocols.roots[0]!.children[0]!.children[0]!;
  assert.deepEqual(tcp.children.map((n) => [n.protocol, n.packets]).sort(), [
    ['http', 1],
    ['tls', 1],
  ]);
  assert.deepEqual(
    s.tls.serverNames.rows.map((r) => r.serverName),
    ['odd-port.example'],
  );
});
