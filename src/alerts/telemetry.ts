import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { HOST_METRICS } from './host-metrics.js';

/** What the server's Prometheus endpoint reads at each scrape from the rest of the server. */
export interface ServerTelemetrySources {
  agentsConnected(): number;
  /** Capture sessions per host state, with packets and kernel drops. */
  captureTotals(): Promise<Array<{ status: string; sessions: number; packetsCaptured: number; kernelPacketsDropped: number }>>;
  /** Per host, what agents reported since the server started. */
  hostTotals(): ReadonlyMap<string, Readonly<Record<string, number>>>;
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
    name: 'nw_agents_connected', help: 'Agents connected to this server process.', registers: [registry],
    collect() { this.set(sources.agentsConnected()); },
  });
  const sessions = new Gauge({ name: 'nw_capture_sessions', help: 'Capture sessions (one per capture and host) by status.', labelNames: ['status'], registers: [registry] });
  const packets = new Gauge({ name: 'nw_capture_packets_captured', help: 'Packets captured by the sessions of existing captures, by status.', labelNames: ['status'], registers: [registry] });
  new Gauge({
    name: 'nw_capture_kernel_packets_dropped', help: 'Packets the kernel dropped during the sessions of existing captures, by status.', labelNames: ['status'], registers: [registry],
    async collect() {
      const totals = await sources.captureTotals();
      this.reset(); sessions.reset(); packets.reset();
      for (const t of totals) {
        this.set({ status: t.status }, t.kernelPacketsDropped);
        sessions.set({ status: t.status }, t.sessions);
        packets.set({ status: t.status }, t.packetsCaptured);
      }
    },
  });
  for (const metric of HOST_METRICS) {
    new Counter({
      name: metric.prometheusName, help: `${metric.name} (${metric.unit}) reported by agents since this server started.`, labelNames: ['vm'], registers: [registry],
      collect() {
        this.reset();
        for (const [vm, totals] of sources.hostTotals()) this.inc({ vm }, totals[metric.name] ?? 0);
      },
    });
  }
  return {
    registry,
    evaluations: new Counter({ name: 'nw_alert_rule_evaluations_total', help: 'Metric alert rule evaluations.', labelNames: ['outcome'], registers: [registry] }),
    transitions: new Counter({ name: 'nw_alerts_total', help: 'Alerts fired and resolved.', labelNames: ['monitor_condition'], registers: [registry] }),
    notifications: new Counter({ name: 'nw_alert_webhook_deliveries_total', help: 'Alert webhook deliveries (after retries).', labelNames: ['outcome'], registers: [registry] }),
    alertCaptureTriggers: new Counter({ name: 'nw_alert_capture_triggers_total', help: 'Alerts received by alert-capture endpoints, by outcome.', labelNames: ['outcome'], registers: [registry] }),
    alertCaptureNotifications: new Counter({ name: 'nw_alert_capture_notifications_total', help: 'Completion notifications of alert-triggered captures (after retries).', labelNames: ['outcome'], registers: [registry] }),
  };
}
