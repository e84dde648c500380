import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { buildFrame, encodePcapHeader, encodePcapRecord, readPcapFile } from '../pcap/index.js';
import type { FrameSpec } from '../pcap/index.js';
import { compileFilters, InvalidFilterError, normalizeFilters, TCPDUMP_FILTER_OPTIONS } from './index.js';
import type { PacketCaptureFilter } from './index.js';

const execFileAsync = promisify(execFile);

const SEED_FILTERS = [
  { protocol: 'TCP', remoteIPAddress: '1.1.1.1-255.255.255', localIPAddress: '10.0.0.3', remotePort: '20' },
  { protocol: 'TCP', remoteIPAddress: '1.1.1.1-255.255.255', localIPAddress: '10.0.0.3', remotePort: '80' },
  { protocol: 'TCP', remoteIPAddress: '1.1.1.1-255.255.255', localIPAddress: '10.0.0.3', remotePort: '443' },
  { protocol: 'UDP' },
];

function compile(input: unknown): string {
  return compileFilters(normalizeFilters(input));
}

let dir = '';
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'nw-filter-compile-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

type Packet = FrameSpec | 'arp';
const tcp4 = (s: string, sp: number, d: string, dp: number): FrameSpec => ({
  family: 4,
  protocol: 'TCP',
  sourceAddress: s,
  destinationAddress: d,
  sourcePort: sp,
  destinationPort: dp,
});
const udp4 = (s: string, sp: number, d: string, dp: number): FrameSpec => ({
  family: 4,
  protocol: 'UDP',
  sourceAddress: s,
  destinationAddress: d,
  sourcePort: sp,
  destinationPort: dp,
});
const icmp4 = (s: string, d: string): FrameSpec => ({
  family: 4,
  protocol: 'ICMP',
  sourceAddress: s,
  destinationAddress: d,
});
const tcp6 = (s: string, sp: number, d: string, dp: number): FrameSpec => ({
  family: 6,
  protocol: 'TCP',
  sourceAddress: s,
  destinationAddress: d,
  sourcePort: sp,
  destinationPort: dp,
});
const udp6 = (s: string, sp: number, d: string, dp: number): FrameSpec => ({
  family: 6,
  protocol: 'UDP',
  sourceAddress: s,
  destinationAddress: d,
  sourcePort: sp,
  destinationPort: dp,
});

// An ARP request about 10.0.0.1 and 10.0.0.3.
const ARP = Buffer.from(
  'ffffffffffff0200000000010806' +
    '0001080006040001' +
    '020000000001' +
    '0a000001' +
    '000000000000' +
    '0a000003' +
    '00'.repeat(18),
  'hex',
);

/** Runs real libpcap over the packets and returns, for each, whether the expression kept it. */
async function keptBy(expression: string, packets: Packet[]): Promise<boolean[]> {
  const inPath = join(dir, 'in.pcap');
  const outPath = join(dir, 'out.pcap');
  const records = packets.map((p, i) => {
    const data = p === 'arp' ? ARP : buildFrame(p);
    return encodePcapRecord({
      timestampSeconds: i + 1,
      timestampFraction: 0,
      capturedLength: data.length,
      originalLength: data.length,
      data,
    });
  });
  await writeFile(inPath, Buffer.concat([encodePcapHeader({ snapLength: 65535, linkType: 1 }), ...records]));
  await execFileAsync('tcpdump', [
    ...TCPDUMP_FILTER_OPTIONS,
    '-r',
    inPath,
    '-w',
    outPath,
    ...(expression === '' ? [] : [expression]),
  ]);
  const kept = new Set((await readPcapFile(outPath)).records.map((r) => r.timestampSeconds - 1));
  return packets.map((_, i) => kept.has(i));
}

