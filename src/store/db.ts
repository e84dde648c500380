import { mkdirSync } from 'node:fs';
import { PGlite } from '@electric-sql/pglite';
import pg from 'pg';

/** A row set from a query. */
export type Row = Record<string, unknown>;

/**
 * The database as the store uses it: PostgreSQL SQL with `$1` parameters. Two engines speak it:
 * PGlite (PostgreSQL compiled to WASM, in-process, the embedded default) and a real PostgreSQL
 * server (`NW_DATABASE_URL`) for several server replicas. The same SQL runs on both.
 */
export interface Db {
  readonly engine: 'pglite' | 'postgres';
  query<T extends Row = Row>(sql: string, params?: unknown[]): Promise<T[]>;
  /** Runs `fn` in one transaction; rolls back when it throws. */
  transaction<T>(fn: (tx: Db) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

/** Opens PGlite in a folder (created if missing), or in memory when dataDir is null. */
export async function openPglite(dataDir: string | null): Promise<Db> {
  if (dataDir) mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const lite = dataDir ? new PGlite(dataDir) : new PGlite();
  await lite.waitReady;
  const wrap = (q: Pick<PGlite, 'query'>): Db => ({
    engine: 'pglite',
    async query<T extends Row>(sql: string, params: unknown[] = []) {
      return (await q.query<T>(sql, params)).rows;
    },
    // PGlite is one connection: a nested transaction would deadlock, so a transaction's own
    // handle runs its queries directly.
    transaction: async (fn) => fn(wrap(q)),
    close: async () => {},
  });
  return {
    ...wrap(lite),
    transaction: (fn) => lite.transaction((tx) => fn(wrap(tx))),
    close: () => lite.close(),
  };
}

/** Connects to PostgreSQL with a connection URL. */
export async function openPostgres(url: string): Promise<Db> {
  const pool = new pg.Pool({ connectionString: url, max: 10 });
  // An idle connection cut by the database (restart, failover) is reported on the pool; without a
  // listener Node treats it as an uncaught error and the server dies. The pool replaces the client.
  pool.on('error', (error) => {
    process.emitWarning(`PostgreSQL connection lost: ${error.message}`, { code: 'NW_DB_CONNECTION_LOST' });
  });
  await pool.query('select 1');
  const wrap = (q: pg.Pool | pg.PoolClient): Db => ({
    engine: 'postgres',
    async query<T extends Row>(sql: string, params: unknown[] = []) {
      return (await q.query(sql, params)).rows as T[];
    },
    transaction: async (fn) => fn(wrap(q)),
    close: async () => {},
  });
  return {
    ...wrap(pool),
    async transaction(fn) {
      const client = await pool.connect();
      try {
        await client.query('BEGIN');
        const result = await fn(wrap(client));
        await client.query('COMMIT');
        return result;
      } catch (error) {
        await client.query('ROLLBACK').catch(() => {});
        throw error;
      } finally {
        client.release();
      }
    },
    close: () => pool.end(),
  };
}
