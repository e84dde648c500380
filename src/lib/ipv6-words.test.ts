import assert from 'node:assert/strict';
import { test } from 'node:test';
import { longestZeroRun } from './ipv6-words.js';

test('longestZeroRun: the longest run of two or more zero words, the first on a tie', () => {
  assert.deepEqual(longestZeroRun([0x2001, 0xdb8, 0, 0, 1, 0, 0, 0]), { start: 5, length: 3 });
  assert.deepEqual(longestZeroRun([0x2001, 0, 0, 1, 1, 0, 0, 1]), { start: 1, length: 2 }, 'tie: the first run');
  assert.deepEqual(
    longestZeroRun([0x2001, 0xdb8, 0, 1, 1, 1, 1, 1]),
    { start: -1, length: 0 },
    'one zero word is not compressed',
  );
  assert.deepEqual(longestZeroRun([0, 0, 0, 0, 0, 0, 0, 0]), { start: 0, length: 8 });
  assert.deepEqual(longestZeroRun([1, 2, 3, 4, 5, 6, 7, 8]), { start: -1, length: 0 });
});
