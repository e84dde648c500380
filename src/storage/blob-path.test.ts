import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  CAPTURE_CONTAINER,
  InvalidBlobLocationError,
  assertValidBlobLocation,
  azureCaptureBlobPath,
  resolveCaptureLocation,
} from './index.js';
import { encodeBlobPath, splitContainerPath } from './blob-path.js';

const capture = {
  subscriptionId: '00000000-0000-0000-0000-000000000000',
  resourceGroup: 'MyResourceGroup',
  vmName: 'MyVM',
  createdAt: new Date('2017-05-25T16:22:34.630Z'),
};

describe('azureCaptureBlobPath', () => {
  test("matches Azure's layout: rg and vm lower-cased, UTC time with milliseconds", () => {
    assert.equal(
      azureCaptureBlobPath(capture),
      'subscriptions/00000000-0000-0000-0000-000000000000/resourcegroups/myresourcegroup/providers/microsoft.compute/virtualmachines/myvm/2017/05/25/packetcapture_16_22_34_630.cap',
    );
    assert.match(
      azureCaptureBlobPath({ ...capture, createdAt: new Date('2024-01-02T03:04:05.007Z') }),
      /\/2024\/01\/02\/packetcapture_03_04_05_007\.cap$/,
    );
  });
});

describe('resolveCaptureLocation', () => {
  const parse = (url: string) =>
    url.startsWith('https://acct.blob.core.windows.net/')
      ? { container: url.split('/')[3] ?? '', prefix: url.split('/').slice(4).join('/') }
      : null;
  test('defaults to network-watcher-logs and the Azure layout', () => {
    assert.deepEqual(resolveCaptureLocation(parse, undefined, capture), {
      container: CAPTURE_CONTAINER,
      blobPath: azureCaptureBlobPath(capture),
    });
    assert.deepEqual(resolveCaptureLocation(parse, '', capture), {
      container: CAPTURE_CONTAINER,
      blobPath: azureCaptureBlobPath(capture),
    });
  });
  test('honours a container URI (and its prefix), or an exact .cap blob URI', () => {
    assert.deepEqual(resolveCaptureLocation(parse, 'https://acct.blob.core.windows.net/mycaps', capture), {
      container: 'mycaps',
      blobPath: azureCaptureBlobPath(capture),
    });
    assert.deepEqual(resolveCaptureLocation(parse, 'https://acct.blob.core.windows.net/mycaps/team-a/', capture), {
      container: 'mycaps',
      blobPath: `team-a/${azureCaptureBlobPath(capture)}`,
    });
    assert.deepEqual(resolveCaptureLocation(parse, 'https://acct.blob.core.windows.net/capture/pc1.cap', capture), {
      container: 'capture',
      blobPath: 'pc1.cap',
    });
  });
  test('returns null for a URI of another account', () => {
    assert.equal(resolveCaptureLocation(parse, 'https://other.blob.core.windows.net/mycaps', capture), null);
  });
});

describe('assertValidBlobLocation', () => {
  test('refuses traversal, empty segments, backslashes, control characters and bad container names', () => {
    for (const blobPath of ['../x', 'a/../b', 'a//b', '/abs', 'a/./b', 'a\\b', 'a\u0000b', '', 'x'.repeat(1025)]) {
      assert.throws(
        () => assertValidBlobLocation({ container: 'good-name', blobPath }),
        InvalidBlobLocationError,
        JSON.stringify(blobPath),
      );
    }
    for (const container of ['ab', 'UPPER', '-lead', 'trail-', 'dou--ble', '.uploads', 'a'.repeat(64)]) {
      assert.throws(
        () => assertValidBlobLocation({ container, blobPath: 'x.cap' }),
        InvalidBlobLocationError,
        container,
      );
    }
    assertValidBlobLocation({ container: CAPTURE_CONTAINER, blobPath: 'a/b c/d.cap' });
  });
  test('encodeBlobPath keeps slashes and encodes the rest', () => {
    assert.equal(encodeBlobPath('a b/c#d/e?.cap'), 'a%20b/c%23d/e%3F.cap');
  });
});

test('splitContainerPath decodes the container and prefix, and refuses what is not one', () => {
  assert.deepEqual(splitContainerPath('captures/a%20b//c/'), { container: 'captures', prefix: 'a b/c' });
  assert.deepEqual(splitContainerPath('captures'), { container: 'captures', prefix: '' });
  assert.equal(splitContainerPath(''), null);
  assert.equal(splitContainerPath('/captures'), null);
  assert.equal(splitContainerPath('captures/%E0%A4%A'), null);
});
