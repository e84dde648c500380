/**
 * PGlite in a worker thread behind the same `Db` interface as `openPglite`. PGlite is PostgreSQL
 * compiled to WASM: in-thread, every statement runs on the server's only JavaScript thread, so a
 * reconnect storm of thousands of agents has its WebSocket handshakes wait behind queries
 * (issue 17 §2: 88–102 % of a core on the server thread). Here the worker owns the instance and
 * the server thread only posts statements and receives rows.
 *
 * PGlite's own worker (`@electric-sql/pglite/worker`) is not used: it is written for browsers
 * (`navigator.locks`, BroadcastChannel leader election, the worker's global `postMessage`) — Node 20
 * has no `navigator` — and it carries a failure back as its message alone, losing the SQLSTATE
 * that the store and `translateDatabaseError` read.
 *
 * Values cross by structured clone: strings, numbers, booleans, null, bigint, Date, arrays, plain
 * objects and typed arrays arrive as they left; a Buffer arrives as a Uint8Array (which is what
 * PGlite returns for bytea and accepts as a bytea parameter anyway).
 */
import { mkdirSync } from 'node:fs';
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { translateDatabaseError, type Db, type Row } from './db.js';

/** What the worker is started with. */
export interface PgliteThreadData {
  /** The database folder, or null for an in-memory database. */
  dataDir: string | null;
}

/** A statement or a transaction step, from the server thread to the worker. */
export type PgliteRequest =
  | { id: number; kind: 'query'; sql: string; params: unknown[] }
  | { id: number; kind: 'begin' }
  | { id: number; kind: 'txQuery'; txId: number; sql: string; params: unknown[] }
  | { id: number; kind: 'commit' | 'rollback'; txId: number }
  | { id: number; kind: 'close' };

/** A failure as it crosses the thread boundary (structured clone drops an Error's own fields). */
export interface SerializedError {
  /** Whether it was an Error (PGlite's engine also throws bare errno objects without a message). */
  isError: boolean;
  name: string | undefined;
  message: string | undefined;
  stack: string | undefined;
  /** Own scalar fields: `code` (SQLSTATE), `detail`, `constraint`, `errno`… */
  fields: Record<string, string | number | boolean | null>;
}

/** The worker's answer to request `id` (0: the instance is ready, or failed to open). */
export type PgliteReply = { id: number; rows: Row[] } | { id: number; error: SerializedError };

/** Rebuilds a failure with the fields the store and `translateDatabaseError` read. */
function deserializeError(e: SerializedError): unknown {
  if (!e.isError) {
    const plain: Record<string, unknown> = { ...e.fields };
    if (e.name !== undefined) plain.name = e.name;
    if (e.message !== undefined) plain.message = e.message;
    return plain;
  }
  const error = new Error(e.message ?? '');
  Object.assign(error, e.fields);
  if (e.name !== undefined) error.name = e.name;
  if (e.stack !== undefined) error.stack = e.stack;
  return error;
}

/** Starts the worker entry: compiled JavaScript as is, TypeScript sources through tsx. */
function startThread(data: PgliteThreadData): Worker {
  const here = fileURLToPath(import.meta.url);
  const entry = fileURLToPath(new URL(`./pglite-thread${extname(here)}`, import.meta.url));
  if (extname(here) !== '.ts') return new Worker(entry, { workerData: data });
  // From source (NW_FROM_SOURCE=1, tests under `--import tsx`): on Node 20 ESM loader hooks are
  // neither inherited by a worker nor registrable inside one, so the entry goes through tsx's
  // CommonJS hook.
  const tsx = fileURLToPath(import.meta.resolve('tsx/cjs/api'));
  return new Worker(`require(${JSON.stringify(tsx)}).register(); require(${JSON.stringify(entry)});`, {
    eval: true,
    workerData: data,
  });
}

/**
 * Opens PGlite in a worker thread, in a folder (created if missing) or in memory when dataDir is
 * null. Same contract as `openPglite`: one session; a transaction holds it until it ends (other
 * statements wait in the worker), and its handle's own `transaction` runs on the same session.
 *
 * @example
 *   const db = await openPgliteWorker('./nw-data/db');
 *   await db.transaction(async (tx) => tx.query('INSERT INTO settings (key, value) VALUES ($1, $2)', ['a', '1']));
 */
export async function openPgliteWorker(dataDir: string | null): Promise<Db> {
  if (dataDir) {
    try {
      mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    } catch (error) {
      throw translateDatabaseError(error, dataDir);
    }
  }
  const worker = startThread({ dataDir });
  const pending = new Map<number, { resolve(rows: Row[]): void; reject(error: unknown): void }>();
  let nextId = 1;
  let stopped: unknown = null;
  const failAll = (error: unknown): void => {
    stopped ??= error;
    for (const p of pending.values()) p.reject(stopped);
    pending.clear();
  };
  const ready = new Promise<void>((resolve, reject) => {
    pending.set(0, { resolve: () => resolve(), reject });
  });
  worker.on('message', (reply: PgliteReply) => {
    const p = pending.get(reply.id);
    if (!p) return;
    pending.delete(reply.id);
    if (pending.size === 0) worker.unref();
    if ('error' in reply) p.reject(deserializeError(reply.error));
    else p.resolve(reply.rows);
  });
  // The engine died (WASM abort, out of memory) or the thread ended: every waiting statement fails
  // as the engine dying in-thread would, which translateDatabaseError names DatabaseUnavailable.
  worker.on('error', (error) => failAll(Object.assign(error, { name: 'RuntimeError' })));
  worker.on('exit', (exitCode) =>
    failAll(
      Object.assign(new Error(`the embedded database's thread exited (code ${exitCode})`), { name: 'RuntimeError' }),
    ),
  );
  const send = (request: PgliteRequest): Promise<Row[]> =>
    new Promise<Row[]>((resolve, reject) => {
      if (stopped) return reject(stopped);
      pending.set(request.id, { resolve, reject });
      // An idle PGlite does not keep the process alive in-thread: nor does its thread here.
      worker.ref();
      worker.postMessage(request);
    }).catch((error: unknown) => {
      throw translateDatabaseError(error, dataDir);
    });
  try {
    await ready;
  } catch (error) {
    await worker.terminate();
    throw translateDatabaseError(error, dataDir);
  }

  const inTransaction = (txId: number): Db => {
    const tx: Db = {
      engine: 'pglite',
      query: async <T extends Row>(sql: string, params: unknown[] = []) =>
        (await send({ id: nextId++, kind: 'txQuery', txId, sql, params })) as T[],
      // PGlite is one session: a nested transaction runs on the same handle (as in-thread).
      transaction: async (fn) => fn(tx),
      close: async () => {},
    };
    return tx;
  };
  let closing: Promise<void> | null = null;
  return {
    engine: 'pglite',
    query: async <T extends Row>(sql: string, params: unknown[] = []) =>
      (await send({ id: nextId++, kind: 'query', sql, params })) as T[],
    async transaction(fn) {
      const txId = nextId++;
      await send({ id: txId, kind: 'begin' });
      let result;
      try {
        result = await fn(inTransaction(txId));
      } catch (error) {
        await send({ id: nextId++, kind: 'rollback', txId }).catch(() => {});
        throw error;
      }
      await send({ id: nextId++, kind: 'commit', txId });
      return result;
    },
    close() {
      closing ??= (async () => {
        if (!stopped) await send({ id: nextId++, kind: 'close' }).catch(() => {});
        await worker.terminate();
      })();
      return closing;
    },
  };
}
