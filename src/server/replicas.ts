import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ApiError, type Logger } from '../lib/index.js';
import type { ServerToAgent } from '../model/index.js';
import { AGENT_ORDERS_CHANNEL, ReplicaStore, type Db, type ReplicaSharedSettings } from '../store/index.js';
import type { AgentHub } from './agent-hub.js';

/** Timings of the replica protocol (tests shorten them). */
export interface ReplicaTimings {
  /** How long a heartbeat and a host lease last without renewal: a dead replica's hosts show disconnected this long after it died, at most. */
  leaseTtlInMs: number;
  /** Interval of heartbeats (lease renewal) and of the sweep of expired leases. */
  heartbeatInMs: number;
  /** Interval of the safety poll for orders (a NOTIFY wakes the holder at once; the poll covers a lost one). */
  orderPollInMs: number;
  /** Orders older than this for a host connected nowhere are dropped (reconnect reconciliation covers them). */
  orderMaxAgeInMs: number;
}

/** Defaults: a dead replica's hosts show disconnected within about 10 s. */
export const REPLICA_TIMINGS: ReplicaTimings = {
  leaseTtlInMs: 8_000,
  heartbeatInMs: 2_000,
  orderPollInMs: 1_000,
  orderMaxAgeInMs: 10 * 60_000,
};

/** Folder inside a shared local storage root where each replica leaves a marker file named by its id. */
export const REPLICA_MARKER_DIR = '.netwatcher-replicas';

/** One setting on which a starting replica disagrees with the live ones. */
export interface ReplicaSettingConflict {
  /** The flag that sets it, as the operator types it (`--agent-metrics-batch-seconds`). */
  flag: string;
  /** This replica's value. */
  value: number | string | boolean;
  /** The values of the live replicas that differ from it (most often one). */
  othersValues: Array<number | string | boolean>;
  /** How many live replicas have another value. */
  replicasDiffering: number;
}

/**
 * A replica started with another value of a setting that every replica of one database must
 * share than the replicas already live: it refuses to start rather than run split. The metric
 * batch interval, for one, decides how far each metric alert window lags its evaluation, and
 * the replica that evaluates a rule (any one of them) would time it differently from the one
 * whose agents send the samples.
 */
export class ReplicaSettingsMismatchError extends Error {
  constructor(readonly conflicts: readonly ReplicaSettingConflict[]) {
    super(
      `netwatcher server cannot start: ${conflicts
        .map(
          (c) =>
            `${c.flag} is ${String(c.value)} here, but ${c.replicasDiffering} live replica(s) on this database use ${c.othersValues.map(String).join(' and ')}`,
        )
        .join('; ')}. Every replica of one database must use the same value: start this one with ${conflicts
        .map((c) => `${c.flag} ${c.othersValues.map(String).join('|')}`)
        .join(' ')}, or, to change it, stop every replica and start them all with the new value (docs/deploy.md).`,
    );
    this.name = 'ReplicaSettingsMismatchError';
  }
}

/** The settings in which `mine` differs from the live replicas' (those that recorded none are not judged). */
export function replicaSettingConflicts(
  mine: ReplicaSharedSettings,
  others: ReadonlyArray<ReplicaSharedSettings | null>,
): ReplicaSettingConflict[] {
  const conflicts: ReplicaSettingConflict[] = [];
  for (const [flag, value] of Object.entries(mine)) {
    const differing = others.flatMap((o) => (o && flag in o && o[flag] !== value ? [o[flag]!] : []));
    if (differing.length > 0)
      conflicts.push({ flag, value, othersValues: [...new Set(differing)], replicasDiffering: differing.length });
  }
  return conflicts;
}

