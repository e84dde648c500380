/**
 * The create path's rules that need the database: the session limit holds under concurrent
 * creates (its check and the insert are one transaction under the watcher's lock; with the
 * batched lookups outside one, five creates at once all counted zero and all started), create
 * answers its own record and operation, and a watcher with captures cannot be deleted.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { migrate, openPglite, Store } from '../../store/index.js';
import { ApiError, createLogger } from '../../lib/index.js';
import type { AgentHub } from '../agent-hub.js';
import type { ServerContext } from './context.js';
import { listCaptures, requestCaptureDelete } from './capture-requests.js';
import { createCapture } from './packet-captures.js';
import { putAgentExtension } from './vms.js';
import { deleteWatcher, putWatcher } from './watchers.js';

const SUB = '00000000-0000-0000-0000-000000000000';

async function contextWithLimit(
  sessionLimitPerLocation: number,
): Promise<{ ctx: ServerContext; close(): Promise<void> }> {
  const db = await openPglite(null);
  await migrate(db);
  const hub = { isConnected: () => true, send: () => true, connectedCount: 1 } as unknown as AgentHub;
  const ctx = {
    config: { subscriptionId: SUB, defaultLocation: 'westus', dataDir: '/nonexistent', sessionLimitPerLocation },
    store: new Store(db),
    hub,
    logger: createLogger({ level: 'silent', name: 'test' }),
    signingKey: Buffer.alloc(32),
  } as ServerContext;
  await putWatcher(ctx, SUB, 'rg', 'nw', { location: 'westus' });
  await putAgentExtension(ctx, 'http://localhost', SUB, 'rg', 'vm1', 'NetworkWatcherAgentLinux', {});
  return { ctx, close: () => db.close() };
}

const request = (file: string) => ({
  properties: {
    target: `/subscriptions/${SUB}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm1`,
    storageLocation: { filePath: `/var/captures/${file}.cap` },
  },
});

test('concurrent creates never take more sessions than the limit', async () => {
  const { ctx, close } = await contextWithLimit(2);
  try {
    const outcomes = await Promise.allSettled(
      [0, 1, 2, 3, 4].map((i) => createCapture(ctx, SUB, 'rg', 'nw', `pc${i}`, request(`pc${i}`), 'http://localhost')),
    );
    const started = outcomes.filter((o) => o.status === 'fulfilled');
    const refused = outcomes.filter((o): o is PromiseRejectedResult => o.status === 'rejected');
    assert.equal(started.length, 2, 'as many started as the limit allows');
    assert.deepEqual(
      refused.map((o) => (o.reason instanceof ApiError ? o.reason.code : String(o.reason))),
      ['SessionLimitReached', 'SessionLimitReached', 'SessionLimitReached'],
    );
    assert.equal((await listCaptures(ctx, SUB, 'rg', 'nw')).length, 2, 'a refused create wrote nothing');
  } finally {
    await close();
  }
});

test('create answers the stored record and its pending create operation', async () => {
  const { ctx, close } = await contextWithLimit(10);
  try {
    const { record, operation } = await createCapture(ctx, SUB, 'rg', 'nw', 'pc', request('pc'), 'http://localhost');
    assert.equal(record.name, 'pc');
    assert.equal(record.body.properties.provisioningState, 'Updating');
    assert.equal(operation.kind, 'create');
    assert.equal(operation.status, 'InProgress');
    assert.equal(operation.resourceKey, record.key);
    assert.equal((await ctx.store.latestOperation(record.key, 'create'))?.id, operation.id);
    await assert.rejects(
      createCapture(ctx, SUB, 'rg', 'nw', 'pc', request('pc'), 'http://localhost'),
      (e: unknown) => e instanceof ApiError && e.code === 'PacketCaptureNameInUse',
    );
  } finally {
    await close();
  }
});

test('a watcher with captures is not deleted, and capture deletes answer their operation', async () => {
  const { ctx, close } = await contextWithLimit(10);
  try {
    const { record } = await createCapture(ctx, SUB, 'rg', 'nw', 'pc', request('pc'), 'http://localhost');
    await assert.rejects(
      deleteWatcher(ctx, SUB, 'rg', 'nw'),
      (e: unknown) => e instanceof ApiError && e.code === 'Conflict' && /still has 1 packet capture/.test(e.message),
    );
    assert.ok(await ctx.store.getResource(record.key), 'the capture is kept');
    // The agent never answers here: the delete waits for it (202 with the operation).
    const pending = await requestCaptureDelete(ctx, SUB, 'rg', 'nw', 'pc', false);
    assert.equal(pending?.kind, 'delete');
    assert.equal(await requestCaptureDelete(ctx, SUB, 'rg', 'nw', 'missing', false), null, 'a missing capture: 204');
  } finally {
    await close();
  }
});
