import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { openPglite, openPostgres, type Db } from './db.js';
import { migrate } from './migrations.js';
import { Store } from './store.js';

/**
 * The same store tests on both engines: PGlite in memory and the PostgreSQL server of the test
 * machine (NW_TEST_DATABASE_URL, default postgres://postgres@127.0.0.1:5432/postgres). Each
 * PostgreSQL run uses a fresh database that it drops afterwards.
 */
const adminUrl = process.env.NW_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

async function freshPostgres(): Promise<{ db: Db; drop(): Promise<void> }> {
  const name = `nw_test_${process.pid}_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  const db = await openPostgres(url.toString());
  return {
    db,
    async drop() {
      await db.close();
      await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await admin.end();
    },
  };
}

/** Whether a PostgreSQL server answers; CI requires one, a developer machine may lack it. */
async function postgresReachable(): Promise<boolean> {
  const c = new pg.Client({ connectionString: adminUrl, connectionTimeoutMillis: 2000 });
  try { await c.connect(); await c.end(); return true; } catch { return false; }
}
const requirePostgres = process.env.CI === 'true' || process.env.NW_REQUIRE_POSTGRES === '1';
const havePostgres = requirePostgres || (await postgresReachable());
if (!havePostgres) console.log(`# PostgreSQL store tests skipped: no server at ${adminUrl} (set NW_TEST_DATABASE_URL; CI requires it)`);

for (const engine of ['pglite', 'postgres'] as const) {
  describe(`store on ${engine}`, { skip: engine === 'postgres' && !havePostgres }, async () => {
    let cleanup = async () => {};
    let db: Db;
    if (engine === 'pglite') {
      db = await openPglite(null);
      cleanup = () => db.close();
    } else {
      const pgdb = await freshPostgres();
      db = pgdb.db;
      cleanup = pgdb.drop;
    }
    after(() => cleanup());
    await migrate(db);
    await migrate(db); // idempotent
    const store = new Store(db);

    test('resources are keyed case-insensitively and keep the caller’s casing', async () => {
      const id = '/subscriptions/S/resourceGroups/RG/providers/Microsoft.Compute/virtualMachines/VmOne';
      const put = await store.putResource({ key: id, type: 'vm', parentKey: null, id, name: 'VmOne', subscriptionId: 'S', resourceGroup: 'RG', location: 'local', body: { a: 1 }, secret: { k: 'x' } });
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
      assert.equal(await store.upsertCaptureInstance({ captureUid: 'u1', vmKey: 'v', captureKey: 'c', state: { sequence: 2, status: 'Running' } }), true);
      assert.equal(await store.upsertCaptureInstance({ captureUid: 'u1', vmKey: 'v', captureKey: 'c', state: { sequence: 1, status: 'NotStarted' } }), false);
      assert.equal(await store.upsertCaptureInstance({ captureUid: 'u1', vmKey: 'v', captureKey: 'c', state: { sequence: 3, status: 'Stopped' } }), true);
      const [inst] = await store.listCaptureInstances<{ status: string }>('u1');
      assert.equal(inst?.state.status, 'Stopped');
    });

    test('operations finish once', async () => {
      const op = await store.createOperation({ subscriptionId: 's', location: 'l', kind: 'create', resourceKey: 'R' });
      assert.equal(op.status, 'InProgress');
      assert.equal(await store.finishOperations('r', 'create', { status: 'Failed', error: { code: 'CaptureFailed', message: 'no' } }), 1);
      assert.equal(await store.finishOperations('r', 'create', { status: 'Succeeded' }), 0);
      const got = await store.getOperation(op.id);
      assert.equal(got?.status, 'Failed');
      assert.deepEqual(got?.error, { code: 'CaptureFailed', message: 'no' });
    });

    test('transactions roll back on error', async () => {
      const id = '/subscriptions/s/resourceGroups/g/providers/P/t/rollback';
      await assert.rejects(store.transaction(async (tx) => {
        await tx.putResource({ key: id, type: 'vm', parentKey: null, id, name: 'n', subscriptionId: 's', resourceGroup: 'g', location: null, body: {} });
        throw new Error('boom');
      }));
      assert.equal(await store.getResource(id), null);
    });
  });
}
