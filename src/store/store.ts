import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { Db, Row } from './db.js';

/** Resource types kept in the `resources` table. */
export type ResourceType = 'watcher' | 'vm' | 'extension' | 'storageAccount' | 'packetCapture' | 'metricAlert' | 'actionGroup' | 'alertCapture';

/** One stored ARM resource. `body` is what the API shows; `secret` never leaves the server. */
export interface ResourceRecord<B = Record<string, unknown>> {
  key: string;
  type: ResourceType;
  parentKey: string | null;
  id: string;
  name: string;
  subscriptionId: string;
  resourceGroup: string;
  location: string | null;
  body: B;
  secret: unknown;
  etag: string;
  createdAt: Date;
  updatedAt: Date;
}

/** Kinds of bearer tokens. */
export type TokenKind = 'admin' | 'agent' | 'enrollment';

/** A verified token. */
export interface TokenInfo { id: string; kind: TokenKind; vmKey: string | null }

/** Per-host state of one capture, as the server last heard it from the agent. */
export interface CaptureInstanceRecord<S = Record<string, unknown>> { captureUid: string; vmKey: string; captureKey: string; state: S; updatedAt: Date }

/** An ARM long-running operation document. */
export interface OperationRecord {
  id: string;
  subscriptionId: string;
  location: string;
  kind: string;
  resourceKey: string | null;
  status: 'InProgress' | 'Succeeded' | 'Failed' | 'Canceled';
  error: { code: string; message: string } | null;
  result: unknown;
  createdAt: Date;
  updatedAt: Date;
}

/** A new etag, as ARM writes them. */
export function newEtag(): string {
  return `W/"${randomUUID()}"`;
}

/** Hash under which a token is stored; tokens themselves are never stored. */
function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

const asDate = (v: unknown): Date => (v instanceof Date ? v : new Date(String(v)));
const asJson = (v: unknown): unknown => (typeof v === 'string' ? JSON.parse(v) : v);

function toResource<B>(r: Row): ResourceRecord<B> {
  return {
    key: String(r.key), type: r.type as ResourceType, parentKey: (r.parent_key as string | null) ?? null, id: String(r.id), name: String(r.name),
    subscriptionId: String(r.subscription_id), resourceGroup: String(r.resource_group), location: (r.location as string | null) ?? null,
    body: asJson(r.body) as B, secret: asJson(r.secret) ?? null, etag: String(r.etag), createdAt: asDate(r.created_at), updatedAt: asDate(r.updated_at),
  };
}

function toOperation(r: Row): OperationRecord {
  return {
    id: String(r.id), subscriptionId: String(r.subscription_id), location: String(r.location), kind: String(r.kind),
    resourceKey: (r.resource_key as string | null) ?? null, status: r.status as OperationRecord['status'],
    error: (asJson(r.error) as OperationRecord['error']) ?? null, result: asJson(r.result) ?? null, createdAt: asDate(r.created_at), updatedAt: asDate(r.updated_at),
  };
}

/** The server's data access: every SQL statement of the product lives in this class. */
export class Store {
  constructor(readonly db: Db) {}

  /** Runs `fn` with a store bound to one transaction. */
  transaction<T>(fn: (store: Store) => Promise<T>): Promise<T> {
    return this.db.transaction((tx) => fn(new Store(tx)));
  }

  // ---- resources -------------------------------------------------------------------------

  /** Gets a resource by its lower-cased id key. */
  async getResource<B = Record<string, unknown>>(key: string): Promise<ResourceRecord<B> | null> {
    const rows = await this.db.query('SELECT * FROM resources WHERE key = $1', [key.toLowerCase()]);
    return rows[0] ? toResource<B>(rows[0]) : null;
  }

