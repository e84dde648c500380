import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodePcapHeader, encodePcapRecord, readPcapBuffer } from '../pcap/index.js';
import { recoverCaptureFile } from './recover.js';
import { fileIdentityOfPath } from '../lib/file-identity.js';

const dir = mkdtempSync(join(tmpdir(), 'nw-recover-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const record = (n: number) =>
  encodePcapRecord({
    timestampSeconds: n,
    timestampFraction: 0,
    capturedLength: 60,
    originalLength: 60,
    data: Buffer.alloc(60, n),
  });

test('a file cut in the middle of a record is truncated to its last complete record', async () => {
  const whole = Buffer.concat([encodePcapHeader({ snapLength: 262144, linkType: 1 }), record(1), record(2), record(3)]);
  const path = join(dir, 'torn.cap');
  writeFileSync(path, whole.subarray(0, whole.length - 30));
  const recovered = await recoverCaptureFile(path);
  assert.equal(recovered?.packetsCaptured, 2);
  assert.equal(recovered?.sizeInBytes, 24 + 2 * 76);
  const kept = readFileSync(path);
  assert.equal(kept.length, recovered?.sizeInBytes);
  assert.equal(readPcapBuffer(kept).records.length, 2, 'the result is a valid pcap');
  assert.equal(recovered?.sha256, createHash('sha256').update(kept).digest('hex'));
  // The identity after the cut: what the upload compares instead of hashing the file again.
  assert.deepEqual(recovered?.fileIdentity, fileIdentityOfPath(path));
});

test('an intact file is kept whole; no file or no header gives null', async () => {
  const whole = Buffer.concat([encodePcapHeader({ snapLength: 262144, linkType: 1 }), record(1)]);
  const path = join(dir, 'whole.cap');
  writeFileSync(path, whole);
  assert.equal((await recoverCaptureFile(path))?.sizeInBytes, whole.length);
  assert.equal(await recoverCaptureFile(join(dir, 'missing.cap')), null);
  writeFileSync(join(dir, 'empty.cap'), Buffer.alloc(10));
  assert.equal(await recoverCaptureFile(join(dir, 'empty.cap')), null);
});
