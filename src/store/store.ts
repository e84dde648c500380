import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { Db, Row } from './db.js';
import { ApiError } from '../lib/index.js';
import type { OperationStatusValue } from '../model/stored-bodies.js';
import type { AlertCaptureRunState, MonitorCondition } from '../model/alerts.js';
import type { PacketCaptureStatus } from '../model/packet-capture.js';
import { SecretBox, SecretKeyMismatchError } from './secrets.js';
import { StatementBatcher, type StatementBatcherOptions } from './batch.js';
// The storage order of host metrics in metric rows (the definitions import nothing from the store).
import { HOST_METRICS } from '../alerts/host-metrics.js';
import {
  CAPTURE_TARGET_VM_KEY,
  CAPTURE_TARGETS_PATH,
  HOST_AGENT_CONNECTED_PATH,
  INSTANCE_STATE_FIELDS,
} from '../model/stored-bodies.js';
import { jsonPathArraySql, jsonPathSql, jsonPathTextSql } from './json-path.js';

/** A capture's hosts, as the GIN index resources_capture_targets (migration 10) was built on. */
const CAPTURE_TARGETS_SQL = jsonPathSql('body', CAPTURE_TARGETS_PATH);
/** A host capture state's sequence, for the guard that keeps the newest state. */
const stateSequenceSql = (table: string) =>
  `(${jsonPathTextSql(`${table}.state`, [INSTANCE_STATE_FIELDS.sequence])})::bigint`;
/** The guard of every capture-state upsert: an older state (lower sequence) never replaces a newer one. */
const NEWER_STATE_ONLY = `${stateSequenceSql('capture_instances')} <= ${stateSequenceSql('EXCLUDED')}`;

/** Resource types kept in the `resources` table. */
export type ResourceType =
  | 'watcher'
  | 'vm'
  | 'vmss'
  | 'extension'
  | 'storageAccount'
  | 'packetCapture'
  | 'metricAlert'
  | 'actionGroup'
  | 'alertCapture';

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
export type TokenKind = 'admin' | 'agent' | 'enrollment' | 'servicePrincipal';

/** A verified token. */
export interface TokenInfo {
  id: string;
  kind: TokenKind;
  vmKey: string | null;
  description: string | null;
  /** The service principal (object id) a client secret belongs to; null for other kinds. */ principalId: string | null;
}

/**
 * Prefixes of new tokens, one per kind, so a secret scanner (or a person) can tell an admin
 * token from an agent credential or an enrolment token. Tokens issued before these prefixes
 * (`nwa_` agents included) keep working: tokens are looked up by hash, never by prefix.
 */
export const TOKEN_PREFIXES: Readonly<Record<TokenKind, string>> = {
  admin: 'nwa_',
  agent: 'nwg_',
  enrollment: 'nwe_',
  servicePrincipal: 'nws_',
};

/**
 * Prefix of a join key (issue 14): a reusable, expiring, revocable secret that lets many hosts
 * register and enrol themselves. Distinct from every token prefix, so a scanner tells it apart.
 */
export const JOIN_KEY_PREFIX = 'nwj_';

/** A join key as stored: never the key, only its hash and its rules. */
export interface JoinKeyRow {
  id: string;
  subscriptionId: string;
  resourceGroup: string;
  vmssKey: string | null;
  location: string | null;
  description: string | null;
  maxUses: number | null;
  uses: number;
  createdAt: Date;
  expiresAt: Date | null;
  revokedAt: Date | null;
  lastUsedAt: Date | null;
}

/** Why a join key cannot be used now. */
export type JoinKeyRefusal = 'unknown' | 'revoked' | 'expired' | 'exhausted';

/** What a token row says about itself (the token is never kept, only its hash). */
export interface TokenRow {
  id: string;
  kind: TokenKind;
  vmKey: string | null;
  description: string | null;
  createdAt: Date;
  expiresAt: Date | null;
  usedAt: Date | null;
}

/** Per-host state of one capture, as the server last heard it from the agent. */
export interface CaptureInstanceRecord<S = Record<string, unknown>> {
  captureUid: string;
  vmKey: string;
  captureKey: string;
  state: S;
  updatedAt: Date;
}

/**
 * What an operation document tracks: a capture's create, stop or delete (finished when the hosts
 * report), or an agent extension's install (finished at once).
 */
export type OperationKind = 'create' | 'stop' | 'delete' | 'extension';

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

/** A service principal (an API client): ids and name; its secrets live hashed in api_tokens. */
export interface ServicePrincipalRecord {
  objectId: string;
  appId: string;
  displayName: string;
  createdAt: Date;
}

/** A role assignment: a role (definition GUID) for a principal (or group) at a scope. */
export interface RoleAssignmentRecord {
  /** The assignment's name (a GUID). */
  id: string;
  /** `/subscriptions/S` or `/subscriptions/S/resourceGroups/RG`, as given. */
  scope: string;
  /** The role definition's GUID. */
  roleDefinitionId: string;
  principalId: string;
  principalType: string;
  description: string | null;
  createdAt: Date;
}

function toServicePrincipal(r: Row): ServicePrincipalRecord {
  return {
    objectId: String(r.object_id),
    appId: String(r.app_id),
    displayName: String(r.display_name),
    createdAt: asDate(r.created_at),
  };
}

function toRoleAssignment(r: Row): RoleAssignmentRecord {
  return {
    id: String(r.id),
    scope: String(r.scope),
    roleDefinitionId: String(r.role_definition_id),
    principalId: String(r.principal_id),
    principalType: String(r.principal_type),
    description: (r.description as string | null) ?? null,
    createdAt: asDate(r.created_at),
  };
}

/** A new etag, as ARM writes them. */
export function newEtag(): string {
  return `W/"${randomUUID()}"`;
}

/** The description a token row gets when its issuer gives none. */
function defaultTokenDescription(kind: TokenKind, vmKey: string | null): string {
  if (kind === 'admin') return 'admin token: full access to the API';
  if (kind === 'agent') return `agent credential of host ${vmKey ?? '?'}`;
  if (kind === 'servicePrincipal') return 'client secret of a service principal';
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
    key: String(r.key),
    type: r.type as ResourceType,
    parentKey: (r.parent_key as string | null) ?? null,
    id: String(r.id),
    name: String(r.name),
    subscriptionId: String(r.subscription_id),
    resourceGroup: String(r.resource_group),
    location: (r.location as string | null) ?? null,
    body: asJson(r.body) as B,
    secret: asJson(r.secret) ?? null,
    etag: String(r.etag),
    createdAt: asDate(r.created_at),
    updatedAt: asDate(r.updated_at),
  };
}

