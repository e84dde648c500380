// Property test: the compiled expression, run by real libpcap (tcpdump -O -r IN -w OUT EXPR), keeps
// exactly the packets the independent reference matcher (reference-matcher.ts) says it should.
// Random filter sets (IPv4 and IPv6, short forms, ranges, lists, odd spacing and casing) and random
// packets drawn mostly from the filters' own boundaries (first-1, first, last, last+1, port 0 and
// 65535, /0 and /32 blocks), in both directions, TCP, UDP, ICMP and non-IP frames.
// Reproduce a failure with NW_FC_SEED=<the seed printed first>; NW_FC_RUNS sets the run count.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import fc from 'fast-check';
import { buildFrame, encodePcapHeader, encodePcapRecord, readPcapFile } from '../pcap/index.js';
import { compileFilters, InvalidFilterError, normalizeFilters, TCPDUMP_FILTER_OPTIONS } from './index.js';
import { referenceFilterSet } from './reference-matcher.js';
import type { ReferencePacket } from './reference-matcher.js';

const execFileAsync = promisify(execFile);
const RUNS = Number(process.env.NW_FC_RUNS ?? 500);
// One seed for the whole file, printed first so a failure in CI can be replayed exactly.
const SEED =
  process.env.NW_FC_SEED === undefined ? Math.floor(Math.random() * 2 ** 31) : Number(process.env.NW_FC_SEED);
console.log(`# fast-check seed ${SEED} (replay with NW_FC_SEED=${SEED})`);
const PACKETS_PER_RUN = 48;
const MAX_V4 = 2 ** 32 - 1;
const MAX_V6 = (1n << 128n) - 1n;

// ---------- values ----------

// IPv4 values: fixed edges, CIDR-aligned starts and ends of every size, and anything at all.
const v4Value = fc.oneof(
  fc.constantFrom(0, MAX_V4, 0x0a000003, 0x01010101, 0xffff00ff, 0x7f000001),
  fc.tuple(fc.integer({ min: 0, max: MAX_V4 }), fc.integer({ min: 0, max: 32 }), fc.boolean()).map(([v, bits, end]) => {
    const size = 2 ** bits;
    const base = Math.floor(v / size) * size;
    return end ? base + size - 1 : base;
  }),
  fc.integer({ min: 0, max: MAX_V4 }),
);
const v6Value = fc.oneof(
  fc.constantFrom(0n, 1n, MAX_V6, 0xffff0a000001n, 0x20010db8n << 96n, 0xfe80n << 112n),
  fc
    .tuple(fc.bigInt({ min: 0n, max: MAX_V6 }), fc.integer({ min: 0, max: 128 }), fc.boolean())
    .map(([v, bits, end]) => {
      const size = 1n << BigInt(bits);
      const base = (v / size) * size;
      return end ? base + size - 1n : base;
    }),
  fc.bigInt({ min: 0n, max: MAX_V6 }),
  fc.bigInt({ min: 0n, max: 0xffffffffn }).map((v) => (0x20010db8n << 96n) + v),
);
const portValue = fc.oneof(
  fc.constantFrom(0, 1, 1023, 1024, 65534, 65535, 80, 443),
  fc.tuple(fc.integer({ min: 0, max: 65535 }), fc.integer({ min: 0, max: 16 }), fc.boolean()).map(([v, bits, end]) => {
    const size = 2 ** bits;
    const base = Math.floor(v / size) * size;
    return end ? base + size - 1 : base;
  }),
  fc.integer({ min: 0, max: 65535 }),
);

// How far a range's end lies from its start: a point, a few, an aligned block, or anything.
const v4Span = fc.oneof(
  fc.integer({ min: 0, max: 3 }),
  fc.integer({ min: 0, max: 32 }).map((b) => 2 ** b - 1),
  fc.integer({ min: 0, max: MAX_V4 }),
);
const v6Span = fc.oneof(
  fc.bigInt({ min: 0n, max: 3n }),
  fc.integer({ min: 0, max: 128 }).map((b) => (1n << BigInt(b)) - 1n),
  fc.bigInt({ min: 0n, max: MAX_V6 }),
);
const portSpan = fc.oneof(
  fc.integer({ min: 0, max: 3 }),
  fc.integer({ min: 0, max: 16 }).map((b) => 2 ** b - 1),
  fc.integer({ min: 0, max: 65535 }),
);

