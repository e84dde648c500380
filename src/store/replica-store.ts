import type { Db } from './db.js';
import { StatementBatcher } from './batch.js';
import { jsonPathArraySql } from './json-path.js';
import { newEtag } from './resources.js';
import { HOST_AGENT_CONNECTED_PATH, HOST_LAST_SEEN_PATH } from '../model/stored-bodies.js';

/** Channel on which a replica is woken for orders of agents it holds (payload: its replica id). */
export const AGENT_ORDERS_CHANNEL = 'nw_agent_orders';

/** One order waiting in the database for the replica that holds the host's agent connection. */
export interface AgentOrderRow {
  id: string;
  vmKey: string;
  message: unknown;
}

/** Settings every replica of one database must share, by the flag that sets them (`--agent-metrics-batch-seconds`). */
export type ReplicaSharedSettings = Readonly<Record<string, number | string | boolean>>;

/** A lease is live while the heartbeat of the replica holding it is (SQL, joined as `r`). */
const LIVE_HOLDER = 'JOIN server_replicas r ON r.replica_id = l.replica_id AND r.expires_at > now()';

/**
 * The database side of server replicas (issue 17): replica heartbeats, per-host leases of agent
 * connections and durable orders for agents connected elsewhere. A host's lease names the replica
 * holding its connection and lasts as long as that replica's heartbeat: a replica renews one row
 * however many hosts it holds. Every expiry is computed with the database's clock (`now()`), so
 * replicas with skewed clocks still agree on who is alive.
 */
export class ReplicaStore {
  constructor(readonly db: Db) {}

  /**
   * Records that a replica is alive for `ttlInMs` more (this renews every lease it holds), with
   * the settings it must share with every other replica (kept from its first heartbeat).
   */
  async heartbeat(replicaId: string, ttlInMs: number, sharedSettings: ReplicaSharedSettings = {}): Promise<void> {
    await this.db.query(
      `INSERT INTO server_replicas (replica_id, expires_at, shared_settings) VALUES ($1, now() + $2 * interval '1 millisecond', $3::jsonb)
       ON CONFLICT (replica_id) DO UPDATE SET expires_at = EXCLUDED.expires_at`,
      [replicaId, ttlInMs, JSON.stringify(sharedSettings)],
    );
  }

  /** The live replicas (heartbeat not expired) and the settings each shares; null from a replica of a version that recorded none. */
  async liveReplicaSettings(): Promise<Array<{ replicaId: string; sharedSettings: ReplicaSharedSettings | null }>> {
    const rows = await this.db.query<{ replica_id: string; shared_settings: ReplicaSharedSettings | null }>(
      'SELECT replica_id, shared_settings FROM server_replicas WHERE expires_at > now() ORDER BY started_at, replica_id',
    );
    return rows.map((r) => ({ replicaId: String(r.replica_id), sharedSettings: r.shared_settings ?? null }));
  }

  /** Ids of the replicas whose heartbeat has not expired (this one included once it has beaten). */
  async liveReplicaIds(): Promise<string[]> {
    return [...(await this.liveReplicas.call(''))];
  }

  /** Concurrent asks (every capture create to a local account checks them) share one read started after each ask. */
  private readonly liveReplicas = new StatementBatcher<readonly string[]>(
    async () => {
      const ids = (
        await this.db.query('SELECT replica_id FROM server_replicas WHERE expires_at > now() ORDER BY replica_id')
      ).map((r) => String(r.replica_id));
      return () => ids;
    },
    { maxCallsPerRun: 100_000, maxRunsInFlight: 1 },
  );

  /** Takes (or takes over) the lease of a host: its agent is connected to `replicaId` now. */
  async leaseHost(vmKey: string, replicaId: string): Promise<void> {
    await this.leases.call(vmKey.toLowerCase(), replicaId);
  }

  /**
   * Concurrent lease takes (every hello; 10,000 in a reconnect storm) share one multi-row upsert,
   * and so one commit, instead of one statement and one WAL flush each. One call per host per run
   * (a statement cannot change a row twice); later ones of the same host follow in turn.
   */
  private readonly leases = new StatementBatcher<void>(
    async (vmKeys, replicaIds) => {
      await this.db.query(
        `INSERT INTO agent_leases (vm_key, replica_id) SELECT * FROM unnest($1::text[], $2::text[])
         ON CONFLICT (vm_key) DO UPDATE SET replica_id = EXCLUDED.replica_id, connected_at = now()`,
        [vmKeys, replicaIds],
      );
      return () => undefined;
    },
    { maxCallsPerRun: 500, maxRunsInFlight: 2, retryAlone: true, oneCallPerKey: true },
  );

