import { randomUUID } from 'node:crypto';
import type { Db, Row } from './db.js';
import type { OperationStatusValue } from '../model/stored-bodies.js';
import { StatementBatcher } from './batch.js';
import { asDate, asJson, own, READ_BATCH, UPDATE_BATCH, WRITE_BATCH, type StoreCore } from './store-core.js';

/**
 * What an operation document tracks: a capture's create, stop or delete (finished when the hosts
 * report), or an agent extension's install (finished at once).
 */
export type OperationKind = 'create' | 'stop' | 'delete' | 'extension';

/** A new operation document: InProgress unless a status is given. */
export interface NewOperation {
  subscriptionId: string;
  location: string;
  kind: OperationKind;
  resourceKey: string | null;
  status?: OperationRecord['status'];
  result?: unknown;
}

/** An ARM long-running operation document. */
export interface OperationRecord {
  id: string;
  subscriptionId: string;
  location: string;
  kind: OperationKind;
  resourceKey: string | null;
  status: OperationStatusValue;
  error: { code: string; message: string } | null;
  result: unknown;
  createdAt: Date;
  updatedAt: Date;
}

function toOperation(r: Row): OperationRecord {
  return {
    id: String(r.id),
    subscriptionId: String(r.subscription_id),
    location: String(r.location),
    kind: r.kind as OperationKind,
    resourceKey: (r.resource_key as string | null) ?? null,
    status: r.status as OperationRecord['status'],
    error: (asJson(r.error) as OperationRecord['error']) ?? null,
    result: asJson(r.result) ?? null,
    createdAt: asDate(r.created_at),
    updatedAt: asDate(r.updated_at),
  };
}

/** ARM long-running operation documents: the {@link Store}'s operation methods. */
export class OperationQueries {
  private readonly batches: OperationBatches | null;

  constructor(private readonly core: StoreCore) {
    this.batches = core.batch ? operationBatches(core.db) : null;
  }

  /** Creates an operation document. */
  async createOperation(op: NewOperation): Promise<OperationRecord> {
    if (this.batches) {
      const id = randomUUID();
      return toOperation(
        await this.batches.insertOperation.call(id, {
          id,
          subscription_id: op.subscriptionId,
          location: op.location,
          kind: op.kind,
          resource_key: op.resourceKey?.toLowerCase() ?? null,
          status: op.status ?? 'InProgress',
          result: op.result === undefined ? null : JSON.stringify(op.result),
        }),
      );
    }
    const rows = await this.core.db.query(
      'INSERT INTO operations (id, subscription_id, location, kind, resource_key, status, result) VALUES ($1,$2,$3,$4,$5,$6,$7) RETURNING *',
      [
        randomUUID(),
        op.subscriptionId,
        op.location,
        op.kind,
        op.resourceKey?.toLowerCase() ?? null,
        op.status ?? 'InProgress',
        op.result === undefined ? null : JSON.stringify(op.result),
      ],
    );
    return toOperation(rows[0]!);
  }

  /** Gets an operation document. */
  async getOperation(id: string): Promise<OperationRecord | null> {
    const rows = await this.core.db.query('SELECT * FROM operations WHERE id = $1', [id]);
    return rows[0] ? toOperation(rows[0]) : null;
  }

  /** Finishes every in-progress operation of a kind on a resource. */
  async finishOperations(
    resourceKey: string,
    kind: OperationKind,
    outcome: { status: 'Succeeded' | 'Failed'; error?: { code: string; message: string }; result?: unknown },
  ): Promise<number> {
    if (this.batches) {
      return this.batches.finishOperations.call(`${resourceKey.toLowerCase()}\n${kind}`, {
        resource_key: resourceKey.toLowerCase(),
        kind,
        status: outcome.status,
        error: outcome.error ? JSON.stringify(outcome.error) : null,
        result: outcome.result === undefined ? null : JSON.stringify(outcome.result),
      });
    }
    const rows = await this.core.db.query(
      `UPDATE operations SET status = $3, error = $4, result = COALESCE($5, result), updated_at = now()
       WHERE resource_key = $1 AND kind = $2 AND status = 'InProgress' RETURNING id`,
      [
        resourceKey.toLowerCase(),
        kind,
        outcome.status,
        outcome.error ? JSON.stringify(outcome.error) : null,
        outcome.result === undefined ? null : JSON.stringify(outcome.result),
      ],
    );
    return rows.length;
  }