// ---------- text forms (written here from the spec, not taken from the compiler) ----------

function v4Dotted(v: number): string {
  return [Math.floor(v / 2 ** 24), Math.floor(v / 2 ** 16) % 256, Math.floor(v / 256) % 256, v % 256].join('.');
}

/** inet_aton forms: a.b.c.d, a.b.c (c = low 16 bits), a.b (b = low 24 bits), a (32 bits). */
function v4Text(v: number, form: number): string {
  const o = v4Dotted(v).split('.');
  switch (form % 4) {
    case 1:
      return `${o[0]}.${o[1]}.${v % 65536}`;
    case 2:
      return `${o[0]}.${v % 2 ** 24}`;
    case 3:
      return String(v);
    default:
      return o.join('.');
  }
}

function v6Groups(v: bigint): number[] {
  return Array.from({ length: 8 }, (_, i) => Number((v >> BigInt(16 * (7 - i))) & 0xffffn));
}

/** IPv6 forms: all eight groups, zero-padded upper case, compressed, or with a dotted-quad tail. */
function v6Text(v: bigint, form: number): string {
  const g = v6Groups(v);
  switch (form % 4) {
    case 1:
      return g.map((x) => x.toString(16).toUpperCase().padStart(4, '0')).join(':');
    case 2:
      return compress(g.map((x) => x.toString(16)));
    case 3: {
      const tail = [(g[6] as number) >> 8, (g[6] as number) & 255, (g[7] as number) >> 8, (g[7] as number) & 255].join(
        '.',
      );
      return compress([...g.slice(0, 6).map((x) => x.toString(16)), tail]);
    }
    default:
      return g.map((x) => x.toString(16)).join(':');
  }
}

// Replace the first longest run (≥ 2) of "0" groups by '::'.
function compress(groups: string[]): string {
  let best = -1;
  let bestLength = 1;
  for (let i = 0; i < groups.length; i++) {
    let j = i;
    while (j < groups.length && groups[j] === '0') j++;
    if (j - i > bestLength) {
      best = i;
      bestLength = j - i;
    }
  }
  if (best === -1) return groups.join(':');
  return `${groups.slice(0, best).join(':')}::${groups.slice(best + bestLength).join(':')}`;
}

// ---------- filters ----------

interface AddressItemSpec {
  family: 4 | 6;
  first: number | bigint;
  last: number | bigint;
  single: boolean;
  firstForm: number;
  lastForm: number;
}
interface PortItemSpec {
  first: number;
  last: number;
  single: boolean;
}
interface Decoration {
  spaces: boolean;
  trailingSemicolon: boolean;
}

const decoration = fc.record({ spaces: fc.boolean(), trailingSemicolon: fc.boolean() });

function addressItem(family: 4 | 6): fc.Arbitrary<AddressItemSpec> {
  const ends =
    family === 4
      ? fc.tuple(v4Value, v4Span).map(([first, span]) => ({ first, last: Math.min(MAX_V4, first + span) }))
      : fc
          .tuple(v6Value, v6Span)
          .map(([first, span]) => ({ first, last: first + span > MAX_V6 ? MAX_V6 : first + span }));
  return fc.record({ ends, single: fc.boolean(), firstForm: fc.nat(7), lastForm: fc.nat(7) }).map((r) => ({
    family,
    first: r.ends.first,
    last: r.single ? r.ends.first : r.ends.last,
    single: r.single,
    firstForm: r.firstForm,
    lastForm: r.lastForm,
  }));
}