  /** Creates or replaces a resource; returns the stored record (new etag). */
  async putResource<B>(r: Omit<ResourceRecord<B>, 'etag' | 'createdAt' | 'updatedAt' | 'secret'> & { secret?: unknown }): Promise<ResourceRecord<B>> {
    const rows = await this.db.query(
      `INSERT INTO resources (key, type, parent_key, id, name, subscription_id, resource_group, location, body, secret, etag)
       VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11)
       ON CONFLICT (key) DO UPDATE SET body = EXCLUDED.body, location = EXCLUDED.location,
         secret = COALESCE(EXCLUDED.secret, resources.secret), etag = EXCLUDED.etag, updated_at = now()
       RETURNING *`,
      [r.key.toLowerCase(), r.type, r.parentKey?.toLowerCase() ?? null, r.id, r.name, r.subscriptionId, r.resourceGroup, r.location,
        JSON.stringify(r.body), r.secret === undefined ? null : JSON.stringify(r.secret), newEtag()],
    );
    return toResource<B>(rows[0]!);
  }

  /** Inserts a resource only if no resource has its key; returns null when one exists. */
  async insertResource<B>(r: Omit<ResourceRecord<B>, 'etag' | 'createdAt' | 'updatedAt' | 'secret'> & { secret?: unknown }): Promise<ResourceRecord<B> | null> {
    const rows = await this.db.query(
      `INSERT INTO resources (key, type, parent_key, id, name, subscription_id, resource_group, location, body, secret, etag)
       VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11) ON CONFLICT (key) DO NOTHING RETURNING *`,
      [r.key.toLowerCase(), r.type, r.parentKey?.toLowerCase() ?? null, r.id, r.name, r.subscriptionId, r.resourceGroup, r.location,
        JSON.stringify(r.body), r.secret === undefined ? null : JSON.stringify(r.secret), newEtag()],
    );
    return rows[0] ? toResource<B>(rows[0]) : null;
  }

  /** Replaces a resource's body (merging nothing); returns null if it is gone. */
  async updateResourceBody<B>(key: string, body: B): Promise<ResourceRecord<B> | null> {
    const rows = await this.db.query('UPDATE resources SET body = $2, etag = $3, updated_at = now() WHERE key = $1 RETURNING *', [key.toLowerCase(), JSON.stringify(body), newEtag()]);
    return rows[0] ? toResource<B>(rows[0]) : null;
  }

  /** Lists resources of a type in a subscription, optionally one resource group or one parent. */
  async listResources<B = Record<string, unknown>>(type: ResourceType, filter: { subscriptionId?: string; resourceGroup?: string; parentKey?: string; location?: string } = {}): Promise<ResourceRecord<B>[]> {
    const where = ['type = $1'];
    const params: unknown[] = [type];
    if (filter.subscriptionId !== undefined) { params.push(filter.subscriptionId.toLowerCase()); where.push(`lower(subscription_id) = $${params.length}`); }
    if (filter.resourceGroup !== undefined) { params.push(filter.resourceGroup.toLowerCase()); where.push(`lower(resource_group) = $${params.length}`); }
    if (filter.parentKey !== undefined) { params.push(filter.parentKey.toLowerCase()); where.push(`parent_key = $${params.length}`); }
    if (filter.location !== undefined) { params.push(filter.location.toLowerCase()); where.push(`lower(location) = $${params.length}`); }
    const rows = await this.db.query(`SELECT * FROM resources WHERE ${where.join(' AND ')} ORDER BY created_at, key`, params);
    return rows.map((r) => toResource<B>(r));
  }

  /** Deletes a resource and its children; true if it existed. */
  async deleteResource(key: string): Promise<boolean> {
    const k = key.toLowerCase();
    await this.db.query('DELETE FROM resources WHERE parent_key = $1', [k]);
    const rows = await this.db.query('DELETE FROM resources WHERE key = $1 RETURNING key', [k]);
    return rows.length > 0;
  }

  /** The packet capture whose internal uid is `uid` (agents name captures by uid, not by name). */
  async findCaptureByUid<B = Record<string, unknown>>(uid: string): Promise<ResourceRecord<B> | null> {
    const rows = await this.db.query(`SELECT * FROM resources WHERE type = 'packetCapture' AND body->'_internal'->>'uid' = $1`, [uid]);
    return rows[0] ? toResource<B>(rows[0]) : null;
  }