/** Asserts which of the labelled packets libpcap keeps under the compiled filters. */
async function assertKeeps(input: unknown, cases: Array<[string, Packet, boolean]>): Promise<void> {
  const expression = compile(input);
  const kept = await keptBy(
    expression,
    cases.map(([, p]) => p),
  );
  const wrong = cases
    .filter(([, , expected], i) => kept[i] !== expected)
    .map(([label, , expected]) => `${label}: expected ${expected ? 'kept' : 'dropped'}`);
  assert.deepEqual(wrong, [], `expression: ${expression}`);
}

describe('compileFilters: what compiles to what', () => {
  test('an empty list, or any filter with no field, keeps everything', () => {
    assert.equal(compile([]), '');
    assert.equal(compile([{}]), '');
    assert.equal(compile([{ protocol: 'Any' }]), '');
    assert.equal(compile([{ protocol: 'TCP', localPort: '80' }, {}]), '');
  });

  test('protocol only', () => {
    assert.equal(compile([{ protocol: 'UDP' }]), '(udp)');
    assert.equal(compile([{ protocol: 'tcp' }, { protocol: 'udp' }]), '((tcp or udp))');
  });

  test('one field is an undirected primitive; ports without protocol mean TCP or UDP', () => {
    assert.equal(compile([{ localIPAddress: '10.0.0.1' }]), '(ip host 10.0.0.1)');
    assert.equal(compile([{ remoteIPAddress: '2001:db8::-2001:db8::ffff' }]), '(ip6 net 2001:db8::/112)');
    assert.equal(compile([{ localPort: '80' }]), '(tcp port 80 or udp port 80)');
    assert.equal(compile([{ protocol: 'TCP', remotePort: '8000-8080' }]), '(tcp portrange 8000-8080)');
  });

  test('ranges become minimal CIDR sets; lists and ranges of ports become port and portrange', () => {
    assert.equal(
      compile([{ localIPAddress: '10.0.0.0-10.0.1.255;10.0.2.0' }]),
      '(ip net 10.0.0.0/23 or ip host 10.0.2.0)',
    );
    assert.equal(compile([{ localIPAddress: '0.0.0.0-255.255.255.255' }]), '(ip net 0.0.0.0/0)');
    assert.equal(compile([{ localIPAddress: '::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff' }]), '(ip6 net ::/0)');
    assert.equal(
      compile([{ protocol: 'UDP', localPort: '53;80-81;82;100-100' }]),
      '(udp port 53 or udp portrange 80-82 or udp port 100)',
    );
  });

  test('fields stay bound to one reading of the packet', () => {
    assert.equal(
      compile([{ protocol: 'TCP', localIPAddress: '10.0.0.1', remotePort: '443' }]),
      '((ip src host 10.0.0.1 and tcp dst port 443) or (ip dst host 10.0.0.1 and tcp src port 443))',
    );
  });

  test('local and remote the same: both readings are one test', () => {
    assert.equal(
      compile([{ localIPAddress: '10.0.0.0-10.0.0.255', remoteIPAddress: '10.0.0.0-10.0.0.255' }]),
      '(ip src net 10.0.0.0/24 and ip dst net 10.0.0.0/24)',
    );
  });

  test("the seed's filters: three TCP filters merge into one, range emitted once per direction", () => {
    const expression = compile(SEED_FILTERS);
    assert.ok(
      expression.startsWith(
        '((ip src host 10.0.0.3 and (tcp dst port 20 or tcp dst port 80 or tcp dst port 443) and (ip dst host 1.1.1.1 or ip dst net 1.1.1.2/31 or ',
      ),
      expression,
    );
    assert.ok(
      expression.endsWith(' or ip src net 255.254.0.0/16 or ip src net 255.255.0.0/24))) or (udp)'),
      expression,
    );
    // 1.1.1.1-255.255.0.255 is 44 CIDR blocks, listed once for each reading (+1 for 10.0.0.3).
    assert.equal(expression.match(/ip dst (host|net) /g)?.length, 44 + 1);
    assert.equal(expression.match(/ip src (host|net) /g)?.length, 44 + 1);
    assert.equal(expression.match(/port 443/g)?.length, 2);
  });

  test('a filter covered by another is dropped, in either orientation', () => {
    assert.equal(
      compile([{ localPort: '80' }, { localPort: '80', localIPAddress: '10.0.0.1' }]),
      compile([{ localPort: '80' }]),
    );
    assert.equal(
      compile([
        { remoteIPAddress: '10.0.0.0-10.0.0.255', localPort: '1-100' },
        { localIPAddress: '10.0.0.7', remotePort: '80' },
      ]),
      compile([{ remoteIPAddress: '10.0.0.0-10.0.0.255', localPort: '1-100' }]),
    );
  });

  test('filters that differ in one field merge, also when written the other way round', () => {
    assert.equal(
      compile([
        { localIPAddress: '10.0.0.1', remotePort: '80' },
        { remoteIPAddress: '10.0.0.1', localPort: '443' },
      ]),
      compile([{ localIPAddress: '10.0.0.1', remotePort: '80;443' }]),
    );
  });

  test('compileFilters re-checks what it is given', () => {
    const bad = (f: Partial<PacketCaptureFilter>): PacketCaptureFilter => ({
      protocol: 'Any',
      localIPAddress: '',
      remoteIPAddress: '',
      localPort: '',
      remotePort: '',
      ...f,
    });
    assert.throws(
      () => compileFilters([bad({}), bad({ protocol: 'ICMP' as 'Any' })]),
      (e: unknown) => e instanceof InvalidFilterError && e.filterIndex === 1 && e.field === 'protocol',
    );
    assert.throws(
      () => compileFilters([bad({ localPort: '1-0' })]),
      (e: unknown) => e instanceof InvalidFilterError && e.field === 'localPort',
    );
  });
});

