/**
 * Issue 9 point 4, upload grants: bounded by the capture's own limit, and never given again for a
 * blob the server has verified (so nothing overwrites it). Issue 10 point 4: a host finishes
 * uploads of its own captures only (the one ownership check, case-insensitive like ARM ids).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ResourceRecord } from '../../store/index.js';
import { grantRefusal, handleAgentMessage } from './agent-channel.js';
import type { ServerContext } from './context.js';
import type { CaptureBody } from './capture-types.js';

function capture(totalBytesPerSession: number, verified = false, targets: unknown[] = []): ResourceRecord<CaptureBody> {
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
        targets,
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

const OWNER = '/subscriptions/s/resourcegroups/rg/providers/microsoft.compute/virtualmachines/vm-a';
const OTHER = '/subscriptions/s/resourcegroups/rg/providers/microsoft.compute/virtualmachines/vm-b';

/** A server context that records what an upload.done touches: the storage account lookup and the replies. */
function recordingContext(rec: ResourceRecord<CaptureBody>) {
  const accountLookups: string[] = [];
  const replies: unknown[] = [];
  const ctx = {
    store: {
      findCaptureByUid: async () => rec,
      getResource: async (key: string) => {
        accountLookups.push(key);
        return null;
      },
      modifyResourceBody: async () => assert.fail('an upload.done of another host must not mark anything verified'),
    },
    hub: { send: (_vmKey: string, msg: unknown) => replies.push(msg) },
  } as unknown as ServerContext;
  return { ctx, accountLookups, replies };
}

const uploadDone = {
  type: 'upload.done',
  requestId: 'r1',
  captureUid: 'u1',
  sizeInBytes: 10,
  sha256: 'f'.repeat(64),
} as const;

test("an agent cannot finish an upload for another host's capture", async () => {
  const rec = capture(6000, false, [{ vmKey: OWNER, vmName: 'vm-a', vmId: 'id-a' }]);
  const { ctx, accountLookups, replies } = recordingContext(rec);
  await handleAgentMessage(ctx, OTHER, 'http://server', uploadDone);
  assert.deepEqual(accountLookups, [], "the other host's message never reached the capture's storage");
  assert.equal(replies.length, 1);
  const reply = replies[0] as { type: string; ok: boolean };
  assert.equal(reply.type, 'upload.verified');
  assert.equal(reply.ok, false);
});

test('the owning host is recognised whatever the case of its VM key (ARM ids compare case-insensitively)', async () => {
  const rec = capture(6000, false, [{ vmKey: OWNER, vmName: 'vm-a', vmId: 'id-a' }]);
  const { ctx, accountLookups } = recordingContext(rec);
  await handleAgentMessage(
    ctx,
    OWNER.replace('vm-a', 'VM-A').replace('virtualmachines', 'virtualMachines'),
    'http://server',
    uploadDone,
  );
  assert.deepEqual(accountLookups, ['a'], "the owner's upload.done goes on to the capture's storage account");
});