  /** Captures of a subscription and location that hold a session (not yet finished). */
  async countActiveCaptures(subscriptionId: string, location: string): Promise<number> {
    const rows = await this.db.query(
      `SELECT count(*)::int AS n FROM resources WHERE type = 'packetCapture' AND lower(subscription_id) = $1 AND lower(location) = $2 AND (body->'_internal'->>'active')::boolean`,
      [subscriptionId.toLowerCase(), location.toLowerCase()]);
    return Number(rows[0]?.n ?? 0);
  }

  /** Captures that hold a session and target a host. */
  async listActiveCapturesForVm<B = Record<string, unknown>>(vmKey: string): Promise<ResourceRecord<B>[]> {
    const rows = await this.db.query(
      `SELECT * FROM resources WHERE type = 'packetCapture' AND (body->'_internal'->>'active')::boolean AND body->'_internal'->'targets' @> $1::jsonb`,
      [JSON.stringify([{ vmKey: vmKey.toLowerCase() }])]);
    return rows.map((r) => toResource<B>(r));
  }

  /** A server-wide setting shared by every replica, created with `initial` the first time it is asked for. */
  async getOrCreateSetting(name: string, initial: () => string): Promise<string> {
    await this.db.query('INSERT INTO server_settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING', [name, initial()]);
    const rows = await this.db.query('SELECT value FROM server_settings WHERE name = $1', [name]);
    return String(rows[0]!.value);
  }

  /** Marks every host disconnected (at start: connections belong to a previous process). */
  async markAllAgentsDisconnected(): Promise<void> {
    await this.db.query(`UPDATE resources SET body = jsonb_set(body, '{properties,netwatcher,agentConnected}', 'false'::jsonb) WHERE type = 'vm'`);
  }

  // ---- tokens ----------------------------------------------------------------------------

  /** Issues a new random token and stores only its hash; returns the token (shown once). */
  async issueToken(kind: TokenKind, options: { vmKey?: string; expiresAt?: Date; token?: string } = {}): Promise<{ id: string; token: string }> {
    const token = options.token ?? `nw${kind[0]}_${randomBytes(32).toString('base64url')}`;
    const id = randomUUID();
    await this.db.query('INSERT INTO api_tokens (id, kind, token_hash, vm_key, expires_at) VALUES ($1,$2,$3,$4,$5) ON CONFLICT (token_hash) DO NOTHING',
      [id, kind, hashToken(token), options.vmKey?.toLowerCase() ?? null, options.expiresAt ?? null]);
    return { id, token };
  }

  /** Verifies a bearer token (not an enrolment token); null if unknown or expired. */
  async verifyToken(token: string): Promise<TokenInfo | null> {
    const rows = await this.db.query(
      `SELECT id, kind, vm_key FROM api_tokens WHERE token_hash = $1 AND kind <> 'enrollment' AND (expires_at IS NULL OR expires_at > now())`, [hashToken(token)]);
    const r = rows[0];
    return r ? { id: String(r.id), kind: r.kind as TokenKind, vmKey: (r.vm_key as string | null) ?? null } : null;
  }

  /** Trades a one-time enrolment token: marks it used and returns its VM, or null if unknown, used or expired. */
  async consumeEnrollmentToken(token: string): Promise<{ vmKey: string } | null> {
    const rows = await this.db.query(
      `UPDATE api_tokens SET used_at = now() WHERE token_hash = $1 AND kind = 'enrollment' AND used_at IS NULL AND (expires_at IS NULL OR expires_at > now()) RETURNING vm_key`,
      [hashToken(token)]);
    return rows[0] ? { vmKey: String(rows[0].vm_key) } : null;
  }

  /** Revokes every token of a kind for a VM (a re-enrolment replaces the agent's credential). */
  async revokeTokens(kind: TokenKind, vmKey: string): Promise<void> {
    await this.db.query('DELETE FROM api_tokens WHERE kind = $1 AND vm_key = $2', [kind, vmKey.toLowerCase()]);
  }