describe('compileFilters: real libpcap keeps the right packets', () => {
  test("the seed's filters", async () => {
    await assertKeeps(SEED_FILTERS, [
      ['out to the range start on 443', tcp4('10.0.0.3', 50000, '1.1.1.1', 443), true],
      ['in from the range on 80 (other reading)', tcp4('1.1.1.1', 80, '10.0.0.3', 50000), true],
      ['out to the range end 255.255.0.255 on 20', tcp4('10.0.0.3', 1, '255.255.0.255', 20), true],
      ['just below the range', tcp4('10.0.0.3', 50000, '1.1.1.0', 443), false],
      ['just above the range', tcp4('10.0.0.3', 50000, '255.255.1.0', 443), false],
      ['middle of the range, port 22', tcp4('10.0.0.3', 50000, '8.8.8.8', 22), false],
      ['another local host', tcp4('10.0.0.4', 50000, '8.8.8.8', 80), false],
      ['port 80 on the local side', tcp4('10.0.0.3', 80, '8.8.8.8', 50000), false],
      ['in, port 80 on the local side', tcp4('8.8.8.8', 50000, '10.0.0.3', 80), false],
      ['any UDP', udp4('192.168.0.1', 53, '192.168.0.2', 53), true],
      ['any UDP over IPv6', udp6('2001:db8::1', 1, '2001:db8::2', 2), true],
      ['ICMP to the range', icmp4('10.0.0.3', '1.1.1.1'), false],
      ['TCP over IPv6', tcp6('2001:db8::1', 50000, '2001:db8::2', 443), false],
      ['ARP', 'arp', false],
    ]);
  });

  test('overlapping local and remote ranges are not read per field', async () => {
    await assertKeeps(
      [{ localIPAddress: '10.0.0.1-10.0.0.2', remoteIPAddress: '10.0.0.2-10.0.0.3' }],
      [
        ['local → remote', udp4('10.0.0.1', 1, '10.0.0.3', 1), true],
        ['remote → local', udp4('10.0.0.3', 1, '10.0.0.1', 1), true],
        ['in both → unrelated', udp4('10.0.0.2', 1, '10.0.0.9', 1), false],
        ['unrelated → in both', udp4('10.0.0.9', 1, '10.0.0.2', 1), false],
        ['in both → in both', udp4('10.0.0.2', 1, '10.0.0.2', 1), true],
      ],
    );
  });

  test('ports: Any means TCP or UDP; port 0 and 65535; ICMP never matches a port filter', async () => {
    await assertKeeps(
      [{ localPort: '0;65535' }],
      [
        ['tcp sport 0', tcp4('1.1.1.1', 0, '2.2.2.2', 9), true],
        ['udp dport 65535', udp4('1.1.1.1', 9, '2.2.2.2', 65535), true],
        ['tcp6 dport 0', tcp6('::1', 5, '::2', 0), true],
        ['neither', tcp4('1.1.1.1', 1, '2.2.2.2', 65534), false],
        ['icmp', icmp4('1.1.1.1', '2.2.2.2'), false],
      ],
    );
  });

  test('TCP and UDP merged, then a protocol-Any filter over a subset still keeps ICMP', async () => {
    await assertKeeps(
      [
        { protocol: 'TCP', localIPAddress: '10.0.0.0-10.0.0.255' },
        { protocol: 'UDP', localIPAddress: '10.0.0.0-10.0.0.255' },
        { localIPAddress: '10.0.0.1' },
      ],
      [
        ['icmp from the Any filter host', icmp4('10.0.0.1', '8.8.8.8'), true],
        ['icmp from elsewhere in the range', icmp4('10.0.0.2', '8.8.8.8'), false],
        ['udp in the range', udp4('8.8.8.8', 1, '10.0.0.200', 2), true],
        ['ARP naming the host', 'arp', false],
      ],
    );
  });

  test('a family never matches the other, IPv4-mapped addresses included', async () => {
    await assertKeeps(
      [{ localIPAddress: '10.0.0.1' }],
      [
        ['IPv4', udp4('10.0.0.1', 1, '10.0.0.2', 2), true],
        ['IPv6 mapped', udp6('::ffff:10.0.0.1', 1, '::ffff:10.0.0.2', 2), false],
      ],
    );
    await assertKeeps(
      [{ localIPAddress: '::ffff:10.0.0.1' }],
      [
        ['IPv4', udp4('10.0.0.1', 1, '10.0.0.2', 2), false],
        ['IPv6 mapped', udp6('::ffff:10.0.0.1', 1, '::ffff:10.0.0.2', 2), true],
      ],
    );
    await assertKeeps(
      [{ remoteIPAddress: '0.0.0.0-255.255.255.255' }],
      [
        ['IPv4', icmp4('1.2.3.4', '5.6.7.8'), true],
        ['IPv6', udp6('::1', 1, '::2', 2), false],
        ['ARP', 'arp', false],
      ],
    );
  });

  test('a set that libpcap 1.10.3 miscompiles when its optimizer is on (found by the property test)', async () => {
    // With the optimizer this expression dropped the first packet: see TCPDUMP_FILTER_OPTIONS.
    await assertKeeps(
      [
        { localIPAddress: '0.0.0.2-99.108.63.160;0.0.0.0-0.0.0.0', remotePort: '0-0' },
        { protocol: 'UDP', localIPAddress: '2001:db8:0:0:0:0:0:0-2001:db8:0:0:0:0:0:0;0.0.0.0-0.0.0.0' },
        { localIPAddress: '0.0.0.2-99.108.63.160;0.0.0.0-0.0.0.0' },
      ],
      [
        ['udp from the top of the range', udp4('99.108.63.160', 0, '99.108.63.161', 0), true],
        ['udp just above it', udp4('99.108.63.161', 0, '99.108.63.162', 0), false],
        ['udp from 0.0.0.0', udp4('0.0.0.0', 0, '99.108.63.161', 0), true],
      ],
    );
  });

  test('an empty expression keeps everything, ARP included', async () => {
    assert.deepEqual(await keptBy(compile([]), ['arp', icmp4('1.1.1.1', '2.2.2.2')]), [true, true]);
  });
});
