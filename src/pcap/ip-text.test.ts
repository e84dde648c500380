import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SocketAddress } from 'node:net';
import fc from 'fast-check';
import { formatIPv4, formatIPv6 } from './ip-text.js';

test('formatIPv4 prints a dotted quad at an offset', () => {
  assert.equal(formatIPv4(Buffer.from([9, 10, 0, 0, 255]), 1), '10.0.0.255');
});

test('formatIPv6 known forms', () => {
  const hex = (h: string): string => formatIPv6(Buffer.from(h, 'hex'), 0);
  assert.equal(hex('00000000000000000000000000000001'), '::1');
  assert.equal(hex('00000000000000000000000000000000'), '::');
  assert.equal(hex('fe800000000000000000000000000001'), 'fe80::1');
  assert.equal(hex('20010db8000000010000000000000001'), '2001:db8:0:1::1');
  assert.equal(hex('00000000000000000000ffff01020304'), '::ffff:1.2.3.4');
  assert.equal(hex('20010db8000000000001000000000000'), '2001:db8:0:0:1::'); // longest zero run wins
  assert.equal(hex('20010db8000000000001000000000001'), '2001:db8::1:0:0:1'); // first run wins a tie
});

test('formatIPv6 matches node:net for arbitrary addresses', () => {
  // Bias towards zero words so that runs of zeros (the hard part) are common.
  const word = fc.oneof(fc.constant(0), fc.constant(0xffff), fc.integer({ min: 0, max: 0xffff }));
  fc.assert(
    fc.property(fc.array(word, { minLength: 8, maxLength: 8 }), (words) => {
      const buf = Buffer.alloc(16);
      words.forEach((w, i) => buf.writeUInt16BE(w, i * 2));
      const full = words.map((w) => w.toString(16)).join(':');
      assert.equal(formatIPv6(buf, 0), new SocketAddress({ address: full, family: 'ipv6' }).address);
    }),
    { numRuns: 2000 },
  );
});
