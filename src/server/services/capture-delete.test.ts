/**
 * A delete whose capture finishes while the delete is being decided: the host's last file is
 * verified between the delete's check ("still uploading") and its operation row, so another
 * evaluation removes the capture before the operation exists. The operation must still end
 * (the Azure SDK's beginDeleteAndWait polled it forever after a server restart, when the agent's
 * retried upload landed exactly then).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { migrate, openPglite, Store } from '../../store/index.js';
import type { ResourceRecord } from '../../store/index.js';
import { createLogger } from '../../lib/index.js';
import type { AgentHub } from '../agent-hub.js';
import type { CaptureBody, InstanceState } from './capture-types.js';
import { notStartedState } from './capture-types.js';
import { newServerMemory, type ServerContext } from './context.js';
import { deleteCapture, evaluateCapture } from './packet-captures.js';

const SUB = '00000000-0000-0000-0000-000000000000';
const ID = `/subscriptions/${SUB}/resourceGroups/rg/providers/Microsoft.Network/networkWatchers/nw/packetCaptures/pc`;
const VM = `/subscriptions/${SUB}/resourcegroups/rg/providers/microsoft.compute/virtualmachines/vm1`;

function stoppedState(uid: string, stored: boolean, sequence: number): InstanceState {
  return {
    ...notStartedState(uid),
    status: 'Stopped',
    stopReason: 'Manual',
    captureStartTime: new Date().toISOString(),
    sequence,
    file: { path: 'pc.cap', sizeInBytes: 24, sha256: 'a'.repeat(64), stored },
  } as InstanceState;
}

test('a delete whose capture is removed by a concurrent evaluation still finishes its operation', async () => {
  const db = await openPglite(null);
  await migrate(db);
  const real = new Store(db);
  const uid = 'uid-1';
  const key = ID.toLowerCase();
  const rec = await real.putResource<CaptureBody>({
    key,
    type: 'packetCapture',
    parentKey: null,
    id: ID,
    name: 'pc',
    subscriptionId: SUB,
    resourceGroup: 'rg',
    location: 'westus',
    body: {
      type: 'Microsoft.Network/networkWatchers/packetCaptures',
      properties: { provisioningState: 'Succeeded', storageLocation: {} },
      _internal: {
        uid,
        createdAt: new Date().toISOString(),
        location: 'westus',
        bpfExpression: '',
        localFilePath: null,
        stopRequested: true,
        deleting: null,
        active: false,
        targets: [{ vmKey: VM, vmId: VM, vmName: 'vm1', resourceGroup: 'rg' }],
        storage: { accountKey: 'none', container: 'network-watcher-logs', blobPath: 'pc.cap' },
      },
    },
  });
  await real.upsertCaptureInstance({ captureUid: uid, vmKey: VM, captureKey: key, state: stoppedState(uid, false, 5) });

  let ctx!: ServerContext;
  let raced = false;
  // The real store, except that the delete's first read of the host states lets the agent's
  // verified upload land (and its evaluation run to the end) right after the read.
  const store = new Proxy(real, {
    get(target, prop, receiver) {
      if (prop === 'listCaptureInstances' && !raced) {
        return async (captureUid: string) => {
          const rows = await target.listCaptureInstances(captureUid);
          if ((await target.getResource<CaptureBody>(key))?.body._internal.deleting) {
            raced = true;
            await target.upsertCaptureInstance({
              captureUid: uid,
              vmKey: VM,
              captureKey: key,
              state: stoppedState(uid, true, 6),
            });
            await evaluateCapture(ctx, key);
          }
          return rows;
        };
      }
      const value = Reflect.get(target, prop, receiver) as unknown;
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
  const hub = { isConnected: () => true, send: () => true } as unknown as AgentHub;
  ctx = {
    config: { subscriptionId: SUB, defaultLocation: 'westus', dataDir: '/nonexistent' },
    store,
    hub,
    logger: createLogger({ level: 'silent', name: 'test' }),
    signingKey: Buffer.alloc(32),
    memory: newServerMemory(),
  } as ServerContext;

  const answer = await deleteCapture(ctx, rec as ResourceRecord<CaptureBody>, false);
  assert.equal(raced, true, 'the race was staged');
  assert.equal(answer, 'accepted');
  assert.equal(await real.getResource(key), null, 'the capture is gone');
  const ops = await db.query<{ status: string }>(
    `SELECT status FROM operations WHERE resource_key = $1 AND kind = 'delete'`,
    [key],
  );
  assert.deepEqual(
    ops.map((o) => o.status),
    ['Succeeded'],
    'the delete operation ended',
  );
  await db.close();
});
