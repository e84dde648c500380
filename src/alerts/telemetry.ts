import { AsyncLocalStorage } from 'node:async_hooks';
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { HOST_METRICS } from './host-metrics.js';

/** What the server's Prometheus endpoint reads at each scrape from the rest of the server. */
export interface ServerTelemetrySources {
  agentsConnected(): number;
  /** Capture sessions per host state, with packets and kernel drops. */
  captureTotals(): Promise<
    Array<{ status: string; sessions: number; packetsCaptured: number; kernelPacketsDropped: number }>
  >;
  /** Per host still remembered (reported within the idle retention, not deleted), what its agent reported since the server started. */
  hostTotals(): ReadonlyMap<string, Readonly<Record<string, number>>>;
  /** What the hosts no longer remembered reported since the server started: the fleet's counters include it, so they never go back. */
  retiredHostTotals(): Readonly<Record<string, number>>;
}

/**
 * Up to this many hosts, a scrape carries every host's series by default; past it only the fleet
 * totals, unless the scrape asks (`?perHost=true`, or `?vm=ID` for some): at 10,000 hosts the
 * per-host series are 90,000 lines (15 MiB) that every scrape would build and send.
 */
export const PER_HOST_SERIES_DEFAULT_LIMIT = 100;

/** Which hosts' series a scrape carries: all, some (lower-case VM ids), or the default (all up to {@link PER_HOST_SERIES_DEFAULT_LIMIT} hosts, else none). */
export type PerHostSelection = 'all' | 'default' | ReadonlySet<string>;

const scrapeSelection = new AsyncLocalStorage<PerHostSelection>();

/** Renders the registry for one scrape with its per-host selection. */
export function scrapeMetrics(registry: Registry, selection: PerHostSelection): Promise<string> {
  return scrapeSelection.run(selection, () => registry.metrics());
}

/** The counters the alerts services move, and the registry the server's `/metrics` serves. */
export interface AlertsTelemetry {
  registry: Registry;
  evaluations: Counter<'outcome'>;
  transitions: Counter<'monitor_condition'>;
  notifications: Counter<'outcome'>;
  alertCaptureTriggers: Counter<'outcome'>;
  alertCaptureNotifications: Counter<'outcome'>;
}

/**
 * Builds the server's Prometheus registry (one per server, never the global one: tests run
 * several servers in one process): process metrics, agents, capture sessions and kernel drops,
 * host metrics received, alert evaluations and notifications, alert-capture triggers.
 */
export function createServerTelemetry(sources: ServerTelemetrySources): AlertsTelemetry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'nw_server_' });
  new Gauge({
    name: 'nw_agents_connected',
    help: 'Agents connected to this server process.',
    registers: [registry],
    collect() {
      this.set(sources.agentsConnected());
    },
  });
  const sessions = new Gauge({
    name: 'nw_capture_sessions',
    help: 'Capture sessions (one per capture and host) by status.',
    labelNames: ['status'],
    registers: [registry],
  });
  const packets = new Gauge({
    name: 'nw_capture_packets_captured',
    help: 'Packets captured by the sessions of existing captures, by status.',
    labelNames: ['status'],
    registers: [registry],
  });
  new Gauge({
    name: 'nw_capture_kernel_packets_dropped',
    help: 'Packets the kernel dropped during the sessions of existing captures, by status.',
    labelNames: ['status'],
    registers: [registry],
    async collect() {
      const totals = await sources.captureTotals();
      this.reset();
      sessions.reset();
      packets.reset();
      for (const t of totals) {
        this.set({ status: t.status }, t.kernelPacketsDropped);
        sessions.set({ status: t.status }, t.sessions);
        packets.set({ status: t.status }, t.packetsCaptured);
      }
    },
  });
  new Gauge({
    name: 'nw_hosts_reporting',
    help: 'Hosts whose agents reported metrics to this server process within the idle retention (1 hour by default), deleted hosts excepted.',
    registers: [registry],
    collect() {
      this.set(sources.hostTotals().size);
    },
  });
  for (const metric of HOST_METRICS) {
    new Counter({
      name: metric.prometheusName,
      help: `${metric.name} (${metric.unit}) reported by agents since this server started, per host (every host up to ${PER_HOST_SERIES_DEFAULT_LIMIT}; past that only with ?perHost=true or ?vm=ID).`,
      labelNames: ['vm'],
      registers: [registry],
      collect() {
        this.reset();
        const totals = sources.hostTotals();
        const selection = scrapeSelection.getStore() ?? 'default';
        if (selection === 'all' || (selection === 'default' && totals.size <= PER_HOST_SERIES_DEFAULT_LIMIT)) {
          for (const [vm, t] of totals) this.inc({ vm }, t[metric.name] ?? 0);
        } else if (selection !== 'default') {
          for (const vm of selection) {
            const t = totals.get(vm);
            if (t) this.inc({ vm }, t[metric.name] ?? 0);
          }
        }
      },
    });
    new Counter({
      name: metric.prometheusName.replace(/^nw_host_/, 'nw_hosts_'),
      help: `${metric.name} (${metric.unit}) reported by all agents together since this server started.`,
      registers: [registry],
      collect() {
        this.reset();
        // Forgotten hosts' sums included: a host leaving the per-host series must not make the
        // fleet's counter go back (Prometheus would read a reset and count it all again).
        let sum = sources.retiredHostTotals()[metric.name] ?? 0;
        for (const t of sources.hostTotals().values()) sum += t[metric.name] ?? 0;
        this.inc(sum);
      },
    });
  }
  return {
    registry,
    evaluations: new Counter({
      name: 'nw_alert_rule_evaluations_total',
      help: 'Metric alert rule evaluations.',
      labelNames: ['outcome'],
      registers: [registry],
    }),
    transitions: new Counter({
      name: 'nw_alerts_total',
      help: 'Alerts fired and resolved.',
      labelNames: ['monitor_condition'],
      registers: [registry],
    }),
    notifications: new Counter({
      name: 'nw_alert_webhook_deliveries_total',
      help: 'Alert webhook deliveries (after retries).',
      labelNames: ['outcome'],
      registers: [registry],
    }),
    alertCaptureTriggers: new Counter({
      name: 'nw_alert_capture_triggers_total',
      help: 'Alerts received by alert-capture endpoints, by outcome.',
      labelNames: ['outcome'],
      registers: [registry],
    }),
    alertCaptureNotifications: new Counter({
      name: 'nw_alert_capture_notifications_total',
      help: 'Completion notifications of alert-triggered captures (after retries).',
      labelNames: ['outcome'],
      registers: [registry],
    }),
  };
}
