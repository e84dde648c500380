/**
 * The worker-thread side of `openPgliteWorker` (pglite-worker.ts): owns the PGlite instance and
 * runs the statements the server thread sends, so that PostgreSQL's WASM execution no longer
 * competes with the server's sockets for the one JavaScript thread. Loaded only as a worker entry.
 *
 * A transaction is PGlite's own `transaction(fn)`, held open until the server thread says
 * `commit` or `rollback`: PGlite's mutex makes every other statement (and every other `begin`)
 * wait here until it ends, exactly as it does in-thread.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { PGlite, type Transaction } from '@electric-sql/pglite';
import type { Row } from './db.js';
import type { PgliteReply, PgliteRequest, PgliteThreadData, SerializedError } from './pglite-worker.js';

/** Own fields of a failure worth carrying back (SQLSTATE, constraint, detail, errno of an FS error…). */
function serializeError(error: unknown): SerializedError {
  const isError = error instanceof Error;
  const e = (typeof error === 'object' && error !== null ? error : { message: String(error) }) as Record<
    string,
    unknown
  >;
  const fields: Record<string, string | number | boolean | null> = {};
  for (const [k, v] of Object.entries(e)) {
    if (v === null || ['string', 'number', 'boolean'].includes(typeof v))
      fields[k] = v as string | number | boolean | null;
  }
  return {
    isError,
    name: typeof e.name === 'string' ? e.name : undefined,
    message: typeof e.message === 'string' ? e.message : undefined,
    stack: isError ? error.stack : undefined,
    fields,
  };
}

/** An open transaction: its handle and how to end it. */
interface OpenTransaction {
  tx: Transaction;
  end(commit: boolean): void;
  /** Settles when PGlite has run COMMIT or ROLLBACK (or failed to). */
  done: Promise<unknown>;
}

async function main(): Promise<void> {
  const port = parentPort!;
  const { dataDir } = workerData as PgliteThreadData;
  const reply = (message: PgliteReply): void => port.postMessage(message);
  let lite: PGlite;
  try {
    lite = dataDir ? new PGlite(dataDir) : new PGlite();
    await lite.waitReady;
  } catch (error) {
    reply({ id: 0, error: serializeError(error) });
    return;
  }
  const open = new Map<number, OpenTransaction>();
  const run = async (request: PgliteRequest): Promise<PgliteReply> => {
    switch (request.kind) {
      case 'query':
        return { id: request.id, rows: (await lite.query<Row>(request.sql, request.params)).rows };
      case 'txQuery': {
        const t = open.get(request.txId);
        if (!t) throw new Error(`transaction ${request.txId} is not open`);
        return { id: request.id, rows: (await t.tx.query<Row>(request.sql, request.params)).rows };
      }
      case 'begin': {
        // Resolves once PGlite has started the transaction (after any other one has ended).
        const started = await new Promise<OpenTransaction>((resolveStarted, rejectStarted) => {
          let end!: (commit: boolean) => void;
          const ended = new Promise<boolean>((r) => (end = r));
          let began = false;
          const done = lite
            .transaction(async (tx) => {
              began = true;
              resolveStarted({ tx, end, done });
              // PGlite commits when this returns and rolls back when it throws.
              if (!(await ended)) throw ROLLBACK;
            })
            .catch((error: unknown) => {
              if (error === ROLLBACK) return;
              // Before the start, BEGIN failed: that is the answer to `begin`; after, COMMIT's.
              if (!began) return rejectStarted(error);
              throw error;
            });
        });
        open.set(request.id, started);
        return { id: request.id, rows: [] };
      }
      case 'commit':
      case 'rollback': {
        const t = open.get(request.txId);
        if (!t) throw new Error(`transaction ${request.txId} is not open`);
        open.delete(request.txId);
        t.end(request.kind === 'commit');
        await t.done;
        return { id: request.id, rows: [] };
      }
      case 'close':
        await lite.close();
        return { id: request.id, rows: [] };
    }
  };
  port.on('message', (request: PgliteRequest) => {
    run(request).then(reply, (error: unknown) => reply({ id: request.id, error: serializeError(error) }));
  });
  reply({ id: 0, rows: [] });
}

/** Thrown inside PGlite's transaction callback to make it roll back. */
const ROLLBACK = Symbol('rollback');

void main();