function addressField(families: Array<4 | 6>): fc.Arbitrary<AddressItemSpec[]> {
  const item = fc.constantFrom(...families).chain(addressItem);
  return fc.array(item, { minLength: 1, maxLength: 3 });
}

const portItem: fc.Arbitrary<PortItemSpec> = fc
  .record({ first: portValue, span: portSpan, single: fc.boolean() })
  .map((r) => ({ first: r.first, last: r.single ? r.first : Math.min(65535, r.first + r.span), single: r.single }));
const portField = fc.array(portItem, { minLength: 1, maxLength: 3 });

function joinItems(items: string[], d: Decoration): string {
  const sep = d.spaces ? ' ; ' : ';';
  return (d.spaces ? '  ' : '') + items.join(sep) + (d.trailingSemicolon ? ';' : '') + (d.spaces ? ' ' : '');
}

function addressText(items: AddressItemSpec[], d: Decoration): string {
  const one = (v: number | bigint, family: 4 | 6, form: number): string =>
    family === 4 ? v4Text(Number(v), form) : v6Text(BigInt(v), form);
  return joinItems(
    items.map((i) =>
      i.single
        ? one(i.first, i.family, i.firstForm)
        : `${one(i.first, i.family, i.firstForm)}${d.spaces ? ' - ' : '-'}${one(i.last, i.family, i.lastForm)}`,
    ),
    d,
  );
}

function portText(items: PortItemSpec[], d: Decoration): string {
  return joinItems(
    items.map((i) => (i.single ? String(i.first) : `${i.first}${d.spaces ? ' - ' : '-'}${i.last}`)),
    d,
  );
}

interface FilterSpec {
  protocol: string | undefined;
  local: AddressItemSpec[] | undefined;
  remote: AddressItemSpec[] | undefined;
  localPort: PortItemSpec[] | undefined;
  remotePort: PortItemSpec[] | undefined;
  decoration: Decoration;
  keyCase: number;
}

// Mostly one family per filter (so local and remote can both hold); sometimes both.
const filterFamilies = fc.constantFrom<Array<4 | 6>>([4], [4], [6], [6], [4, 6]);

const filterSpec: fc.Arbitrary<FilterSpec> = filterFamilies.chain((families) =>
  fc.record({
    protocol: fc.constantFrom(undefined, 'TCP', 'tcp', 'UDP', 'Udp', 'Any', 'any', ''),
    local: fc.option(addressField(families), { nil: undefined, freq: 2 }),
    remote: fc.option(addressField(families), { nil: undefined, freq: 2 }),
    localPort: fc.option(portField, { nil: undefined, freq: 2 }),
    remotePort: fc.option(portField, { nil: undefined, freq: 2 }),
    decoration,
    keyCase: fc.nat(3),
  }),
);

const KEY_SPELLINGS: Record<string, string[]> = {
  protocol: ['protocol', 'Protocol', 'PROTOCOL', 'pRoToCoL'],
  localIPAddress: ['localIPAddress', 'LocalIPAddress', 'localIpAddress', 'LOCALIPADDRESS'],
  remoteIPAddress: ['remoteIPAddress', 'RemoteIPAddress', 'remoteIpAddress', 'remoteipaddress'],
  localPort: ['localPort', 'LocalPort', 'localport', 'LOCALPORT'],
  remotePort: ['remotePort', 'RemotePort', 'remoteport', 'REMOTEPORT'],
};

function filterInput(spec: FilterSpec): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const key = (k: string): string => (KEY_SPELLINGS[k] as string[])[spec.keyCase] as string;
  if (spec.protocol !== undefined) out[key('protocol')] = spec.protocol;
  if (spec.local) out[key('localIPAddress')] = addressText(spec.local, spec.decoration);
  if (spec.remote) out[key('remoteIPAddress')] = addressText(spec.remote, spec.decoration);
  if (spec.localPort) out[key('localPort')] = portText(spec.localPort, spec.decoration);
  if (spec.remotePort) out[key('remotePort')] = portText(spec.remotePort, spec.decoration);
  return out;
}

