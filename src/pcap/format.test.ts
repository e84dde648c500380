import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  LinkType,
  PCAP_GLOBAL_HEADER_BYTES,
  PcapFormatError,
  decodePcapHeader,
  encodePcapHeader,
  encodePcapRecord,
  maxCapturedLengthFor,
} from './format.js';

test('encodePcapHeader writes libpcap 2.4 little-endian bytes', () => {
  const buf = encodePcapHeader({ snapLength: 262144, linkType: LinkType.LINUX_SLL });
  assert.equal(buf.length, PCAP_GLOBAL_HEADER_BYTES);
  // Byte-for-byte what tcpdump -w writes on x86 for -i any -s 0.
  assert.equal(buf.toString('hex'), 'd4c3b2a1020004000000000000000000000004007100' + '0000');
});

test('nanosecond header uses the a1b23c4d magic and decodes back', () => {
  const h = decodePcapHeader(encodePcapHeader({ snapLength: 64, linkType: LinkType.ETHERNET, nanosecond: true }));
  assert.deepEqual(h, {
    magic: 'nsec',
    littleEndian: true,
    versionMajor: 2,
    versionMinor: 4,
    snapLength: 64,
    linkType: 1,
  });
});

test('decodePcapHeader reads big-endian headers', () => {
  const be = Buffer.from('a1b2c3d4000200040000000000000000000000400000006' + '5', 'hex');
  assert.deepEqual(decodePcapHeader(be), {
    magic: 'usec',
    littleEndian: false,
    versionMajor: 2,
    versionMinor: 4,
    snapLength: 64,
    linkType: 101,
  });
});

test('decodePcapHeader masks FCS bits out of the link type', () => {
  const buf = encodePcapHeader({ snapLength: 64, linkType: 1 });
  buf.writeUInt32LE(0x14000001, 20);
  assert.equal(decodePcapHeader(buf).linkType, 1);
});

test('decodePcapHeader rejects bad magic, pcapng and wrong versions', () => {
  assert.throws(() => decodePcapHeader(Buffer.alloc(24)), PcapFormatError);
  const ng = Buffer.alloc(24);
  ng.writeUInt32BE(0x0a0d0d0a, 0);
  assert.throws(() => decodePcapHeader(ng), /pcapng/);
  const v1 = encodePcapHeader({ snapLength: 64, linkType: 1 });
  v1.writeUInt16LE(1, 4);
  assert.throws(() => decodePcapHeader(v1), /version 1\.4/);
  assert.throws(() => decodePcapHeader(Buffer.alloc(10)), PcapFormatError);
});

test('encodePcapRecord writes the header in either byte order and checks the length', () => {
  const rec = {
    timestampSeconds: 0x01020304,
    timestampFraction: 5,
    capturedLength: 2,
    originalLength: 60,
    data: Buffer.from([0xaa, 0xbb]),
  };
  assert.equal(encodePcapRecord(rec).toString('hex'), '04030201' + '05000000' + '02000000' + '3c000000' + 'aabb');
  assert.equal(
    encodePcapRecord(rec, false).toString('hex'),
    '01020304' + '00000005' + '00000002' + '0000003c' + 'aabb',
  );
  assert.throws(() => encodePcapRecord({ ...rec, capturedLength: 3 }), RangeError);
});

test('maxCapturedLengthFor allows a little slack over the snap length, never past 256 KiB', () => {
  const h = decodePcapHeader(encodePcapHeader({ snapLength: 64, linkType: 1 }));
  assert.equal(maxCapturedLengthFor(h), 64 + 4096);
  assert.equal(maxCapturedLengthFor({ ...h, snapLength: 0 }), 262144);
  assert.equal(maxCapturedLengthFor({ ...h, snapLength: 262144 }), 262144);
});
