import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { migrate } from './migrations.js';
import { Store } from './store.js';
import { openTestDatabase, postgresAvailable, TEST_ENGINES } from './testing/engines.js';

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
