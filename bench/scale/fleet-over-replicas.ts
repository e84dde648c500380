/**
 * The simulated fleet of one size, spread over the replicas when agents are given replica
 * addresses directly: one group of simulator processes per address list (host i starts at
 * replica i % N), seen as one fleet. Through HAProxy (or with one replica) it is one group. Each
 * group is an ordinary {@link startSimulatedFleetProcesses}.
 */
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  startSimulatedFleetProcesses,
  type FleetStats,
  type SimulatedFleetProcesses,
  type SimulatedHost,
} from '../lib/agent-simulator.js';

/** Counters summed over groups (failure causes merged). */
function sumStats(all: FleetStats[]): FleetStats {
  const sum: FleetStats = {
    connected: 0,
    failedAttempts: 0,
    handshakeTimeouts: 0,
    unexpectedDrops: 0,
    metricReports: 0,
    ordersReceived: 0,
    running: 0,
    failureCauses: {},
  };
  for (const s of all) {
    sum.connected += s.connected;
    sum.failedAttempts += s.failedAttempts;
    sum.handshakeTimeouts += s.handshakeTimeouts;
    sum.unexpectedDrops += s.unexpectedDrops;
    sum.metricReports += s.metricReports;
    sum.ordersReceived += s.ordersReceived;
    sum.running += s.running;
    for (const [c, n] of Object.entries(s.failureCauses)) sum.failureCauses[c] = (sum.failureCauses[c] ?? 0) + n;
  }
  return sum;
}

/**
 * Starts `hosts` in simulator processes of at most `agentsPerProcess` agents, each host connecting
 * to `urlFor(host.index)`; hosts with the same URL share a group of processes.
 */
export async function startFleetOverReplicas(options: {
  hosts: SimulatedHost[];
  urlFor: (hostIndex: number) => string;
  agentsPerProcess: number;
  connectConcurrency: number;
}): Promise<SimulatedFleetProcesses> {
  const byUrl = new Map<string, SimulatedHost[]>();
  for (const h of options.hosts) {
    const url = options.urlFor(h.index);
    byUrl.set(url, [...(byUrl.get(url) ?? []), h]);
  }
  const groups = await Promise.all(
    [...byUrl].map(([serverUrl, hosts]) =>
      startSimulatedFleetProcesses({
        serverUrl,
        hosts,
        processes: Math.max(1, Math.ceil(hosts.length / options.agentsPerProcess)),
        // The concurrency is the fleet's: each group gets its share.
        connectConcurrency: Math.max(1, Math.ceil(options.connectConcurrency / byUrl.size)),
      }),
    ),
  );
  const stats = async () => sumStats(await Promise.all(groups.map((g) => g.stats())));
  return {
    hosts: options.hosts,
    pids: groups.flatMap((g) => g.pids),
    async waitConnected(count, timeoutInMs, pollInMs = 100) {
      const started = performance.now();
      for (;;) {
        const s = await stats();
        if (s.connected >= count) return performance.now() - started;
        if (performance.now() - started > timeoutInMs)
          throw new Error(`only ${s.connected} of ${count} agents connected after ${timeoutInMs} ms`);
        await sleep(pollInMs);
      }
    },
    async dropAll() {
      await Promise.all(groups.map((g) => g.dropAll()));
    },
    stats,
    async stop() {
      await Promise.all(groups.map((g) => g.stop()));
    },
  };
}
