import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { migrate, MIGRATIONS } from './migrations.js';
import { openPglite } from './db.js';
import { Store } from './store.js';
import { openTestDatabase, postgresAvailable, TEST_ENGINES } from './testing/engines.js';
import {
  CAPTURE_ACTIVE_PATH,
  CAPTURE_TARGET_VM_KEY,
  CAPTURE_TARGETS_PATH,
  CAPTURE_UID_PATH,
  HOST_AGENT_CONNECTED_PATH,
} from '../model/stored-bodies.js';

/** `base` with `value` set at `path` (objects made on the way). */
function setAt(base: Record<string, unknown>, path: readonly string[], value: unknown): Record<string, unknown> {
  const [head, ...rest] = path;
  if (head === undefined) return base;
  const inner = (base[head] as Record<string, unknown> | undefined) ?? {};
  return { ...base, [head]: rest.length === 0 ? value : setAt(inner, rest, value) };
}

/** The same store tests on both engines (see testing/engines.ts). */
const havePostgres = await postgresAvailable();

for (const engine of TEST_ENGINES) {
  describe(`store on ${engine}`, { skip: engine === 'postgres' && !havePostgres }, async () => {
    const { db, drop } = await openTestDatabase(engine);
    after(() => drop());
    await migrate(db); // a second time: idempotent
    const store = new Store(db);

    test('resources are keyed case-insensitively and keep the caller’s casing', async () => {
      const id = '/subscriptions/S/resourceGroups/RG/providers/Microsoft.Compute/virtualMachines/VmOne';
      const put = await store.putResource({
        key: id,
        type: 'vm',
        parentKey: null,
        id,
        name: 'VmOne',
        subscriptionId: 'S',
        resourceGroup: 'RG',
        location: 'local',
        body: { a: 1 },
        secret: { k: 'x' },
      });
      assert.match(put.etag, /^W\/"/);
      const got = await store.getResource(id.toUpperCase());
      assert.equal(got?.name, 'VmOne');
      assert.deepEqual(got?.body, { a: 1 });
      assert.deepEqual(got?.secret, { k: 'x' });
      assert.equal((await store.listResources('vm', { subscriptionId: 's', resourceGroup: 'rg' })).length, 1);
      assert.equal(await store.insertResource({ ...put, body: { a: 2 } }), null, 'insert must not overwrite');
      const updated = await store.updateResourceBody(id, { a: 3 });
      assert.notEqual(updated?.etag, put.etag);
      assert.equal(await store.deleteResource(id), true);
      assert.equal(await store.getResource(id), null);
    });

    test('tokens: only hashes are stored; enrolment tokens work once', async () => {
      const admin = await store.issueToken('admin');
      assert.equal((await store.verifyToken(admin.token))?.kind, 'admin');
      assert.equal(await store.verifyToken(admin.token + 'x'), null);
      const rows = await db.query(`SELECT token_hash FROM api_tokens`);
      assert.ok(rows.every((r) => r.token_hash !== admin.token));
      const enrol = await store.issueToken('enrollment', { vmKey: 'vmkey' });
      assert.equal(await store.verifyToken(enrol.token), null, 'an enrolment token is no API credential');
      assert.deepEqual(await store.consumeEnrollmentToken(enrol.token), { vmKey: 'vmkey' });
      assert.equal(await store.consumeEnrollmentToken(enrol.token), null, 'second use refused');
      const expired = await store.issueToken('enrollment', { vmKey: 'vmkey', expiresAt: new Date(Date.now() - 1000) });
      assert.equal(await store.consumeEnrollmentToken(expired.token), null);
    });

    test('capture instance states never go back in sequence', async () => {
      assert.equal(
        await store.upsertCaptureInstance({
          captureUid: 'u1',
          vmKey: 'v',
          captureKey: 'c',
          state: { sequence: 2, status: 'Running' },
        }),
        true,
      );
      assert.equal(
        await store.upsertCaptureInstance({
          captureUid: 'u1',
          vmKey: 'v',
          captureKey: 'c',
          state: { sequence: 1, status: 'NotStarted' },
        }),
        false,
      );
      assert.equal(
        await store.upsertCaptureInstance({
          captureUid: 'u1',
          vmKey: 'v',
          captureKey: 'c',
          state: { sequence: 3, status: 'Stopped' },
        }),
        true,
      );
      const [inst] = await store.listCaptureInstances<{ status: string }>('u1');
      assert.equal(inst?.state.status, 'Stopped');
    });

    test('operations finish once', async () => {
      const op = await store.createOperation({ subscriptionId: 's', location: 'l', kind: 'create', resourceKey: 'R' });
      assert.equal(op.status, 'InProgress');
      assert.equal(
        await store.finishOperations('r', 'create', {
          status: 'Failed',
          error: { code: 'CaptureFailed', message: 'no' },
        }),
        1,
      );
      assert.equal(await store.finishOperations('r', 'create', { status: 'Succeeded' }), 0);
      const got = await store.getOperation(op.id);
      assert.equal(got?.status, 'Failed');
      assert.deepEqual(got?.error, { code: 'CaptureFailed', message: 'no' });
    });

    test('capture lookups and the host reset follow the body paths the model names (stored-bodies.ts)', async () => {
      // Bodies built from the path constants: a constant renamed without a migration for the
      // generated columns (capture_uid, capture_active) fails here.
      const capture = (name: string, active: boolean) => {
        let body: Record<string, unknown> = {};
        body = setAt(body, CAPTURE_UID_PATH, `uid-${name}`);
        body = setAt(body, CAPTURE_ACTIVE_PATH, active);
        body = setAt(body, CAPTURE_TARGETS_PATH, [{ [CAPTURE_TARGET_VM_KEY]: 'paths-vm' }]);
        const id = `/subscriptions/paths/resourceGroups/g/providers/P/w/x/packetCaptures/${name}`;
        return store.putResource({
          key: id,
          type: 'packetCapture',
          parentKey: null,
          id,
          name,
          subscriptionId: 'paths',
          resourceGroup: 'g',
          location: 'l',
          body,
        });
      };
      await capture('on', true);
      const off = await capture('off', false);
      assert.equal((await store.findCaptureByUid('uid-on'))?.name, 'on');
      assert.equal((await new Store(db, null, { batch: false }).findCaptureByUid('uid-off'))?.name, 'off');
      assert.equal(await store.countActiveCaptures('PATHS', 'L'), 1);
      assert.equal(await new Store(db, null, { batch: false }).countActiveCaptures('paths', 'l'), 1);
      assert.deepEqual(
        (await store.listActiveCapturesForVm('PATHS-VM')).map((r) => r.name),
        ['on'],
      );
      await store.updateResourceBody(off.key, setAt(off.body, CAPTURE_ACTIVE_PATH, true));
      assert.equal(await store.countActiveCaptures('paths', 'l'), 2, 'the active column follows a body change');
      const vmId = '/subscriptions/paths/resourceGroups/g/providers/P/virtualMachines/paths-vm';
      await store.putResource({
        key: vmId,
        type: 'vm',
        parentKey: null,
        id: vmId,
        name: 'paths-vm',
        subscriptionId: 'paths',
        resourceGroup: 'g',
        location: 'l',
        body: setAt({ keep: 1 }, HOST_AGENT_CONNECTED_PATH, true),
      });
      await store.markAllAgentsDisconnected();
      assert.deepEqual((await store.getResource(vmId))?.body, setAt({ keep: 1 }, HOST_AGENT_CONNECTED_PATH, false));
    });

    test('the active captures of hosts asked together: one statement, each host its own captures and records', async () => {
      // Issue 17: every hello of a reconnecting fleet asks for its host's active captures.
      let statements = 0;
      const spied = new Store({
        engine: db.engine,
        query: (sql, params) => {
          statements++;
          return db.query(sql, params);
        },
        transaction: (fn) => db.transaction(fn),
        close: () => db.close(),
      });
      const capture = (name: string, active: boolean, hosts: string[]) => {
        let body: Record<string, unknown> = {};
        body = setAt(body, CAPTURE_UID_PATH, `uid-${name}`);
        body = setAt(body, CAPTURE_ACTIVE_PATH, active);
        body = setAt(
          body,
          CAPTURE_TARGETS_PATH,
          hosts.map((h) => ({ [CAPTURE_TARGET_VM_KEY]: h, instanceId: h })),
        );
        const id = `/subscriptions/batch/resourceGroups/g/providers/P/w/x/packetCaptures/${name}`;
        return store.putResource({
          key: id,
          type: 'packetCapture',
          parentKey: null,
          id,
          name,
          subscriptionId: 'batch',
          resourceGroup: 'g',
          location: 'l',
          body,
        });
      };
      await capture('both', true, ['batch-a', 'batch-b']);
      await capture('a-only', true, ['batch-a']);
      await capture('b-done', false, ['batch-b']);
      const got = await Promise.all(
        ['BATCH-A', 'batch-b', 'batch-c', 'batch-a'].map((h) => spied.listActiveCapturesForVm(h)),
      );
      assert.equal(statements, 1, 'one statement for the four calls');
      assert.deepEqual(
        got.map((list) => list.map((r) => r.name).sort()),
        [['a-only', 'both'], ['both'], [], ['a-only', 'both']],
      );
      assert.equal(Object.hasOwn(got[0]![0]!, 'nw_for_vm_key'), false);
      assert.equal(Object.hasOwn(got[0]![0]!.body as object, 'nw_for_vm_key'), false);
      assert.notEqual(got[0]![0]!.body, got[3]![0]!.body, 'callers never share a record');
      assert.deepEqual(
        (await new Store(db, null, { batch: false }).listActiveCapturesForVm('batch-b')).map((r) => r.name),
        ['both'],
        'unbatched, the same answer',
      );
    });

    test('transactions roll back on error', async () => {
      const id = '/subscriptions/s/resourceGroups/g/providers/P/t/rollback';
      await assert.rejects(
        store.transaction(async (tx) => {
          await tx.putResource({
            key: id,
            type: 'vm',
            parentKey: null,
            id,
            name: 'n',
            subscriptionId: 's',
            resourceGroup: 'g',
            location: null,
            body: {},
          });
          throw new Error('boom');
        }),
      );
      assert.equal(await store.getResource(id), null);
    });
  });
}

test('migration 12 fills the capture columns of captures stored before it', async () => {
  const db = await openPglite(null);
  try {
    // The schema as it was before the columns (migrations 1–11), with one capture in it.
    await db.query(
      'CREATE TABLE schema_migrations (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())',
    );
    for (let i = 0; i < 11; i++) {
      for (const statement of MIGRATIONS[i]!.split(/;\s*$/m)
        .map((x) => x.trim())
        .filter(Boolean))
        await db.query(statement);
      await db.query('INSERT INTO schema_migrations (version) VALUES ($1)', [i + 1]);
    }
    let body: Record<string, unknown> = setAt({}, CAPTURE_UID_PATH, 'old-uid');
    body = setAt(body, CAPTURE_ACTIVE_PATH, true);
    await db.query(
      `INSERT INTO resources (key, type, id, name, subscription_id, resource_group, location, body, etag)
       VALUES ('old', 'packetCapture', 'old', 'old', 's', 'g', 'l', $1, 'e')`,
      [JSON.stringify(body)],
    );
    await migrate(db);
    const store = new Store(db);
    assert.equal((await store.findCaptureByUid('old-uid'))?.key, 'old');
    assert.equal(await store.countActiveCaptures('s', 'l'), 1);
  } finally {
    await db.close();
  }
});

for (const engine of TEST_ENGINES) {
  test(
    `the metric-once migration on ${engine}: repeated samples reduced to one, minutes the roll-up will make again removed, the rest kept`,
    { skip: engine === 'postgres' && !havePostgres },
    async () => {
      const { db, drop } = await openTestDatabase(engine, { migrated: false });
      try {
        // The schema as it was before (every migration but the last), with a host's samples in it.
        const last = MIGRATIONS.length - 1;
        await db.query(
          'CREATE TABLE schema_migrations (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())',
        );
        for (let i = 0; i < last; i++) {
          for (const statement of MIGRATIONS[i]!.split(/;\s*$/m)
            .map((x) => x.trim())
            .filter(Boolean))
            await db.query(statement);
          await db.query('INSERT INTO schema_migrations (version) VALUES ($1)', [i + 1]);
        }
        await db.query(`INSERT INTO metric_hosts (vm_key) VALUES ('oldvm')`);
        // 00:00:01 twice (an old replica took a sample twice), 00:00:02 once.
        await db.query(
          `INSERT INTO metric_raw (host_id, at, v) SELECT id, t::timestamptz, ARRAY[1]::float8[] FROM metric_hosts,
         unnest(ARRAY['2026-03-01T00:05:01Z', '2026-03-01T00:05:01Z', '2026-03-01T00:05:02Z']) AS t`,
        );
        // Queries read reports from 00:05 on: the minute before stays, the one at 00:05 (made from memory) goes.
        await db.query(`INSERT INTO server_settings (name, value) VALUES ('metric-raw-since', '2026-03-01T00:05:00Z')`);
        await db.query(
          `INSERT INTO metric_minutes (host_id, minute, n, total, lo, hi) SELECT id, m::timestamptz, ARRAY[60], ARRAY[60]::float8[], ARRAY[1]::float8[], ARRAY[1]::float8[]
         FROM metric_hosts, unnest(ARRAY['2026-03-01T00:04:00Z', '2026-03-01T00:05:00Z']) AS m`,
        );
        await migrate(db);
        const raw = await db.query(`SELECT count(*)::int AS n FROM metric_raw`);
        assert.equal(Number(raw[0]!.n), 2, 'one row per (host, time)');
        const minutes = await db.query(`SELECT (extract(epoch FROM minute) * 1000)::float8 AS m FROM metric_minutes`);
        assert.deepEqual(
          minutes.map((r) => new Date(Number(r.m)).toISOString()),
          ['2026-03-01T00:04:00.000Z'],
        );
        // From now on a repeat is skipped, and the roll-up makes the minute from the stored rows.
        const store = new Store(db);
        await store.insertMetricSamples([
          { vmKey: 'oldvm', at: new Date('2026-03-01T00:05:02Z'), metrics: { 'TCP Segments Sent': 1 } },
        ]);
        assert.equal(Number((await db.query(`SELECT count(*)::int AS n FROM metric_raw`))[0]!.n), 2);
        assert.equal(await store.advanceMetricRawSince(new Date('2026-03-01T00:06:00Z')), 1);
        const w = await store.aggregateMetricWindow(
          ['oldvm'],
          'TCP Segments Sent',
          new Date('2026-03-01T00:04:00Z'),
          new Date('2026-03-01T00:06:00Z'),
        );
        assert.equal(w.get('oldvm')?.count, 62, 'the kept minute (60) and the two samples, once each');
      } finally {
        await drop();
      }
    },
  );
}
