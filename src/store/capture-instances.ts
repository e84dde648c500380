import type { Db, Row } from './db.js';
import { StatementBatcher } from './batch.js';
import { asDate, asJson, groupBy, ownRows, READ_BATCH, UPDATE_BATCH, type StoreCore } from './store-core.js';
import { INSTANCE_STATE_FIELDS } from '../model/stored-bodies.js';
import type { PacketCaptureStatus } from '../model/packet-capture.js';
import { jsonPathTextSql } from './json-path.js';

/** A host capture state's sequence, for the guard that keeps the newest state. */
const stateSequenceSql = (table: string) =>
  `(${jsonPathTextSql(`${table}.state`, [INSTANCE_STATE_FIELDS.sequence])})::bigint`;
/** The guard of every capture-state upsert: an older state (lower sequence) never replaces a newer one. */
const NEWER_STATE_ONLY = `${stateSequenceSql('capture_instances')} <= ${stateSequenceSql('EXCLUDED')}`;

/** Per-host state of one capture, as the server last heard it from the agent. */
export interface CaptureInstanceRecord<S = Record<string, unknown>> {
  captureUid: string;
  vmKey: string;
  captureKey: string;
  state: S;
  updatedAt: Date;
}

/** Per-host capture states (the `capture_instances` table): the {@link Store}'s methods for them. */
export class CaptureInstanceQueries {
  private readonly batches: CaptureInstanceBatches | null;

  constructor(private readonly core: StoreCore) {
    this.batches = core.batch ? captureInstanceBatches(core.db) : null;
  }

  /** Records a host's capture state unless a newer one (higher sequence) is already kept. Returns true if stored. */
  async upsertCaptureInstance(r: {
    captureUid: string;
    vmKey: string;
    captureKey: string;
    state: { sequence: number } & Record<string, unknown>;
  }): Promise<boolean> {
    if (this.batches) return this.batchedUpsertCaptureInstance(r, false);
    const rows = await this.core.db.query(
      `INSERT INTO capture_instances (capture_uid, vm_key, capture_key, state) VALUES ($1,$2,$3,$4)
       ON CONFLICT (capture_uid, vm_key) DO UPDATE SET state = EXCLUDED.state, updated_at = now()
         WHERE ${NEWER_STATE_ONLY}
       RETURNING capture_uid`,
      [r.captureUid, r.vmKey.toLowerCase(), r.captureKey.toLowerCase(), JSON.stringify(r.state)],
    );
    return rows.length > 0;
  }

  /**
   * As {@link Store.upsertCaptureInstance}, but only while the capture `captureKey` still exists
   * (a primary-key probe, so the capture's large body is never read): the report path of a fleet
   * capture (issue 14). False when nothing was stored (the capture is gone, or a newer state is kept).
   */
  async upsertCaptureInstanceIfCaptureExists(r: {
    captureUid: string;
    vmKey: string;
    captureKey: string;
    state: { sequence: number } & Record<string, unknown>;
  }): Promise<boolean> {
    if (this.batches) return this.batchedUpsertCaptureInstance(r, true);
    const rows = await this.core.db.query(
      `INSERT INTO capture_instances (capture_uid, vm_key, capture_key, state)
       SELECT $1, $2, $3, $4::jsonb WHERE EXISTS (SELECT 1 FROM resources WHERE key = $3)
       ON CONFLICT (capture_uid, vm_key) DO UPDATE SET state = EXCLUDED.state, updated_at = now()
         WHERE ${NEWER_STATE_ONLY}
       RETURNING capture_uid`,
      [r.captureUid, r.vmKey.toLowerCase(), r.captureKey.toLowerCase(), JSON.stringify(r.state)],
    );
    return rows.length > 0;
  }

  private batchedUpsertCaptureInstance(
    r: { captureUid: string; vmKey: string; captureKey: string; state: { sequence: number } & Record<string, unknown> },
    onlyIfCaptureExists: boolean,
  ): Promise<boolean> {
    const vmKey = r.vmKey.toLowerCase();
    return this.batches!.upsertCaptureInstance.call(`${r.captureUid}\n${vmKey}`, {
      capture_uid: r.captureUid,
      vm_key: vmKey,
      capture_key: r.captureKey.toLowerCase(),
      state: JSON.stringify(r.state),
      guard: onlyIfCaptureExists,
    });
  }