  /** The newest operation of a kind on a resource, finished or not. */
  async latestOperation(resourceKey: string, kind: OperationKind): Promise<OperationRecord | null> {
    if (this.batches) {
      const row = await this.batches.latestOperation.call(`${resourceKey.toLowerCase()}\n${kind}`, [
        resourceKey.toLowerCase(),
        kind,
      ]);
      return row ? toOperation(row) : null;
    }
    const rows = await this.core.db.query(
      'SELECT * FROM operations WHERE resource_key = $1 AND kind = $2 ORDER BY created_at DESC LIMIT 1',
      [resourceKey.toLowerCase(), kind],
    );
    return rows[0] ? toOperation(rows[0]) : null;
  }

  /** In-progress operations of a kind on a resource. */
  async pendingOperations(resourceKey: string, kind: OperationKind): Promise<OperationRecord[]> {
    const rows = await this.core.db.query(
      `SELECT * FROM operations WHERE resource_key = $1 AND kind = $2 AND status = 'InProgress'`,
      [resourceKey.toLowerCase(), kind],
    );
    return rows.map(toOperation);
  }
}

/** The batched statements of the operations. */
interface OperationBatches {
  latestOperation: StatementBatcher<Row | null, [string, string]>;
  insertOperation: StatementBatcher<Row, Record<string, unknown>>;
  finishOperations: StatementBatcher<number, Record<string, unknown>>;
}

/**
 * The batched statements of the operations on one database. In the multi-row insert each row's
 * `clock_timestamp()` is its own, so rows keep their callers' order in time.
 */
function operationBatches(db: Db): OperationBatches {
  return {
    latestOperation: new StatementBatcher(async (keys, inputs) => {
      const rows = new Map(
        (
          await db.query(
            `SELECT DISTINCT ON (o.resource_key, o.kind) o.* FROM operations o JOIN unnest($1::text[], $2::text[]) AS w(resource_key, kind) ON o.resource_key = w.resource_key AND o.kind = w.kind
         ORDER BY o.resource_key, o.kind, o.created_at DESC`,
            [inputs.map((i) => i[0]), inputs.map((i) => i[1])],
          )
        ).map((r) => [`${String(r.resource_key)}\n${String(r.kind)}`, r]),
      );
      return (key, nth) => {
        const r = rows.get(key);
        return r ? own(r, nth) : null;
      };
    }, READ_BATCH),
    insertOperation: new StatementBatcher(async (ids, inputs) => {
      const rows = new Map(
        (
          await db.query(
            `INSERT INTO operations (id, subscription_id, location, kind, resource_key, status, result, created_at, updated_at)
         SELECT id, subscription_id, location, kind, resource_key, status, result::jsonb, at, at
           FROM (SELECT t.*, clock_timestamp() AS at FROM jsonb_to_recordset($1::jsonb) AS t(id text, subscription_id text, location text, kind text,
             resource_key text, status text, result text)) AS s
         RETURNING *`,
            [JSON.stringify(inputs)],
          )
        ).map((r) => [String(r.id), r]),
      );
      return (id) => rows.get(id)!;
    }, WRITE_BATCH),
    finishOperations: new StatementBatcher(async (keys, inputs) => {
      const finished = new Map<string, number>();
      for (const r of await db.query(
        `UPDATE operations o SET status = w.status, error = w.error::jsonb, result = COALESCE(w.result::jsonb, o.result), updated_at = now()
           FROM jsonb_to_recordset($1::jsonb) AS w(resource_key text, kind text, status text, error text, result text)
         WHERE o.resource_key = w.resource_key AND o.kind = w.kind AND o.status = 'InProgress' RETURNING o.resource_key, o.kind`,
        [JSON.stringify(inputs)],
      )) {
        const key = `${String(r.resource_key)}\n${String(r.kind)}`;
        finished.set(key, (finished.get(key) ?? 0) + 1);
      }
      return (key) => finished.get(key) ?? 0;
    }, UPDATE_BATCH),
  };
}
