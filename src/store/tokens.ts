import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { Db, Row } from './db.js';
import { StatementBatcher } from './batch.js';
import { asDate, READ_BATCH, type StoreCore } from './store-core.js';

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

/** The description a token row gets when its issuer gives none. */
function defaultTokenDescription(kind: TokenKind, vmKey: string | null): string {
  if (kind === 'admin') return 'admin token: full access to the API';
  if (kind === 'agent') return `agent credential of host ${vmKey ?? '?'}`;
  if (kind === 'servicePrincipal') return 'client secret of a service principal';
  return `one-time enrolment token of host ${vmKey ?? '?'}`;
}

/** Hash under which a token is stored; tokens themselves are never stored. */
export function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/** The bearer tokens (the `api_tokens` table: hashes only): the {@link Store}'s token methods. */
export class TokenQueries {
  private readonly batches: TokenBatches | null;

  constructor(private readonly core: StoreCore) {
    this.batches = core.batch ? tokenBatches(core.db) : null;
  }

  private readonly revocationListeners: Array<(kind: TokenKind, vmKey: string) => void> = [];

  /** Issues a new random token and stores only its hash and what it is for; returns the token (shown once). */
  async issueToken(
    kind: TokenKind,
    options: { vmKey?: string; expiresAt?: Date; token?: string; description?: string; principalId?: string } = {},
  ): Promise<{ id: string; token: string }> {
    const token = options.token ?? `${TOKEN_PREFIXES[kind]}${randomBytes(32).toString('base64url')}`;
    const id = randomUUID();
    await this.core.db.query(
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
          await this.core.db.query(
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

  /**
   * The agent credentials in force (not expired), as their stored hashes ({@link hashToken}) with
   * what {@link verifyToken} says of each, at most `limit` of them: a credential cache primed
   * with them admits a fleet reconnecting after a restart without a database read per handshake.
   */
  async liveAgentCredentials(limit: number): Promise<Array<{ tokenHash: string; info: TokenInfo }>> {
    const rows = await this.core.db.query(
      `SELECT id, kind, vm_key, description, principal_id, token_hash FROM api_tokens WHERE kind = 'agent' AND (expires_at IS NULL OR expires_at > now()) ORDER BY created_at DESC LIMIT $1`,
      [limit],
    );
    return rows.map((r) => ({
      tokenHash: String(r.token_hash),
      info: {
        id: String(r.id),
        kind: r.kind as TokenKind,
        vmKey: (r.vm_key as string | null) ?? null,
        description: (r.description as string | null) ?? null,
        principalId: (r.principal_id as string | null) ?? null,
      },
    }));
  }

  /** Of the given token ids, those that still exist and have not expired. */
  async liveTokenIds(ids: readonly string[]): Promise<Set<string>> {
    if (ids.length === 0) return new Set();
    const rows = await this.core.db.query(
      'SELECT id FROM api_tokens WHERE id = ANY($1::text[]) AND (expires_at IS NULL OR expires_at > now())',
      [[...ids]],
    );
    return new Set(rows.map((r) => String(r.id)));
  }

  /** Every token row (no secrets: the table holds only hashes), oldest first; optionally one kind. */
  async listTokens(kind?: TokenKind): Promise<TokenRow[]> {
    const rows = await this.core.db.query(
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
    const rows = await this.core.db.query(
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
    const rows = await this.core.db.query(
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
      await this.core.db.query('DELETE FROM api_tokens WHERE kind = $1 AND vm_key = $2 RETURNING id', [
        kind,
        vmKey.toLowerCase(),
      ])
    ).length;
    for (const listener of this.revocationListeners) listener(kind, vmKey.toLowerCase());
    return n;
  }

  /** Calls `listener` when this store revokes the tokens of a host (caches of credentials drop theirs). */
  onTokensRevoked(listener: (kind: TokenKind, vmKey: string) => void): void {
    this.revocationListeners.push(listener);
  }

  /** Replaces every admin token by one new one in one transaction (the old ones stop working at once); returns the new token. */
  async rotateAdminToken(description?: string): Promise<{ id: string; token: string }> {
    return this.core.transaction(async (tx) => {
      await tx.db.query(`DELETE FROM api_tokens WHERE kind = 'admin'`);
      // Portal sessions signed in with an admin token end with it (src/web/sessions.ts), not hours later.
      await tx.db.query(`DELETE FROM portal_sessions WHERE principal = 'admin'`);
      return tx.issueToken('admin', description ? { description } : {});
    });
  }

  /** True when at least one admin token exists. */
  async hasAdminToken(): Promise<boolean> {
    return (await this.core.db.query(`SELECT 1 FROM api_tokens WHERE kind = 'admin' LIMIT 1`)).length > 0;
  }
}

/** The batched statements of the tokens. */
interface TokenBatches {
  tokenByHash: StatementBatcher<Row | undefined>;
}

/** The batched statements of the tokens on one database. */
function tokenBatches(db: Db): TokenBatches {
  return {
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
  };
}
