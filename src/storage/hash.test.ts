import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hashFileRange } from './hash.js';

const diskDir = mkdtempSync(join(tmpdir(), 'nw-hash-'));
const shmDir = mkdtempSync(join('/dev/shm', 'nw-hash-'));
after(() => {
  rmSync(diskDir, { recursive: true, force: true });
  rmSync(shmDir, { recursive: true, force: true });
});

const MiB = 1024 * 1024;
const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

test('hashFileRange gives the same size and SHA-256 with O_DIRECT (disk) as through the page cache (tmpfs, or not tried), ranges at any offset', async () => {
  let n = 0;
  for (const size of [0, 24, 4095, 4096, 4097, 4 * MiB - 1, 4 * MiB, 4 * MiB + 1, 9 * MiB + 123]) {
    const content = randomBytes(size);
    // Whole, one past the end (local-store's verify), and an unaligned range inside.
    const ranges: [number, number][] = [
      [0, size],
      [0, size + 1],
      [Math.floor(size / 3) + 1, Math.floor((size * 2) / 3) + 7],
    ];
    for (const [dir, tryDirect, direct] of [
      [diskDir, true, size > 0],
      [diskDir, false, false],
      [shmDir, true, false],
    ] as const) {
      const path = join(dir, `f${++n}`);
      writeFileSync(path, content);
      const handle = await open(path, 'r');
      try {
        for (const [start, end] of ranges) {
          let ran: boolean | null = null;
          const got = await hashFileRange(handle, start, end, { tryDirect, onRead: (how) => (ran = how.direct) });
          const expected = content.subarray(Math.min(start, size), Math.min(end, size));
          assert.deepEqual(got, { sizeInBytes: expected.length, sha256: sha256(expected) }, `${size} ${start}-${end}`);
          // A range with bytes to read ran O_DIRECT on the disk (an empty one reads nothing).
          if (end > start) assert.equal(ran, direct, `${dir} ${size} ${start}-${end}`);
        }
      } finally {
        await handle.close();
      }
    }
  }
});