  /** Concurrent releases share one DELETE (a replica's goodbyes after a storm or at a stop). */
  private readonly releases = new StatementBatcher<void>(
    async (vmKeys, replicaIds) => {
      await this.db.query(
        'DELETE FROM agent_leases WHERE (vm_key, replica_id) IN (SELECT * FROM unnest($1::text[], $2::text[]))',
        [vmKeys, replicaIds],
      );
      return () => undefined;
    },
    { maxCallsPerRun: 500, maxRunsInFlight: 2, retryAlone: true, oneCallPerKey: true },
  );

  /** Concurrent look-ups of who holds a host share one read. */
  private readonly holders = new StatementBatcher<string | null>(
    async (vmKeys) => {
      const rows = await this.db.query(
        `SELECT l.vm_key, l.replica_id FROM agent_leases l ${LIVE_HOLDER} WHERE l.vm_key = ANY($1::text[])`,
        [vmKeys],
      );
      const byKey = new Map(rows.map((r) => [String(r.vm_key), String(r.replica_id)]));
      return (key) => byKey.get(key) ?? null;
    },
    { maxCallsPerRun: 500, maxRunsInFlight: 2 },
  );

  /**
   * Records the host's agent disconnected (`agentConnected` false, `lastSeenAt` now) unless a
   * live replica holds its lease; true when recorded. The check runs after the VM row is locked,
   * in the same transaction as the write: a hello through another replica takes the lease before
   * it records the host connected under the same lock, so either this check sees that lease, or
   * that hello's write comes after this one. Checked before the write instead (the goodbye's
   * release, then its record seconds later in a storm), another replica's hello could land in
   * between and be overwritten: 1 of 1,000 hosts through two HAProxy after a storm stayed shown
   * disconnected while connected (bench/scale).
   */
  async recordAwayUnlessLeased(vmKey: string): Promise<boolean> {
    return this.awayRecords.call(vmKey.toLowerCase(), new Date().toISOString());
  }

  /** Concurrent records away (a storm's or a sweep's goodbyes) share one transaction. */
  private readonly awayRecords = new StatementBatcher<boolean, string>(
    async (vmKeys, seenAt) =>
      this.db.transaction(async (tx) => {
        await tx.query('SELECT key FROM resources WHERE key = ANY($1::text[]) ORDER BY key FOR UPDATE', [vmKeys]);
        const rows = await tx.query(
          `UPDATE resources v SET
             body = jsonb_set(jsonb_set(v.body, ${jsonPathArraySql(HOST_AGENT_CONNECTED_PATH)}, 'false'::jsonb),
                              ${jsonPathArraySql(HOST_LAST_SEEN_PATH)}, to_jsonb(u.seen_at)),
             etag = u.etag, updated_at = now()
           FROM unnest($1::text[], $2::text[], $3::text[]) AS u(key, seen_at, etag)
           WHERE v.key = u.key
             AND NOT EXISTS (SELECT 1 FROM agent_leases l ${LIVE_HOLDER} WHERE l.vm_key = v.key)
           RETURNING v.key`,
          [vmKeys, seenAt, vmKeys.map(() => newEtag())],
        );
        const recorded = new Set(rows.map((r) => String(r.key)));
        return (key) => recorded.has(key);
      }),
    { maxCallsPerRun: 500, maxRunsInFlight: 2, retryAlone: true, oneCallPerKey: true },
  );

  /**
   * Takes back the leases of hosts still connected to `replicaId` that no live replica holds (after
   * this replica could not renew its heartbeat for a while, another may have claimed them).
   * Returns the hosts taken back.
   */
  async retakeLeases(vmKeys: readonly string[], replicaId: string): Promise<string[]> {
    if (vmKeys.length === 0) return [];
    const rows = await this.db.query(
      `INSERT INTO agent_leases (vm_key, replica_id) SELECT k, $2 FROM unnest($1::text[]) AS k
       ON CONFLICT (vm_key) DO UPDATE SET replica_id = EXCLUDED.replica_id, connected_at = now()
         WHERE agent_leases.replica_id <> EXCLUDED.replica_id
           AND NOT EXISTS (SELECT 1 FROM server_replicas r WHERE r.replica_id = agent_leases.replica_id AND r.expires_at > now())
       RETURNING vm_key`,
      [vmKeys.map((k) => k.toLowerCase()), replicaId],
    );
    return rows.map((r) => String(r.vm_key));
  }

  /**
   * Gives up a host's lease if `replicaId` holds it. Returns true when the host is now connected
   * nowhere (no other replica holds a live lease): only then is it recorded disconnected — an
   * agent that already reconnected through another replica must not be shown away.
   */
  async releaseHost(vmKey: string, replicaId: string): Promise<boolean> {
    const key = vmKey.toLowerCase();
    await this.releases.call(key, replicaId);
    return (await this.leaseHolder(key)) === null;
  }

  /** The replica holding a live lease of the host, or null. */
  async leaseHolder(vmKey: string): Promise<string | null> {
    return this.holders.call(vmKey.toLowerCase());
  }

