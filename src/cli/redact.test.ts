import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { maskUrlQuery, redactBody, redactHeaders } from './redact.js';

describe('maskUrlQuery', () => {
  test('keeps api-version, hides every other query value (SAS signatures)', () => {
    const out = maskUrlQuery('https://acct.blob.core.windows.net/c/b.cap?sv=2021&sig=SECRET&api-version=2022-01-01');
    assert.ok(!out.includes('SECRET'));
    assert.ok(out.includes('api-version=2022-01-01'));
    assert.ok(out.includes('sig=REDACTED'));
  });
});

describe('redactHeaders', () => {
  test('hides Authorization and unknown headers, keeps known ones', () => {
    const lines = redactHeaders([
      ['Authorization', 'Bearer abc'],
      ['Content-Type', 'application/json'],
      ['X-Amz-Security-Token', 'zzz'],
    ]);
    assert.deepEqual(lines, [
      'Authorization: REDACTED',
      'Content-Type: application/json',
      'X-Amz-Security-Token: REDACTED',
    ]);
  });
});

describe('redactBody', () => {
  test('hides secret-looking fields at any depth', () => {
    const out = redactBody({
      properties: {
        backend: { type: 's3', secretAccessKey: 'k', accessKeyId: 'id', bucket: 'b' },
        installCommand: 'nw agent --token t',
        enrollmentToken: 't',
      },
    });
    assert.deepEqual(out, {
      properties: {
        backend: { type: 's3', secretAccessKey: 'REDACTED', accessKeyId: 'REDACTED', bucket: 'b' },
        installCommand: 'REDACTED',
        enrollmentToken: 'REDACTED',
      },
    });
  });
});

test('URLs inside bodies lose their query values (alert-capture keys, webhook tokens)', () => {
  const out = redactBody({
    properties: {
      url: 'https://nw.example/alert-capture/v1/s/rg/n?code=SECRETKEY',
      serviceUri: 'http://hook.example/x?token=abc',
      plain: 'https://nw.example/no-query',
    },
  }) as { properties: Record<string, string> };
  assert.ok(!JSON.stringify(out).includes('SECRETKEY'));
  assert.ok(!JSON.stringify(out).includes('abc'));
  assert.equal(out.properties.plain, 'https://nw.example/no-query');
});
