import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { signLocalUrl, verifyLocalSignature, type LocalSignedScope } from './local-signing.js';

const key = randomBytes(32);
const scope: LocalSignedScope = {
  method: 'PUT',
  account: 'acct',
  container: 'network-watcher-logs',
  blobPath: 'a/b c.cap',
  expiresAtInSeconds: 2_000_000_000,
  sizeInBytes: 42,
};

function queryOf(url: string): Record<string, string> {
  return Object.fromEntries(new URL(url).searchParams);
}

describe('local signed URLs', () => {
  test('verify for exactly what was signed, until expiry', () => {
    const url = signLocalUrl('http://h:1/', scope, key);
    assert.match(url, /^http:\/\/h:1\/storage\/acct\/network-watcher-logs\/a\/b%20c\.cap\?se=2000000000&sz=42&sig=/);
    const target = {
      method: 'PUT' as const,
      account: 'acct',
      container: 'network-watcher-logs',
      blobPath: 'a/b c.cap',
    };
    assert.deepEqual(verifyLocalSignature(target, queryOf(url), key, 0), {
      ok: true,
      sizeInBytes: 42,
      expiresAtInSeconds: 2_000_000_000,
    });
    assert.deepEqual(verifyLocalSignature(target, queryOf(url), key, 2_000_000_000_000), {
      ok: false,
      reason: 'expired',
    });
    for (const other of [
      { method: 'HEAD' as const },
      { account: 'acct2' },
      { container: 'other-container' },
      { blobPath: 'a/b d.cap' },
    ]) {
      assert.deepEqual(
        verifyLocalSignature({ ...target, ...other }, queryOf(url), key, 0),
        { ok: false, reason: 'mismatch' },
        JSON.stringify(other),
      );
    }
    assert.deepEqual(verifyLocalSignature(target, { ...queryOf(url), sz: '43' }, key, 0), {
      ok: false,
      reason: 'mismatch',
    });
    assert.deepEqual(verifyLocalSignature(target, { ...queryOf(url), se: '2000000001' }, key, 0), {
      ok: false,
      reason: 'mismatch',
    });
    assert.deepEqual(verifyLocalSignature(target, queryOf(url), randomBytes(32), 0), { ok: false, reason: 'mismatch' });
    assert.deepEqual(verifyLocalSignature(target, {}, key, 0), { ok: false, reason: 'missing' });
    assert.deepEqual(verifyLocalSignature(target, { ...queryOf(url), se: '-1' }, key, 0), {
      ok: false,
      reason: 'malformed',
    });
  });
});
