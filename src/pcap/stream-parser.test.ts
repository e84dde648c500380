import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { LinkType, PcapFormatError, encodePcapHeader, encodePcapRecord } from './format.js';
import type { PcapHeader, PcapRecord } from './format.js';
import { PcapStreamParser } from './stream-parser.js';

interface Collected {
  headers: Array<{ header: PcapHeader; raw: Buffer }>;
  records: Array<{ record: PcapRecord; raw: Buffer }>;
}

function collector(): { parser: PcapStreamParser; got: Collected } {
  const got: Collected = { headers: [], records: [] };
  const parser = new PcapStreamParser({
    onHeader: (header, raw) => got.headers.push({ header, raw: Buffer.from(raw) }),
    onRecord: (record, raw) =>
      got.records.push({ record: { ...record, data: Buffer.from(record.data) }, raw: Buffer.from(raw) }),
  });
  return { parser, got };
}

/** Splits `buf` at the given cut points (any order, duplicates allowed). */
function splitAt(buf: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (buf.length + 1)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let prev = 0;
  for (const p of [...points, buf.length]) {
    out.push(buf.subarray(prev, p));
    prev = p;
  }
  return out;
}

/** A header for big-endian output (encodePcapHeader only writes little-endian). */
function bigEndianHeader(snapLength: number, linkType: number, nanosecond: boolean): Buffer {
  const le = encodePcapHeader({ snapLength, linkType, nanosecond });
  const be = Buffer.alloc(24);
  be.writeUInt32BE(le.readUInt32LE(0), 0);
  be.writeUInt16BE(2, 4);
  be.writeUInt16BE(4, 6);
  be.writeUInt32BE(snapLength, 16);
  be.writeUInt32BE(linkType, 20);
  return be;
}

const recordArb = fc.uint8Array({ maxLength: 300 }).chain(
  (bytes) =>
    fc
      .record({
        timestampSeconds: fc.nat({ max: 0xffffffff }),
        timestampFraction: fc.nat({ max: 999_999_999 }),
        capturedLength: fc.constant(bytes.length),
        originalLength: fc.integer({ min: bytes.length, max: 0xffffffff }),
        data: fc.constant(Buffer.from(bytes)),
      })
      .map((r): PcapRecord => ({ ...r })), // fc.record builds null-prototype objects; deepEqual compares prototypes
);

test('property: encoded streams split into arbitrary chunks parse back to the same header and records', () => {
  fc.assert(
    fc.property(
      fc.array(recordArb, { maxLength: 20 }),
      fc.boolean(),
      fc.boolean(),
      fc.integer({ min: 0, max: 0xffff }),
      fc.array(fc.nat(), { maxLength: 40 }),
      (records, littleEndian, nanosecond, linkType, cuts) => {
        const header = littleEndian
          ? encodePcapHeader({ snapLength: 65535, linkType, nanosecond })
          : bigEndianHeader(65535, linkType, nanosecond);
        const rawRecords = records.map((r) => encodePcapRecord(r, littleEndian));
        const stream = Buffer.concat([header, ...rawRecords]);
        const { parser, got } = collector();
        for (const chunk of splitAt(stream, cuts)) parser.push(chunk);
        assert.equal(parser.end(), 0);
        assert.equal(got.headers.length, 1);
        assert.deepEqual(got.headers[0]?.header, {
          magic: nanosecond ? 'nsec' : 'usec',
          littleEndian,
          versionMajor: 2,
          versionMinor: 4,
          snapLength: 65535,
          linkType,
        });
        assert.deepEqual(got.headers[0]?.raw, header);
        assert.deepEqual(
          got.records.map((r) => r.record),
          records,
        );
        assert.deepEqual(
          got.records.map((r) => r.raw),
          rawRecords,
        );
        assert.equal(parser.consumedBytesTotal, stream.length);
      },
    ),
    { numRuns: 300 },
  );
});

