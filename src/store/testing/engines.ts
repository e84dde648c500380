/**
 * The two database engines for tests: PGlite in memory, and a fresh database on the test
 * machine's PostgreSQL (NW_TEST_DATABASE_URL, default postgres://postgres@127.0.0.1:5432/postgres),
 * dropped afterwards. CI requires PostgreSQL (CI=true or NW_REQUIRE_POSTGRES=1); a developer
 * machine without one skips the PostgreSQL half with a notice.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { openPglite, openPostgres, type Db } from '../db.js';
import { openPgliteWorker } from '../pglite-worker.js';
import { migrate } from '../migrations.js';

/** Where the tests' PostgreSQL server is. */
export const TEST_DATABASE_URL = process.env.NW_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

/** The engines to run store tests on. */
export const TEST_ENGINES = ['pglite', 'postgres'] as const;

let available: Promise<boolean> | undefined;

/** Whether the PostgreSQL half runs: always in CI, elsewhere when a server answers. */
export function postgresAvailable(): Promise<boolean> {
  available ??= (async () => {
    if (process.env.CI === 'true' || process.env.NW_REQUIRE_POSTGRES === '1') return true;
    const c = new pg.Client({ connectionString: TEST_DATABASE_URL, connectionTimeoutMillis: 2000 });
    try {
      await c.connect();
      await c.end();
      return true;
    } catch {
      console.log(
        `# PostgreSQL tests skipped: no server at ${TEST_DATABASE_URL} (set NW_TEST_DATABASE_URL; CI requires it)`,
      );
      return false;
    }
  })();
  return available;
}

/**
 * A fresh database name for a test: `<prefix>_<kind>_<pid>_<random>`, the prefix being
 * NW_TEST_DATABASE_PREFIX (several sessions sharing one PostgreSQL tell their databases apart,
 * and each drops what it left) or `nw` when it is unset or empty; a prefix that is not a plain lower-case
 * identifier (it goes into CREATE DATABASE unquoted) is an error, not ignored.
 * @example
 * testDatabaseName('replicas', 'nw_alice') // 'nw_alice_replicas_1234_9f8e7d6c'
 */
export function testDatabaseName(kind: string, prefix = process.env.NW_TEST_DATABASE_PREFIX): string {
  const chosen = testDatabasePrefix(prefix);
  if (!/^[a-z][a-z0-9_]*$/.test(kind))
    throw new Error(`a test database's kind is a lower-case identifier, not ${JSON.stringify(kind)}`);
  return `${chosen}_${kind}_${process.pid}_${randomBytes(4).toString('hex')}`;
}

/**
 * The prefix of this run's test databases (see {@link testDatabaseName}), for a helper that names
 * several databases itself (bench/scale's replica set).
 * @example `${testDatabasePrefix()}_metricack` // 'nw_metricack' when NW_TEST_DATABASE_PREFIX is unset
 */
export function testDatabasePrefix(prefix = process.env.NW_TEST_DATABASE_PREFIX): string {
  const chosen = prefix === undefined || prefix === '' ? 'nw' : prefix;
  if (!/^[a-z_][a-z0-9_]*$/.test(chosen))
    throw new Error(
      `NW_TEST_DATABASE_PREFIX must be a lower-case identifier ([a-z_][a-z0-9_]*), not ${JSON.stringify(chosen)}`,
    );
  return chosen;
}

/** A migrated, empty database on an engine (with `migrated: false`, not even migrated: a test of the migrations), and how to throw it away. */
export async function openTestDatabase(
  engine: (typeof TEST_ENGINES)[number],
  options: { migrated?: boolean } = {},
): Promise<{ db: Db; drop(): Promise<void> }> {
  const migrated = options.migrated ?? true;
  if (engine === 'pglite') {
    // NW_TEST_PGLITE_THREAD=worker: the same tests on PGlite in a worker thread (the server's default).
    const db = process.env.NW_TEST_PGLITE_THREAD === 'worker' ? await openPgliteWorker(null) : await openPglite(null);
    if (migrated) await migrate(db);
    return { db, drop: () => db.close() };
  }
  const name = testDatabaseName('test');
  const admin = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  const url = new URL(TEST_DATABASE_URL);
  url.pathname = `/${name}`;
  const db = await openPostgres(url.toString());
  if (migrated) await migrate(db);
  return {
    db,
    async drop() {
      await db.close();
      await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await admin.end();
    },
  };
}