// ---------- packets ----------

interface PacketPick {
  other: boolean;
  family: 4 | 6;
  protocol: 'TCP' | 'UDP' | 'ICMP';
  source: number;
  destination: number;
  sourcePort: number;
  destinationPort: number;
  addressForm: number;
}

const packetPick: fc.Arbitrary<PacketPick> = fc.record({
  other: fc.integer({ min: 0, max: 24 }).map((n) => n === 0),
  family: fc.constantFrom<4 | 6>(4, 6),
  protocol: fc.constantFrom<'TCP' | 'UDP' | 'ICMP'>('TCP', 'TCP', 'UDP', 'UDP', 'ICMP'),
  source: fc.nat(),
  destination: fc.nat(),
  sourcePort: fc.nat(),
  destinationPort: fc.nat(),
  addressForm: fc.nat(1),
});

/** Candidate packet values: every filter bound, its neighbours, and some unrelated values. */
function pools(specs: FilterSpec[], extraV4: number[], extraV6: bigint[], extraPorts: number[]) {
  const v4 = new Set<number>(extraV4);
  const v6 = new Set<bigint>(extraV6);
  const ports = new Set<number>(extraPorts);
  for (const s of specs) {
    for (const item of [...(s.local ?? []), ...(s.remote ?? [])]) {
      if (item.family === 4) {
        for (const v of [Number(item.first) - 1, Number(item.first), Number(item.last), Number(item.last) + 1])
          if (v >= 0 && v <= MAX_V4) v4.add(v);
      } else {
        for (const v of [BigInt(item.first) - 1n, BigInt(item.first), BigInt(item.last), BigInt(item.last) + 1n])
          if (v >= 0n && v <= MAX_V6) v6.add(v);
      }
    }
    for (const item of [...(s.localPort ?? []), ...(s.remotePort ?? [])]) {
      for (const v of [item.first - 1, item.first, item.last, item.last + 1]) if (v >= 0 && v <= 65535) ports.add(v);
    }
  }
  return { v4: [...v4], v6: [...v6], ports: [...ports] };
}

function pick<T>(values: T[], n: number): T {
  return values[n % values.length] as T;
}

function packetOf(p: PacketPick, pool: ReturnType<typeof pools>): ReferencePacket {
  if (p.other) return { kind: 'other' };
  const address = (n: number): string =>
    p.family === 4
      ? v4Dotted(pick(pool.v4, n))
      : p.addressForm === 0
        ? v6Text(pick(pool.v6, n), 2)
        : v6Text(pick(pool.v6, n), 0);
  const packet: ReferencePacket = {
    kind: 'ip',
    family: p.family,
    protocol: p.protocol,
    source: address(p.source),
    destination: address(p.destination),
  };
  if (p.protocol !== 'ICMP') {
    packet.sourcePort = pick(pool.ports, p.sourcePort);
    packet.destinationPort = pick(pool.ports, p.destinationPort);
  }
  return packet;
}

// An ARP request whose addresses are taken from the pool, so a `host` primitive without `ip`
// would wrongly keep it.
function arpFrame(pool: ReturnType<typeof pools>, n: number): Buffer {
  const frame = Buffer.alloc(60);
  frame.fill(0xff, 0, 6);
  Buffer.from('020000000001', 'hex').copy(frame, 6);
  frame.writeUInt16BE(0x0806, 12);
  Buffer.from('0001080006040001020000000001', 'hex').copy(frame, 14);
  frame.writeUInt32BE(pick(pool.v4, n), 28);
  frame.writeUInt32BE(pick(pool.v4, n + 1), 38);
  return frame;
}

function frameOf(packet: ReferencePacket, pool: ReturnType<typeof pools>, n: number): Buffer {
  if (packet.kind === 'other') return arpFrame(pool, n);
  return buildFrame({
    family: packet.family,
    protocol: packet.protocol,
    sourceAddress: packet.source,
    destinationAddress: packet.destination,
    ...(packet.sourcePort === undefined
      ? {}
      : { sourcePort: packet.sourcePort, destinationPort: packet.destinationPort }),
    payloadBytes: n % 5,
  });
}

