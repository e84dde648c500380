/**
 * A replica crash under load: `kill -9` of one replica, then how long until its agents are
 * connected again through the others, their leases held by live replicas, and every one of its
 * hosts recorded connected (and how many were seen disconnected on the way).
 */
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import type { SimulatedFleetProcesses } from '../lib/agent-simulator.js';
import type { ServerProcess } from './replica-set.js';

/** What a crash cost, in ms from the kill. */
export interface ReplicaCrashFigures {
  /** Hosts whose lease the killed replica held. */
  hostsOnVictim: number;
  /** Until the simulator had every agent connected again (after it saw the drop). */
  agentsBackMs: number;
  /** Until the killed replica's heartbeat had expired (its hosts could be swept). */
  victimExpiredMs: number;
  /** Until every one of its hosts had a lease on a live replica. */
  leasesMovedMs: number;
  /** Until every one of its hosts was recorded connected again (with a live lease). */
  recordedConnectedMs: number;
  /** The fewest of its hosts recorded connected at one poll (hostsOnVictim: none shown disconnected). */
  fewestRecordedConnected: number;
  /** Its hosts recorded disconnected at the last poll (with every agent connected: recorded disconnected while connected). */
  recordedDisconnectedAtEnd: number;
}

const POLL_IN_MS = 250;

/** Counts of the victim's hosts now: on a live lease elsewhere, recorded connected; and whether the victim's heartbeat expired. */
async function crashCounts(
  db: pg.Client,
  victimId: string,
  vmKeys: string[],
): Promise<{ moved: number; recorded: number; victimExpired: boolean }> {
  const [row] = (
    await db.query(
      `SELECT
         (SELECT count(*)::int FROM agent_leases l JOIN server_replicas r USING (replica_id)
           WHERE l.vm_key = ANY($1) AND l.replica_id <> $2 AND r.expires_at > now()) AS moved,
         (SELECT count(*)::int FROM resources WHERE key = ANY($1)
           AND body->'properties'->'netwatcher'->>'agentConnected' = 'true') AS recorded,
         NOT EXISTS (SELECT 1 FROM server_replicas WHERE replica_id = $2 AND expires_at > now()) AS victim_expired`,
      [vmKeys, victimId],
    )
  ).rows as Array<{ moved: number; recorded: number; victim_expired: boolean }>;
  return { moved: row!.moved, recorded: row!.recorded, victimExpired: row!.victim_expired };
}

/** Kills `victim` with SIGKILL while `fleet` (`agents` agents) is connected, and times the recovery (at most `timeoutInMs`). */
export async function measureReplicaCrash(options: {
  victim: ServerProcess;
  fleet: SimulatedFleetProcesses;
  agents: number;
  dbUrl: string;
  timeoutInMs: number;
}): Promise<ReplicaCrashFigures> {
  const db = new pg.Client({ connectionString: options.dbUrl });
  await db.connect();
  try {
    const vmKeys = (
      await db.query('SELECT vm_key FROM agent_leases WHERE replica_id = $1', [options.victim.replicaId])
    ).rows.map((r: { vm_key: string }) => r.vm_key);
    const figures: ReplicaCrashFigures = {
      hostsOnVictim: vmKeys.length,
      agentsBackMs: NaN,
      victimExpiredMs: NaN,
      leasesMovedMs: NaN,
      recordedConnectedMs: NaN,
      fewestRecordedConnected: vmKeys.length,
      recordedDisconnectedAtEnd: 0,
    };
    const t0 = performance.now();
    await options.victim.kill();
    let sawDrop = false;
    while (performance.now() - t0 < options.timeoutInMs) {
      const ms = performance.now() - t0;
      const connected = (await options.fleet.stats()).connected;
      sawDrop ||= connected < options.agents;
      if (sawDrop && connected >= options.agents && Number.isNaN(figures.agentsBackMs)) figures.agentsBackMs = ms;
      const c = await crashCounts(db, options.victim.replicaId, vmKeys);
      figures.fewestRecordedConnected = Math.min(figures.fewestRecordedConnected, c.recorded);
      figures.recordedDisconnectedAtEnd = vmKeys.length - c.recorded;
      if (c.victimExpired && Number.isNaN(figures.victimExpiredMs)) figures.victimExpiredMs = ms;
      if (c.moved >= vmKeys.length && Number.isNaN(figures.leasesMovedMs)) figures.leasesMovedMs = ms;
      if (c.moved >= vmKeys.length && c.recorded >= vmKeys.length && Number.isNaN(figures.recordedConnectedMs))
        figures.recordedConnectedMs = ms;
      if (
        [figures.agentsBackMs, figures.victimExpiredMs, figures.leasesMovedMs, figures.recordedConnectedMs].every(
          (v) => !Number.isNaN(v),
        )
      )
        break;
      await sleep(POLL_IN_MS);
    }
    return figures;
  } finally {
    await db.end();
  }
}
