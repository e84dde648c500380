import { randomBytes, randomUUID } from 'node:crypto';
import type { Row } from './db.js';
import type { Store } from './store.js';
import { hashToken } from './tokens.js';
import { asDate, type StoreCore } from './store-core.js';

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

/** What a new join key is for and its rules. */
export type NewJoinKey = Pick<
  JoinKeyRow,
  'subscriptionId' | 'resourceGroup' | 'vmssKey' | 'location' | 'description' | 'maxUses' | 'expiresAt'
>;

/** Why a join key cannot be used now. */
export type JoinKeyRefusal = 'unknown' | 'revoked' | 'expired' | 'exhausted';

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

/** Join keys (issue 14): the {@link Store}'s join-key methods. */
export class JoinKeyQueries {
  constructor(private readonly core: StoreCore) {}

  /** Creates a join key; returns its id and the key itself (shown once: only its hash is kept). */
  async createJoinKey(k: NewJoinKey): Promise<{ id: string; key: string; row: JoinKeyRow }> {
    const key = `${JOIN_KEY_PREFIX}${randomBytes(32).toString('base64url')}`;
    const id = randomUUID();
    const rows = await this.core.db.query(
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
    const rows = await this.core.db.query(
      `SELECT * FROM join_keys WHERE ${where.join(' AND ')} ORDER BY created_at, id`,
      params,
    );
    return rows.map(toJoinKey);
  }

  /** Revokes a join key (new joins stop; hosts that joined keep their own credentials); null when there is none with this id. */
  async revokeJoinKey(id: string): Promise<JoinKeyRow | null> {
    const rows = await this.core.db.query(
      'UPDATE join_keys SET revoked_at = coalesce(revoked_at, now()) WHERE id = $1 RETURNING *',
      [id],
    );
    return rows[0] ? toJoinKey(rows[0]) : null;
  }

  /** Revokes every live join key of a scale set (a new `vmss extension set`, or the scale set deleted); returns how many. */
  async revokeJoinKeysOfScaleSet(vmssKey: string): Promise<number> {
    return (
      await this.core.db.query(
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
    return this.core.transaction(async (tx) => {
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
}
