import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Db } from '../store/index.js';
import type { Principal } from '../server/principal.js';

/** How long a session lives at most from sign-in. */
export const SESSION_LIFETIME_IN_SECONDS = 12 * 3600;
/** A session not used for this long is over (a laptop left signed in). */
export const SESSION_IDLE_TIMEOUT_IN_SECONDS = 3600;
/** last_used_at is written at most this often, so reads do not each cost a write. */
const TOUCH_INTERVAL_IN_SECONDS = 60;

/** A live portal session. */
export interface PortalSession {
  /** Who signed in, as the portal shows it (for the admin token: `admin`; for a user: the name). */
  principal: string;
  /**
   * Whom the session acts for, as stored: `admin`, `servicePrincipal:OBJECTID`, or a signed-in
   * user's principal as JSON. Only src/server/session-principal.ts turns it into a Principal (it
   * looks service principals up on every request, so a deleted one's session stops at once).
   */
  stored: string;
  /** The synchronizer CSRF token every change must carry in `x-nw-csrf-token`. */
  csrfToken: string;
}

/**
 * A session's principal as stored: a string as the sign-in gave it (`admin`, what rotating the
 * admin token deletes; `servicePrincipal:OBJECTID`), or a single sign-on user as JSON.
 */
function storedPrincipal(principal: string | Principal): string {
  return typeof principal === 'string' ? principal : JSON.stringify(principal);
}

/** The name the portal shows for a stored principal (never a secret: ids and names only). */
function displayNameOf(stored: string): string {
  if (stored.startsWith('{')) {
    try {
      const p = JSON.parse(stored) as Partial<Principal>;
      return String(p.displayName ?? p.id ?? 'user');
    } catch {
      return 'user';
    }
  }
  return stored;
}

/** The stored form of a session id: ids, like tokens, are never stored themselves. */
function hashSessionId(id: string): string {
  return createHash('sha256').update(id).digest('hex');
}

/** Random, URL- and cookie-safe (256 bits). */
function randomToken(): string {
  return randomBytes(32).toString('base64url');
}

/** Compares two secrets in constant time (a CSRF token guessed byte by byte by timing). */
export function secretsEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/**
 * Server-side portal sessions in the database (so every replica knows them): random ids stored
 * hashed, an absolute lifetime and an idle timeout, destroyed on sign-out.
 */
export class SessionStore {
  constructor(
    private readonly db: Db,
    private readonly options: { lifetimeInSeconds?: number; idleTimeoutInSeconds?: number } = {},
  ) {}

  private get lifetimeInSeconds(): number {
    return this.options.lifetimeInSeconds ?? SESSION_LIFETIME_IN_SECONDS;
  }
  private get idleTimeoutInSeconds(): number {
    return this.options.idleTimeoutInSeconds ?? SESSION_IDLE_TIMEOUT_IN_SECONDS;
  }

  /** Starts a session; returns its id (for the cookie, shown nowhere else) and CSRF token. Expired sessions are swept. */
  async create(
    principal: string | Principal,
  ): Promise<{ id: string; session: PortalSession; maxAgeInSeconds: number }> {
    const id = randomToken();
    const csrfToken = randomToken();
    await this.db.query(
      `DELETE FROM portal_sessions WHERE expires_at <= now() OR last_used_at <= now() - make_interval(secs => $1)`,
      [this.idleTimeoutInSeconds],
    );
    await this.db.query(
      `INSERT INTO portal_sessions (id_hash, principal, csrf_token, expires_at) VALUES ($1, $2, $3, now() + make_interval(secs => $4))`,
      [hashSessionId(id), storedPrincipal(principal), csrfToken, this.lifetimeInSeconds],
    );
    const stored = storedPrincipal(principal);
    return {
      id,
      session: { principal: displayNameOf(stored), stored, csrfToken },
      maxAgeInSeconds: this.lifetimeInSeconds,
    };
  }

  /** The live session with this id, or null (unknown, expired or idle too long); marks it used. */
  async get(id: string): Promise<PortalSession | null> {
    if (id.length === 0 || id.length > 200) return null;
    const [row] = await this.db.query<{ principal: string; csrf_token: string; stale: boolean }>(
      `SELECT principal, csrf_token, last_used_at <= now() - make_interval(secs => $3) AS stale FROM portal_sessions
        WHERE id_hash = $1 AND expires_at > now() AND last_used_at > now() - make_interval(secs => $2)`,
      [hashSessionId(id), this.idleTimeoutInSeconds, TOUCH_INTERVAL_IN_SECONDS],
    );
    if (!row) return null;
    if (row.stale)
      await this.db.query('UPDATE portal_sessions SET last_used_at = now() WHERE id_hash = $1', [hashSessionId(id)]);
    return { principal: displayNameOf(row.principal), stored: row.principal, csrfToken: row.csrf_token };
  }

  /** Ends a session (sign-out); an unknown id is no error. */
  async destroy(id: string): Promise<void> {
    await this.db.query('DELETE FROM portal_sessions WHERE id_hash = $1', [hashSessionId(id)]);
  }
}
