import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { Db, Row } from './db.js';
import { SecretBox, SecretKeyMismatchError } from './secrets.js';

/** Resource types kept in the `resources` table. */
export type ResourceType = 'watcher' | 'vm' | 'vmss' | 'extension' | 'storageAccount' | 'packetCapture' | 'metricAlert' | 'actionGroup' | 'alertCapture';

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
export interface TokenInfo { id: string; kind: TokenKind; vmKey: string | null; description: string | null }

/**
 * Prefixes of new tokens, one per kind, so a secret scanner (or a person) can tell an admin
 * token from an agent credential or an enrolment token. Tokens issued before these prefixes
 * (`nwa_` agents included) keep working: tokens are looked up by hash, never by prefix.
 */
export const TOKEN_PREFIXES: Readonly<Record<TokenKind, string>> = { admin: 'nwa_', agent: 'nwg_', enrollment: 'nwe_' };

/**
 * Prefix of a join key (issue 14): a reusable, expiring, revocable secret that lets many hosts
 * register and enrol themselves. Distinct from every token prefix, so a scanner tells it apart.
 */
export const JOIN_KEY_PREFIX = 'nwj_';

/** A join key as stored: never the key, only its hash and its rules. */
export interface JoinKeyRow {
  id: string; subscriptionId: string; resourceGroup: string; vmssKey: string | null; location: string | null; description: string | null;
  maxUses: number | null; uses: number; createdAt: Date; expiresAt: Date | null; revokedAt: Date | null; lastUsedAt: Date | null;
}

/** Why a join key cannot be used now. */
export type JoinKeyRefusal = 'unknown' | 'revoked' | 'expired' | 'exhausted';

/** What a token row says about itself (the token is never kept, only its hash). */
export interface TokenRow { id: string; kind: TokenKind; vmKey: string | null; description: string | null; createdAt: Date; expiresAt: Date | null; usedAt: Date | null }

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

