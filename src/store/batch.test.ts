import { test } from 'node:test';
import assert from 'node:assert/strict';
import { StatementBatcher } from './batch.js';
import { migrate, openPglite, Store, type Db } from './index.js';

test('calls made together share one run, each gets its own result', async () => {
  const runs: string[][] = [];
  const b = new StatementBatcher<string>(
    async (keys) => {
      runs.push(keys);
      return (key, nth) => `${key}:${nth}`;
    },
    { maxCallsPerRun: 100, maxRunsInFlight: 1 },
  );
  const got = await Promise.all(['a', 'b', 'a', 'c'].map((k) => b.call(k)));
  assert.deepEqual(got, ['a:0', 'b:0', 'a:1', 'c:0']);
  assert.deepEqual(runs, [['a', 'b', 'c']], 'one run, each key once');
});

test('a call made while a run is in flight waits for the next run, which sees what changed before the call', async () => {
  let value = 'old';
  let release!: () => void;
  const gate = new Promise<void>((r) => {
    release = r;
  });
  let runs = 0;
  const b = new StatementBatcher<string>(
    async () => {
      const seen = value;
      if (runs++ === 0) await gate;
      return () => seen;
    },
    { maxCallsPerRun: 100, maxRunsInFlight: 1 },
  );
  const first = b.call('k');
  await new Promise((r) => setImmediate(r));
  value = 'new';
  const second = b.call('k');
  release();
  assert.equal(await first, 'old');
  assert.equal(await second, 'new', 'the second call never shares the run that began before it');
  assert.equal(runs, 2);
});

test('runs take at most maxCallsPerRun calls', async () => {
  const sizes: number[] = [];
  const b = new StatementBatcher<number>(
    async (keys) => {
      sizes.push(keys.length);
      return () => 1;
    },
    { maxCallsPerRun: 3, maxRunsInFlight: 1 },
  );
  await Promise.all(Array.from({ length: 7 }, (_, i) => b.call(String(i))));
  assert.deepEqual(sizes, [3, 3, 1]);
});

test('retryAlone: a failed run of several calls is run again call by call, so only the bad one fails', async () => {
  const runs: string[][] = [];
  const b = new StatementBatcher<string>(
    async (keys) => {
      runs.push(keys);
      if (keys.includes('bad')) throw new Error(`refused ${keys.join(',')}`);
      return (key) => key;
    },
    { maxCallsPerRun: 100, maxRunsInFlight: 1, retryAlone: true },
  );
  const results = await Promise.allSettled(['x', 'bad', 'y'].map((k) => b.call(k)));
  assert.deepEqual(
    results.map((r) => r.status),
    ['fulfilled', 'rejected', 'fulfilled'],
  );
  assert.equal((results[1] as PromiseRejectedResult).reason.message, 'refused bad');
  assert.deepEqual(runs, [['x', 'bad', 'y'], ['x'], ['bad'], ['y']]);
});

test('without retryAlone a failed run fails all its calls', async () => {
  const b = new StatementBatcher<string>(
    async () => {
      throw new Error('database away');
    },
    { maxCallsPerRun: 100, maxRunsInFlight: 1 },
  );
  const results = await Promise.allSettled(['x', 'y'].map((k) => b.call(k)));
  assert.deepEqual(
    results.map((r) => r.status),
    ['rejected', 'rejected'],
  );
});

test('oneCallPerKey: calls of one key apply in turn, each with its own input', async () => {
  const runs: Array<Array<[string, number]>> = [];
  const b = new StatementBatcher<number, number>(
    async (keys, inputs) => {
      runs.push(keys.map((k, i) => [k, inputs[i]!]));
      const byKey = new Map(keys.map((k, i) => [k, inputs[i]!]));
      return (key) => byKey.get(key)!;
    },
    { maxCallsPerRun: 100, maxRunsInFlight: 1, oneCallPerKey: true },
  );
  const got = await Promise.all([b.call('a', 1), b.call('b', 2), b.call('a', 3)]);
  assert.deepEqual(got, [1, 2, 3]);
  assert.deepEqual(runs, [
    [
      ['a', 1],
      ['b', 2],
    ],
    [['a', 3]],
  ]);
});

