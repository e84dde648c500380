import assert from 'node:assert/strict';
import { test } from 'node:test';
import { longestZeroRun, parseIpv6Words } from './ipv6-words.js';

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

test('parseIpv6Words: inet_pton layouts, and a reason for what is not one', () => {
  assert.deepEqual(parseIpv6Words('2001:db8::1'), { ok: true, words: [0x2001, 0xdb8, 0, 0, 0, 0, 0, 1] });
  assert.deepEqual(parseIpv6Words('::'), { ok: true, words: [0, 0, 0, 0, 0, 0, 0, 0] });
  assert.deepEqual(parseIpv6Words('::ffff:10.0.0.1'), { ok: true, words: [0, 0, 0, 0, 0, 0xffff, 0x0a00, 0x0001] });
  for (const bad of [
    '1::2::3',
    '1:2:3:4:5:6:7',
    '1:2:3:4:5:6:7:8:9',
    '::ffff:010.0.0.1',
    '12345::',
    'g::',
    '1:2:3:4:5:6:7::8',
  ])
    assert.equal(parseIpv6Words(bad).ok, false, bad);
});
