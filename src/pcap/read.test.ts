import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PcapFormatError, encodePcapHeader, encodePcapRecord } from './format.js';
import { readPcapBuffer, readPcapFile } from './read.js';

const record = {
  timestampSeconds: 10,
  timestampFraction: 20,
  capturedLength: 3,
  originalLength: 3,
  data: Buffer.from([1, 2, 3]),
};

test('readPcapFile reads header and records from disk', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'nw-pcap-'));
  try {
    const path = join(dir, 'a.cap');
    await writeFile(
      path,
      Buffer.concat([
        encodePcapHeader({ snapLength: 100, linkType: 101 }),
        encodePcapRecord(record),
        encodePcapRecord(record),
      ]),
    );
    const { header, records } = await readPcapFile(path);
    assert.equal(header.linkType, 101);
    assert.deepEqual(records, [record, record]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('readPcapBuffer: header only is a valid empty capture', () => {
  assert.deepEqual(readPcapBuffer(encodePcapHeader({ snapLength: 1, linkType: 1 })).records, []);
});

test('readPcapBuffer rejects short files and trailing partial records unless allowed', () => {
  assert.throws(() => readPcapBuffer(Buffer.alloc(0)), PcapFormatError);
  assert.throws(
    () => readPcapBuffer(encodePcapHeader({ snapLength: 1, linkType: 1 }).subarray(0, 23)),
    /shorter than its 24-byte header/,
  );
  const cut = Buffer.concat([
    encodePcapHeader({ snapLength: 100, linkType: 1 }),
    encodePcapRecord(record),
    encodePcapRecord(record).subarray(0, 17),
  ]);
  assert.throws(() => readPcapBuffer(cut), /17 bytes of a partial record/);
  assert.deepEqual(readPcapBuffer(cut, { allowTrailingPartialRecord: true }).records, [record]);
});
