import { MetricBatchIntervals, type HostInfo, type MetricAlertBody } from '../alerts/index.js';
import type { ServerToAgent } from '../model/index.js';
import type { ResourceRecord } from '../store/index.js';
import { alertHostOf } from './alerts-runtime.js';
import { metricsBatchIntervalOf } from './config.js';
import { reconnectSpreadInSeconds, spreadChanged } from './reconnect-spread.js';
import type { ServerContext } from './services/context.js';
import type { VmBody } from './services/vms.js';

/**
 * How often a replica re-reads the metric alert rules on PostgreSQL, where a rule may change
 * through another replica: a poll, not a NOTIFY channel — the list is a handful of small rows,
 * a poll cannot lose a notification (the order channel needs a poll behind it for that), and a
 * change through this replica is applied at once anyway ({@link AgentBatchIntervals.refresh}).
 */
export const BATCH_INTERVAL_RULES_POLL_IN_MS = 5_000;

/**
 * How often the reconnect spread is compared with the fleet (connected agents): a welcome goes to
 * the agents told a spread that no longer fits ({@link AgentBatchIntervals.announceSpread}).
 */
export const RECONNECT_SPREAD_CHECK_IN_MS = 5_000;

/** A host whose agent is connected here, and the interval and reconnect spread it was last told. */
interface AnnouncedHost {
  host: HostInfo;
  intervalInSeconds: number;
  spreadInSeconds: number;
}

/**
 * Tells each agent connected to this replica how often to send its host-metric samples (issue
 * 17): the welcome after its hello carries its own interval ({@link MetricBatchIntervals}: a host
 * watched by a rule that evaluates often reports often, every other one at the configured
 * interval); when the rules change, the connected hosts whose interval changed get a new welcome.
 * The rule list is read once and then on each change (this replica's PUT/DELETE of a metric
 * alert, or a poll on PostgreSQL), never per hello.
 *
 * The welcome also carries the reconnect spread (src/server/reconnect-spread.ts), sized to the
 * agents connected here; as the fleet grows (the first agents of a fleet were told a spread for a
 * handful), those told a spread that no longer fits get a new welcome, so the whole fleet spreads
 * its next reconnection over the same window.
 */
export class AgentBatchIntervals {
  private readonly intervals: MetricBatchIntervals;
  private readonly announced = new Map<string, AnnouncedHost>();
  private loaded: Promise<void> | null = null;
  private refreshing: Promise<void> = Promise.resolve();
  private timer: NodeJS.Timeout | null = null;
  private spreadTimer: NodeJS.Timeout | null = null;

  constructor(private readonly ctx: ServerContext) {
    this.intervals = new MetricBatchIntervals(metricsBatchIntervalOf(ctx.config));
  }

  /** Re-reads the rules every {@link BATCH_INTERVAL_RULES_POLL_IN_MS} when other replicas may change them (PostgreSQL). */
  start(): void {
    if (!this.spreadTimer) {
      this.spreadTimer = setInterval(() => this.announceSpread(), RECONNECT_SPREAD_CHECK_IN_MS);
      this.spreadTimer.unref();
    }
    if (this.timer || !this.ctx.replicas?.crossReplica) return;
    this.timer = setInterval(() => {
      this.refresh().catch((error: unknown) =>
        this.ctx.logger.warn({ err: error }, 'could not re-read the metric alert rules for batch intervals; retrying'),
      );
    }, BATCH_INTERVAL_RULES_POLL_IN_MS);
    this.timer.unref();
  }

