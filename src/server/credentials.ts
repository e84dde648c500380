import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomically, type Logger } from '../lib/index.js';
import { TOKEN_PREFIXES, hashToken, type Store, type TokenInfo, type TokenKind } from '../store/index.js';

/** File in the data folder that holds the admin token for the local operator (`nw up` copies it into the CLI config). */
export const ADMIN_TOKEN_FILE = 'admin-token';

/** What {@link verifyCredential} says about a credential that is valid. */
export interface CredentialInfo {
  /** Row id of the token (stable; revocation and logs name it, never the token). */
  id: string;
  kind: Exclude<TokenKind, 'enrollment'>;
  /** The host of an agent credential (its VM key), null for an admin token. */
  vmKey: string | null;
  /** What the token is for, as its row says. */
  description: string | null;
  /** The service principal (object id) of a client secret; null for other kinds. */
  principalId: string | null;
}

/**
 * Asks "is this credential still valid, and what is it?" — the one check every part of the
 * server uses for bearer credentials (the API's authentication, the agent channel, and callers
 * such as a token endpoint or the portal that trade or show credentials). Looks the token up by
 * its SHA-256 in the database on every call, so a rotated or revoked token is refused at once on
 * every replica. Enrolment tokens are not credentials (they are traded once at enrolment) and get
 * null, as do unknown and expired tokens.
 * @example const who = await verifyCredential(store, token); if (who?.kind !== 'admin') throw …
 */
export async function verifyCredential(store: Store, token: string): Promise<CredentialInfo | null> {
  // Bounded before hashing: a bearer token is ~48 characters; megabytes of header are no token.
  if (token.length === 0 || token.length > 512) return null;
  const info = await store.verifyToken(token);
  if (!info || info.kind === 'enrollment') return null;
  return {
    id: info.id,
    kind: info.kind,
    vmKey: info.vmKey,
    description: info.description,
    principalId: info.principalId,
  };
}

/** Options of an {@link AgentCredentialCache}. */
export interface AgentCredentialCacheOptions {
  /** How long a verified credential is answered from the cache (default 10 s: a revocation through another replica is seen this late at most). */
  maxAgeInMs?: number;
  /** Credentials kept at most; the least recently used go first (default 100,000). */
  maxEntries?: number;
  /**
   * Every revocation passes through this process (the embedded database: one server, its data
   * folder locked): the cache is told of each at once, so its entries do not age (`maxAgeInMs` is
   * not used). Agent credentials have no expiry; the hub's credential sweep checks them anyway.
   */
  authoritative?: boolean;
}

/**
 * Agent credentials recently verified, so a reconnecting fleet (10,000 agents after a server
 * restart or a network cut) is admitted without a database read per handshake. A credential
 * revoked through this server is forgotten at once (the store tells); one revoked through another
 * replica is looked up again after at most `maxAgeInMs` — the same bound as the hub's credential
 * sweep, which cuts such a connection anyway. Only agent credentials are kept: the API checks
 * every admin token in the database on every call. Bounded: the least recently used go first.
 *
 * On the embedded database (`authoritative`) entries do not age and {@link prime} loads every
 * agent credential at start: there a handshake that waited for a database read waited behind
 * everything else the server's one thread asks of it (metric batches, greetings), and in a
 * reconnect storm of 10,000 agents those reads passed the agent's 10 s handshake timeout — the
 * agents retried, the server's accept queue filled with handshakes already given up, and the
 * fleet never came back (bench/scale: 1,101 of 10,000 after 600 s).
 */
export class AgentCredentialCache {
  private readonly entries = new Map<string, { info: CredentialInfo; checkedAtInMs: number }>();
  /** Moves on every revocation: a lookup that overlapped one is not kept. */
  private generation = 0;
  private readonly maxAgeInMs: number;
  private readonly maxEntries: number;
  private lastAgedSweepInMs = 0;

  constructor(
    private readonly store: Store,
    options: AgentCredentialCacheOptions = {},
  ) {
    this.maxAgeInMs = options.authoritative ? Number.POSITIVE_INFINITY : (options.maxAgeInMs ?? 10_000);
    this.maxEntries = options.maxEntries ?? 100_000;
    store.onTokensRevoked((kind, vmKey) => {
      if (kind !== 'agent') return;
      this.generation++;
      for (const [key, e] of this.entries) if (e.info.vmKey === vmKey) this.entries.delete(key);
    });
  }

