/**
 * The simulated fleet of one size, spread over the replicas when agents are given replica
 * addresses directly: one group of simulator processes per address list (host i starts at
 * replica i % N), seen as one fleet. Through HAProxy (or with one replica) it is one group. Each
 * group is an ordinary {@link startSimulatedFleetProcesses}.
 */
import {
  startSimulatedFleetProcesses,
  sumFleetStats,
  waitForConnected,
  type FleetStats,
  type ReportFormat,
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
  reportFormat?: ReportFormat;
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
    waitConnected: (count, timeoutInMs, pollInMs) => waitForConnected(stats, count, timeoutInMs, pollInMs),
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