test('property: a stream cut anywhere reports exactly the bytes of the unfinished unit', () => {
  fc.assert(
    fc.property(fc.array(recordArb, { minLength: 1, maxLength: 5 }), fc.nat(), (records, cut) => {
      const units = [encodePcapHeader({ snapLength: 1000, linkType: 1 }), ...records.map((r) => encodePcapRecord(r))];
      const stream = Buffer.concat(units);
      const length = cut % (stream.length + 1);
      const { parser, got } = collector();
      parser.push(stream.subarray(0, length));
      let whole = 0;
      let count = 0;
      for (const u of units) {
        if (whole + u.length > length) break;
        whole += u.length;
        count++;
      }
      assert.equal(parser.end(), length - whole);
      assert.equal(got.headers.length + got.records.length, count);
    }),
    { numRuns: 300 },
  );
});

test('a large record fed one byte at a time arrives once and intact', () => {
  const data = Buffer.alloc(200_000, 7);
  const stream = Buffer.concat([
    encodePcapHeader({ snapLength: 262144, linkType: LinkType.RAW }),
    encodePcapRecord({
      timestampSeconds: 1,
      timestampFraction: 2,
      capturedLength: data.length,
      originalLength: data.length,
      data,
    }),
  ]);
  const { parser, got } = collector();
  const started = process.hrtime.bigint();
  for (let i = 0; i < stream.length; i++) parser.push(stream.subarray(i, i + 1));
  const elapsedInMs = Number(process.hrtime.bigint() - started) / 1e6;
  assert.equal(got.records.length, 1);
  assert.deepEqual(got.records[0]?.record.data, data);
  // Quadratic re-joining would take tens of seconds here.
  assert.ok(elapsedInMs < 5000, `took ${elapsedInMs} ms`);
});

test('garbage magic throws PcapFormatError, and keeps throwing', () => {
  const { parser } = collector();
  assert.throws(() => parser.push(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n')), PcapFormatError);
  assert.throws(() => parser.push(Buffer.alloc(16)), PcapFormatError);
});

test('capturedLength beyond the snap length (plus slack) or 256 KiB throws', () => {
  const header = encodePcapHeader({ snapLength: 64, linkType: 1 });
  const tooBig = Buffer.alloc(16);
  tooBig.writeUInt32LE(64 + 4096 + 1, 8);
  const a = collector();
  a.parser.push(header);
  assert.throws(() => a.parser.push(tooBig), /exceeds the limit 4160/);

  const b = collector();
  b.parser.push(encodePcapHeader({ snapLength: 0, linkType: 1 }));
  const huge = Buffer.alloc(16);
  huge.writeUInt32LE(262145, 8);
  assert.throws(() => b.parser.push(huge), PcapFormatError);
});

test('records within the slack are accepted', () => {
  const data = Buffer.alloc(80, 1);
  const { parser, got } = collector();
  parser.push(encodePcapHeader({ snapLength: 64, linkType: 1 }));
  parser.push(
    encodePcapRecord({ timestampSeconds: 0, timestampFraction: 0, capturedLength: 80, originalLength: 80, data }),
  );
  assert.equal(got.records.length, 1);
});

test('a throwing onRecord callback does not make the record arrive twice', () => {
  let calls = 0;
  const parser = new PcapStreamParser({
    onHeader: () => {},
    onRecord: () => {
      calls++;
      if (calls === 1) throw new Error('consumer failed');
    },
  });
  const rec = encodePcapRecord({
    timestampSeconds: 0,
    timestampFraction: 0,
    capturedLength: 1,
    originalLength: 1,
    data: Buffer.from([1]),
  });
  assert.throws(
    () => parser.push(Buffer.concat([encodePcapHeader({ snapLength: 64, linkType: 1 }), rec, rec])),
    /consumer failed/,
  );
  parser.push(Buffer.alloc(0));
  parser.push(rec.subarray(0, 5));
  parser.push(rec.subarray(5));
  // First record threw, the second was left buffered, the third arrived now: 1 + 2 = 3 calls.
  assert.equal(calls, 3);
  assert.equal(parser.end(), 0);
});
