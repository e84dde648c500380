import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, open, rm, writeFile, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { BlockReader } from './block-reader.js';
import { FileHashTally } from './file-hash-tally.js';
import { runPool } from './upload-retry.js';

// BlockReader: the Azure blocks and S3 parts of an upload, read into a few buffers reused from
// block to block (issue 18: a new 8 MiB buffer per block cost more in GC than the sending).
const blockSize = 64 * 1024;
const content = randomBytes(20 * blockSize + 123);
let dir: string;
let file: FileHandle;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'nw-block-reader-'));
  await writeFile(join(dir, 'f'), content);
  file = await open(join(dir, 'f'), 'r');
});
after(async () => {
  await file?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

test('four blocks at a time over 21 blocks: four buffers, each block its own bytes, the tally the whole file', async () => {
  const tally = new FileHashTally(content.length);
  const reader = new BlockReader(file, blockSize, tally);
  const blocks = Array.from({ length: Math.ceil(content.length / blockSize) }, (_, i) => i);
  const seen = new Map<number, string>();
  await runPool(blocks, 4, new AbortController().signal, async (index) => {
    const position = index * blockSize;
    const length = Math.min(blockSize, content.length - position);
    await reader.withBlock(position, length, async (bytes) => {
      // Uses of different lengths, so that blocks finish out of order.
      await sleep((index * 7) % 5);
      seen.set(index, sha256(bytes));
    });
  });
  assert.equal(reader.buffersMade, 4, 'one buffer per block in use, not per block');
  for (const index of blocks) {
    const position = index * blockSize;
    assert.equal(seen.get(index), sha256(content.subarray(position, position + blockSize)), `block ${index}`);
  }
  assert.equal(tally.complete, true);
  assert.equal(tally.digest(), sha256(content));
});

test('a file shorter than a block says LocalFileChanged, and the reader goes on reading', async () => {
  const reader = new BlockReader(file, 2 * content.length);
  await assert.rejects(
    reader.withBlock(content.length - 10, 20, async () => undefined),
    { code: 'LocalFileChanged' },
  );
  const bytes = await reader.withBlock(0, 10, async (b) => Buffer.from(b));
  assert.deepEqual(bytes, content.subarray(0, 10));
});

test('a block larger than the reader was made for is refused', async () => {
  const reader = new BlockReader(file, 16);
  await assert.rejects(
    reader.withBlock(0, 17, async () => undefined),
    RangeError,
  );
});

test('the reads run one at a time in the order of the calls, so the tally is fed in file order', async () => {
  const fed: number[] = [];
  class RecordingTally extends FileHashTally {
    override feed(position: number, bytes: Buffer): void {
      fed.push(position);
      super.feed(position, bytes);
    }
  }
  // The first block's read is the slowest: read concurrently, the others would land before it.
  const slowFirst = {
    async read(buffer: Buffer, offset: number, length: number, position: number) {
      if (position === 0) await sleep(30);
      return file.read(buffer, offset, length, position);
    },
  } as unknown as FileHandle;
  const tally = new RecordingTally(3 * blockSize);
  const reader = new BlockReader(slowFirst, blockSize, tally);
  await Promise.all([0, 1, 2].map((i) => reader.withBlock(i * blockSize, blockSize, async () => undefined)));
  assert.deepEqual(fed, [0, blockSize, 2 * blockSize]);
  assert.equal(tally.digest(), sha256(content.subarray(0, 3 * blockSize)));
});
