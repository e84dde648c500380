import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { cidrBlocks, isSubsetOfIntervals, normalizeIntervals } from './interval-set.js';
import type { Interval } from './interval-set.js';

const iv = (first: number | bigint, last: number | bigint): Interval => ({ first: BigInt(first), last: BigInt(last) });

describe('cidrBlocks', () => {
  test('is exact and minimal for every interval of an 8-bit space', () => {
    // The fewest aligned blocks covering exactly [a, b], by dynamic programming over the end point:
    // best[x] = fewest blocks covering [a, x - 1].
    for (let a = 0; a < 256; a++) {
      const best = new Array<number>(257).fill(Infinity);
      best[a] = 0;
      for (let x = a; x < 256; x++) {
        if (best[x] === Infinity) continue;
        for (let size = 1; size <= 256 && x % size === 0; size *= 2) {
          if (x + size <= 256) best[x + size] = Math.min(best[x + size] as number, (best[x] as number) + 1);
        }
      }
      for (let b = a; b < 256; b++) {
        const blocks = cidrBlocks(iv(a, b), 8);
        assert.equal(blocks.length, best[b + 1], `[${a}, ${b}]`);
        let next = BigInt(a);
        for (const block of blocks) {
          const size = 1n << BigInt(8 - block.prefixLength);
          assert.equal(block.base, next, `[${a}, ${b}] contiguous`);
          assert.equal(block.base % size, 0n, `[${a}, ${b}] aligned`);
          next += size;
        }
        assert.equal(next, BigInt(b) + 1n, `[${a}, ${b}] ends at b`);
      }
    }
  });

  test('the whole space is one /0 block; one address is one full-length block', () => {
    assert.deepEqual(cidrBlocks(iv(0, 2 ** 32 - 1), 32), [{ base: 0n, prefixLength: 0 }]);
    assert.deepEqual(cidrBlocks(iv(0n, (1n << 128n) - 1n), 128), [{ base: 0n, prefixLength: 0 }]);
    assert.deepEqual(cidrBlocks(iv(5, 5), 32), [{ base: 5n, prefixLength: 32 }]);
  });

  test('the worst IPv6 range needs 254 blocks', () => {
    assert.equal(cidrBlocks(iv(1n, (1n << 128n) - 2n), 128).length, 254);
  });
});

describe('interval sets', () => {
  test('normalize merges overlapping and adjacent intervals', () => {
    assert.deepEqual(normalizeIntervals([iv(10, 20), iv(0, 4), iv(5, 5), iv(15, 30), iv(40, 41)]), [
      iv(0, 5),
      iv(10, 30),
      iv(40, 41),
    ]);
  });
  test('subset', () => {
    const outer = [iv(0, 10), iv(20, 30)];
    assert.ok(isSubsetOfIntervals([iv(1, 2), iv(20, 30)], outer));
    assert.ok(isSubsetOfIntervals([], outer));
    assert.ok(!isSubsetOfIntervals([iv(9, 21)], outer));
    assert.ok(!isSubsetOfIntervals([iv(31, 31)], outer));
  });
});
