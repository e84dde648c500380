import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CaptureFileError, CaptureFileWriter } from './file-writer.js';

test('writes appended buffers in order, hashes them, and reports the size', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'nw-writer-'));
  try {
    const path = join(dir, 'out.cap');
    const w = await CaptureFileWriter.open(path);
    const parts: Buffer[] = [];
    for (let i = 0; i < 5000; i++) {
      const b = Buffer.alloc(1 + (i % 300), i % 256);
      parts.push(b);
      w.append(b); // never awaited: the caller is an event handler reading a pipe
    }
    const expected = Buffer.concat(parts);
    assert.equal(w.sizeInBytes, expected.length);
    const result = await w.finish();
    const onDisk = await readFile(path);
    assert.ok(onDisk.equals(expected));
    assert.deepEqual(result, {
      sizeInBytes: expected.length,
      sha256: createHash('sha256').update(expected).digest('hex'),
    });
    assert.throws(() => w.append(Buffer.from('x')));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('open fails with CaptureFileError for a missing directory', async () => {
  await assert.rejects(CaptureFileWriter.open('/nonexistent-dir-nw/x.cap'), CaptureFileError);
});

test('a write failure (full device) is reported once and makes finish reject', async () => {
  // /dev/full accepts open() and fails every write with ENOSPC.
  const w = await CaptureFileWriter.open('/dev/full');
  const errors: CaptureFileError[] = [];
  w.onError = (e) => errors.push(e);
  w.append(Buffer.alloc(100));
  w.append(Buffer.alloc(100));
  await w.whenDrained();
  assert.equal(errors.length, 1);
  assert.match(errors[0]?.message ?? '', /ENOSPC|no space/i);
  w.append(Buffer.alloc(1)); // ignored after failure
  await assert.rejects(w.finish(), CaptureFileError);
});
