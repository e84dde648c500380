import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  hostMetricDeltas,
  parseNetDev,
  parseNetSnmp,
  parseNetSnmp6,
  ProcFormatError,
  readHostCounters,
  type HostCounterSnapshot,
} from './proc-net.js';

const SNMP = `Ip: Forwarding DefaultTTL InReceives
Ip: 1 64 1000
Tcp: RtoAlgorithm RtoMin RtoMax MaxConn ActiveOpens PassiveOpens AttemptFails EstabResets CurrEstab InSegs OutSegs RetransSegs InErrs OutRsts InCsumErrors
Tcp: 1 200 120000 -1 10 5 0 0 2 5000 7000 12 0 3 0
Udp: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors InCsumErrors IgnoredMulti MemErrors
Udp: 80 1 0 90 0 0 0 0 0
`;
const DEV = `Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo: 5000 50    0    0    0     0          0         0 5000 50    0    0    0     0       0          0
  eth0: 10000 100    0    0    0     0          0         0 20000 200    0    0    0     0       0          0
`;

test('parses /proc/net/snmp groups, /proc/net/snmp6 and /proc/net/dev', () => {
  const snmp = parseNetSnmp(SNMP);
  assert.equal(snmp.Tcp?.OutSegs, 7000);
  assert.equal(snmp.Tcp?.MaxConn, -1);
  assert.equal(snmp.Udp?.OutDatagrams, 90);
  assert.deepEqual(parseNetSnmp6('Udp6InDatagrams                 \t4\nUdp6OutDatagrams \t 6\nIp6InReceives 1\n'), {
    Udp6InDatagrams: 4,
    Udp6OutDatagrams: 6,
    Ip6InReceives: 1,
  });
  assert.deepEqual(parseNetDev(DEV).eth0, { rxBytes: 10000, rxPackets: 100, txBytes: 20000, txPackets: 200 });
  assert.throws(() => parseNetSnmp('Tcp: A B\nTcp: 1\n'), ProcFormatError);
  assert.throws(() => parseNetDev(`${DEV.split('\n').slice(0, 2).join('\n')}\n eth1: 1 2 3\n`), ProcFormatError);
});

test('deltas: per report interval, loopback left out, resets and new interfaces count 0, IPv6 UDP added', () => {
  const before: HostCounterSnapshot = {
    snmp: parseNetSnmp(SNMP),
    snmp6: { Udp6InDatagrams: 1, Udp6OutDatagrams: 1 },
    interfaces: parseNetDev(DEV),
  };
  const after: HostCounterSnapshot = {
    snmp: { Tcp: { InSegs: 5010, OutSegs: 7150, RetransSegs: 10 }, Udp: { InDatagrams: 85, OutDatagrams: 91 } },
    snmp6: { Udp6InDatagrams: 3, Udp6OutDatagrams: 1 },
    interfaces: {
      lo: { rxBytes: 9000, rxPackets: 90, txBytes: 9000, txPackets: 90 },
      eth0: { rxBytes: 10500, rxPackets: 105, txBytes: 23000, txPackets: 230 },
      eth1: { rxBytes: 999999, rxPackets: 9999, txBytes: 999999, txPackets: 9999 },
    },
  };
  const d = hostMetricDeltas(before, after);
  assert.equal(d['TCP Segments Sent'], 150);
  assert.equal(d['TCP Segments Received'], 10);
  assert.equal(d['TCP Segments Retransmitted'], 0, 'a counter that went down was reset: 0, not negative');
  assert.equal(d['Network In Total'], 500, 'lo and the new eth1 do not count');
  assert.equal(d['Network Out Total'], 3000);
  assert.equal(d['Packets In Total'], 5);
  assert.equal(d['Packets Out Total'], 30);
  assert.equal(d['UDP Datagrams Received'], 5 + 2);
  assert.equal(d['UDP Datagrams Sent'], 1);
});

test('reads a /proc tree; snmp6 may be missing (IPv6 off)', async () => {
  const root = mkdtempSync(join(tmpdir(), 'nw-proc-'));
  try {
    mkdirSync(join(root, 'net'));
    writeFileSync(join(root, 'net', 'snmp'), SNMP);
    writeFileSync(join(root, 'net', 'dev'), DEV);
    const s = await readHostCounters(root);
    assert.equal(s.snmp.Tcp?.InSegs, 5000);
    assert.deepEqual(s.snmp6, {});
    const real = await readHostCounters();
    assert.ok(typeof real.snmp.Tcp?.OutSegs === 'number', "this machine's /proc/net/snmp parses");
    assert.ok('lo' in real.interfaces);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
