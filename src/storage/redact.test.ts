import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { redactSecretsInText, redactUrl } from './index.js';

describe('redactUrl', () => {
  test('strips SAS, presigned and local signatures, user info and fragments', () => {
    assert.equal(
      redactUrl('https://acct.blob.core.windows.net/c/b.cap?sv=2021-08-06&se=2024&sr=b&sp=cw&sig=abc%2Bdef'),
      'https://acct.blob.core.windows.net/c/b.cap',
    );
    assert.equal(
      redactUrl(
        'http://127.0.0.1:9000/bkt/k.cap?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIA%2F20240101&X-Amz-Signature=deadbeef&partNumber=1',
      ),
      'http://127.0.0.1:9000/bkt/k.cap',
    );
    assert.equal(redactUrl('https://user:pass@host/p?sig=x#frag'), 'https://host/p');
    assert.equal(redactUrl('not a url?sig=secret'), 'not a url');
  });
  test('redactSecretsInText cleans URLs and connection-string keys inside messages', () => {
    const text =
      'PUT https://a.blob.core.windows.net/c/b?sig=SECRET failed; conn AccountName=a;AccountKey=S3CR3T==;BlobEndpoint=x';
    const clean = redactSecretsInText(text);
    assert.doesNotMatch(clean, /SECRET|S3CR3T/);
    assert.match(clean, /AccountKey=\*\*\*/);
  });
});