test('the store batches concurrent lookups on a real database, and callers never share a record', async () => {
  const db = await openPglite(null);
  await migrate(db);
  let statements = 0;
  const spy: Db = {
    engine: db.engine,
    query: (sql, params) => {
      if (/FROM resources/.test(sql)) statements++;
      return db.query(sql, params);
    },
    transaction: (fn) => db.transaction(fn),
    close: () => db.close(),
  };
  const store = new Store(spy);
  try {
    for (let i = 0; i < 20; i++) {
      await store.putResource({
        key: `k${i}`,
        type: 'vm',
        parentKey: null,
        id: `K${i}`,
        name: `n${i}`,
        subscriptionId: 's',
        resourceGroup: 'rg',
        location: 'l',
        body: { properties: { i } },
      });
    }
    statements = 0;
    const keys = [...Array.from({ length: 20 }, (_, i) => `K${i}`), 'K0', 'missing'];
    const got = await Promise.all(keys.map((k) => store.getResource<{ properties: { i: number } }>(k)));
    assert.ok(statements <= 2, `${statements} statements for ${keys.length} lookups`);
    assert.deepEqual(
      got.slice(0, 20).map((r) => r?.body.properties.i),
      Array.from({ length: 20 }, (_, i) => i),
    );
    assert.equal(got[21], null);
    got[0]!.body.properties.i = 99;
    assert.equal(got[20]!.body.properties.i, 0, 'the second caller of a key has its own copy');

    // Inserts together: one wins a key, the other finds it taken; both rows keep their order in time.
    const [a, b, c] = await Promise.all([
      store.insertResource({
        key: 'new1',
        type: 'vm',
        parentKey: null,
        id: 'new1',
        name: 'a',
        subscriptionId: 's',
        resourceGroup: 'rg',
        location: 'l',
        body: { n: 1 },
      }),
      store.insertResource({
        key: 'NEW1',
        type: 'vm',
        parentKey: null,
        id: 'new1',
        name: 'b',
        subscriptionId: 's',
        resourceGroup: 'rg',
        location: 'l',
        body: { n: 2 },
      }),
      store.insertResource({
        key: 'new2',
        type: 'vm',
        parentKey: null,
        id: 'new2',
        name: 'c',
        subscriptionId: 's',
        resourceGroup: 'rg',
        location: 'l',
        body: { n: 3 },
        secret: { type: 'local', rootDir: '/x' },
      }),
    ]);
    assert.equal(a?.name, 'a');
    assert.equal(b, null);
    assert.deepEqual(c?.secret, { type: 'local', rootDir: '/x' });
    assert.ok(c!.createdAt.getTime() >= a!.createdAt.getTime());
    assert.equal((await store.getResource('new1'))?.name, 'a');

    // Operations and capture states written together, finished together.
    const ops = await Promise.all(
      ['r1', 'r2'].map((r) =>
        store.createOperation({ subscriptionId: 's', location: 'l', kind: 'create', resourceKey: r, result: null }),
      ),
    );
    assert.equal(ops[0]!.result, null);
    assert.deepEqual(
      await Promise.all([
        store.finishOperations('r1', 'create', { status: 'Succeeded' }),
        store.finishOperations('r2', 'create', { status: 'Failed', error: { code: 'X', message: 'm' } }),
        store.finishOperations('r3', 'create', { status: 'Succeeded' }),
      ]),
      [1, 1, 0],
    );
    assert.deepEqual((await store.getOperation(ops[1]!.id))?.error, { code: 'X', message: 'm' });
    const stored = await Promise.all([
      store.upsertCaptureInstance({ captureUid: 'u', vmKey: 'VM', captureKey: 'new1', state: { sequence: 2 } }),
      store.upsertCaptureInstance({ captureUid: 'u', vmKey: 'vm', captureKey: 'new1', state: { sequence: 1 } }),
      store.upsertCaptureInstanceIfCaptureExists({
        captureUid: 'u',
        vmKey: 'vm2',
        captureKey: 'gone',
        state: { sequence: 1 },
      }),
    ]);
    assert.deepEqual(
      stored,
      [true, false, false],
      'an older state never overwrites a newer one; nothing is kept for a capture that is gone',
    );
    assert.deepEqual(
      (await store.listCaptureInstances('u')).map((r) => r.state),
      [{ sequence: 2 }],
    );

    // Read-modify-writes together: none lost (one key's changes apply in turn), a failing change fails alone.
    const bump = (b: { n: number }) => ({ ...b, n: b.n + 1 });
    const changed = await Promise.allSettled([
      ...Array.from({ length: 10 }, () => store.modifyResourceBody<{ n: number }>('new1', bump)),
      store.modifyResourceBody<{ n: number }>('new2', () => {
        throw new Error('refused');
      }),
      store.modifyResourceBody<{ n: number }>('missing', bump),
      store.modifyResourceBody<{ n: number }>('new2', (b) => b),
    ]);
    assert.deepEqual(
      changed.map((r) => r.status),
      [...Array(10).fill('fulfilled'), 'rejected', 'fulfilled', 'fulfilled'],
    );
    assert.equal((await store.getResource<{ n: number }>('new1'))?.body.n, 11);
    assert.equal((changed[11] as PromiseFulfilledResult<unknown>).value, null);
    assert.deepEqual((changed[12] as PromiseFulfilledResult<{ body: unknown; secret: unknown }>).value.secret, {
      type: 'local',
      rootDir: '/x',
    });
  } finally {
    await db.close();
  }
});
