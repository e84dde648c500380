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
  sumFleetStats,
  type FleetStats,
  type SimulatedFleetProcesses,
  type SimulatedHost,
} from '../lib/agent-simulator.js';

/**
 * Starts `hosts` in simulator processes of at most `agentsPerProcess` agents, each host connecting
 * to `urlFor(host.index)`; hosts with the same URL share a group of processes.
 */
export async function startFleetOverReplicas(options: {
  hosts: SimulatedHost[];
  urlFor: (hostIndex: number) => string;
  agentsPerProcess: number;
  connectConcurrency: number;
  reportFormat?: 'batch' | 'single';
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
        ...(options.reportFormat ? { reportFormat: options.reportFormat } : {}),
      }),
    ),
  );
  const stats = async () => sumFleetStats(await Promise.all(groups.map((g) => g.stats())));
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
    async setReportFormat(format) {
      await Promise.all(groups.map((g) => g.setReportFormat(format)));
    },
    stats,
    async stop() {
      await Promise.all(groups.map((g) => g.stop()));
    },
  };
}
