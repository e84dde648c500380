import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { CaptureStreamParser } from './capture-reader.js';
import type { CaptureInterface, CaptureInterfaceStatistics, CapturePacket } from './pcapng.js';
import {
  PcapngStreamParser,
  encodePcapngInterface,
  encodePcapngPacket,
  encodePcapngSectionHeader,
  encodePcapngSimplePacket,
  encodePcapngStatistics,
} from './pcapng.js';
import { LinkType, PcapFormatError, encodePcapHeader, encodePcapRecord } from './format.js';

const frame = (n: number): Buffer => Buffer.alloc(n, n & 0xff);

function parseAll(
  bytes: Buffer,
  chunkSizes: number[] = [bytes.length],
): { interfaces: CaptureInterface[]; packets: CapturePacket[]; stats: CaptureInterfaceStatistics[]; left: number } {
  const interfaces: CaptureInterface[] = [];
  const packets: CapturePacket[] = [];
  const stats: CaptureInterfaceStatistics[] = [];
  const p = new CaptureStreamParser({
    onInterface: (i) => interfaces.push(i),
    onPacket: (pkt) => packets.push({ ...pkt, data: Buffer.from(pkt.data) }),
    onStatistics: (s) => stats.push(s),
  });
  let at = 0;
  for (let i = 0; at < bytes.length; i++) {
    const size = Math.max(1, chunkSizes[i % chunkSizes.length]!);
    p.push(bytes.subarray(at, at + size));
    at += size;
  }
  return { interfaces, packets, stats, left: p.end() };
}

/** Two sections (little- then big-endian), three interfaces (µs, ns, SLL2), EPB, SPB and ISB. */
function sample(): Buffer {
  return Buffer.concat([
    encodePcapngSectionHeader(true),
    encodePcapngInterface({ linkType: LinkType.ETHERNET, snapLength: 65535, name: 'eth0' }),
    encodePcapngInterface({ linkType: LinkType.LINUX_SLL2, snapLength: 0, timestampResolution: 9 }),
    encodePcapngPacket({ interfaceId: 0, timestamp: 1_767_225_600_123_456n, data: frame(60) }),
    encodePcapngPacket({
      interfaceId: 1,
      timestamp: 1_767_225_600_123_456_789n,
      data: frame(61),
      originalLength: 1500,
    }),
    encodePcapngStatistics({ interfaceId: 1, packetsReceived: 10, packetsDropped: 3 }),
    encodePcapngSectionHeader(false),
    encodePcapngInterface({ linkType: LinkType.RAW, snapLength: 96, littleEndian: false }),
    encodePcapngSimplePacket({ data: frame(64), originalLength: 200, littleEndian: false }),
    encodePcapngPacket({ interfaceId: 0, timestamp: 1_767_225_601_000_001n, data: frame(40), littleEndian: false }),
  ]);
}

test('pcapng: sections in both byte orders, interfaces with their own link types and resolutions, EPB, SPB and ISB', () => {
  const { interfaces, packets, stats, left } = parseAll(sample());
  assert.equal(left, 0);
  assert.deepEqual(
    interfaces.map((i) => [i.id, i.linkType, i.snapLength, i.name, i.unitsPerSecond]),
    [
      [0, LinkType.ETHERNET, 65535, 'eth0', 1e6],
      [1, LinkType.LINUX_SLL2, 0, null, 1e9],
      [2, LinkType.RAW, 96, null, 1e6],
    ],
  );
  assert.deepEqual(
    packets.map((p) => [
      p.interfaceId,
      p.linkType,
      p.timestampSeconds,
      p.timestampNanoseconds,
      p.capturedLength,
      p.originalLength,
    ]),
    [
      [0, LinkType.ETHERNET, 1_767_225_600, 123_456_000, 60, 60],
      [1, LinkType.LINUX_SLL2, 1_767_225_600, 123_456_789, 61, 1500],
      // The SPB has no timestamp, and its captured length is cut to the snap length (96).
      [2, LinkType.RAW, 0, 0, 64, 200],
      [2, LinkType.RAW, 1_767_225_601, 1000, 40, 40],
    ],
  );
  assert.deepEqual(packets[1]!.data, frame(61));
  assert.deepEqual(stats, [{ interfaceId: 1, packetsReceived: 10, packetsDropped: 3 }]);
});