/**
 * Makes several `nw server` replicas on one PostgreSQL act as one server (issue 17, DESIGN §2):
 *
 * - a host's connection state is a lease held by a replica (`agent_leases`), live while that
 *   replica's heartbeat (`server_replicas`, renewed every few seconds) is; a replica that dies stops
 *   renewing, and whichever replica sweeps first claims its leases and records those hosts
 *   disconnected (their agents reconnect through another);
 * - an order for a host connected to another replica is a row in `agent_orders` (durable: a
 *   replica that dies between the NOTIFY and the delivery loses nothing — the host's next holder
 *   delivers it), and one NOTIFY per woken replica per batch wakes the holder, which sends the
 *   orders over its own connection and deletes them only once sent;
 * - replies, states and acks from agents need no path of their own: the replica holding the
 *   connection writes them to the database, where every replica's operations read them;
 * - the settings every replica must share (`sharedSettings`) travel with its heartbeat, and a
 *   replica that starts with other values than the live ones refuses to start
 *   ({@link ReplicaSettingsMismatchError}).
 *
 * On the embedded database there is one server: nothing of this runs, its own connections are the truth.
 */
export class ReplicaCoordinator {
  /** This process's replica id (new on every start: a restarted replica's old leases expire). */
  readonly replicaId = randomUUID();
  readonly store: ReplicaStore;
  private readonly timings: ReplicaTimings;
  private pending: Array<{ vmKey: string; message: ServerToAgent }> = [];
  private flushing: Promise<void> = Promise.resolve();
  private flushScheduled = false;
  private delivering: Promise<void> = Promise.resolve();
  private deliverAgain = false;
  private deliveryQueued = false;
  private heartbeatTimer: NodeJS.Timeout | null = null;
  /** The heartbeat (and sweep) under way: the stop waits for it, so none renews after the stop expired it. */
  private beating: Promise<void> = Promise.resolve();
  private pollTimer: NodeJS.Timeout | null = null;
  private listener: { close(): Promise<void> } | null = null;
  private closed = false;
  private liveReplicas: string[] = [];
  private readonly markedRoots = new Set<string>();
  private lastBeatInMs = 0;
  private firstSweep = true;

  constructor(
    private readonly db: Db,
    private readonly hub: AgentHub,
    private readonly logger: Logger,
    private readonly handlers: {
      /** Hosts whose agents are now connected nowhere (their lease expired with a dead replica). */
      onHostsGone(vmKeys: string[]): Promise<void>;
      /** Hosts still connected here whose lease this replica took back after its heartbeat lapsed. */
      onHostsBack(vmKeys: string[]): Promise<void>;
      /** Folders of local storage accounts (markers are left there so replicas can tell a shared folder). */
      localStorageRoots(): Promise<string[]>;
    },
    timings: Partial<ReplicaTimings> = {},
    /** What every replica of the database must share, by flag (`{ '--agent-metrics-batch-seconds': 5 }`). */
    private readonly sharedSettings: ReplicaSharedSettings = {},
  ) {
    this.store = new ReplicaStore(db);
    this.timings = { ...REPLICA_TIMINGS, ...timings };
  }

  /** True when orders can travel to other replicas (PostgreSQL). */
  get crossReplica(): boolean {
    return this.db.engine === 'postgres';
  }

  /**
   * Registers this replica, starts heartbeats, the sweep and (PostgreSQL) the order channel.
   * Throws {@link ReplicaSettingsMismatchError} (and leaves no trace) when a live replica has
   * another value of a shared setting.
   */
  async start(): Promise<void> {
    // The embedded database has one server: its own connections are the whole truth, and nothing
    // is written on a timer (an idle embedded database stays untouched).
    if (!this.crossReplica) return;
    await this.assertSettingsShared();
    await this.beat();
    this.hub.remoteSend = (vmKey, message) => this.enqueue(vmKey, message);
    this.listener = await this.db.listen!(
      AGENT_ORDERS_CHANNEL,
      (payload) => {
        if (payload === this.replicaId) this.deliverSoon();
      },
      () => this.deliverSoon(),
    );
    this.pollTimer = setInterval(() => this.deliverSoon(), this.timings.orderPollInMs);
    this.pollTimer.unref();
    this.heartbeatTimer = setInterval(() => {
      this.beating = this.beat();
    }, this.timings.heartbeatInMs);
    this.heartbeatTimer.unref();
  }