/** The description a token row gets when its issuer gives none. */
function defaultTokenDescription(kind: TokenKind, vmKey: string | null): string {
  if (kind === 'admin') return 'admin token: full access to the API';
  if (kind === 'agent') return `agent credential of host ${vmKey ?? '?'}`;
  return `one-time enrolment token of host ${vmKey ?? '?'}`;
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

function toJoinKey(r: Row): JoinKeyRow {
  return {
    id: String(r.id), subscriptionId: String(r.subscription_id), resourceGroup: String(r.resource_group), vmssKey: (r.vmss_key as string | null) ?? null,
    location: (r.location as string | null) ?? null, description: (r.description as string | null) ?? null, maxUses: r.max_uses === null || r.max_uses === undefined ? null : Number(r.max_uses),
    uses: Number(r.uses ?? 0), createdAt: asDate(r.created_at), expiresAt: r.expires_at ? asDate(r.expires_at) : null,
    revokedAt: r.revoked_at ? asDate(r.revoked_at) : null, lastUsedAt: r.last_used_at ? asDate(r.last_used_at) : null,
  };
}

function toOperation(r: Row): OperationRecord {
  return {
    id: String(r.id), subscriptionId: String(r.subscription_id), location: String(r.location), kind: String(r.kind),
    resourceKey: (r.resource_key as string | null) ?? null, status: r.status as OperationRecord['status'],
    error: (asJson(r.error) as OperationRecord['error']) ?? null, result: asJson(r.result) ?? null, createdAt: asDate(r.created_at), updatedAt: asDate(r.updated_at),
  };
}

/**
 * The server's data access: every SQL statement of the product lives in this class. With a
 * {@link SecretBox}, resource secrets (the `secret` column) and secret settings are sealed before
 * they reach the database and opened when read, here and nowhere else.
 */
export class Store {
  constructor(readonly db: Db, private readonly secrets: SecretBox | null = null) {}

  /** Runs `fn` with a store bound to one transaction. */
  transaction<T>(fn: (store: Store) => Promise<T>): Promise<T> {
    return this.db.transaction((tx) => fn(new Store(tx, this.secrets)));
  }

  /** The stored form of a resource secret: sealed JSON text when there is a key. */
  private secretParam(secret: unknown): string | null {
    if (secret === undefined || secret === null) return null;
    const json = JSON.stringify(secret);
    return JSON.stringify(this.secrets ? this.secrets.seal(json) : JSON.parse(json));
  }

  private resource<B>(r: Row): ResourceRecord<B> {
    // A sealed secret is a jsonb string: drivers hand it over parsed (PGlite) or as JSON text.
    const raw = typeof r.secret === 'string' && r.secret.startsWith('"') ? JSON.parse(r.secret) as unknown : r.secret;
    if (SecretBox.isSealed(raw)) {
      if (!this.secrets) throw new SecretKeyMismatchError('the database holds sealed secrets and no secret key was given');
      return { ...toResource<B>({ ...r, secret: null }), secret: JSON.parse(this.secrets.open(raw)) };
    }
    return toResource<B>(r);
  }

  /**
   * Seals every plaintext resource secret and secret setting (rows written before secrets were
   * encrypted, issue 9 point 6) and checks the key against the database's key check, storing one
   * on first use. Throws SecretKeyMismatchError when the key is not the database's. Returns how
   * many rows it sealed.
   */
  async sealPlaintextSecrets(secretSettings: readonly string[]): Promise<number> {
    if (!this.secrets) return 0;
    const box = this.secrets;
    const check = box.keyCheck();
    await this.db.query('INSERT INTO server_settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING', ['secret-key-check', check]);
    const stored = String((await this.db.query('SELECT value FROM server_settings WHERE name = $1', ['secret-key-check']))[0]!.value);
    if (!box.checks(stored)) throw new SecretKeyMismatchError("this secret key is not the one the database's secrets were sealed with: give every server of this database the same key file");
    return this.transaction(async (tx) => {
      let sealed = 0;
      const rows = await tx.db.query(`SELECT key, secret FROM resources WHERE secret IS NOT NULL AND jsonb_typeof(secret) <> 'string'`);
      for (const r of rows) {
        await tx.db.query('UPDATE resources SET secret = $2 WHERE key = $1', [r.key, tx.secretParam(asJson(r.secret))]);
        sealed++;
      }
      for (const name of secretSettings) {
        const [row] = await tx.db.query('SELECT value FROM server_settings WHERE name = $1', [name]);
        if (row && !SecretBox.isSealed(row.value)) {
          await tx.db.query('UPDATE server_settings SET value = $2 WHERE name = $1', [name, box.seal(String(row.value))]);
          sealed++;
        }
      }
      return sealed;
    });
  }

  // ---- resources -------------------------------------------------------------------------

  /** Gets a resource by its lower-cased id key. */
  async getResource<B = Record<string, unknown>>(key: string): Promise<ResourceRecord<B> | null> {
    const rows = await this.db.query('SELECT * FROM resources WHERE key = $1', [key.toLowerCase()]);
    return rows[0] ? this.resource<B>(rows[0]) : null;
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
        JSON.stringify(r.body), r.secret === undefined ? null : this.secretParam(r.secret), newEtag()],
    );
    return this.resource<B>(rows[0]!);
  }

  /** Inserts a resource only if no resource has its key; returns null when one exists. */
  async insertResource<B>(r: Omit<ResourceRecord<B>, 'etag' | 'createdAt' | 'updatedAt' | 'secret'> & { secret?: unknown }): Promise<ResourceRecord<B> | null> {
    const rows = await this.db.query(
      `INSERT INTO resources (key, type, parent_key, id, name, subscription_id, resource_group, location, body, secret, etag)
       VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11) ON CONFLICT (key) DO NOTHING RETURNING *`,
      [r.key.toLowerCase(), r.type, r.parentKey?.toLowerCase() ?? null, r.id, r.name, r.subscriptionId, r.resourceGroup, r.location,
        JSON.stringify(r.body), r.secret === undefined ? null : this.secretParam(r.secret), newEtag()],
    );
    return rows[0] ? this.resource<B>(rows[0]) : null;
  }

  /** Replaces a resource's body (merging nothing); returns null if it is gone. */
  async updateResourceBody<B>(key: string, body: B): Promise<ResourceRecord<B> | null> {
    const rows = await this.db.query('UPDATE resources SET body = $2, etag = $3, updated_at = now() WHERE key = $1 RETURNING *', [key.toLowerCase(), JSON.stringify(body), newEtag()]);
    return rows[0] ? this.resource<B>(rows[0]) : null;
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
    return rows.map((r) => this.resource<B>(r));
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
    return rows[0] ? this.resource<B>(rows[0]) : null;
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
    return rows.map((r) => this.resource<B>(r));
  }

  /** A secret server-wide setting (sealed in the database when there is a key), created with `initial` the first time it is asked for. */
  async getOrCreateSecretSetting(name: string, initial: () => string): Promise<string> {
    const value = await this.getOrCreateSetting(name, () => (this.secrets ? this.secrets.seal(initial()) : initial()));
    if (!SecretBox.isSealed(value)) return value;
    if (!this.secrets) throw new SecretKeyMismatchError(`setting '${name}' is sealed and no secret key was given`);
    return this.secrets.open(value);
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

  /** Issues a new random token and stores only its hash and what it is for; returns the token (shown once). */
  async issueToken(kind: TokenKind, options: { vmKey?: string; expiresAt?: Date; token?: string; description?: string } = {}): Promise<{ id: string; token: string }> {
    const token = options.token ?? `${TOKEN_PREFIXES[kind]}${randomBytes(32).toString('base64url')}`;
    const id = randomUUID();
    await this.db.query('INSERT INTO api_tokens (id, kind, token_hash, vm_key, expires_at, description) VALUES ($1,$2,$3,$4,$5,$6) ON CONFLICT (token_hash) DO NOTHING',
      [id, kind, hashToken(token), options.vmKey?.toLowerCase() ?? null, options.expiresAt ?? null, options.description ?? defaultTokenDescription(kind, options.vmKey ?? null)]);
    return { id, token };
  }

  /** Verifies a bearer token (not an enrolment token); null if unknown or expired. */
  async verifyToken(token: string): Promise<TokenInfo | null> {
    const rows = await this.db.query(
      `SELECT id, kind, vm_key, description FROM api_tokens WHERE token_hash = $1 AND kind <> 'enrollment' AND (expires_at IS NULL OR expires_at > now())`, [hashToken(token)]);
    const r = rows[0];
    return r ? { id: String(r.id), kind: r.kind as TokenKind, vmKey: (r.vm_key as string | null) ?? null, description: (r.description as string | null) ?? null } : null;
  }

  /** Of the given token ids, those that still exist and have not expired. */
  async liveTokenIds(ids: readonly string[]): Promise<Set<string>> {
    if (ids.length === 0) return new Set();
    const rows = await this.db.query('SELECT id FROM api_tokens WHERE id = ANY($1::text[]) AND (expires_at IS NULL OR expires_at > now())', [[...ids]]);
    return new Set(rows.map((r) => String(r.id)));
  }

  /** Every token row (no secrets: the table holds only hashes), oldest first; optionally one kind. */
  async listTokens(kind?: TokenKind): Promise<TokenRow[]> {
    const rows = await this.db.query(`SELECT id, kind, vm_key, description, created_at, expires_at, used_at FROM api_tokens ${kind ? 'WHERE kind = $1' : ''} ORDER BY created_at, id`, kind ? [kind] : []);
    return rows.map((r) => ({
      id: String(r.id), kind: r.kind as TokenKind, vmKey: (r.vm_key as string | null) ?? null, description: (r.description as string | null) ?? null,
      createdAt: asDate(r.created_at), expiresAt: r.expires_at ? asDate(r.expires_at) : null, usedAt: r.used_at ? asDate(r.used_at) : null,
    }));
  }

  /** The credential with this id if it is still valid (not revoked, not expired, not an enrolment token); access tokens minted from it are checked against it. */
  async tokenById(id: string): Promise<Pick<TokenInfo, 'id' | 'kind' | 'vmKey'> | null> {
    const rows = await this.db.query(
      `SELECT id, kind, vm_key FROM api_tokens WHERE id = $1 AND kind <> 'enrollment' AND (expires_at IS NULL OR expires_at > now())`, [id]);
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

  /** Revokes every token of a kind for a VM (a re-enrolment replaces the agent's credential); returns how many. */
  async revokeTokens(kind: TokenKind, vmKey: string): Promise<number> {
    return (await this.db.query('DELETE FROM api_tokens WHERE kind = $1 AND vm_key = $2 RETURNING id', [kind, vmKey.toLowerCase()])).length;
  }

  /** Replaces every admin token by one new one in one transaction (the old ones stop working at once); returns the new token. */
  async rotateAdminToken(description?: string): Promise<{ id: string; token: string }> {
    return this.transaction(async (tx) => {
      await tx.db.query(`DELETE FROM api_tokens WHERE kind = 'admin'`);
      // Portal sessions signed in with an admin token end with it (src/web/sessions.ts), not hours later.
      await tx.db.query(`DELETE FROM portal_sessions WHERE principal = 'admin'`);
      return tx.issueToken('admin', description ? { description } : {});
    });
  }

  /** True when at least one admin token exists. */
  async hasAdminToken(): Promise<boolean> {
    return (await this.db.query(`SELECT 1 FROM api_tokens WHERE kind = 'admin' LIMIT 1`)).length > 0;
  }

  // ---- join keys -------------------------------------------------------------------------

  /** Creates a join key; returns its id and the key itself (shown once: only its hash is kept). */
  async createJoinKey(k: { subscriptionId: string; resourceGroup: string; vmssKey: string | null; location: string | null; description: string | null; maxUses: number | null; expiresAt: Date | null }): Promise<{ id: string; key: string; row: JoinKeyRow }> {
    const key = `${JOIN_KEY_PREFIX}${randomBytes(32).toString('base64url')}`;
    const id = randomUUID();
    const rows = await this.db.query(
      `INSERT INTO join_keys (id, key_hash, subscription_id, resource_group, vmss_key, location, description, max_uses, expires_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9) RETURNING *`,
      [id, hashToken(key), k.subscriptionId, k.resourceGroup, k.vmssKey?.toLowerCase() ?? null, k.location, k.description, k.maxUses, k.expiresAt]);
    return { id, key, row: toJoinKey(rows[0]!) };
  }

  /** Join keys of a resource group (or every one of the subscription), oldest first; optionally only those of one scale set. */
  async listJoinKeys(filter: { subscriptionId: string; resourceGroup?: string; vmssKey?: string }): Promise<JoinKeyRow[]> {
    const where = ['lower(subscription_id) = $1'];
    const params: unknown[] = [filter.subscriptionId.toLowerCase()];
    if (filter.resourceGroup !== undefined) { params.push(filter.resourceGroup.toLowerCase()); where.push(`lower(resource_group) = $${params.length}`); }
    if (filter.vmssKey !== undefined) { params.push(filter.vmssKey.toLowerCase()); where.push(`vmss_key = $${params.length}`); }
    const rows = await this.db.query(`SELECT * FROM join_keys WHERE ${where.join(' AND ')} ORDER BY created_at, id`, params);
    return rows.map(toJoinKey);
  }

  /** Revokes a join key (new joins stop; hosts that joined keep their own credentials); null when there is none with this id. */
  async revokeJoinKey(id: string): Promise<JoinKeyRow | null> {
    const rows = await this.db.query('UPDATE join_keys SET revoked_at = coalesce(revoked_at, now()) WHERE id = $1 RETURNING *', [id]);
    return rows[0] ? toJoinKey(rows[0]) : null;
  }

  /** Revokes every live join key of a scale set (a new `vmss extension set`, or the scale set deleted); returns how many. */
  async revokeJoinKeysOfScaleSet(vmssKey: string): Promise<number> {
    return (await this.db.query('UPDATE join_keys SET revoked_at = now() WHERE vmss_key = $1 AND revoked_at IS NULL RETURNING id', [vmssKey.toLowerCase()])).length;
  }

  /**
   * Uses a join key, atomically: in one transaction the key's row is locked, checked (not revoked,
   * not expired, uses below max), `join` runs with a store bound to the same transaction, and the
   * use is counted. Two hosts racing for the last use cannot both get it; a `join` that throws
   * (a name in use) counts nothing and changes nothing.
   */
  async useJoinKey<T>(key: string, join: (tx: Store, row: JoinKeyRow) => Promise<T>): Promise<{ ok: true; value: T } | { ok: false; refusal: JoinKeyRefusal; row: JoinKeyRow | null }> {
    return this.transaction(async (tx) => {
      const rows = await tx.db.query('SELECT *, (expires_at IS NOT NULL AND expires_at <= now()) AS expired FROM join_keys WHERE key_hash = $1 FOR UPDATE', [hashToken(key)]);
      const r = rows[0];
      if (!r) return { ok: false as const, refusal: 'unknown' as const, row: null };
      const row = toJoinKey(r);
      if (row.revokedAt) return { ok: false as const, refusal: 'revoked' as const, row };
      if (r.expired === true) return { ok: false as const, refusal: 'expired' as const, row };
      if (row.maxUses !== null && row.uses >= row.maxUses) return { ok: false as const, refusal: 'exhausted' as const, row };
      const value = await join(tx, row);
      await tx.db.query('UPDATE join_keys SET uses = uses + 1, last_used_at = now() WHERE id = $1', [row.id]);
      return { ok: true as const, value };
    });
  }

  /** Locks a resource row until the end of the current transaction (FOR UPDATE) and returns it. */
  async lockResource<B = Record<string, unknown>>(key: string): Promise<ResourceRecord<B> | null> {
    const rows = await this.db.query('SELECT * FROM resources WHERE key = $1 FOR UPDATE', [key.toLowerCase()]);
    return rows[0] ? this.resource<B>(rows[0]) : null;
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

  /**
   * As {@link Store.upsertCaptureInstance}, but only while the capture `captureKey` still exists
   * (a primary-key probe, so the capture's large body is never read): the report path of a fleet
   * capture (issue 14). False when nothing was stored (the capture is gone, or a newer state is kept).
   */
  async upsertCaptureInstanceIfCaptureExists(r: { captureUid: string; vmKey: string; captureKey: string; state: { sequence: number } & Record<string, unknown> }): Promise<boolean> {
    const rows = await this.db.query(
      `INSERT INTO capture_instances (capture_uid, vm_key, capture_key, state)
       SELECT $1, $2, $3, $4::jsonb WHERE EXISTS (SELECT 1 FROM resources WHERE key = $3)
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

  /** The newest operation of a kind on a resource, finished or not. */
  async latestOperation(resourceKey: string, kind: string): Promise<OperationRecord | null> {
    const rows = await this.db.query('SELECT * FROM operations WHERE resource_key = $1 AND kind = $2 ORDER BY created_at DESC LIMIT 1', [resourceKey.toLowerCase(), kind]);
    return rows[0] ? toOperation(rows[0]) : null;
  }

  /** In-progress operations of a kind on a resource. */
  async pendingOperations(resourceKey: string, kind: string): Promise<OperationRecord[]> {
    const rows = await this.db.query(`SELECT * FROM operations WHERE resource_key = $1 AND kind = $2 AND status = 'InProgress'`, [resourceKey.toLowerCase(), kind]);
    return rows.map(toOperation);
  }

  // ---- host metrics, metric alerts, alert-triggered captures (src/alerts) ----------------

  /** Stores host metric samples (one row per agent report) in one statement. */
  async insertMetricSamples(samples: readonly MetricSampleRow[]): Promise<void> {
    if (samples.length === 0) return;
    const params: unknown[] = [];
    const values = samples.map((s) => {
      params.push(s.vmKey.toLowerCase(), s.at, JSON.stringify(s.metrics));
      const n = params.length;
      return `($${n - 2}, $${n - 1}, $${n}::jsonb)`;
    });
    await this.db.query(`INSERT INTO metric_samples (vm_key, at, metrics) VALUES ${values.join(', ')}`, params);
  }

  /**
   * One metric of one host aggregated per time grain over [from, to): bucket start (ms since the
   * epoch, a multiple of grainInMs), total, count, minimum and maximum. Buckets without samples are absent.
   */
  async aggregateMetricSamples(vmKey: string, metricName: string, from: Date, to: Date, grainInMs: number): Promise<MetricBucketRow[]> {
    const rows = await this.db.query(
      `SELECT (floor(extract(epoch FROM at) * 1000 / $5) * $5)::float8 AS bucket,
              sum((metrics->>$2)::float8)::float8 AS total, count(*)::int AS n,
              min((metrics->>$2)::float8)::float8 AS minimum, max((metrics->>$2)::float8)::float8 AS maximum
       FROM metric_samples WHERE vm_key = $1 AND at >= $3 AND at < $4 AND metrics ? $2
       GROUP BY 1 ORDER BY 1`,
      [vmKey.toLowerCase(), metricName, from, to, grainInMs]);
    return rows.map((r) => ({ bucketStartInMs: Number(r.bucket), total: Number(r.total), count: Number(r.n), minimum: Number(r.minimum), maximum: Number(r.maximum) }));
  }

  /** One metric aggregated over (from, to] for each of several hosts; hosts without samples are absent. */
  async aggregateMetricWindow(vmKeys: readonly string[], metricName: string, from: Date, to: Date): Promise<Map<string, Omit<MetricBucketRow, 'bucketStartInMs'>>> {
    if (vmKeys.length === 0) return new Map();
    const rows = await this.db.query(
      `SELECT vm_key, sum((metrics->>$2)::float8)::float8 AS total, count(*)::int AS n,
              min((metrics->>$2)::float8)::float8 AS minimum, max((metrics->>$2)::float8)::float8 AS maximum
       FROM metric_samples WHERE vm_key = ANY($1::text[]) AND at > $3 AND at <= $4 AND metrics ? $2
       GROUP BY vm_key`,
      [vmKeys.map((k) => k.toLowerCase()), metricName, from, to]);
    return new Map(rows.map((r) => [String(r.vm_key), { total: Number(r.total), count: Number(r.n), minimum: Number(r.minimum), maximum: Number(r.maximum) }]));
  }

  /** Deletes samples older than `before`; returns how many. */
  async pruneMetricSamples(before: Date): Promise<number> {
    return (await this.db.query('DELETE FROM metric_samples WHERE at < $1 RETURNING 1', [before])).length;
  }

  /** Schedules a metric alert rule (or changes its frequency), first evaluation at `firstAt`. */
  async scheduleAlertRule(ruleKey: string, frequencyInMs: number, firstAt: Date): Promise<void> {
    await this.db.query(
      `INSERT INTO alert_rule_schedule (rule_key, frequency_ms, next_evaluation_at) VALUES ($1, $2, $3)
       ON CONFLICT (rule_key) DO UPDATE SET frequency_ms = EXCLUDED.frequency_ms, next_evaluation_at = EXCLUDED.next_evaluation_at`,
      [ruleKey.toLowerCase(), Math.round(frequencyInMs), firstAt]);
  }

  /** Removes a rule's schedule and its per-target state (its alerts stay as history). */
  async unscheduleAlertRule(ruleKey: string): Promise<void> {
    await this.db.query('DELETE FROM alert_rule_schedule WHERE rule_key = $1', [ruleKey.toLowerCase()]);
    await this.db.query('DELETE FROM alert_targets WHERE rule_key = $1', [ruleKey.toLowerCase()]);
  }

  /**
   * Claims the rules due at `now` and moves each one's next evaluation a period on (keeping its
   * phase; after a pause it restarts from now instead of catching up). Replicas of the server
   * share one database: the UPDATE lets exactly one of them claim each evaluation.
   */
  async claimDueAlertRules(now: Date): Promise<string[]> {
    const rows = await this.db.query(
      `UPDATE alert_rule_schedule
       SET next_evaluation_at = CASE WHEN next_evaluation_at + frequency_ms * interval '1 millisecond' > $1::timestamptz
                                     THEN next_evaluation_at + frequency_ms * interval '1 millisecond'
                                     ELSE $1::timestamptz + frequency_ms * interval '1 millisecond' END
       WHERE next_evaluation_at <= $1 RETURNING rule_key`, [now]);
    return rows.map((r) => String(r.rule_key));
  }

  /** Per-target evaluation state of a rule. */
  async getAlertTargetStates<S>(ruleKey: string): Promise<Map<string, S>> {
    const rows = await this.db.query('SELECT target_key, state FROM alert_targets WHERE rule_key = $1', [ruleKey.toLowerCase()]);
    return new Map(rows.map((r) => [String(r.target_key), asJson(r.state) as S]));
  }

  /** Records the evaluation state of one target of a rule. */
  async putAlertTargetState(ruleKey: string, targetKey: string, state: unknown): Promise<void> {
    await this.db.query(
      `INSERT INTO alert_targets (rule_key, target_key, state) VALUES ($1, $2, $3)
       ON CONFLICT (rule_key, target_key) DO UPDATE SET state = EXCLUDED.state, updated_at = now()`,
      [ruleKey.toLowerCase(), targetKey.toLowerCase(), JSON.stringify(state)]);
  }

  /** Records a fired alert. */
  async insertAlert<B>(alert: Omit<AlertRecord<B>, 'updatedAt' | 'notifications'>): Promise<void> {
    await this.db.query(
      'INSERT INTO alerts (id, subscription_id, rule_key, target_key, monitor_condition, fired_at, resolved_at, body) VALUES ($1,$2,$3,$4,$5,$6,$7,$8)',
      [alert.id, alert.subscriptionId, alert.ruleKey.toLowerCase(), alert.targetKey.toLowerCase(), alert.monitorCondition, alert.firedAt, alert.resolvedAt, JSON.stringify(alert.body)]);
  }

  /** Changes an alert's condition and body; returns the new record, or null if it is gone. */
  async updateAlert<B>(id: string, change: { monitorCondition: string; resolvedAt: Date | null; body: B }): Promise<AlertRecord<B> | null> {
    const rows = await this.db.query(
      'UPDATE alerts SET monitor_condition = $2, resolved_at = $3, body = $4, updated_at = now() WHERE id = $1 RETURNING *',
      [id, change.monitorCondition, change.resolvedAt, JSON.stringify(change.body)]);
    return rows[0] ? toAlert<B>(rows[0]) : null;
  }

  /** Appends delivery records to an alert (atomically: deliveries of one alert finish in any order). */
  async appendAlertNotifications(id: string, entries: readonly unknown[]): Promise<void> {
    if (entries.length === 0) return;
    await this.db.query('UPDATE alerts SET notifications = notifications || $2::jsonb WHERE id = $1', [id, JSON.stringify(entries)]);
  }

  /** One alert by id (case-insensitive). */
  async getAlert<B>(id: string): Promise<AlertRecord<B> | null> {
    const rows = await this.db.query('SELECT * FROM alerts WHERE lower(id) = lower($1)', [id]);
    return rows[0] ? toAlert<B>(rows[0]) : null;
  }

  /** Alerts of a subscription, newest first, optionally of one rule, one target or one condition. */
  async listAlerts<B>(filter: { subscriptionId: string; ruleKey?: string; targetKey?: string; monitorCondition?: string; limit?: number }): Promise<AlertRecord<B>[]> {
    const where = ['lower(subscription_id) = $1'];
    const params: unknown[] = [filter.subscriptionId.toLowerCase()];
    if (filter.ruleKey) { params.push(filter.ruleKey.toLowerCase()); where.push(`rule_key = $${params.length}`); }
    if (filter.targetKey) { params.push(filter.targetKey.toLowerCase()); where.push(`target_key = $${params.length}`); }
    if (filter.monitorCondition) { params.push(filter.monitorCondition.toLowerCase()); where.push(`lower(monitor_condition) = $${params.length}`); }
    params.push(filter.limit ?? 1000);
    const rows = await this.db.query(`SELECT * FROM alerts WHERE ${where.join(' AND ')} ORDER BY fired_at DESC, id LIMIT $${params.length}`, params);
    return rows.map((r) => toAlert<B>(r));
  }

  /**
   * Records a trigger of an alert-capture endpoint unless one with the same de-duplication key was
   * recorded (the same firing delivered twice). Returns false for such a duplicate.
   */
  async insertAlertCaptureRun(run: { id: string; configKey: string; dedupeKey: string; state: string; captureKey: string | null; detail: unknown }): Promise<boolean> {
    const rows = await this.db.query(
      `INSERT INTO alert_capture_runs (id, config_key, dedupe_key, state, capture_key, detail) VALUES ($1,$2,$3,$4,$5,$6)
       ON CONFLICT (config_key, dedupe_key) DO NOTHING RETURNING id`,
      [run.id, run.configKey.toLowerCase(), run.dedupeKey, run.state, run.captureKey?.toLowerCase() ?? null, JSON.stringify(run.detail)]);
    return rows.length > 0;
  }

  /** Changes a run (a new dedupeKey releases the old one); with `fromState`, only if it is still in that state (a claim). Returns whether it changed. */
  async updateAlertCaptureRun(id: string, change: { state: string; captureKey?: string | null; dedupeKey?: string; detail: unknown }, fromState?: string): Promise<boolean> {
    const params: unknown[] = [id, change.state, JSON.stringify(change.detail)];
    let sets = 'state = $2, detail = $3, updated_at = now()';
    if (change.captureKey !== undefined) { params.push(change.captureKey?.toLowerCase() ?? null); sets += `, capture_key = $${params.length}`; }
    if (change.dedupeKey !== undefined) { params.push(change.dedupeKey); sets += `, dedupe_key = $${params.length}`; }
    let where = 'id = $1';
    if (fromState !== undefined) { params.push(fromState); where += ` AND state = $${params.length}`; }
    return (await this.db.query(`UPDATE alert_capture_runs SET ${sets} WHERE ${where} RETURNING id`, params)).length > 0;
  }

  /** Runs of an alert-capture endpoint (or every endpoint), newest first, optionally in one state. */
  async listAlertCaptureRuns<D>(filter: { configKey?: string; state?: string; limit?: number } = {}): Promise<AlertCaptureRunRecord<D>[]> {
    const where: string[] = ['true'];
    const params: unknown[] = [];
    if (filter.configKey) { params.push(filter.configKey.toLowerCase()); where.push(`config_key = $${params.length}`); }
    if (filter.state) { params.push(filter.state); where.push(`state = $${params.length}`); }
    params.push(filter.limit ?? 1000);
    const rows = await this.db.query(`SELECT * FROM alert_capture_runs WHERE ${where.join(' AND ')} ORDER BY created_at DESC, id LIMIT $${params.length}`, params);
    return rows.map((r) => ({
      id: String(r.id), configKey: String(r.config_key), dedupeKey: String(r.dedupe_key), state: String(r.state),
      captureKey: (r.capture_key as string | null) ?? null, detail: asJson(r.detail) as D, createdAt: asDate(r.created_at), updatedAt: asDate(r.updated_at),
    }));
  }

  /** Deletes finished runs last changed before `before` (history retention); returns how many. */
  async pruneAlertCaptureRuns(before: Date, finishedStates: readonly string[]): Promise<number> {
    return (await this.db.query('DELETE FROM alert_capture_runs WHERE updated_at < $1 AND state = ANY($2::text[]) RETURNING 1', [before, [...finishedStates]])).length;
  }

  /** Capture sessions per host state with their packet and kernel-drop sums (for the Prometheus endpoint). */
  async captureInstanceTotals(): Promise<Array<{ status: string; sessions: number; packetsCaptured: number; kernelPacketsDropped: number }>> {
    const rows = await this.db.query(
      `SELECT state->>'status' AS status, count(*)::int AS n,
              coalesce(sum((state->>'packetsCaptured')::float8), 0)::float8 AS packets,
              coalesce(sum((state->>'kernelPacketsDropped')::float8), 0)::float8 AS dropped
       FROM capture_instances GROUP BY 1`);
    return rows.map((r) => ({ status: String(r.status), sessions: Number(r.n), packetsCaptured: Number(r.packets), kernelPacketsDropped: Number(r.dropped) }));
  }
}

/** One host metric report as stored. */
export interface MetricSampleRow { vmKey: string; at: Date; metrics: Record<string, number> }

/** One time-grain bucket of a metric. */
export interface MetricBucketRow { bucketStartInMs: number; total: number; count: number; minimum: number; maximum: number }

/** A fired (and maybe resolved) metric alert. */
export interface AlertRecord<B = Record<string, unknown>> {
  id: string;
  subscriptionId: string;
  ruleKey: string;
  targetKey: string;
  monitorCondition: string;
  firedAt: Date;
  resolvedAt: Date | null;
  body: B;
  /** Webhook deliveries of its notifications, oldest first. */
  notifications: unknown[];
  updatedAt: Date;
}

/** One trigger of an alert-capture endpoint and what came of it. */
export interface AlertCaptureRunRecord<D = Record<string, unknown>> {
  id: string;
  configKey: string;
  dedupeKey: string;
  state: string;
  captureKey: string | null;
  detail: D;
  createdAt: Date;
  updatedAt: Date;
}

function toAlert<B>(r: Row): AlertRecord<B> {
  return {
    id: String(r.id), subscriptionId: String(r.subscription_id), ruleKey: String(r.rule_key), targetKey: String(r.target_key),
    monitorCondition: String(r.monitor_condition), firedAt: asDate(r.fired_at), resolvedAt: r.resolved_at ? asDate(r.resolved_at) : null,
    body: asJson(r.body) as B, notifications: (asJson(r.notifications) as unknown[] | null) ?? [], updatedAt: asDate(r.updated_at),
  };
}