  /** Per-host states of one capture. */
  async listCaptureInstances<S>(captureUid: string): Promise<CaptureInstanceRecord<S>[]> {
    const rows = this.batches
      ? await this.batches.captureInstances.call(captureUid)
      : await this.core.db.query('SELECT * FROM capture_instances WHERE capture_uid = $1 ORDER BY vm_key', [
          captureUid,
        ]);
    return rows.map((r) => ({
      captureUid: String(r.capture_uid),
      vmKey: String(r.vm_key),
      captureKey: String(r.capture_key),
      state: asJson(r.state) as S,
      updatedAt: asDate(r.updated_at),
    }));
  }

  /** Removes the per-host states of a capture. */
  async deleteCaptureInstances(captureUid: string): Promise<void> {
    await this.core.db.query('DELETE FROM capture_instances WHERE capture_uid = $1', [captureUid]);
  }

  /** Capture sessions per host state with their packet and kernel-drop sums (for the Prometheus endpoint). */
  async captureInstanceTotals(): Promise<
    Array<{ status: PacketCaptureStatus; sessions: number; packetsCaptured: number; kernelPacketsDropped: number }>
  > {
    const rows = await this.core.db.query(
      `SELECT ${jsonPathTextSql('state', [INSTANCE_STATE_FIELDS.status])} AS status, count(*)::int AS n,
              coalesce(sum((${jsonPathTextSql('state', [INSTANCE_STATE_FIELDS.packetsCaptured])})::float8), 0)::float8 AS packets,
              coalesce(sum((${jsonPathTextSql('state', [INSTANCE_STATE_FIELDS.kernelPacketsDropped])})::float8), 0)::float8 AS dropped
       FROM capture_instances GROUP BY 1`,
    );
    return rows.map((r) => ({
      status: r.status as PacketCaptureStatus,
      sessions: Number(r.n),
      packetsCaptured: Number(r.packets),
      kernelPacketsDropped: Number(r.dropped),
    }));
  }
}

/** The batched statements of the capture instances. */
interface CaptureInstanceBatches {
  captureInstances: StatementBatcher<Row[]>;
  upsertCaptureInstance: StatementBatcher<boolean, Record<string, unknown>>;
}

/** The batched statements of the capture instances on one database. */
function captureInstanceBatches(db: Db): CaptureInstanceBatches {
  return {
    captureInstances: new StatementBatcher(async (uids) => {
      const rows = groupBy(
        await db.query(
          'SELECT * FROM capture_instances WHERE capture_uid = ANY($1::text[]) ORDER BY capture_uid, vm_key',
          [uids],
        ),
        (r) => String(r.capture_uid),
      );
      return (uid, nth) => ownRows(rows.get(uid) ?? [], nth);
    }, READ_BATCH),
    upsertCaptureInstance: new StatementBatcher(async (keys, inputs) => {
      const stored = new Set(
        (
          await db.query(
            `INSERT INTO capture_instances (capture_uid, vm_key, capture_key, state)
         SELECT t.capture_uid, t.vm_key, t.capture_key, t.state::jsonb FROM jsonb_to_recordset($1::jsonb) AS t(capture_uid text, vm_key text, capture_key text, state text, guard boolean)
           WHERE NOT t.guard OR EXISTS (SELECT 1 FROM resources r WHERE r.key = t.capture_key)
         ON CONFLICT (capture_uid, vm_key) DO UPDATE SET state = EXCLUDED.state, updated_at = now()
           WHERE ${NEWER_STATE_ONLY}
         RETURNING capture_uid, vm_key`,
            [JSON.stringify(inputs)],
          )
        ).map((r) => `${String(r.capture_uid)}\n${String(r.vm_key)}`),
      );
      return (key) => stored.has(key);
    }, UPDATE_BATCH),
  };
}
