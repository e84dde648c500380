import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { FileHashTally } from './file-hash-tally.js';

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

test('the tally hashes pieces read out of order, overlapping and twice, as the file in order', () => {
  const file = randomBytes(10_000);
  const tally = new FileHashTally(file.length);
  const piece = (from: number, to: number): Buffer => Buffer.from(file.subarray(from, to));
  tally.feed(6000, piece(6000, 10_000)); // ahead of a gap
  tally.feed(2000, piece(2000, 4000)); // ahead too
  assert.equal(tally.complete, false);
  tally.feed(0, piece(0, 2500)); // overlaps the piece held at 2000
  tally.feed(0, piece(0, 1000)); // a retry's re-read: already hashed
  assert.equal(tally.complete, false);
  tally.feed(3000, piece(3000, 6500)); // fills the gap, overlapping both sides
  assert.equal(tally.complete, true);
  assert.equal(tally.digest(), sha256(file));
});

test('an incomplete tally has no digest; an empty file is complete at once', () => {
  const tally = new FileHashTally(100);
  tally.feed(50, Buffer.alloc(50));
  assert.equal(tally.complete, false);
  assert.throws(() => tally.digest());
  assert.equal(new FileHashTally(0).digest(), sha256(Buffer.alloc(0)));
});

test('a piece held ahead of a gap is the bytes fed, even if their buffer is reused at once', () => {
  const file = randomBytes(3000);
  const tally = new FileHashTally(file.length);
  const reused = Buffer.alloc(1000);
  for (const at of [2000, 1000, 0]) {
    file.copy(reused, 0, at, at + 1000);
    tally.feed(at, reused); // 2000 and 1000 are held ahead until 0 comes
    reused.fill(0xff); // the uploader's next block overwrites the buffer
  }
  assert.equal(tally.complete, true);
  assert.equal(tally.digest(), sha256(file));
});