// ---------- the property ----------

// Variants of earlier filters (one field changed or dropped, or local and remote swapped) make
// sets the compiler can merge or prune, so those rewrites are checked too.
const VARIANT_OPS = ['swap', 'protocol', 'local', 'remote', 'localPort', 'remotePort', 'drop'] as const;
const variant = fc.record({
  from: fc.nat(),
  op: fc.constantFrom(...VARIANT_OPS),
  donor: filterSpec,
  dropField: fc.constantFrom('local', 'remote', 'localPort', 'remotePort') as fc.Arbitrary<
    'local' | 'remote' | 'localPort' | 'remotePort'
  >,
});

function applyVariant(
  base: FilterSpec,
  v: {
    op: (typeof VARIANT_OPS)[number];
    donor: FilterSpec;
    dropField: 'local' | 'remote' | 'localPort' | 'remotePort';
  },
): FilterSpec {
  switch (v.op) {
    case 'swap':
      return {
        ...base,
        local: base.remote,
        remote: base.local,
        localPort: base.remotePort,
        remotePort: base.localPort,
      };
    case 'drop':
      return { ...base, [v.dropField]: undefined };
    default:
      return { ...base, [v.op]: v.donor[v.op] };
  }
}

const filterSet: fc.Arbitrary<FilterSpec[]> = fc
  .tuple(fc.array(filterSpec, { minLength: 1, maxLength: 3 }), fc.array(variant, { maxLength: 3 }))
  .map(([base, variants]) => [
    ...base,
    ...variants.map((v) => applyVariant(base[v.from % base.length] as FilterSpec, v)),
  ]);

const caseArbitrary = fc.record({
  filters: fc.oneof({ weight: 1, arbitrary: fc.constant<FilterSpec[]>([]) }, { weight: 12, arbitrary: filterSet }),
  extraV4: fc.array(v4Value, { minLength: 2, maxLength: 4 }),
  extraV6: fc.array(v6Value, { minLength: 2, maxLength: 4 }),
  extraPorts: fc.array(portValue, { minLength: 2, maxLength: 4 }),
  packets: fc.array(packetPick, { minLength: PACKETS_PER_RUN, maxLength: PACKETS_PER_RUN }),
});

describe('compiled filters against real libpcap', () => {
  let dir = '';
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'nw-filter-prop-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test(`libpcap keeps exactly what the reference matcher keeps (${RUNS} filter sets × ${PACKETS_PER_RUN} packets)`, async () => {
    const inPath = join(dir, 'in.pcap');
    const outPath = join(dir, 'out.pcap');
    const stats = { runs: 0, packets: 0, kept: 0, refused: 0 };
    await fc.assert(
      fc.asyncProperty(caseArbitrary, async (c) => {
        stats.runs++;
        const input = c.filters.map(filterInput);
        const verdict = referenceFilterSet(input);
        let expression: string;
        try {
          expression = compileFilters(normalizeFilters(input));
        } catch (error) {
          if (!(error instanceof InvalidFilterError)) throw error;
          stats.refused++;
          assert.equal(verdict.valid, false, `refused a set the reference accepts: ${error.message}`);
          if (!verdict.valid) assert.equal(error.filterIndex, verdict.filterIndex);
          return;
        }
        assert.ok(verdict.valid, `accepted a set the reference refuses: ${JSON.stringify(input)}`);
        if (!verdict.valid) return;

        const pool = pools(c.filters, c.extraV4, c.extraV6.map(BigInt), c.extraPorts);
        const packets = c.packets.map((p) => packetOf(p, pool));
        const records = packets.map((packet, i) => {
          const data = frameOf(packet, pool, i);
          return encodePcapRecord({
            timestampSeconds: i + 1,
            timestampFraction: 0,
            capturedLength: data.length,
            originalLength: data.length,
            data,
          });
        });
        await writeFile(inPath, Buffer.concat([encodePcapHeader({ snapLength: 65535, linkType: 1 }), ...records]));
        await execFileAsync(
          'tcpdump',
          [...TCPDUMP_FILTER_OPTIONS, '-r', inPath, '-w', outPath, ...(expression === '' ? [] : [expression])],
          { maxBuffer: 1 << 20 },
        );
        const kept = new Set((await readPcapFile(outPath)).records.map((r) => r.timestampSeconds - 1));
        const wrong = packets.flatMap((packet, i) => {
          const expected = verdict.keeps(packet);
          return expected === kept.has(i)
            ? []
            : [{ expected: expected ? 'kept' : 'dropped', libpcap: kept.has(i) ? 'kept' : 'dropped', packet }];
        });
        stats.packets += packets.length;
        stats.kept += kept.size;
        assert.deepEqual(wrong, [], `filters ${JSON.stringify(input)}\nexpression ${expression}`);
      }),
      { numRuns: RUNS, seed: SEED, includeErrorInReport: true },
    );
    // Guard against a generator that never exercises anything: most packets of a healthy run are
    // decided by real filters, some kept, some not.
    assert.ok(stats.kept > stats.packets / 20 && stats.kept < stats.packets * 0.95, JSON.stringify(stats));
    console.log(`# property: ${JSON.stringify(stats)}`);
  });
});

