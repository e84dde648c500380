/**
 * The create path's rules that need the database: the session limit holds under concurrent
 * creates (its check and the insert are one transaction under the watcher's lock; with the
 * batched lookups outside one, five creates at once all counted zero and all started), creates
 * that arrive together share that transaction and are judged in arrival order, a group whose
 * transaction fails is retried create by create, create answers its own record and operation,
 * and a watcher with captures cannot be deleted.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { migrate, openPglite, Store, type Db } from '../../store/index.js';
import { openTestDatabase, postgresAvailable, TEST_ENGINES } from '../../store/testing/engines.js';
import { ApiError, createLogger } from '../../lib/index.js';
import type { AgentHub } from '../agent-hub.js';
import { newServerMemory, type ServerContext } from './context.js';
import { listCaptures, requestCaptureDelete } from './capture-requests.js';
import { createCapture } from './packet-captures.js';
import { putAgentExtension } from './vms.js';
import { deleteWatcher, putWatcher } from './watchers.js';

const SUB = '00000000-0000-0000-0000-000000000000';

async function contextWithLimit(
  sessionLimitPerLocation: number,
  opened?: { db: Db; close(): Promise<void> },
): Promise<{ ctx: ServerContext; close(): Promise<void> }> {
  const { db, close } = opened ?? (await pgliteDatabase());
  const hub = { isConnected: () => true, send: () => true, connectedCount: 1 } as unknown as AgentHub;
  const ctx = {
    config: { subscriptionId: SUB, defaultLocation: 'westus', dataDir: '/nonexistent', sessionLimitPerLocation },
    store: new Store(db),
    hub,
    logger: createLogger({ level: 'silent', name: 'test' }),
    signingKey: Buffer.alloc(32),
    memory: newServerMemory(),
  } as ServerContext;
  await putWatcher(ctx, SUB, 'rg', 'nw', { location: 'westus' });
  await putAgentExtension(ctx, 'http://localhost', SUB, 'rg', 'vm1', 'NetworkWatcherAgentLinux', {});
  return { ctx, close };
}

async function pgliteDatabase(): Promise<{ db: Db; close(): Promise<void> }> {
  const db = await openPglite(null);
  await migrate(db);
  return { db, close: () => db.close() };
}

/**
 * `db` with its transactions and statements counted; a statement fails while `failWhen` says so
 * (given the statement and the number of the transaction it runs in, 0 outside one).
 */
function instrumented(db: Db, failWhen: (sql: string, transaction: number) => boolean = () => false) {
  const counts = { transactions: 0, statements: 0 };
  const wrap = (d: Db, transaction: number): Db => ({
    ...d,
    query: (sql, params) => {
      counts.statements++;
      if (failWhen(sql, transaction)) return Promise.reject(new Error('injected failure'));
      return d.query(sql, params);
    },
    transaction: (fn) => {
      const n = ++counts.transactions;
      return d.transaction((tx) => fn(wrap(tx, n)));
    },
  });
  return { db: wrap(db, 0), counts };
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

for (const engine of TEST_ENGINES) {
  test(`${engine}: creates that arrive together share one transaction, judged in arrival order`, async (t) => {
    if (engine === 'postgres' && !(await postgresAvailable())) return t.skip('no PostgreSQL');
    const opened = await openTestDatabase(engine);
    const { db, counts } = instrumented(opened.db);
    const { ctx, close } = await contextWithLimit(12, { db, close: opened.drop });
    try {
      counts.transactions = 0;
      counts.statements = 0;
      // 15 creates at once: three of them a name already taken in the same group, then the limit.
      const names = ['a0', 'a1', 'a0', 'a2', 'a3', 'a1', 'a4', 'a5', 'a6', 'a7', 'a8', 'a9', 'a10', 'a11', 'a12'];
      const outcomes = await Promise.allSettled(
        names.map((n, i) => createCapture(ctx, SUB, 'rg', 'nw', n, request(`f${i}`), 'http://localhost')),
      );
      const codes = outcomes.map((o) =>
        o.status === 'fulfilled' ? 'ok' : o.reason instanceof ApiError ? o.reason.code : String(o.reason),
      );
      // As one after another: a name's second create is refused, the 13th distinct one hits the limit of 12.
      assert.deepEqual(codes, [
        'ok',
        'ok',
        'PacketCaptureNameInUse',
        'ok',
        'ok',
        'PacketCaptureNameInUse',
        ...Array<string>(8).fill('ok'),
        'SessionLimitReached',
      ]);
      assert.equal(counts.transactions, 1, 'one transaction for the group');
      // Lock, name lookups, count, inserts, operations: a handful of statements, not 15 × 4.
      assert.ok(counts.statements <= 12, `${counts.statements} statements for 15 creates`);
      const stored = await listCaptures(ctx, SUB, 'rg', 'nw');
      assert.equal(stored.length, 12);
      // The first create of a name won, with its own file.
      const a0 = stored.find((c) => c.name === 'a0')!;
      assert.equal(a0.body.properties.storageLocation.filePath, '/var/captures/f0.cap');
      for (const c of stored) assert.equal((await ctx.store.latestOperation(c.key, 'create'))?.status, 'InProgress');
    } finally {
      await close();
    }
  });
}

test('a group whose transaction fails is retried create by create', async () => {
  const base = await pgliteDatabase();
  // Every capture insert of the group's transaction fails (as on PostgreSQL, where one failed
  // statement aborts the whole transaction); the creates alone go through.
  let groupTransaction = -1;
  const { db, counts } = instrumented(base.db, (sql, n) => n === groupTransaction && /INSERT INTO resources/.test(sql));
  const { ctx, close } = await contextWithLimit(10, { db, close: base.close });
  try {
    groupTransaction = counts.transactions + 1;
    const before = counts.transactions;
    const outcomes = await Promise.allSettled(
      [0, 1, 2].map((i) => createCapture(ctx, SUB, 'rg', 'nw', `pc${i}`, request(`pc${i}`), 'http://localhost')),
    );
    assert.deepEqual(
      outcomes.map((o) => o.status),
      ['fulfilled', 'fulfilled', 'fulfilled'],
    );
    assert.equal(counts.transactions - before, 4, 'the group, then each create alone');
    assert.equal((await listCaptures(ctx, SUB, 'rg', 'nw')).length, 3);
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