  /** Loads the agent credentials in force (up to the cache's bound) in one read; returns how many are kept. */
  async prime(): Promise<number> {
    const generation = this.generation;
    const credentials = await this.store.liveAgentCredentials(this.maxEntries);
    // A revocation while the read ran: its answer may hold the revoked credential; looked up one by one instead.
    if (generation !== this.generation) return this.entries.size;
    const now = Date.now();
    // Oldest first, so the newest are the last evicted.
    for (const { tokenHash, info } of credentials.reverse()) {
      if (this.entries.has(tokenHash)) continue;
      this.entries.set(tokenHash, { info: toCredentialInfo(info), checkedAtInMs: now });
    }
    while (this.entries.size > this.maxEntries) this.entries.delete(this.entries.keys().next().value!);
    return this.entries.size;
  }

  /** As {@link verifyCredential}, from the cache when it was verified less than `maxAgeInMs` ago. */
  async verify(token: string): Promise<CredentialInfo | null> {
    if (token.length === 0 || token.length > 512) return null;
    const key = hashToken(token);
    const hit = this.entries.get(key);
    if (hit && Date.now() - hit.checkedAtInMs < this.maxAgeInMs) {
      // Most recently used last, so eviction takes the oldest first.
      this.entries.delete(key);
      this.entries.set(key, hit);
      return hit.info;
    }
    this.dropAged();
    const generation = this.generation;
    const info = await verifyCredential(this.store, token);
    this.entries.delete(key);
    if (info?.kind === 'agent' && generation === this.generation) {
      this.entries.set(key, { info, checkedAtInMs: Date.now() });
      if (this.entries.size > this.maxEntries) this.entries.delete(this.entries.keys().next().value!);
    }
    return info;
  }

  /**
   * Drops the entries past `maxAgeInMs` (each would be read again anyway), at most once per
   * `maxAgeInMs`: a credential revoked through another replica, never presented here again, is
   * not kept until the bound evicts it. Never on the embedded database (entries do not age).
   */
  private dropAged(): void {
    if (!Number.isFinite(this.maxAgeInMs)) return;
    const now = Date.now();
    if (now - this.lastAgedSweepInMs < this.maxAgeInMs) return;
    this.lastAgedSweepInMs = now;
    for (const [key, e] of this.entries) if (now - e.checkedAtInMs >= this.maxAgeInMs) this.entries.delete(key);
  }

  /** Credentials kept now. */
  get size(): number {
    return this.entries.size;
  }
}

function toCredentialInfo(info: TokenInfo): CredentialInfo {
  return {
    id: info.id,
    kind: info.kind as CredentialInfo['kind'],
    vmKey: info.vmKey,
    description: info.description,
    principalId: info.principalId,
  };
}

/** The kind a token's prefix announces (for secret scanners and messages), or null for an unprefixed or unknown string. It proves nothing: only {@link verifyCredential} does. */
export function tokenKindOfPrefix(token: string): TokenKind | null {
  for (const [kind, prefix] of Object.entries(TOKEN_PREFIXES) as Array<[TokenKind, string]>)
    if (token.startsWith(prefix)) return kind;
  return null;
}

/** Writes the admin token file atomically, owner-only (a crash never leaves half a token, and no one else may read it). */
export function writeAdminTokenFile(dataDir: string, token: string): string {
  const file = join(dataDir, ADMIN_TOKEN_FILE);
  writeFileAtomically(file, `${token}\n`, 0o600);
  return file;
}

/**
 * The admin token of a starting server. DATA_DIR/admin-token is the operator's copy: a token in
 * it that the database knows is used; a database with no admin token yet takes the file's (a
 * data folder from before, or a new database); a file whose token the database does not know
 * while it has others is stale (the token was rotated elsewhere) and is never brought back — a
 * new token is issued and written over it. No file: a new token, written there.
 */
export async function ensureAdminToken(store: Store, dataDir: string, logger: Logger): Promise<string> {
  const file = join(dataDir, ADMIN_TOKEN_FILE);
  if (existsSync(file)) {
    const fromFile = readFileSync(file, 'utf8').trim();
    if (fromFile && (await verifyCredential(store, fromFile))?.kind === 'admin') return fromFile;
    if (fromFile && !(await store.hasAdminToken())) {
      await store.issueToken('admin', { token: fromFile });
      return fromFile;
    }
    logger.warn(
      { file },
      'the admin token in this file is not valid for this database (it was rotated): a new one is written there',
    );
  }
  const { token } = await store.issueToken('admin');
  writeAdminTokenFile(dataDir, token);
  return token;
}

/**
 * Rotates the admin token: every admin token is replaced by one new one in one transaction (the
 * old ones fail from the next request on, on every replica), and the new one is written to
 * DATA_DIR/admin-token (mode 0600) when a data folder is given. Returns the new token and the file.
 */
export async function rotateAdminToken(
  store: Store,
  dataDir: string | null,
): Promise<{ token: string; file: string | null }> {
  const { token } = await store.rotateAdminToken();
  return { token, file: dataDir ? writeAdminTokenFile(dataDir, token) : null };
}