  /**
   * Registers this replica's heartbeat with its shared settings, then compares them with every
   * other live replica's. The heartbeat comes first, so two replicas starting at the same moment
   * with different values see each other (both refuse) instead of both finding no one.
   */
  private async assertSettingsShared(): Promise<void> {
    await this.store.heartbeat(this.replicaId, this.timings.leaseTtlInMs, this.sharedSettings);
    const others = (await this.store.liveReplicaSettings()).filter((r) => r.replicaId !== this.replicaId);
    const conflicts = replicaSettingConflicts(
      this.sharedSettings,
      others.map((r) => r.sharedSettings),
    );
    if (conflicts.length === 0) return;
    this.closed = true;
    await this.store.withdraw(this.replicaId);
    throw new ReplicaSettingsMismatchError(conflicts);
  }

  private async beat(): Promise<void> {
    if (this.closed) return;
    try {
      await this.store.heartbeat(this.replicaId, this.timings.leaseTtlInMs, this.sharedSettings);
      const late =
        this.lastBeatInMs !== 0 &&
        Date.now() - this.lastBeatInMs > this.timings.leaseTtlInMs - this.timings.heartbeatInMs;
      this.lastBeatInMs = Date.now();
      if (late) {
        // The heartbeat lapsed (the database was unreachable): another replica may have claimed
        // this one's leases and recorded its hosts away. Hosts still connected here are taken back.
        const back = await this.store.retakeLeases(this.hub.connectedKeys(), this.replicaId);
        if (back.length > 0) await this.handlers.onHostsBack(back);
      }
      const gone = await this.store.claimExpiredLeases(this.firstSweep);
      this.firstSweep = false;
      if (gone.length > 0) {
        this.logger.warn(
          { hosts: gone.length },
          'hosts of a replica that stopped renewing its heartbeat are recorded disconnected (their agents reconnect through another replica)',
        );
        await this.handlers.onHostsGone(gone);
      }
      this.liveReplicas = await this.store.liveReplicaIds();
      for (const root of await this.handlers.localStorageRoots()) this.markRoot(root);
      await this.store.pruneOrders(this.timings.orderMaxAgeInMs);
    } catch (error) {
      this.logger.warn({ err: error }, 'replica heartbeat failed; retrying');
    }
  }

  /** Records that this replica holds the host's agent connection (on its hello), then delivers what waits for it. */
  async hostConnected(vmKey: string): Promise<void> {
    if (!this.crossReplica) return;
    await this.store.leaseHost(vmKey, this.replicaId);
    this.deliverSoon();
  }

  /** Gives up the host's lease after its connection here closed; true when it is connected nowhere now. */
  async hostDisconnected(vmKey: string): Promise<boolean> {
    if (!this.crossReplica) return true;
    return this.store.releaseHost(vmKey, this.replicaId);
  }

  /** True when the host's agent is connected to this replica or holds a live lease on another. */
  async connectedAnywhere(vmKey: string): Promise<boolean> {
    if (this.hub.isConnected(vmKey)) return true;
    return this.crossReplica && (await this.store.leaseHolder(vmKey)) !== null;
  }

  /** Other replicas seen alive at the last heartbeat. */
  otherLiveReplicas(): string[] {
    return this.liveReplicas.filter((r) => r !== this.replicaId);
  }

  /**
   * Refuses a local storage account in a multi-replica set-up (another replica's heartbeat is
   * live) unless every live replica left its marker in the account's folder — the folder is then
   * one shared file system (NFS, a shared volume), and any replica can serve its uploads and
   * downloads. Blob and S3 are the norm with replicas.
   */
  async assertLocalStorageUsable(accountName: string, rootDir: string, target: string): Promise<void> {
    if (!this.crossReplica) return;
    this.liveReplicas = await this.store.liveReplicaIds();
    const others = this.otherLiveReplicas();
    if (others.length === 0) return;
    this.markRoot(rootDir);
    const missing = others.filter((id) => !existsSync(join(rootDir, REPLICA_MARKER_DIR, id)));
    if (missing.length === 0) return;
    throw new ApiError(
      'OperationNotSupported',
      `Storage account '${accountName}' is of kind local, and this server runs as one of ${others.length + 1} replicas that do not share its folder (${missing.length} replica(s) left no marker in it): a file stored through one replica could not be read through another. Use an Azure Blob or S3 storage account with several replicas, or mount the same folder on every replica (docs/deploy.md).`,
      { target },
    );
  }