// Mutations that make near-valid text odd or invalid: the two independent parsers must agree on
// every one of them (valid or not, and which filter is wrong).
const MUTATION_CHARS = [',', ';', '-', ' ', 'x', '%', ':', '.', '0', '9', '/', 'a', '::', '-;', ';;'];
const mutation = fc.record({ position: fc.nat(), replace: fc.boolean(), text: fc.constantFrom(...MUTATION_CHARS) });
const TARGETS = ['protocol', 'localIPAddress', 'remoteIPAddress', 'localPort', 'remotePort'] as const;

describe('validation agrees with the reference matcher', () => {
  test('on mutated filter text, both accept or both refuse the same filter', () => {
    let refused = 0;
    let total = 0;
    fc.assert(
      fc.property(
        fc.array(filterSpec, { minLength: 1, maxLength: 3 }),
        fc.nat(),
        fc.constantFrom(...TARGETS),
        fc.array(mutation, { minLength: 1, maxLength: 2 }),
        (specs, which, target, mutations) => {
          const input = specs.map(filterInput);
          const victim = input[which % input.length] as Record<string, unknown>;
          const key = Object.keys(victim).find((k) => k.toLowerCase() === target.toLowerCase()) ?? target;
          let text = typeof victim[key] === 'string' ? (victim[key] as string) : '';
          for (const m of mutations) {
            const at = text.length === 0 ? 0 : m.position % (text.length + 1);
            text = text.slice(0, at) + m.text + text.slice(m.replace ? at + 1 : at);
          }
          victim[key] = text;
          const verdict = referenceFilterSet(input);
          total++;
          try {
            compileFilters(normalizeFilters(input));
          } catch (error) {
            if (!(error instanceof InvalidFilterError)) throw error;
            refused++;
            assert.equal(
              verdict.valid,
              false,
              `refused what the reference accepts: ${error.message} in ${JSON.stringify(input)}`,
            );
            if (!verdict.valid) {
              assert.equal(error.filterIndex, verdict.filterIndex, error.message);
              assert.ok(
                verdict.fields.includes(error.field),
                `${error.message}; reference blames ${verdict.fields.join(', ')}`,
              );
            }
            return;
          }
          assert.equal(verdict.valid, true, `accepted what the reference refuses: ${JSON.stringify(input)}`);
        },
      ),
      { numRuns: RUNS * 6, seed: SEED },
    );
    // Both outcomes must be common, or the property says little.
    assert.ok(refused > total / 5 && refused < total * 0.95, `refused ${refused} of ${total}`);
  });
});