test('pcapng: any split of the stream into chunks gives the same packets (property)', () => {
  const bytes = sample();
  const whole = parseAll(bytes);
  fc.assert(
    fc.property(fc.array(fc.integer({ min: 1, max: 97 }), { minLength: 1, maxLength: 20 }), (sizes) => {
      const split = parseAll(bytes, sizes);
      assert.deepEqual(split.packets, whole.packets);
      assert.deepEqual(split.interfaces, whole.interfaces);
    }),
    { numRuns: 200 },
  );
});

test('pcapng: a cut-off last block is left over, not an error; a bad one is a PcapFormatError naming the offset', () => {
  const bytes = sample();
  const cut = parseAll(bytes.subarray(0, bytes.length - 10));
  assert.equal(cut.packets.length, 3);
  assert.ok(cut.left > 0);
  const broken = Buffer.from(bytes);
  broken.writeUInt32LE(13, 32); // the first IDB's length: not a multiple of 4
  assert.throws(
    () => parseAll(broken),
    (e: unknown) => e instanceof PcapFormatError && /invalid length 13/.test(e.message) && e.offsetInBytes !== null,
  );
  const unknownInterface = Buffer.concat([
    encodePcapngSectionHeader(true),
    encodePcapngPacket({ interfaceId: 0, timestamp: 0n, data: frame(10) }),
  ]);
  assert.throws(() => parseAll(unknownInterface), /interface 0, which its section does not define/);
  assert.throws(
    () =>
      new PcapngStreamParser({ onInterface() {}, onPacket() {} }).push(
        encodePcapHeader({ snapLength: 1, linkType: 1 }),
      ),
    /not pcapng/,
  );
});

test('classic pcap through the same reader: µs and ns magic, both byte orders, raw records kept', () => {
  for (const nanosecond of [false, true]) {
    for (const littleEndian of [true, false]) {
      const header = encodePcapHeader({ snapLength: 128, linkType: LinkType.LINUX_SLL, nanosecond });
      const fixed = littleEndian
        ? header
        : Buffer.from(
            [...header.subarray(0, 4)]
              .reverse()
              .concat(
                [...header.subarray(4, 6)].reverse(),
                [...header.subarray(6, 8)].reverse(),
                [0, 0, 0, 0, 0, 0, 0, 0],
                [...header.subarray(16, 20)].reverse(),
                [...header.subarray(20, 24)].reverse(),
              ),
          );
      const record = encodePcapRecord(
        {
          timestampSeconds: 100,
          timestampFraction: nanosecond ? 999_999_999 : 999_999,
          capturedLength: 20,
          originalLength: 80,
          data: frame(20),
        },
        littleEndian,
      );
      const raws: Array<Buffer | null> = [];
      const packets: CapturePacket[] = [];
      let iface: CaptureInterface | null = null;
      const p = new CaptureStreamParser({
        onInterface: (i) => {
          iface = i;
        },
        onPacket: (pkt, raw) => {
          packets.push(pkt);
          raws.push(raw);
        },
      });
      p.push(Buffer.concat([fixed, record]));
      assert.equal(p.end(), 0);
      assert.equal(p.format, 'pcap');
      assert.equal((iface as CaptureInterface | null)?.linkType, LinkType.LINUX_SLL);
      assert.equal(packets[0]!.timestampNanoseconds, 999_999_999 - (nanosecond ? 0 : 999));
      assert.equal(packets[0]!.originalLength, 80);
      assert.deepEqual(raws[0], record);
    }
  }
});

test('an empty or tiny file is a clear error', () => {
  assert.throws(() => new CaptureStreamParser({ onPacket() {} }).end(), /empty/);
  const p = new CaptureStreamParser({ onPacket() {} });
  p.push(Buffer.from([1, 2]));
  assert.throws(() => p.end(), /too short/);
});