  /** Stops the poll. */
  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    if (this.spreadTimer) clearInterval(this.spreadTimer);
    this.spreadTimer = null;
  }

  /** Resolves once the rules were read (on the first hello only; a failed read is tried again on the next). */
  ready(): Promise<void> {
    if (!this.loaded) {
      const p = this.load();
      this.loaded = p;
      p.catch(() => {
        if (this.loaded === p) this.loaded = null;
      });
    }
    return this.loaded;
  }

  /**
   * The welcome answering a host's hello, with its interval (after {@link ready}); the host is
   * remembered as told it. Send it in the same synchronous step: a rule change applied in
   * between would otherwise tell the host its new interval before this one arrives with the old.
   */
  welcome(vm: ResourceRecord<VmBody>): Extract<ServerToAgent, { type: 'welcome' }> {
    const host = alertHostOf(this.ctx, vm);
    const intervalInSeconds = this.intervals.intervalOf(host);
    const spreadInSeconds = this.currentSpread();
    this.announced.set(host.key, { host, intervalInSeconds, spreadInSeconds });
    return welcomeOf(host, intervalInSeconds, spreadInSeconds);
  }

  /** The interval last told to a connected host (tests, diagnostics), or null. */
  announcedTo(vmKey: string): number | null {
    return this.announced.get(vmKey.toLowerCase())?.intervalInSeconds ?? null;
  }

  /** The reconnect spread last told to a host (the goodbye grace waits for it), or null. */
  spreadToldTo(vmKey: string): number | null {
    return this.announced.get(vmKey.toLowerCase())?.spreadInSeconds ?? null;
  }

  /**
   * A host's connection here closed: it is forgotten unless another connection of it is open
   * here (its welcome then answers a newer hello). Read {@link spreadToldTo} first. Without this,
   * every host ever connected to this replica stayed here until a rule or spread change.
   */
  disconnected(vmKey: string): void {
    const key = vmKey.toLowerCase();
    if (!this.ctx.hub.isConnected(key)) this.announced.delete(key);
  }

  /** Hosts remembered as told a welcome (bounded by the hosts connected here). */
  get announcedCount(): number {
    return this.announced.size;
  }

  private currentSpread(): number {
    return reconnectSpreadInSeconds(this.ctx.hub.connectedCount, this.ctx.config.agentAdmissionsPerSecond);
  }

  /**
   * Sends a new welcome to every agent connected here whose reconnect spread no longer fits the
   * fleet (half or one and a half times; {@link spreadChanged}). Every
   * {@link RECONNECT_SPREAD_CHECK_IN_MS}; returns how many were told.
   */
  announceSpread(): number {
    const spreadInSeconds = this.currentSpread();
    let told = 0;
    for (const [key, entry] of this.announced) {
      // Every check, not only on a change: a host whose goodbye raced its welcome (a revocation
      // beside a hello) is not kept past one check.
      if (!this.ctx.hub.isConnected(key)) {
        this.announced.delete(key);
        continue;
      }
      if (!spreadChanged(entry.spreadInSeconds, spreadInSeconds)) continue;
      entry.spreadInSeconds = spreadInSeconds;
      if (this.tell(key, entry)) told++;
    }
    return told;
  }

  /**
   * Sends `entry`'s welcome (interval and spread as they now stand) over this replica's own
   * connection only — another replica announces to its own agents; a host no longer connected
   * here is forgotten. True when it was sent.
   */
  private tell(key: string, entry: AnnouncedHost): boolean {
    if (this.ctx.hub.sendLocal(key, welcomeOf(entry.host, entry.intervalInSeconds, entry.spreadInSeconds)) !== 'absent')
      return true;
    this.announced.delete(key);
    return false;
  }

  /**
   * Re-reads the rules; when what they ask of hosts changed, sends a new welcome to every host
   * connected here whose interval changed (hosts no longer connected here are forgotten).
   * Called after this replica changed a rule, and by the poll.
   */
  refresh(): Promise<void> {
    const run = this.refreshing.then(() => this.load());
    this.refreshing = run.catch(() => undefined);
    return run;
  }

  private async load(): Promise<void> {
    const rules = await this.ctx.store.listResources<MetricAlertBody>('metricAlert');
    if (!this.intervals.setRules(rules)) return;
    for (const [key, entry] of this.announced) {
      if (!this.ctx.hub.isConnected(key)) {
        this.announced.delete(key);
        continue;
      }
      const intervalInSeconds = this.intervals.intervalOf(entry.host);
      if (intervalInSeconds === entry.intervalInSeconds) continue;
      entry.intervalInSeconds = intervalInSeconds;
      this.tell(key, entry);
    }
  }
}

function welcomeOf(
  host: HostInfo,
  intervalInSeconds: number,
  spreadInSeconds: number,
): Extract<ServerToAgent, { type: 'welcome' }> {
  return {
    type: 'welcome',
    vmId: host.id,
    location: host.location,
    metricsBatchIntervalInSeconds: intervalInSeconds,
    reconnectSpreadInSeconds: spreadInSeconds,
    // This server acknowledges batches once stored (alerts-runtime.ts, MetricStore); its clock is the agents' offset measure.
    metricBatchAcks: { serverTime: new Date().toISOString() },
  };
}
