import { mkdirSync, statfsSync } from 'node:fs';
import { PGlite } from '@electric-sql/pglite';
import pg from 'pg';
import { ApiError } from '../lib/index.js';

/** Below this much free space under the embedded database, a failure of the engine is taken for a full disk. */
const LOW_FREE_SPACE_IN_BYTES = 16 * 1024 * 1024;

/** Free bytes of the file system under `path`, or null when it cannot be read. */
function freeBytesUnder(path: string): number | null {
  try {
    const st = statfsSync(path);
    return Number(st.bavail) * Number(st.bsize);
  } catch {
    return null;
  }
}

/**
 * A database failure the caller cannot fix by changing the request, as the API's closed error
 * set names it: `StorageFull` (PostgreSQL's disk_full, SQLSTATE 53100, or "No space left on
 * device"; and PGlite dying — its WASM runtime answers a failed write with a bare `Aborted()` or
 * an errno object without a message — while the disk under it is almost full) or
 * `DatabaseUnavailable` (the engine stopped, the server cannot be reached). Any other error
 * (a constraint, a syntax error) is returned unchanged. `dataDir` is the embedded database's
 * folder, for the free-space check and the message.
 */
export function translateDatabaseError(error: unknown, dataDir: string | null): unknown {
  if (error instanceof ApiError) return error;
  const e = error as { code?: unknown; message?: unknown; name?: unknown; errno?: unknown };
  const message = typeof e.message === 'string' && e.message ? e.message : String(e.name ?? 'unknown failure');
  const where = dataDir ? ` under ${dataDir}` : '';
  const free = dataDir ? freeBytesUnder(dataDir) : null;
  const full = e.code === '53100' || /no space left on device|ENOSPC|disk full/i.test(message) || e.errno === 28;
  const engineDied =
    !isSqlError(e) &&
    (/Aborted\(|RuntimeError|ErrnoError|unreachable/.test(`${String(e.name)} ${message}`) || e.message === undefined);
  if (full || (engineDied && free !== null && free < LOW_FREE_SPACE_IN_BYTES)) {
    return new ApiError(
      'StorageFull',
      `The database cannot write: the disk${where} is full (${message}${free !== null ? `; ${free} bytes free` : ''}). Free space there and retry.`,
      { cause: error },
    );
  }
  const unreachable =
    [
      'ECONNREFUSED',
      'ECONNRESET',
      'ETIMEDOUT',
      'ENOTFOUND',
      'EHOSTUNREACH',
      '57P01',
      '57P02',
      '57P03',
      '08000',
      '08003',
      '08006',
    ].includes(String(e.code)) || /Connection terminated/i.test(message);
  if (engineDied || unreachable) {
    return new ApiError(
      'DatabaseUnavailable',
      `The database is unavailable (${message}). ${dataDir ? 'The embedded database stopped; restart the server once the cause is fixed.' : 'Check that PostgreSQL is running and reachable.'}`,
      { cause: error },
    );
  }
  return error;
}

/** True for an error PostgreSQL reported about a statement (it has a five-character SQLSTATE). */
function isSqlError(e: { code?: unknown }): boolean {
  return (
    typeof e.code === 'string' &&
    /^[0-9A-Z]{5}$/.test(e.code) &&
    !e.code.startsWith('08') &&
    !e.code.startsWith('57') &&
    e.code !== '53100'
  );
}

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
  /**
   * PostgreSQL only: LISTENs on a channel on a connection of its own (reconnected when cut) and
   * calls `onNotify` with each payload; `onReconnect` after a cut (notifications may have been
   * missed). Absent on PGlite (one process: nothing to hear from).
   */
  listen?(
    channel: string,
    onNotify: (payload: string) => void,
    onReconnect?: () => void,
  ): Promise<{ close(): Promise<void> }>;
  close(): Promise<void>;
}

/**
 * Opens PGlite in a folder (created if missing), or in memory when dataDir is null, on this
 * thread. The server runs it in a worker thread instead (`openPgliteWorker`, pglite-worker.ts):
 * same contract, its WASM execution off the thread that serves the sockets.
 */
export async function openPglite(dataDir: string | null): Promise<Db> {
  let lite: PGlite;
  try {
    if (dataDir) mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    lite = dataDir ? new PGlite(dataDir) : new PGlite();
    await lite.waitReady;
  } catch (error) {
    throw translateDatabaseError(error, dataDir);
  }
  const wrap = (q: Pick<PGlite, 'query'>): Db => ({
    engine: 'pglite',
    async query<T extends Row>(sql: string, params: unknown[] = []) {
      try {
        return (await q.query<T>(sql, params)).rows;
      } catch (error) {
        throw translateDatabaseError(error, dataDir);
      }
    },
    // PGlite is one connection: a nested transaction would deadlock, so a transaction's own
    // handle runs its queries directly.
    transaction: async (fn) => fn(wrap(q)),
    close: async () => {},
  });
  return {
    ...wrap(lite),
    transaction: async (fn) => {
      try {
        return await lite.transaction((tx) => fn(wrap(tx)));
      } catch (error) {
        throw translateDatabaseError(error, dataDir);
      }
    },
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
      try {
        return (await q.query(sql, params)).rows as T[];
      } catch (error) {
        throw translateDatabaseError(error, null);
      }
    },
    transaction: async (fn) => fn(wrap(q)),
    close: async () => {},
  });
  return {
    ...wrap(pool),
    async transaction(fn) {
      const client = await pool.connect().catch((error: unknown) => {
        throw translateDatabaseError(error, null);
      });
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
    listen: (channel, onNotify, onReconnect) => listenOn(url, channel, onNotify, onReconnect),
    close: () => pool.end(),
  };
}

/** A LISTEN connection that reconnects (after a second) when the database cuts it. */
async function listenOn(
  url: string,
  channel: string,
  onNotify: (payload: string) => void,
  onReconnect?: () => void,
): Promise<{ close(): Promise<void> }> {
  if (!/^[a-z_][a-z0-9_]*$/.test(channel)) throw new Error(`invalid channel name '${channel}'`);
  let client: pg.Client | null = null;
  let closed = false;
  let retry: NodeJS.Timeout | null = null;
  const connect = async (): Promise<void> => {
    const c = new pg.Client({ connectionString: url });
    c.on('notification', (n) => {
      if (n.channel === channel) onNotify(n.payload ?? '');
    });
    c.on('error', () => {
      if (client !== c) return;
      client = null;
      void c.end().catch(() => undefined);
      if (!closed)
        retry = setTimeout(() => {
          connect().then(
            () => onReconnect?.(),
            () => undefined,
          );
        }, 1000);
    });
    try {
      await c.connect();
      await c.query(`LISTEN ${channel}`);
    } catch (error) {
      await c.end().catch(() => undefined);
      if (closed) return;
      retry = setTimeout(() => {
        connect().then(
          () => onReconnect?.(),
          () => undefined,
        );
      }, 1000);
      throw error;
    }
    if (closed) {
      await c.end().catch(() => undefined);
      return;
    }
    client = c;
  };
  await connect();
  return {
    async close() {
      closed = true;
      if (retry) clearTimeout(retry);
      const c = client;
      client = null;
      await c?.end().catch(() => undefined);
    },
  };
}
