/**
 * Issue 9 point 4, upload grants: bounded by the capture's own limit, and never given again for a
 * blob the server has verified (so nothing overwrites it).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ResourceRecord } from '../../store/index.js';
import { grantRefusal } from './agent-channel.js';
import type { CaptureBody } from './capture-types.js';

function capture(totalBytesPerSession: number, verified = false): ResourceRecord<CaptureBody> {
  return {
    key: 'k',
    id: 'id',
    name: 'c',
    type: 'packetCapture',
    parentKey: null,
    subscriptionId: 's',
    resourceGroup: 'rg',
    location: 'westus',
    etag: 'e',
    body: {
      type: 'Microsoft.Network/networkWatchers/packetCaptures',
      properties: {
        provisioningState: 'Succeeded',
        storageLocation: {},
        totalBytesPerSession,
        timeLimitInSeconds: 60,
        bytesToCapturePerPacket: 0,
      },
      _internal: {
        uid: 'u1',
        createdAt: '',
        location: 'westus',
        bpfExpression: '',
        targets: [],
        localFilePath: null,
        stopRequested: false,
        deleting: null,
        active: false,
        storage: {
          accountKey: 'a',
          container: 'network-watcher-logs',
          blobPath: 'x.cap',
          ...(verified ? { verified: { sizeInBytes: 10, sha256: 'f'.repeat(64) } } : {}),
        },
      },
    },
  } as unknown as ResourceRecord<CaptureBody>;
}

test("a grant for more than the capture's totalBytesPerSession is refused", () => {
  assert.equal(grantRefusal(capture(6000), 6000), null);
  assert.match(grantRefusal(capture(6000), 6001)?.reason ?? '', /totalBytesPerSession/);
  // 0 means Azure's maximum, never "unbounded".
  assert.match(grantRefusal(capture(0), 2 ** 40)?.reason ?? '', /totalBytesPerSession/);
});

test('no grant is given for a blob already verified', () => {
  const refusal = grantRefusal(capture(6000, true), 10);
  assert.equal(refusal?.alreadyStored, true);
});
