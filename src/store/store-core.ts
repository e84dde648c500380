// What the store's aggregates (resources.ts, tokens.ts, operations.ts, …) share: the database they
// run on, the secret key, the way to a transaction, row conversions and the batching options.
import type { Db, Row } from './db.js';
import type { SecretBox } from './secrets.js';
import type { StatementBatcherOptions } from './batch.js';
import type { Store } from './store.js';

/** What every aggregate of a {@link Store} is built on. */
export interface StoreCore {
  readonly db: Db;
  /** Seals resource secrets and secret settings; null: stored as given. */
  readonly secrets: SecretBox | null;
  /**
   * Whether the hot lookups and inserts of the API's create path (a capture fan-out, issue 17)
   * share statements with concurrent calls (batch.ts). False in a store bound to a transaction,
   * whose statements run one by one on its own connection.
   */
  readonly batch: boolean;
  /** Runs `fn` with the whole store bound to one transaction. */
  transaction<T>(fn: (store: Store) => Promise<T>): Promise<T>;
}

/** A timestamp column as a Date, whichever form the driver hands over. */
export const asDate = (v: unknown): Date => (v instanceof Date ? v : new Date(String(v)));
/** A jsonb column as a value, whichever form the driver hands over. */
export const asJson = (v: unknown): unknown => (typeof v === 'string' ? JSON.parse(v) : v);

/** Calls per batched read, and runs of one statement in flight at once. */
export const READ_BATCH: StatementBatcherOptions = { maxCallsPerRun: 500, maxRunsInFlight: 2 };
/** Calls per batched write (a failed run is retried call by call). */
export const WRITE_BATCH: StatementBatcherOptions = { maxCallsPerRun: 200, maxRunsInFlight: 2, retryAlone: true };
/** As {@link WRITE_BATCH}, with one call per key in a run (the later ones wait for the next). */
export const UPDATE_BATCH: StatementBatcherOptions = { ...WRITE_BATCH, oneCallPerKey: true };

/**
 * A row for each of its callers: the first gets the row as read, the others their own copy (the
 * drivers hand over parsed JSON, and two requests must never share a body one of them changes).
 */
export const own = (row: Row, nth: number): Row => (nth === 0 ? row : structuredClone(row));
/** As {@link own}, for a list of rows. */
export const ownRows = (rows: Row[], nth: number): Row[] => (nth === 0 ? rows : structuredClone(rows));

/** Rows grouped by a column, in the order read. */
export function groupBy(rows: Row[], column: (r: Row) => string): Map<string, Row[]> {
  const out = new Map<string, Row[]>();
  for (const r of rows) {
    const k = column(r);
    const list = out.get(k);
    if (list) list.push(r);
    else out.set(k, [r]);
  }
  return out;
}
