import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { closeSync, constants, mkdtempSync, openSync, readFileSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DIRECT_READ_ALIGNMENT_BYTES, openWholeFileReader, probeDirectAlignment } from './direct-read.js';

// tmpfs's magic number (statfs(2)): os.tmpdir() must be on a disk for the O_DIRECT half of these tests.
const TMPFS_MAGIC = 0x01021994;
const diskDir = mkdtempSync(join(tmpdir(), 'nw-direct-'));
const shmDir = mkdtempSync(join('/dev/shm', 'nw-direct-'));
after(() => {
  rmSync(diskDir, { recursive: true, force: true });
  rmSync(shmDir, { recursive: true, force: true });
});

const MiB = 1024 * 1024;
/** Sizes around the alignment and read-size edges. */
const EDGE_SIZES = [0, 24, 4095, 4096, 4097, 4 * MiB - 1, 4 * MiB, 4 * MiB + 1, 9 * MiB + 123];

let n = 0;
function fileOf(dir: string, bytes: Buffer): string {
  const path = join(dir, `f${++n}`);
  writeFileSync(path, bytes);
  return path;
}

test('os.tmpdir() is on a disk and /dev/shm is tmpfs here (the premise of the tests below)', () => {
  assert.notEqual(statfsSync(diskDir).type, TMPFS_MAGIC);
  assert.equal(statfsSync(shmDir).type, TMPFS_MAGIC);
});

test('the whole file, read in pieces from unaligned positions, is the same bytes with O_DIRECT (disk) and without (tmpfs, or not tried)', async () => {
  for (const size of EDGE_SIZES) {
    const content = randomBytes(size);
    for (const [dir, tryDirect, direct] of [
      [diskDir, true, size > 0],
      [diskDir, false, false],
      [shmDir, true, false],
    ] as const) {
      const path = fileOf(dir, content);
      const handle = await open(path, 'r');
      const reader = openWholeFileReader(handle, { tryDirect });
      try {
        assert.equal(reader.direct, direct, `${dir} ${size} tryDirect ${tryDirect}`);
        // Steps that are no multiple of 4096, so almost every read starts unaligned.
        for (const step of [reader.maxReadBytes, 1_000_003, 4097]) {
          const got: Buffer[] = [];
          for (let position = 0; ;) {
            const piece = step % 2 === 0 ? await reader.read(position, step) : reader.readSync(position, step);
            if (piece.length === 0) break;
            assert.ok(piece.length <= step);
            got.push(Buffer.from(piece));
            position += piece.length;
          }
          assert.ok(Buffer.concat(got).equals(content), `${dir} ${size} step ${step}`);
        }
        // Past the end: nothing; a length of 0: nothing.
        assert.equal((await reader.read(size + 5000, 4096)).length, 0);
        assert.equal(reader.readSync(0, 0).length, 0);
        assert.equal(reader.direct, direct, 'no read fell back');
      } finally {
        reader.close();
        reader.close(); // idempotent
        await handle.close();
      }
      // The caller's descriptor stays open and readable.
      assert.equal(readFileSync(path).length, size);
    }
  }
});

test('reads never return more than asked, even when the file grew since (aligned reads cover more)', async () => {
  const path = fileOf(diskDir, randomBytes(3 * 4096));
  const handle = await open(path, 'r');
  const reader = openWholeFileReader(handle);
  try {
    assert.equal(reader.direct, true);
    const piece = reader.readSync(100, 50);
    assert.ok(piece.equals(readFileSync(path).subarray(100, 150)));
    assert.throws(() => reader.readSync(0, reader.maxReadBytes + 1), RangeError);
  } finally {
    reader.close();
    await handle.close();
  }
});

test('the probe finds a working offset whatever the alignment of the buffer it is given', () => {
  const content = randomBytes(2 * DIRECT_READ_ALIGNMENT_BYTES);
  const path = fileOf(diskDir, content);
  const fd = openSync(path, constants.O_RDONLY | constants.O_DIRECT | constants.O_NOFOLLOW);
  try {
    const base = Buffer.allocUnsafeSlow(4 * DIRECT_READ_ALIGNMENT_BYTES);
    const base0 = probeDirectAlignment(fd, base);
    assert.notEqual(base0, null);
    for (let shift = 0; shift < DIRECT_READ_ALIGNMENT_BYTES; shift += 16) {
      const buffer = base.subarray(shift, shift + 2 * DIRECT_READ_ALIGNMENT_BYTES);
      buffer.fill(0);
      const k = probeDirectAlignment(fd, buffer);
      assert.notEqual(k, null, `shift ${shift}`);
      // The address it found is aligned as the first one was (the same point modulo 512, the
      // smallest logical block a disk has), and the probe's read there holds the file's first block.
      assert.equal((shift + k!) % 512, base0! % 512, `shift ${shift}`);
      assert.ok(
        buffer.subarray(k!, k! + DIRECT_READ_ALIGNMENT_BYTES).equals(content.subarray(0, DIRECT_READ_ALIGNMENT_BYTES)),
      );
    }
    // Without room for a whole block after any offset: null, not a read past the buffer.
    assert.equal(probeDirectAlignment(fd, base.subarray(0, DIRECT_READ_ALIGNMENT_BYTES - 1)), null);
  } finally {
    closeSync(fd);
  }
});
