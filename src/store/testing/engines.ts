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
  // NW_TEST_DATABASE_PREFIX: several sessions sharing one PostgreSQL tell their databases apart.
  const prefix = /^[a-z_][a-z0-9_]*$/.test(process.env.NW_TEST_DATABASE_PREFIX ?? '')
    ? process.env.NW_TEST_DATABASE_PREFIX!
    : 'nw_test';
  const name = `${prefix}_${process.pid}_${randomBytes(4).toString('hex')}`;
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