  /** True when at least one admin token exists. */
  async hasAdminToken(): Promise<boolean> {
    return (await this.db.query(`SELECT 1 FROM api_tokens WHERE kind = 'admin' LIMIT 1`)).length > 0;
  }

  // ---- capture instances -----------------------------------------------------------------

  /** Records a host's capture state unless a newer one (higher sequence) is already kept. Returns true if stored. */
  async upsertCaptureInstance(r: { captureUid: string; vmKey: string; captureKey: string; state: { sequence: number } & Record<string, unknown> }): Promise<boolean> {
    const rows = await this.db.query(
      `INSERT INTO capture_instances (capture_uid, vm_key, capture_key, state) VALUES ($1,$2,$3,$4)
       ON CONFLICT (capture_uid, vm_key) DO UPDATE SET state = EXCLUDED.state, updated_at = now()
         WHERE (capture_instances.state->>'sequence')::bigint <= (EXCLUDED.state->>'sequence')::bigint
       RETURNING capture_uid`,
      [r.captureUid, r.vmKey.toLowerCase(), r.captureKey.toLowerCase(), JSON.stringify(r.state)]);
    return rows.length > 0;
  }

  /** Per-host states of one capture. */
  async listCaptureInstances<S>(captureUid: string): Promise<CaptureInstanceRecord<S>[]> {
    const rows = await this.db.query('SELECT * FROM capture_instances WHERE capture_uid = $1 ORDER BY vm_key', [captureUid]);
    return rows.map((r) => ({ captureUid: String(r.capture_uid), vmKey: String(r.vm_key), captureKey: String(r.capture_key), state: asJson(r.state) as S, updatedAt: asDate(r.updated_at) }));
  }

  /** Removes the per-host states of a capture. */
  async deleteCaptureInstances(captureUid: string): Promise<void> {
    await this.db.query('DELETE FROM capture_instances WHERE capture_uid = $1', [captureUid]);
  }

  // ---- operations ------------------------------------------------------------------------

  /** Creates an operation document. */
  async createOperation(op: { subscriptionId: string; location: string; kind: string; resourceKey: string | null; status?: OperationRecord['status']; result?: unknown }): Promise<OperationRecord> {
    const rows = await this.db.query(
      'INSERT INTO operations (id, subscription_id, location, kind, resource_key, status, result) VALUES ($1,$2,$3,$4,$5,$6,$7) RETURNING *',
      [randomUUID(), op.subscriptionId, op.location, op.kind, op.resourceKey?.toLowerCase() ?? null, op.status ?? 'InProgress', op.result === undefined ? null : JSON.stringify(op.result)]);
    return toOperation(rows[0]!);
  }

  /** Gets an operation document. */
  async getOperation(id: string): Promise<OperationRecord | null> {
    const rows = await this.db.query('SELECT * FROM operations WHERE id = $1', [id]);
    return rows[0] ? toOperation(rows[0]) : null;
  }

  /** Finishes every in-progress operation of a kind on a resource. */
  async finishOperations(resourceKey: string, kind: string, outcome: { status: 'Succeeded' | 'Failed'; error?: { code: string; message: string }; result?: unknown }): Promise<number> {
    const rows = await this.db.query(
      `UPDATE operations SET status = $3, error = $4, result = COALESCE($5, result), updated_at = now()
       WHERE resource_key = $1 AND kind = $2 AND status = 'InProgress' RETURNING id`,
      [resourceKey.toLowerCase(), kind, outcome.status, outcome.error ? JSON.stringify(outcome.error) : null, outcome.result === undefined ? null : JSON.stringify(outcome.result)]);
    return rows.length;
  }

  /** In-progress operations of a kind on a resource. */
  async pendingOperations(resourceKey: string, kind: string): Promise<OperationRecord[]> {
    const rows = await this.db.query(`SELECT * FROM operations WHERE resource_key = $1 AND kind = $2 AND status = 'InProgress'`, [resourceKey.toLowerCase(), kind]);
    return rows.map(toOperation);
  }
}