  private markRoot(root: string): void {
    if (this.markedRoots.has(root)) return;
    try {
      mkdirSync(join(root, REPLICA_MARKER_DIR), { recursive: true, mode: 0o700 });
      writeFileSync(join(root, REPLICA_MARKER_DIR, this.replicaId), `${new Date().toISOString()}\n`, { mode: 0o600 });
      this.markedRoots.add(root);
    } catch (error) {
      this.logger.warn({ err: error, root }, 'could not leave the replica marker in a local storage folder');
    }
  }

  /** Takes an order for a host connected elsewhere; orders of one tick go to the database together. */
  private enqueue(vmKey: string, message: ServerToAgent): boolean {
    if (this.closed) return false;
    this.pending.push({ vmKey, message });
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      // One statement and one NOTIFY per woken replica for every order of this tick: a fan-out
      // to many hosts costs one round trip, not one per host.
      setImmediate(() => {
        this.flushScheduled = false;
        this.flushing = this.flushing.then(() => this.flush());
      });
    }
    return true;
  }

  private async flush(): Promise<void> {
    const batch = this.pending;
    this.pending = [];
    for (let i = 0; i < batch.length; i += 5000) {
      const part = batch.slice(i, i + 5000);
      try {
        await this.store.enqueueOrders(part);
      } catch (error) {
        // Not kept for a later try: the order is re-sent by reconciliation when the agent reconnects.
        this.logger.error(
          { err: error, orders: part.length },
          'could not store orders for agents connected to other replicas',
        );
      }
    }
  }

  /** Delivers the orders waiting for this replica's hosts (one pass at a time, again if asked meanwhile). */
  deliverSoon(): void {
    if (!this.crossReplica || this.closed) return;
    if (this.deliveryQueued) {
      this.deliverAgain = true;
      return;
    }
    this.deliveryQueued = true;
    this.delivering = this.delivering.then(async () => {
      do {
        this.deliverAgain = false;
        await this.deliver().catch((error: unknown) =>
          this.logger.warn({ err: error }, 'delivering orders from other replicas failed; retrying'),
        );
      } while (this.deliverAgain && !this.closed);
      this.deliveryQueued = false;
    });
  }

  private async deliver(): Promise<void> {
    for (;;) {
      const orders = await this.store.pendingOrders(this.replicaId);
      if (orders.length === 0) return;
      const done: string[] = [];
      for (const o of orders) {
        const outcome = this.hub.sendLocal(o.vmKey, o.message as ServerToAgent);
        // 'absent': the lease is ours but the connection is gone; the host's next holder delivers it.
        if (outcome !== 'absent') done.push(o.id);
      }
      await this.store.deleteOrders(done);
      if (done.length < orders.length || orders.length < 1000) return;
    }
  }

  /**
   * Stops: delivers nothing more, and expires this replica's heartbeat at once, leaving its
   * leases: a live replica's next sweep (within a heartbeat interval) takes them and records
   * away each host whose agent is connected nowhere by then — most are back through that replica
   * already — or, with no replica left, the next start's first sweep does. The stop itself writes
   * no per-host record (10,000 of them took ~30 s, and could outlast the database).
   */
  async close(): Promise<void> {
    this.closed = true;
    this.hub.remoteSend = null;
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    if (this.pollTimer) clearInterval(this.pollTimer);
    await this.flushing.catch(() => undefined);
    await this.delivering.catch(() => undefined);
    await this.beating;
    await this.listener?.close();
    // The embedded database has no other replica to show the state to; its next start records every host away.
    if (!this.crossReplica) return;
    try {
      await this.store.expireReplica(this.replicaId);
    } catch (error) {
      this.logger.warn(
        { err: error },
        'could not expire the heartbeat of this replica; it expires by itself, and its hosts are recorded away then',
      );
    }
  }
}