function toJoinKey(r: Row): JoinKeyRow {
  return {
    id: String(r.id),
    subscriptionId: String(r.subscription_id),
    resourceGroup: String(r.resource_group),
    vmssKey: (r.vmss_key as string | null) ?? null,
    location: (r.location as string | null) ?? null,
    description: (r.description as string | null) ?? null,
    maxUses: r.max_uses === null || r.max_uses === undefined ? null : Number(r.max_uses),
    uses: Number(r.uses ?? 0),
    createdAt: asDate(r.created_at),
    expiresAt: r.expires_at ? asDate(r.expires_at) : null,
    revokedAt: r.revoked_at ? asDate(r.revoked_at) : null,
    lastUsedAt: r.last_used_at ? asDate(r.last_used_at) : null,
  };
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

/**
 * The server's data access: every SQL statement of the product lives in this class. With a
 * {@link SecretBox}, resource secrets (the `secret` column) and secret settings are sealed before
 * they reach the database and opened when read, here and nowhere else.
 */
export class Store {
  /**
   * The hot lookups and inserts of the API's create path (a capture fan-out, issue 17): concurrent
   * calls share statements (batch.ts). Null in a store bound to a transaction, whose statements
   * run one by one on its own connection.
   */
  private readonly batches: StoreBatches | null;

  constructor(
    readonly db: Db,
    private readonly secrets: SecretBox | null = null,
    options: { batch?: boolean } = {},
  ) {
    this.batches = options.batch === false ? null : storeBatches(db, (r) => this.resource(r));
  }

  /** Runs `fn` with a store bound to one transaction. */
  transaction<T>(fn: (store: Store) => Promise<T>): Promise<T> {
    return this.db.transaction((tx) => fn(new Store(tx, this.secrets, { batch: false })));
  }

  /** The stored form of a resource secret: sealed JSON text when there is a key. */
  private secretParam(secret: unknown): string | null {
    if (secret === undefined || secret === null) return null;
    const json = JSON.stringify(secret);
    return JSON.stringify(this.secrets ? this.secrets.seal(json) : JSON.parse(json));
  }

  private resource<B>(r: Row): ResourceRecord<B> {
    // A sealed secret is a jsonb string: drivers hand it over parsed (PGlite) or as JSON text.
    const raw = typeof r.secret === 'string' && r.secret.startsWith('"') ? (JSON.parse(r.secret) as unknown) : r.secret;
    if (SecretBox.isSealed(raw)) {
      if (!this.secrets)
        throw new SecretKeyMismatchError('the database holds sealed secrets and no secret key was given');
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
    await this.db.query('INSERT INTO server_settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING', [
      'secret-key-check',
      check,
    ]);
    const stored = String(
      (await this.db.query('SELECT value FROM server_settings WHERE name = $1', ['secret-key-check']))[0]!.value,
    );
    if (!box.checks(stored))
      throw new SecretKeyMismatchError(
        "this secret key is not the one the database's secrets were sealed with: give every server of this database the same key file",
      );
    return this.transaction(async (tx) => {
      let sealed = 0;
      const rows = await tx.db.query(
        `SELECT key, secret FROM resources WHERE secret IS NOT NULL AND jsonb_typeof(secret) <> 'string'`,
      );
      for (const r of rows) {
        await tx.db.query('UPDATE resources SET secret = $2 WHERE key = $1', [r.key, tx.secretParam(asJson(r.secret))]);
        sealed++;
      }
      for (const name of secretSettings) {
        const [row] = await tx.db.query('SELECT value FROM server_settings WHERE name = $1', [name]);
        if (row && !SecretBox.isSealed(row.value)) {
          await tx.db.query('UPDATE server_settings SET value = $2 WHERE name = $1', [
            name,
            box.seal(String(row.value)),
          ]);
          sealed++;
        }
      }
      return sealed;
    });
  }

  // ---- resources -------------------------------------------------------------------------

  /** Gets a resource by its lower-cased id key. */
  async getResource<B = Record<string, unknown>>(key: string): Promise<ResourceRecord<B> | null> {
    if (this.batches) {
      const row = await this.batches.resourceByKey.call(key.toLowerCase());
      return row ? this.resource<B>(row) : null;
    }
    const rows = await this.db.query('SELECT * FROM resources WHERE key = $1', [key.toLowerCase()]);
    return rows[0] ? this.resource<B>(rows[0]) : null;
  }

  /** Creates or replaces a resource; returns the stored record (new etag). */
  async putResource<B>(
    r: Omit<ResourceRecord<B>, 'etag' | 'createdAt' | 'updatedAt' | 'secret'> & { secret?: unknown },
  ): Promise<ResourceRecord<B>> {
    const rows = await this.db.query(
      `INSERT INTO resources (key, type, parent_key, id, name, subscription_id, resource_group, location, body, secret, etag)
       VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11)
       ON CONFLICT (key) DO UPDATE SET body = EXCLUDED.body, location = EXCLUDED.location,
         secret = COALESCE(EXCLUDED.secret, resources.secret), etag = EXCLUDED.etag, updated_at = now()
       RETURNING *`,
      [
        r.key.toLowerCase(),
        r.type,
        r.parentKey?.toLowerCase() ?? null,
        r.id,
        r.name,
        r.subscriptionId,
        r.resourceGroup,
        r.location,
        JSON.stringify(r.body),
        r.secret === undefined ? null : this.secretParam(r.secret),
        newEtag(),
      ],
    );
    return this.resource<B>(rows[0]!);
  }

  /** Inserts a resource only if no resource has its key; returns null when one exists. */
  async insertResource<B>(
    r: Omit<ResourceRecord<B>, 'etag' | 'createdAt' | 'updatedAt' | 'secret'> & { secret?: unknown },
  ): Promise<ResourceRecord<B> | null> {
    if (this.batches) {
      // JSON as text, cast in SQL: stored exactly as the one-row statement stores it.
      const secret = r.secret === undefined ? null : this.secretParam(r.secret);
      const row = await this.batches.insertResource.call(r.key.toLowerCase(), {
        key: r.key.toLowerCase(),
        type: r.type,
        parent_key: r.parentKey?.toLowerCase() ?? null,
        id: r.id,
        name: r.name,
        subscription_id: r.subscriptionId,
        resource_group: r.resourceGroup,
        location: r.location,
        body: JSON.stringify(r.body),
        secret,
        etag: newEtag(),
      });
      return row ? this.resource<B>(row) : null;
    }
    const rows = await this.db.query(
      `INSERT INTO resources (key, type, parent_key, id, name, subscription_id, resource_group, location, body, secret, etag)
       VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11) ON CONFLICT (key) DO NOTHING RETURNING *`,
      [
        r.key.toLowerCase(),
        r.type,
        r.parentKey?.toLowerCase() ?? null,
        r.id,
        r.name,
        r.subscriptionId,
        r.resourceGroup,
        r.location,
        JSON.stringify(r.body),
        r.secret === undefined ? null : this.secretParam(r.secret),
        newEtag(),
      ],
    );
    return rows[0] ? this.resource<B>(rows[0]) : null;
  }

  /**
   * Changes a resource's body under a row lock: `change` gets the body as it is now and returns
   * the new one (or null, or the same object, to write nothing). Two read-modify-writes of one
   * record — a delete and an agent's report, say — then never lose each other's changes.
   * @example await store.modifyResourceBody<CaptureBody>(key, (b) => ({ ...b, _internal: { ...b._internal, stopRequested: true } }));
   */
  async modifyResourceBody<B>(key: string, change: (body: B) => B | null): Promise<ResourceRecord<B> | null> {
    if (this.batches)
      return this.batches.modifyBody.call(
        key.toLowerCase(),
        change as (body: unknown) => unknown,
      ) as Promise<ResourceRecord<B> | null>;
    return this.transaction(async (tx) => {
      const current = await tx.lockResource<B>(key);
      if (!current) return null;
      const next = change(current.body);
      if (next === null || next === current.body) return current;
      return tx.updateResourceBody<B>(key, next);
    });
  }

  /** Replaces a resource's body (merging nothing); returns null if it is gone. */
  async updateResourceBody<B>(key: string, body: B): Promise<ResourceRecord<B> | null> {
    const rows = await this.db.query(
      'UPDATE resources SET body = $2, etag = $3, updated_at = now() WHERE key = $1 RETURNING *',
      [key.toLowerCase(), JSON.stringify(body), newEtag()],
    );
    return rows[0] ? this.resource<B>(rows[0]) : null;
  }

  /**
   * At most `limit` resources of a type in list order (creation time to the millisecond, then
   * key: the order of nextLink tokens), after `after` when given. The database reads one page, not
   * the whole list (10,000 VMs).
   */
  async listResourcesPage<B = Record<string, unknown>>(
    type: ResourceType,
    filter: { subscriptionId?: string; resourceGroup?: string; topLevelOnly?: boolean },
    after: { createdAtInMs: number; key: string } | null,
    limit: number,
  ): Promise<ResourceRecord<B>[]> {
    const where = ['type = $1'];
    const params: unknown[] = [type];
    // Without a parent: a scale set's instances are listed under their scale set, not among the VMs.
    if (filter.topLevelOnly) where.push('parent_key IS NULL');
    if (filter.subscriptionId !== undefined) {
      params.push(filter.subscriptionId.toLowerCase());
      where.push(`lower(subscription_id) = $${params.length}`);
    }
    if (filter.resourceGroup !== undefined) {
      params.push(filter.resourceGroup.toLowerCase());
      where.push(`lower(resource_group) = $${params.length}`);
    }
    if (after) {
      params.push(new Date(after.createdAtInMs).toISOString(), after.key);
      where.push(
        `(date_trunc('milliseconds', created_at), key) > ($${params.length - 1}::timestamptz, $${params.length})`,
      );
    }
    params.push(limit);
    const rows = await this.db.query(
      `SELECT * FROM resources WHERE ${where.join(' AND ')} ORDER BY date_trunc('milliseconds', created_at), key LIMIT $${params.length}`,
      params,
    );
    return rows.map((r) => this.resource<B>(r));
  }

  /** Lists resources of a type in a subscription, optionally one resource group or one parent. */
  async listResources<B = Record<string, unknown>>(
    type: ResourceType,
    filter: { subscriptionId?: string; resourceGroup?: string; parentKey?: string; location?: string } = {},
  ): Promise<ResourceRecord<B>[]> {
    if (this.batches && filter.parentKey !== undefined && Object.keys(filter).length === 1) {
      // A VM's extensions (the agent check of every capture create): batched.
      const rows = await this.batches.childrenByType.call(`${type}\n${filter.parentKey.toLowerCase()}`, [
        type,
        filter.parentKey.toLowerCase(),
      ]);
      return rows.map((r) => this.resource<B>(r));
    }
    const where = ['type = $1'];
    const params: unknown[] = [type];
    if (filter.subscriptionId !== undefined) {
      params.push(filter.subscriptionId.toLowerCase());
      where.push(`lower(subscription_id) = $${params.length}`);
    }
    if (filter.resourceGroup !== undefined) {
      params.push(filter.resourceGroup.toLowerCase());
      where.push(`lower(resource_group) = $${params.length}`);
    }
    if (filter.parentKey !== undefined) {
      params.push(filter.parentKey.toLowerCase());
      where.push(`parent_key = $${params.length}`);
    }
    if (filter.location !== undefined) {
      params.push(filter.location.toLowerCase());
      where.push(`lower(location) = $${params.length}`);
    }
    const rows = await this.db.query(
      `SELECT * FROM resources WHERE ${where.join(' AND ')} ORDER BY created_at, key`,
      params,
    );
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
    if (this.batches) {
      const row = await this.batches.captureByUid.call(uid);
      return row ? this.resource<B>(row) : null;
    }
    const rows = await this.db.query(`SELECT * FROM resources WHERE type = 'packetCapture' AND capture_uid = $1`, [
      uid,
    ]);
    return rows[0] ? this.resource<B>(rows[0]) : null;
  }

  /** Captures of a subscription and location that hold a session (not yet finished). */
  async countActiveCaptures(subscriptionId: string, location: string): Promise<number> {
    if (this.batches)
      return this.batches.activeCaptureCount.call(`${subscriptionId.toLowerCase()}\n${location.toLowerCase()}`, [
        subscriptionId.toLowerCase(),
        location.toLowerCase(),
      ]);
    const rows = await this.db.query(
      `SELECT count(*)::int AS n FROM resources WHERE type = 'packetCapture' AND lower(subscription_id) = $1 AND lower(location) = $2 AND capture_active`,
      [subscriptionId.toLowerCase(), location.toLowerCase()],
    );
    return Number(rows[0]?.n ?? 0);
  }

  /** Captures that hold a session and target a host. */
  async listActiveCapturesForVm<B = Record<string, unknown>>(vmKey: string): Promise<ResourceRecord<B>[]> {
    const rows = await this.db.query(
      `SELECT * FROM resources WHERE type = 'packetCapture' AND capture_active AND ${CAPTURE_TARGETS_SQL} @> $1::jsonb`,
      [JSON.stringify([{ [CAPTURE_TARGET_VM_KEY]: vmKey.toLowerCase() }])],
    );
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
    await this.db.query('INSERT INTO server_settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING', [
      name,
      initial(),
    ]);
    const rows = await this.db.query('SELECT value FROM server_settings WHERE name = $1', [name]);
    return String(rows[0]!.value);
  }

  /** Marks every host disconnected (at start: connections belong to a previous process). */
  async markAllAgentsDisconnected(): Promise<void> {
    await this.db.query(
      `UPDATE resources SET body = jsonb_set(body, ${jsonPathArraySql(HOST_AGENT_CONNECTED_PATH)}, 'false'::jsonb) WHERE type = 'vm'`,
    );
  }

  // ---- tokens ----------------------------------------------------------------------------

  /** Issues a new random token and stores only its hash and what it is for; returns the token (shown once). */
  async issueToken(
    kind: TokenKind,
    options: { vmKey?: string; expiresAt?: Date; token?: string; description?: string; principalId?: string } = {},
  ): Promise<{ id: string; token: string }> {
    const token = options.token ?? `${TOKEN_PREFIXES[kind]}${randomBytes(32).toString('base64url')}`;
    const id = randomUUID();
    await this.db.query(
      'INSERT INTO api_tokens (id, kind, token_hash, vm_key, expires_at, description, principal_id) VALUES ($1,$2,$3,$4,$5,$6,$7) ON CONFLICT (token_hash) DO NOTHING',
      [
        id,
        kind,
        hashToken(token),
        options.vmKey?.toLowerCase() ?? null,
        options.expiresAt ?? null,
        options.description ?? defaultTokenDescription(kind, options.vmKey ?? null),
        options.principalId ?? null,
      ],
    );
    return { id, token };
  }

  /** Verifies a bearer token (not an enrolment token); null if unknown or expired. */
  async verifyToken(token: string): Promise<TokenInfo | null> {
    const r = this.batches
      ? await this.batches.tokenByHash.call(hashToken(token))
      : (
          await this.db.query(
            `SELECT id, kind, vm_key, description, principal_id FROM api_tokens WHERE token_hash = $1 AND kind <> 'enrollment' AND (expires_at IS NULL OR expires_at > now())`,
            [hashToken(token)],
          )
        )[0];
    return r
      ? {
          id: String(r.id),
          kind: r.kind as TokenKind,
          vmKey: (r.vm_key as string | null) ?? null,
          description: (r.description as string | null) ?? null,
          principalId: (r.principal_id as string | null) ?? null,
        }
      : null;
  }

  /** Of the given token ids, those that still exist and have not expired. */
  async liveTokenIds(ids: readonly string[]): Promise<Set<string>> {
    if (ids.length === 0) return new Set();
    const rows = await this.db.query(
      'SELECT id FROM api_tokens WHERE id = ANY($1::text[]) AND (expires_at IS NULL OR expires_at > now())',
      [[...ids]],
    );
    return new Set(rows.map((r) => String(r.id)));
  }

  /** Every token row (no secrets: the table holds only hashes), oldest first; optionally one kind. */
  async listTokens(kind?: TokenKind): Promise<TokenRow[]> {
    const rows = await this.db.query(
      `SELECT id, kind, vm_key, description, created_at, expires_at, used_at FROM api_tokens ${kind ? 'WHERE kind = $1' : ''} ORDER BY created_at, id`,
      kind ? [kind] : [],
    );
    return rows.map((r) => ({
      id: String(r.id),
      kind: r.kind as TokenKind,
      vmKey: (r.vm_key as string | null) ?? null,
      description: (r.description as string | null) ?? null,
      createdAt: asDate(r.created_at),
      expiresAt: r.expires_at ? asDate(r.expires_at) : null,
      usedAt: r.used_at ? asDate(r.used_at) : null,
    }));
  }

  /** The credential with this id if it is still valid (not revoked, not expired, not an enrolment token); access tokens minted from it are checked against it. */
  async tokenById(id: string): Promise<Pick<TokenInfo, 'id' | 'kind' | 'vmKey' | 'principalId'> | null> {
    const rows = await this.db.query(
      `SELECT id, kind, vm_key, principal_id FROM api_tokens WHERE id = $1 AND kind <> 'enrollment' AND (expires_at IS NULL OR expires_at > now())`,
      [id],
    );
    const r = rows[0];
    return r
      ? {
          id: String(r.id),
          kind: r.kind as TokenKind,
          vmKey: (r.vm_key as string | null) ?? null,
          principalId: (r.principal_id as string | null) ?? null,
        }
      : null;
  }

  /** Trades a one-time enrolment token: marks it used and returns its VM, or null if unknown, used or expired. */
  async consumeEnrollmentToken(token: string): Promise<{ vmKey: string } | null> {
    const rows = await this.db.query(
      `UPDATE api_tokens SET used_at = now() WHERE token_hash = $1 AND kind = 'enrollment' AND used_at IS NULL AND (expires_at IS NULL OR expires_at > now()) RETURNING vm_key`,
      [hashToken(token)],
    );
    return rows[0] ? { vmKey: String(rows[0].vm_key) } : null;
  }

  /** Revokes every token of a kind for a VM (a re-enrolment replaces the agent's credential); returns how many. */
  async revokeTokens(kind: TokenKind, vmKey: string): Promise<number> {
    // Told before and after: a cache that looked a token up meanwhile must not keep the old answer.
    for (const listener of this.revocationListeners) listener(kind, vmKey.toLowerCase());
    const n = (
      await this.db.query('DELETE FROM api_tokens WHERE kind = $1 AND vm_key = $2 RETURNING id', [
        kind,
        vmKey.toLowerCase(),
      ])
    ).length;
    for (const listener of this.revocationListeners) listener(kind, vmKey.toLowerCase());
    return n;
  }

  private readonly revocationListeners: Array<(kind: TokenKind, vmKey: string) => void> = [];

  /** Calls `listener` when this store revokes the tokens of a host (caches of credentials drop theirs). */
  onTokensRevoked(listener: (kind: TokenKind, vmKey: string) => void): void {
    this.revocationListeners.push(listener);
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

  // ---- service principals and role assignments -------------------------------------------

  /**
   * Creates a service principal (object id and app id: new GUIDs) with one client secret, in one
   * transaction; the secret is returned once and only its hash is kept. 409 Conflict when the
   * display name is taken (names are how people pick a principal, so they are unique here).
   */
  async createServicePrincipal(
    displayName: string,
  ): Promise<{ principal: ServicePrincipalRecord; secret: string; credentialId: string }> {
    return this.transaction(async (tx) => {
      const taken = await tx.db.query('SELECT 1 FROM service_principals WHERE lower(display_name) = lower($1)', [
        displayName,
      ]);
      if (taken.length > 0)
        throw new ApiError(
          'Conflict',
          `A service principal named '${displayName}' exists; reset its secret with nw ad sp credential reset, or pick another name.`,
          { target: 'displayName' },
        );
      const objectId = randomUUID();
      const appId = randomUUID();
      const [row] = await tx.db.query(
        'INSERT INTO service_principals (object_id, app_id, display_name) VALUES ($1,$2,$3) RETURNING object_id, app_id, display_name, created_at',
        [objectId, appId, displayName],
      );
      const { id, token } = await tx.issueToken('servicePrincipal', {
        principalId: objectId,
        description: `client secret of service principal ${displayName} (${appId})`,
      });
      return { principal: toServicePrincipal(row!), secret: token, credentialId: id };
    });
  }

  /** Every service principal, oldest first. */
  async listServicePrincipals(): Promise<ServicePrincipalRecord[]> {
    return (
      await this.db.query(
        'SELECT object_id, app_id, display_name, created_at FROM service_principals ORDER BY created_at, object_id',
      )
    ).map(toServicePrincipal);
  }

  /** The service principal with this object id, app id or display name (case-insensitive), or null. */
  async findServicePrincipal(idOrName: string): Promise<ServicePrincipalRecord | null> {
    const [row] = await this.db.query(
      'SELECT object_id, app_id, display_name, created_at FROM service_principals WHERE lower(object_id) = lower($1) OR lower(app_id) = lower($1) OR lower(display_name) = lower($1) ORDER BY created_at LIMIT 1',
      [idOrName],
    );
    return row ? toServicePrincipal(row) : null;
  }

  /** Replaces every client secret of a service principal by one new one (the old ones, and access tokens minted from them, stop working at once). */
  async resetServicePrincipalSecret(objectId: string): Promise<{ secret: string; credentialId: string }> {
    return this.transaction(async (tx) => {
      const sp = await tx.findServicePrincipal(objectId);
      if (!sp) throw new ApiError('NotFound', `Service principal '${objectId}' was not found.`);
      await tx.db.query(`DELETE FROM api_tokens WHERE kind = 'servicePrincipal' AND principal_id = $1`, [sp.objectId]);
      await tx.db.query(`DELETE FROM portal_sessions WHERE principal = $1`, [`servicePrincipal:${sp.objectId}`]);
      const { id, token } = await tx.issueToken('servicePrincipal', {
        principalId: sp.objectId,
        description: `client secret of service principal ${sp.displayName} (${sp.appId})`,
      });
      return { secret: token, credentialId: id };
    });
  }

  /** Deletes a service principal, its secrets (so its access tokens die), its portal sessions and its role assignments; false when there was none. */
  async deleteServicePrincipal(objectId: string): Promise<boolean> {
    return this.transaction(async (tx) => {
      await tx.db.query(`DELETE FROM api_tokens WHERE kind = 'servicePrincipal' AND principal_id = $1`, [objectId]);
      await tx.db.query(`DELETE FROM portal_sessions WHERE principal = $1`, [`servicePrincipal:${objectId}`]);
      await tx.db.query('DELETE FROM role_assignments WHERE principal_id = $1', [objectId]);
      return (
        (await tx.db.query('DELETE FROM service_principals WHERE object_id = $1 RETURNING object_id', [objectId]))
          .length > 0
      );
    });
  }

  /** Stores a role assignment; 409 Conflict when its name is taken by another, or the same principal already has the role at that scope (ARM's RoleAssignmentExists). */
  async createRoleAssignment(a: Omit<RoleAssignmentRecord, 'createdAt'>): Promise<RoleAssignmentRecord> {
    return this.transaction(async (tx) => {
      const same = await tx.db.query(
        'SELECT id FROM role_assignments WHERE lower(scope) = lower($1) AND lower(role_definition_id) = lower($2) AND lower(principal_id) = lower($3)',
        [a.scope, a.roleDefinitionId, a.principalId],
      );
      if (same.length > 0) throw new ApiError('RoleAssignmentExists', 'The role assignment already exists.');
      const byName = await tx.db.query('SELECT id FROM role_assignments WHERE lower(id) = lower($1)', [a.id]);
      if (byName.length > 0)
        throw new ApiError(
          'Conflict',
          `A role assignment named '${a.id}' exists with other properties; role assignments cannot be updated.`,
          { target: 'name' },
        );
      const [row] = await tx.db.query(
        'INSERT INTO role_assignments (id, scope, role_definition_id, principal_id, principal_type, description) VALUES ($1,$2,$3,$4,$5,$6) RETURNING *',
        [a.id, a.scope, a.roleDefinitionId, a.principalId, a.principalType, a.description],
      );
      return toRoleAssignment(row!);
    });
  }

  /** Every role assignment, optionally only those of some principal ids (a principal and its groups), oldest first. */
  async listRoleAssignments(principalIds?: readonly string[]): Promise<RoleAssignmentRecord[]> {
    const rows = principalIds
      ? await this.db.query(
          'SELECT * FROM role_assignments WHERE lower(principal_id) = ANY($1::text[]) ORDER BY created_at, id',
          [principalIds.map((p) => p.toLowerCase())],
        )
      : await this.db.query('SELECT * FROM role_assignments ORDER BY created_at, id');
    return rows.map(toRoleAssignment);
  }

  /** Deletes a role assignment by name; the deleted one, or null. */
  async deleteRoleAssignment(id: string): Promise<RoleAssignmentRecord | null> {
    const [row] = await this.db.query('DELETE FROM role_assignments WHERE lower(id) = lower($1) RETURNING *', [id]);
    return row ? toRoleAssignment(row) : null;
  }

  // ---- join keys -------------------------------------------------------------------------

  /** Creates a join key; returns its id and the key itself (shown once: only its hash is kept). */
  async createJoinKey(k: {
    subscriptionId: string;
    resourceGroup: string;
    vmssKey: string | null;
    location: string | null;
    description: string | null;
    maxUses: number | null;
    expiresAt: Date | null;
  }): Promise<{ id: string; key: string; row: JoinKeyRow }> {
    const key = `${JOIN_KEY_PREFIX}${randomBytes(32).toString('base64url')}`;
    const id = randomUUID();
    const rows = await this.db.query(
      `INSERT INTO join_keys (id, key_hash, subscription_id, resource_group, vmss_key, location, description, max_uses, expires_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9) RETURNING *`,
      [
        id,
        hashToken(key),
        k.subscriptionId,
        k.resourceGroup,
        k.vmssKey?.toLowerCase() ?? null,
        k.location,
        k.description,
        k.maxUses,
        k.expiresAt,
      ],
    );
    return { id, key, row: toJoinKey(rows[0]!) };
  }

  /** Join keys of a resource group (or every one of the subscription), oldest first; optionally only those of one scale set. */
  async listJoinKeys(filter: {
    subscriptionId: string;
    resourceGroup?: string;
    vmssKey?: string;
  }): Promise<JoinKeyRow[]> {
    const where = ['lower(subscription_id) = $1'];
    const params: unknown[] = [filter.subscriptionId.toLowerCase()];
    if (filter.resourceGroup !== undefined) {
      params.push(filter.resourceGroup.toLowerCase());
      where.push(`lower(resource_group) = $${params.length}`);
    }
    if (filter.vmssKey !== undefined) {
      params.push(filter.vmssKey.toLowerCase());
      where.push(`vmss_key = $${params.length}`);
    }
    const rows = await this.db.query(
      `SELECT * FROM join_keys WHERE ${where.join(' AND ')} ORDER BY created_at, id`,
      params,
    );
    return rows.map(toJoinKey);
  }

  /** Revokes a join key (new joins stop; hosts that joined keep their own credentials); null when there is none with this id. */
  async revokeJoinKey(id: string): Promise<JoinKeyRow | null> {
    const rows = await this.db.query(
      'UPDATE join_keys SET revoked_at = coalesce(revoked_at, now()) WHERE id = $1 RETURNING *',
      [id],
    );
    return rows[0] ? toJoinKey(rows[0]) : null;
  }

  /** Revokes every live join key of a scale set (a new `vmss extension set`, or the scale set deleted); returns how many. */
  async revokeJoinKeysOfScaleSet(vmssKey: string): Promise<number> {
    return (
      await this.db.query(
        'UPDATE join_keys SET revoked_at = now() WHERE vmss_key = $1 AND revoked_at IS NULL RETURNING id',
        [vmssKey.toLowerCase()],
      )
    ).length;
  }

  /**
   * Uses a join key, atomically: in one transaction the key's row is locked, checked (not revoked,
   * not expired, uses below max), `join` runs with a store bound to the same transaction, and the
   * use is counted. Two hosts racing for the last use cannot both get it; a `join` that throws
   * (a name in use) counts nothing and changes nothing.
   */
  async useJoinKey<T>(
    key: string,
    join: (tx: Store, row: JoinKeyRow) => Promise<T>,
  ): Promise<{ ok: true; value: T } | { ok: false; refusal: JoinKeyRefusal; row: JoinKeyRow | null }> {
    return this.transaction(async (tx) => {
      const rows = await tx.db.query(
        'SELECT *, (expires_at IS NOT NULL AND expires_at <= now()) AS expired FROM join_keys WHERE key_hash = $1 FOR UPDATE',
        [hashToken(key)],
      );
      const r = rows[0];
      if (!r) return { ok: false as const, refusal: 'unknown' as const, row: null };
      const row = toJoinKey(r);
      if (row.revokedAt) return { ok: false as const, refusal: 'revoked' as const, row };
      if (r.expired === true) return { ok: false as const, refusal: 'expired' as const, row };
      if (row.maxUses !== null && row.uses >= row.maxUses)
        return { ok: false as const, refusal: 'exhausted' as const, row };
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
  async upsertCaptureInstance(r: {
    captureUid: string;
    vmKey: string;
    captureKey: string;
    state: { sequence: number } & Record<string, unknown>;
  }): Promise<boolean> {
    if (this.batches) return this.batchedUpsertCaptureInstance(r, false);
    const rows = await this.db.query(
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
    const rows = await this.db.query(
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
      : await this.db.query('SELECT * FROM capture_instances WHERE capture_uid = $1 ORDER BY vm_key', [captureUid]);
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
    await this.db.query('DELETE FROM capture_instances WHERE capture_uid = $1', [captureUid]);
  }

  // ---- operations ------------------------------------------------------------------------

  /** Creates an operation document. */
  async createOperation(op: {
    subscriptionId: string;
    location: string;
    kind: OperationKind;
    resourceKey: string | null;
    status?: OperationRecord['status'];
    result?: unknown;
  }): Promise<OperationRecord> {
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
    const rows = await this.db.query(
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
    const rows = await this.db.query('SELECT * FROM operations WHERE id = $1', [id]);
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
    const rows = await this.db.query(
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
    const rows = await this.db.query(
      'SELECT * FROM operations WHERE resource_key = $1 AND kind = $2 ORDER BY created_at DESC LIMIT 1',
      [resourceKey.toLowerCase(), kind],
    );
    return rows[0] ? toOperation(rows[0]) : null;
  }

  /** In-progress operations of a kind on a resource. */
  async pendingOperations(resourceKey: string, kind: OperationKind): Promise<OperationRecord[]> {
    const rows = await this.db.query(
      `SELECT * FROM operations WHERE resource_key = $1 AND kind = $2 AND status = 'InProgress'`,
      [resourceKey.toLowerCase(), kind],
    );
    return rows.map(toOperation);
  }

  // ---- host metrics, metric alerts, alert-triggered captures (src/alerts) ----------------

  /**
   * The small numbers that stand for hosts in metric rows (metric_hosts), made on first use and
   * kept for the life of this store: an ARM id in every one-second row would be most of its size.
   */
  private async metricHostIds(keys: Iterable<string>): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    const missing: string[] = [];
    for (const key of new Set([...keys].map((k) => k.toLowerCase()))) {
      const id = this.metricHostIdCache.get(key);
      if (id === undefined) missing.push(key);
      else out.set(key, id);
    }
    if (missing.length > 0) {
      const json = JSON.stringify(missing);
      await this.db.query(
        'INSERT INTO metric_hosts (vm_key) SELECT jsonb_array_elements_text($1::jsonb) ON CONFLICT (vm_key) DO NOTHING',
        [json],
      );
      for (const r of await this.db.query(
        'SELECT id, vm_key FROM metric_hosts WHERE vm_key IN (SELECT jsonb_array_elements_text($1::jsonb))',
        [json],
      )) {
        this.metricHostIdCache.set(String(r.vm_key), Number(r.id));
        out.set(String(r.vm_key), Number(r.id));
      }
    }
    return out;
  }

  private readonly metricHostIdCache = new Map<string, number>();

  /**
   * Stores host metric reports, one row each (metric_raw: the values in HOST_METRICS order).
   * However many there are, each statement carries at most {@link METRIC_ROWS_PER_STATEMENT} rows
   * in one JSON parameter: never near PostgreSQL's 65,535-parameter limit, and never one long hold
   * of the embedded database. Throws when a statement fails; rows of earlier statements stay.
   */
  async insertMetricSamples(samples: readonly MetricSampleRow[]): Promise<void> {
    for (let i = 0; i < samples.length; i += METRIC_ROWS_PER_STATEMENT) {
      const chunk = samples.slice(i, i + METRIC_ROWS_PER_STATEMENT);
      const ids = await this.metricHostIds(chunk.map((s) => s.vmKey));
      const rows = chunk.map((s) => ({
        h: ids.get(s.vmKey.toLowerCase()),
        a: s.at.getTime(),
        v: HOST_METRICS.map((m) => s.metrics[m.name] ?? null),
      }));
      await this.db.query(
        'INSERT INTO metric_raw (host_id, at, v) SELECT h, to_timestamp(a / 1000.0), v FROM jsonb_to_recordset($1::jsonb) AS x(h integer, a float8, v float8[])',
        [JSON.stringify(rows)],
      );
    }
  }

  /** Stores per-host, per-minute aggregates (metric_minutes), in statements of at most {@link METRIC_ROWS_PER_STATEMENT} rows. */
  async insertMetricMinutes(minutes: readonly MetricMinuteRow[]): Promise<void> {
    for (let i = 0; i < minutes.length; i += METRIC_ROWS_PER_STATEMENT) {
      const chunk = minutes.slice(i, i + METRIC_ROWS_PER_STATEMENT);
      const ids = await this.metricHostIds(chunk.map((m) => m.vmKey));
      const rows = chunk.map((m) => ({
        h: ids.get(m.vmKey.toLowerCase()),
        a: m.minute.getTime(),
        n: m.count,
        t: m.total,
        lo: m.minimum,
        hi: m.maximum,
      }));
      await this.db.query(
        `INSERT INTO metric_minutes (host_id, minute, n, total, lo, hi)
         SELECT h, to_timestamp(a / 1000.0), n, t, lo, hi FROM jsonb_to_recordset($1::jsonb) AS x(h integer, a float8, n integer[], t float8[], lo float8[], hi float8[])`,
        [JSON.stringify(rows)],
      );
    }
  }

  /**
   * One metric of one host aggregated per time grain over [from, to): bucket start (ms since the
   * epoch, a multiple of grainInMs), total, count, minimum and maximum. Buckets without samples are
   * absent. Where the per-report rows were pruned (before {@link setMetricRawSince}), the
   * per-minute rows answer, each in the grain its minute starts in.
   */
  async aggregateMetricSamples(
    vmKey: string,
    metricName: string,
    from: Date,
    to: Date,
    grainInMs: number,
  ): Promise<MetricBucketRow[]> {
    const index = metricIndex(metricName);
    if (index === 0) return [];
    const rows = await this.db.query(
      `WITH since AS (${RAW_SINCE}), host AS (SELECT id FROM metric_hosts WHERE vm_key = $1),
       pts AS (
         SELECT extract(epoch FROM r.at) AS e, r.v[$2] AS total, 1 AS n, r.v[$2] AS lo, r.v[$2] AS hi
         FROM metric_raw r, host, since WHERE r.host_id = host.id AND r.at >= $3 AND r.at < $4 AND r.at >= since.t AND r.v[$2] IS NOT NULL
         UNION ALL
         SELECT extract(epoch FROM m.minute), m.total[$2], m.n[$2], m.lo[$2], m.hi[$2]
         FROM metric_minutes m, host, since WHERE m.host_id = host.id AND m.minute >= $3 AND m.minute < $4 AND m.minute < since.t AND m.n[$2] > 0)
       SELECT (floor(e * 1000 / $5) * $5)::float8 AS bucket, sum(total)::float8 AS total, sum(n)::int AS n, min(lo)::float8 AS minimum, max(hi)::float8 AS maximum
       FROM pts GROUP BY 1 ORDER BY 1`,
      [vmKey.toLowerCase(), index, from, to, grainInMs],
    );
    return rows.map((r) => ({
      bucketStartInMs: Number(r.bucket),
      total: Number(r.total),
      count: Number(r.n),
      minimum: Number(r.minimum),
      maximum: Number(r.maximum),
    }));
  }

  /** One metric aggregated over (from, to] for each of several hosts; hosts without samples are absent. Pruned spans are answered by minute as in {@link aggregateMetricSamples}. */
  async aggregateMetricWindow(
    vmKeys: readonly string[],
    metricName: string,
    from: Date,
    to: Date,
  ): Promise<Map<string, Omit<MetricBucketRow, 'bucketStartInMs'>>> {
    const index = metricIndex(metricName);
    if (vmKeys.length === 0 || index === 0) return new Map();
    const rows = await this.db.query(
      `WITH since AS (${RAW_SINCE}), hosts AS (SELECT id, vm_key FROM metric_hosts WHERE vm_key = ANY($1::text[])),
       pts AS (
         SELECT r.host_id, r.v[$2] AS total, 1 AS n, r.v[$2] AS lo, r.v[$2] AS hi
         FROM metric_raw r JOIN hosts ON r.host_id = hosts.id, since WHERE r.at > $3 AND r.at <= $4 AND r.at >= since.t AND r.v[$2] IS NOT NULL
         UNION ALL
         SELECT m.host_id, m.total[$2], m.n[$2], m.lo[$2], m.hi[$2]
         FROM metric_minutes m JOIN hosts ON m.host_id = hosts.id, since WHERE m.minute >= $3 AND m.minute < $4 AND m.minute < since.t AND m.n[$2] > 0)
       SELECT hosts.vm_key, sum(total)::float8 AS total, sum(n)::int AS n, min(lo)::float8 AS minimum, max(hi)::float8 AS maximum
       FROM pts JOIN hosts ON hosts.id = pts.host_id GROUP BY hosts.vm_key`,
      [vmKeys.map((k) => k.toLowerCase()), index, from, to],
    );
    return new Map(
      rows.map((r) => [
        String(r.vm_key),
        { total: Number(r.total), count: Number(r.n), minimum: Number(r.minimum), maximum: Number(r.maximum) },
      ]),
    );
  }

  /**
   * From `since` (a whole minute) on, queries read per-report rows; before it, per-minute rows.
   * Set before per-report rows are pruned, so no query reads a span being deleted. It only moves forward.
   */
  async setMetricRawSince(since: Date): Promise<void> {
    await this.db.query(
      `INSERT INTO server_settings (name, value) VALUES ('metric-raw-since', $1) ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value
       WHERE server_settings.value::timestamptz < EXCLUDED.value::timestamptz`,
      [since.toISOString()],
    );
  }

  /** Deletes at most `limit` per-report rows older than `before`; returns how many. */
  async pruneMetricSamplesBatch(before: Date, limit: number = METRIC_PRUNE_BATCH): Promise<number> {
    return (
      await this.db.query(
        'DELETE FROM metric_raw WHERE ctid = ANY(ARRAY(SELECT ctid FROM metric_raw WHERE at < $1 LIMIT $2)) RETURNING 1',
        [before, limit],
      )
    ).length;
  }

  /** Deletes at most `limit` per-minute rows older than `before`; returns how many. */
  async pruneMetricMinutesBatch(before: Date, limit: number = METRIC_PRUNE_BATCH): Promise<number> {
    return (
      await this.db.query(
        'DELETE FROM metric_minutes WHERE ctid = ANY(ARRAY(SELECT ctid FROM metric_minutes WHERE minute < $1 LIMIT $2)) RETURNING 1',
        [before, limit],
      )
    ).length;
  }

  /**
   * Deletes per-report rows older than `before` in batches of {@link METRIC_PRUNE_BATCH}, pausing
   * `pauseInMs` between them so other work runs in between; returns how many.
   */
  async pruneMetricSamples(before: Date, pauseInMs = 0): Promise<number> {
    let total = 0;
    for (;;) {
      const n = await this.pruneMetricSamplesBatch(before);
      total += n;
      if (n < METRIC_PRUNE_BATCH) return total;
      await new Promise((r) => setTimeout(r, pauseInMs));
    }
  }

  /** Deletes per-minute rows older than `before`, in batches as {@link pruneMetricSamples}. */
  async pruneMetricMinutes(before: Date, pauseInMs = 0): Promise<number> {
    let total = 0;
    for (;;) {
      const n = await this.pruneMetricMinutesBatch(before);
      total += n;
      if (n < METRIC_PRUNE_BATCH) return total;
      await new Promise((r) => setTimeout(r, pauseInMs));
    }
  }

  /** Bytes the host metric tables take on disk (rows and indexes), for sizing. */
  async metricStorageInBytes(): Promise<{ raw: number; minutes: number; rawRows: number; minuteRows: number }> {
    const [r] = await this.db.query(
      `SELECT pg_total_relation_size('metric_raw')::float8 AS raw, pg_total_relation_size('metric_minutes')::float8 AS minutes,
              (SELECT count(*) FROM metric_raw)::float8 AS raw_rows, (SELECT count(*) FROM metric_minutes)::float8 AS minute_rows`,
    );
    return {
      raw: Number(r!.raw),
      minutes: Number(r!.minutes),
      rawRows: Number(r!.raw_rows),
      minuteRows: Number(r!.minute_rows),
    };
  }

  /** Schedules a metric alert rule (or changes its frequency), first evaluation at `firstAt`. */
  async scheduleAlertRule(ruleKey: string, frequencyInMs: number, firstAt: Date): Promise<void> {
    await this.db.query(
      `INSERT INTO alert_rule_schedule (rule_key, frequency_ms, next_evaluation_at) VALUES ($1, $2, $3)
       ON CONFLICT (rule_key) DO UPDATE SET frequency_ms = EXCLUDED.frequency_ms, next_evaluation_at = EXCLUDED.next_evaluation_at`,
      [ruleKey.toLowerCase(), Math.round(frequencyInMs), firstAt],
    );
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
       WHERE next_evaluation_at <= $1 RETURNING rule_key`,
      [now],
    );
    return rows.map((r) => String(r.rule_key));
  }

  /** Per-target evaluation state of a rule. */
  async getAlertTargetStates<S>(ruleKey: string): Promise<Map<string, S>> {
    const rows = await this.db.query('SELECT target_key, state FROM alert_targets WHERE rule_key = $1', [
      ruleKey.toLowerCase(),
    ]);
    return new Map(rows.map((r) => [String(r.target_key), asJson(r.state) as S]));
  }

  /** Records the evaluation state of one target of a rule. */
  async putAlertTargetState(ruleKey: string, targetKey: string, state: unknown): Promise<void> {
    await this.db.query(
      `INSERT INTO alert_targets (rule_key, target_key, state) VALUES ($1, $2, $3)
       ON CONFLICT (rule_key, target_key) DO UPDATE SET state = EXCLUDED.state, updated_at = now()`,
      [ruleKey.toLowerCase(), targetKey.toLowerCase(), JSON.stringify(state)],
    );
  }

  /** Records a fired alert. */
  async insertAlert<B>(alert: Omit<AlertRecord<B>, 'updatedAt' | 'notifications'>): Promise<void> {
    await this.db.query(
      'INSERT INTO alerts (id, subscription_id, rule_key, target_key, monitor_condition, fired_at, resolved_at, body) VALUES ($1,$2,$3,$4,$5,$6,$7,$8)',
      [
        alert.id,
        alert.subscriptionId,
        alert.ruleKey.toLowerCase(),
        alert.targetKey.toLowerCase(),
        alert.monitorCondition,
        alert.firedAt,
        alert.resolvedAt,
        JSON.stringify(alert.body),
      ],
    );
  }

  /** Changes an alert's condition and body; returns the new record, or null if it is gone. */
  async updateAlert<B>(
    id: string,
    change: { monitorCondition: MonitorCondition; resolvedAt: Date | null; body: B },
  ): Promise<AlertRecord<B> | null> {
    const rows = await this.db.query(
      'UPDATE alerts SET monitor_condition = $2, resolved_at = $3, body = $4, updated_at = now() WHERE id = $1 RETURNING *',
      [id, change.monitorCondition, change.resolvedAt, JSON.stringify(change.body)],
    );
    return rows[0] ? toAlert<B>(rows[0]) : null;
  }

  /** Appends delivery records to an alert (atomically: deliveries of one alert finish in any order). */
  async appendAlertNotifications(id: string, entries: readonly unknown[]): Promise<void> {
    if (entries.length === 0) return;
    await this.db.query('UPDATE alerts SET notifications = notifications || $2::jsonb WHERE id = $1', [
      id,
      JSON.stringify(entries),
    ]);
  }

  /** One alert by id (case-insensitive). */
  async getAlert<B>(id: string): Promise<AlertRecord<B> | null> {
    const rows = await this.db.query('SELECT * FROM alerts WHERE lower(id) = lower($1)', [id]);
    return rows[0] ? toAlert<B>(rows[0]) : null;
  }

  /** Alerts of a subscription, newest first, optionally of one rule, one target or one condition. */
  async listAlerts<B>(filter: {
    subscriptionId: string;
    ruleKey?: string;
    targetKey?: string;
    monitorCondition?: string;
    limit?: number;
  }): Promise<AlertRecord<B>[]> {
    const where = ['lower(subscription_id) = $1'];
    const params: unknown[] = [filter.subscriptionId.toLowerCase()];
    if (filter.ruleKey) {
      params.push(filter.ruleKey.toLowerCase());
      where.push(`rule_key = $${params.length}`);
    }
    if (filter.targetKey) {
      params.push(filter.targetKey.toLowerCase());
      where.push(`target_key = $${params.length}`);
    }
    if (filter.monitorCondition) {
      params.push(filter.monitorCondition.toLowerCase());
      where.push(`lower(monitor_condition) = $${params.length}`);
    }
    params.push(filter.limit ?? 1000);
    const rows = await this.db.query(
      `SELECT * FROM alerts WHERE ${where.join(' AND ')} ORDER BY fired_at DESC, id LIMIT $${params.length}`,
      params,
    );
    return rows.map((r) => toAlert<B>(r));
  }

  /**
   * Records a trigger of an alert-capture endpoint unless one with the same de-duplication key was
   * recorded (the same firing delivered twice). Returns false for such a duplicate.
   */
  async insertAlertCaptureRun(run: {
    id: string;
    configKey: string;
    dedupeKey: string;
    state: AlertCaptureRunState;
    captureKey: string | null;
    detail: unknown;
  }): Promise<boolean> {
    const rows = await this.db.query(
      `INSERT INTO alert_capture_runs (id, config_key, dedupe_key, state, capture_key, detail) VALUES ($1,$2,$3,$4,$5,$6)
       ON CONFLICT (config_key, dedupe_key) DO NOTHING RETURNING id`,
      [
        run.id,
        run.configKey.toLowerCase(),
        run.dedupeKey,
        run.state,
        run.captureKey?.toLowerCase() ?? null,
        JSON.stringify(run.detail),
      ],
    );
    return rows.length > 0;
  }

  /** Changes a run (a new dedupeKey releases the old one); with `fromState`, only if it is still in that state (a claim). Returns whether it changed. */
  async updateAlertCaptureRun(
    id: string,
    change: { state: AlertCaptureRunState; captureKey?: string | null; dedupeKey?: string; detail: unknown },
    fromState?: AlertCaptureRunState,
  ): Promise<boolean> {
    const params: unknown[] = [id, change.state, JSON.stringify(change.detail)];
    let sets = 'state = $2, detail = $3, updated_at = now()';
    if (change.captureKey !== undefined) {
      params.push(change.captureKey?.toLowerCase() ?? null);
      sets += `, capture_key = $${params.length}`;
    }
    if (change.dedupeKey !== undefined) {
      params.push(change.dedupeKey);
      sets += `, dedupe_key = $${params.length}`;
    }
    let where = 'id = $1';
    if (fromState !== undefined) {
      params.push(fromState);
      where += ` AND state = $${params.length}`;
    }
    return (
      (await this.db.query(`UPDATE alert_capture_runs SET ${sets} WHERE ${where} RETURNING id`, params)).length > 0
    );
  }

  /** Runs of an alert-capture endpoint (or every endpoint), newest first, optionally in one state. */
  async listAlertCaptureRuns<D>(
    filter: { configKey?: string; state?: AlertCaptureRunState; limit?: number } = {},
  ): Promise<AlertCaptureRunRecord<D>[]> {
    const where: string[] = ['true'];
    const params: unknown[] = [];
    if (filter.configKey) {
      params.push(filter.configKey.toLowerCase());
      where.push(`config_key = $${params.length}`);
    }
    if (filter.state) {
      params.push(filter.state);
      where.push(`state = $${params.length}`);
    }
    params.push(filter.limit ?? 1000);
    const rows = await this.db.query(
      `SELECT * FROM alert_capture_runs WHERE ${where.join(' AND ')} ORDER BY created_at DESC, id LIMIT $${params.length}`,
      params,
    );
    return rows.map((r) => ({
      id: String(r.id),
      configKey: String(r.config_key),
      dedupeKey: String(r.dedupe_key),
      state: r.state as AlertCaptureRunState,
      captureKey: (r.capture_key as string | null) ?? null,
      detail: asJson(r.detail) as D,
      createdAt: asDate(r.created_at),
      updatedAt: asDate(r.updated_at),
    }));
  }

  /** Deletes finished runs last changed before `before` (history retention); returns how many. */
  async pruneAlertCaptureRuns(before: Date, finishedStates: readonly AlertCaptureRunState[]): Promise<number> {
    return (
      await this.db.query(
        'DELETE FROM alert_capture_runs WHERE updated_at < $1 AND state = ANY($2::text[]) RETURNING 1',
        [before, [...finishedStates]],
      )
    ).length;
  }

  /** Capture sessions per host state with their packet and kernel-drop sums (for the Prometheus endpoint). */
  async captureInstanceTotals(): Promise<
    Array<{ status: PacketCaptureStatus; sessions: number; packetsCaptured: number; kernelPacketsDropped: number }>
  > {
    const rows = await this.db.query(
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

/** One host metric report as stored. */
/** The batched statements of a store (see {@link Store.batches}). */
interface StoreBatches {
  resourceByKey: StatementBatcher<Row | null>;
  childrenByType: StatementBatcher<Row[], [string, string]>;
  captureByUid: StatementBatcher<Row | null>;
  activeCaptureCount: StatementBatcher<number, [string, string]>;
  tokenByHash: StatementBatcher<Row | undefined>;
  captureInstances: StatementBatcher<Row[]>;
  latestOperation: StatementBatcher<Row | null, [string, string]>;
  insertResource: StatementBatcher<Row | null, Record<string, unknown>>;
  insertOperation: StatementBatcher<Row, Record<string, unknown>>;
  upsertCaptureInstance: StatementBatcher<boolean, Record<string, unknown>>;
  finishOperations: StatementBatcher<number, Record<string, unknown>>;
  modifyBody: StatementBatcher<ResourceRecord | null, (body: unknown) => unknown>;
}

/** Calls per batched statement, and runs of one statement in flight at once. */
const READ_BATCH: StatementBatcherOptions = { maxCallsPerRun: 500, maxRunsInFlight: 2 };
const WRITE_BATCH: StatementBatcherOptions = { maxCallsPerRun: 200, maxRunsInFlight: 2, retryAlone: true };
const UPDATE_BATCH: StatementBatcherOptions = { ...WRITE_BATCH, oneCallPerKey: true };

/**
 * A row for each of its callers: the first gets the row as read, the others their own copy (the
 * drivers hand over parsed JSON, and two requests must never share a body one of them changes).
 */
const own = (row: Row, nth: number): Row => (nth === 0 ? row : structuredClone(row));
const ownRows = (rows: Row[], nth: number): Row[] => (nth === 0 ? rows : structuredClone(rows));

/** Rows grouped by a column, in the order read. */
function groupBy(rows: Row[], column: (r: Row) => string): Map<string, Row[]> {
  const out = new Map<string, Row[]>();
  for (const r of rows) {
    const k = column(r);
    const list = out.get(k);
    if (list) list.push(r);
    else out.set(k, [r]);
  }
  return out;
}

/**
 * The batched statements on one database. In the multi-row inserts each row's `clock_timestamp()`
 * is its own, so rows keep their callers' order in time (lists sort by creation time).
 */
function storeBatches(db: Db, resourceOf: (r: Row) => ResourceRecord): StoreBatches {
  return {
    // Store.modifyResourceBody for many records in one transaction: every row locked (in key
    // order) before any change reads it, the changed ones written in one statement.
    modifyBody: new StatementBatcher(
      async (keys, changes) =>
        db.transaction(async (tx) => {
          const current = new Map(
            (await tx.query('SELECT * FROM resources WHERE key = ANY($1::text[]) ORDER BY key FOR UPDATE', [keys])).map(
              (r) => [String(r.key), resourceOf(r)],
            ),
          );
          const outcome = new Map<string, { record: ResourceRecord | null } | { error: unknown }>();
          const writes: Array<{ key: string; body: string; etag: string }> = [];
          keys.forEach((key, i) => {
            const rec = current.get(key);
            if (!rec) {
              outcome.set(key, { record: null });
              return;
            }
            try {
              const next = changes[i]!(rec.body);
              if (next === null || next === rec.body) outcome.set(key, { record: rec });
              else writes.push({ key, body: JSON.stringify(next), etag: newEtag() });
            } catch (error) {
              outcome.set(key, { error });
            }
          });
          if (writes.length > 0) {
            for (const r of await tx.query(
              `UPDATE resources r SET body = u.body::jsonb, etag = u.etag, updated_at = now() FROM jsonb_to_recordset($1::jsonb) AS u(key text, body text, etag text)
          WHERE r.key = u.key RETURNING r.*`,
              [JSON.stringify(writes)],
            ))
              outcome.set(String(r.key), { record: resourceOf(r) });
          }
          return (key: string) => {
            const o = outcome.get(key) ?? { record: null };
            if ('error' in o) throw o.error;
            return o.record;
          };
        }),
      UPDATE_BATCH,
    ),
    resourceByKey: new StatementBatcher(async (keys) => {
      const rows = new Map(
        (await db.query('SELECT * FROM resources WHERE key = ANY($1::text[])', [keys])).map((r) => [String(r.key), r]),
      );
      return (key, nth) => {
        const r = rows.get(key);
        return r ? own(r, nth) : null;
      };
    }, READ_BATCH),
    childrenByType: new StatementBatcher(async (keys, inputs) => {
      const rows = groupBy(
        await db.query(
          `SELECT * FROM resources WHERE (type, parent_key) IN (SELECT * FROM unnest($1::text[], $2::text[])) ORDER BY created_at, key`,
          [inputs.map((i) => i[0]), inputs.map((i) => i[1])],
        ),
        (r) => `${String(r.type)}\n${String(r.parent_key)}`,
      );
      return (key, nth) => ownRows(rows.get(key) ?? [], nth);
    }, READ_BATCH),
    captureByUid: new StatementBatcher(async (uids) => {
      const rows = groupBy(
        await db.query(`SELECT * FROM resources WHERE type = 'packetCapture' AND capture_uid = ANY($1::text[])`, [
          uids,
        ]),
        (r) => String(r.capture_uid),
      );
      return (uid, nth) => {
        const r = rows.get(uid)?.[0];
        return r ? own(r, nth) : null;
      };
    }, READ_BATCH),
    activeCaptureCount: new StatementBatcher(async (keys, inputs) => {
      const rows = await db.query(
        `SELECT lower(subscription_id) AS s, lower(location) AS l, count(*)::int AS n FROM resources WHERE type = 'packetCapture'
           AND (lower(subscription_id), lower(location)) IN (SELECT * FROM unnest($1::text[], $2::text[])) AND capture_active GROUP BY 1, 2`,
        [inputs.map((i) => i[0]), inputs.map((i) => i[1])],
      );
      const counts = new Map(rows.map((r) => [`${String(r.s)}\n${String(r.l)}`, Number(r.n)]));
      return (key) => counts.get(key) ?? 0;
    }, READ_BATCH),
    tokenByHash: new StatementBatcher(async (hashes) => {
      const rows = new Map(
        (
          await db.query(
            `SELECT id, kind, vm_key, description, principal_id, token_hash FROM api_tokens WHERE token_hash = ANY($1::text[]) AND kind <> 'enrollment' AND (expires_at IS NULL OR expires_at > now())`,
            [hashes],
          )
        ).map((r) => [String(r.token_hash), r]),
      );
      return (hash) => rows.get(hash);
    }, READ_BATCH),
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
    insertResource: new StatementBatcher(async (keys, inputs) => {
      const rows = new Map(
        (
          await db.query(
            `INSERT INTO resources (key, type, parent_key, id, name, subscription_id, resource_group, location, body, secret, etag, created_at, updated_at)
         SELECT key, type, parent_key, id, name, subscription_id, resource_group, location, body::jsonb, secret::jsonb, etag, at, at
           FROM (SELECT t.*, clock_timestamp() AS at FROM jsonb_to_recordset($1::jsonb) AS t(key text, type text, parent_key text, id text, name text,
             subscription_id text, resource_group text, location text, body text, secret text, etag text)) AS s
         ON CONFLICT (key) DO NOTHING RETURNING *`,
            [JSON.stringify(inputs)],
          )
        ).map((r) => [String(r.key), r]),
      );
      // A second call for the same key in one run found it taken, as it would have alone.
      return (key, nth) => (nth === 0 ? (rows.get(key) ?? null) : null);
    }, WRITE_BATCH),
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

export interface MetricSampleRow {
  vmKey: string;
  at: Date;
  metrics: Record<string, number>;
}

/** One host's reports of one minute, aggregated: per metric (in HOST_METRICS order) how many reports had it, their sum, least and largest value (0 where none had it). */
export interface MetricMinuteRow {
  vmKey: string;
  minute: Date;
  count: number[];
  total: number[];
  minimum: number[];
  maximum: number[];
}

/**
 * Most rows one metric statement writes. Each statement binds one JSON document whatever its
 * size, so PostgreSQL's 65,535-parameter limit is never near; the bound keeps each statement short
 * (a few ms), so the embedded database, which runs on the server's own thread, is never held long.
 */
export const METRIC_ROWS_PER_STATEMENT = 2_000;

/** Most rows one prune statement deletes (a few ms on either engine). */
export const METRIC_PRUNE_BATCH = 5_000;

/** The time from which per-report rows answer queries (per-minute rows before it). */
const RAW_SINCE = `SELECT coalesce((SELECT value::timestamptz FROM server_settings WHERE name = 'metric-raw-since'), '-infinity'::timestamptz) AS t`;

/** 1-based position of a metric in metric rows (HOST_METRICS order), 0 when it is not a host metric. */
function metricIndex(name: string): number {
  const lower = name.toLowerCase();
  return HOST_METRICS.findIndex((m) => m.name.toLowerCase() === lower) + 1;
}

/** One time-grain bucket of a metric. */
export interface MetricBucketRow {
  bucketStartInMs: number;
  total: number;
  count: number;
  minimum: number;
  maximum: number;
}

/** A fired (and maybe resolved) metric alert. */
export interface AlertRecord<B = Record<string, unknown>> {
  id: string;
  subscriptionId: string;
  ruleKey: string;
  targetKey: string;
  monitorCondition: MonitorCondition;
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
  state: AlertCaptureRunState;
  captureKey: string | null;
  detail: D;
  createdAt: Date;
  updatedAt: Date;
}

function toAlert<B>(r: Row): AlertRecord<B> {
  return {
    id: String(r.id),
    subscriptionId: String(r.subscription_id),
    ruleKey: String(r.rule_key),
    targetKey: String(r.target_key),
    monitorCondition: r.monitor_condition as MonitorCondition,
    firedAt: asDate(r.fired_at),
    resolvedAt: r.resolved_at ? asDate(r.resolved_at) : null,
    body: asJson(r.body) as B,
    notifications: (asJson(r.notifications) as unknown[] | null) ?? [],
    updatedAt: asDate(r.updated_at),
  };
}
