import { test } from 'node:test';
import assert from 'node:assert/strict';
import { captureReadiness, findExecutable, hasNetRawCapability } from './capability.js';

const STATUS = (capEff: string) => `Name:\tnode\nCapInh:\t0000000000000000\nCapEff:\t${capEff}\n`;

test('CAP_NET_RAW is bit 13 of CapEff', () => {
  assert.equal(hasNetRawCapability(STATUS('0000000000002000')), true);
  assert.equal(hasNetRawCapability(STATUS('000001ffffffffff')), true);
  assert.equal(hasNetRawCapability(STATUS('0000000000001000')), false);
  assert.equal(hasNetRawCapability('no such line'), false);
});

test('tcpdump is found on PATH or by path; a missing one is said', () => {
  assert.ok(findExecutable('sh', '/nonexistent:/bin:/usr/bin'));
  assert.equal(findExecutable('sh', '/nonexistent'), null);
  const missing = captureReadiness({ tcpdumpPath: 'nw-no-such-tcpdump', pathVariable: '/bin:/usr/bin', uid: 0 });
  assert.equal(missing.length, 1);
  assert.match(missing[0]!, /tcpdump is not installed/);
});

test('not root and no CAP_NET_RAW is said; root or the capability is ready', () => {
  const tcpdump = { tcpdumpPath: 'sh', pathVariable: '/bin:/usr/bin' };
  assert.deepEqual(captureReadiness({ ...tcpdump, uid: 0, statusText: STATUS('0') }), []);
  assert.deepEqual(captureReadiness({ ...tcpdump, uid: 1000, statusText: STATUS('0000000000002000') }), []);
  const warnings = captureReadiness({ ...tcpdump, uid: 1000, statusText: STATUS('0') });
  assert.equal(warnings.length, 1);
  assert.match(warnings[0]!, /neither as root nor with CAP_NET_RAW/);
});
