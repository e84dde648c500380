import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openTestDatabase, postgresAvailable, testDatabaseName, TEST_DATABASE_URL } from './engines.js';
import pg from 'pg';

test('a test database is named after NW_TEST_DATABASE_PREFIX and its kind, or nw_<kind> without one', () => {
  assert.match(testDatabaseName('replicas', 'nw_alice'), new RegExp(`^nw_alice_replicas_${process.pid}_[0-9a-f]{8}$`));
  assert.match(testDatabaseName('rbac', ''), new RegExp(`^nw_rbac_${process.pid}_[0-9a-f]{8}$`));
  assert.match(testDatabaseName('test', ''), /^nw_test_/);
  assert.notEqual(testDatabaseName('test', 'nw_a'), testDatabaseName('test', 'nw_a'));
});

test('a prefix that cannot go into CREATE DATABASE unquoted is a named error, not ignored', () => {
  for (const bad of ['NW_Alice', 'nw-alice', '1nw', 'nw; DROP DATABASE postgres'])
    assert.throws(() => testDatabaseName('test', bad), /NW_TEST_DATABASE_PREFIX must be a lower-case identifier/);
  assert.throws(() => testDatabaseName('Bad kind', 'nw'), /kind is a lower-case identifier/);
});

test('openTestDatabase creates its PostgreSQL database under the prefix and drops it', async (t) => {
  if (!(await postgresAvailable())) return t.skip('no PostgreSQL');
  // The session's own prefix (not overridden: the run may share its PostgreSQL with others).
  const mine = `${process.env.NW_TEST_DATABASE_PREFIX || 'nw'}_test_${process.pid}_`;
  const admin = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await admin.connect();
  const named = async () =>
    ((await admin.query('SELECT datname FROM pg_database')).rows as Array<{ datname: string }>)
      .map((r) => r.datname)
      .filter((d) => d.startsWith(mine));
  try {
    const { drop } = await openTestDatabase('postgres');
    try {
      assert.equal((await named()).length, 1);
    } finally {
      await drop();
    }
    assert.deepEqual(await named(), []);
  } finally {
    await admin.end();
  }
});