  /**
   * Deletes the leases of replicas whose heartbeat expired (they died or lost the database) and
   * returns their hosts; each is returned to exactly one caller (a concurrent DELETE skips rows
   * another already deleted). `everyOrphan` also takes leases whose replica left no heartbeat row
   * at all (a whole set-up down for longer than heartbeats are kept): a scan of every lease, done
   * once at start; the regular sweep only joins the few expired heartbeats. Heartbeats dead for
   * an hour are forgotten (their leases went long before).
   */
  async claimExpiredLeases(everyOrphan = false): Promise<string[]> {
    const rows = everyOrphan
      ? await this.db.query(
          `DELETE FROM agent_leases l WHERE NOT EXISTS (SELECT 1 FROM server_replicas r WHERE r.replica_id = l.replica_id AND r.expires_at > now())
         RETURNING l.vm_key`,
        )
      : await this.db.query(
          `DELETE FROM agent_leases l USING server_replicas r WHERE r.replica_id = l.replica_id AND r.expires_at <= now()
         RETURNING l.vm_key`,
        );
    await this.db.query(`DELETE FROM server_replicas WHERE expires_at < now() - interval '1 hour'`);
    return rows.map((r) => String(r.vm_key));
  }

  /**
   * Removes the row of a replica that never served (refused at start: its settings differ from
   * the live replicas'), so that it is not counted among them. It holds no lease yet.
   */
  async withdraw(replicaId: string): Promise<void> {
    await this.db.query('DELETE FROM server_replicas WHERE replica_id = $1', [replicaId]);
  }

  /**
   * Ends a stopping replica's heartbeat now, its leases left in place: the next sweep of any
   * replica ({@link claimExpiredLeases}) takes them as a dead replica's.
   */
  async expireReplica(replicaId: string): Promise<void> {
    await this.db.query('UPDATE server_replicas SET expires_at = now() WHERE replica_id = $1', [replicaId]);
  }

  /**
   * Stores orders for hosts whose agents hold a live lease on some replica, in the given order,
   * and wakes each holding replica with one NOTIFY for the whole batch (not one per host).
   * Orders for hosts connected nowhere are not kept: the reconnect reconciliation re-sends what
   * still matters. Returns the replicas woken.
   */
  async enqueueOrders(orders: ReadonlyArray<{ vmKey: string; message: unknown }>): Promise<string[]> {
    if (orders.length === 0) return [];
    const rows = await this.db.query(
      `WITH input AS (SELECT * FROM unnest($1::text[], $2::jsonb[]) WITH ORDINALITY AS t(vm_key, message, ord)),
       inserted AS (
         INSERT INTO agent_orders (vm_key, message)
         SELECT i.vm_key, i.message FROM input i JOIN agent_leases l ON l.vm_key = i.vm_key ${LIVE_HOLDER} ORDER BY i.ord
         RETURNING vm_key)
       SELECT DISTINCT l.replica_id FROM inserted JOIN agent_leases l ON l.vm_key = inserted.vm_key`,
      [orders.map((o) => o.vmKey.toLowerCase()), orders.map((o) => JSON.stringify(o.message))],
    );
    const replicas = rows.map((r) => String(r.replica_id));
    if (replicas.length > 0 && this.db.engine === 'postgres') {
      await this.db.query(`SELECT pg_notify('${AGENT_ORDERS_CHANNEL}', r) FROM unnest($1::text[]) AS r`, [replicas]);
    }
    return replicas;
  }

  /** Orders waiting for hosts whose lease `replicaId` holds, oldest first. */
  async pendingOrders(replicaId: string, limit = 1000): Promise<AgentOrderRow[]> {
    const rows = await this.db.query(
      `SELECT o.id, o.vm_key, o.message FROM agent_orders o JOIN agent_leases l ON l.vm_key = o.vm_key
       WHERE l.replica_id = $1 ORDER BY o.id LIMIT $2`,
      [replicaId, limit],
    );
    return rows.map((r) => ({
      id: String(r.id),
      vmKey: String(r.vm_key),
      message: typeof r.message === 'string' ? (JSON.parse(r.message) as unknown) : r.message,
    }));
  }

  /** Deletes delivered orders. */
  async deleteOrders(ids: readonly string[]): Promise<void> {
    if (ids.length === 0) return;
    await this.db.query('DELETE FROM agent_orders WHERE id = ANY($1::bigint[])', [ids]);
  }

  /** Deletes orders older than `maxAgeInMs` (their host never came back; reconciliation covers it). */
  async pruneOrders(maxAgeInMs: number): Promise<number> {
    return (
      await this.db.query(
        `DELETE FROM agent_orders WHERE created_at < now() - $1 * interval '1 millisecond' RETURNING 1`,
        [maxAgeInMs],
      )
    ).length;
  }
}
