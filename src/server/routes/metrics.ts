import type { FastifyInstance } from 'fastify';
import { hostMetricDefinitions, queryHostMetrics, type MetricsQueryParameters } from '../../alerts/index.js';
import type { ServerContext } from '../services/context.js';
import { getVm } from '../services/vms.js';
import { alertsRuntime, listAlertHosts } from './alerts-runtime.js';
import { VMS, type ArmParams } from './arm-paths.js';

/** Path of the server's Prometheus endpoint (admin bearer token, like every API call). */
export const PROMETHEUS_PATH = '/metrics';

/**
 * az encodes `timespan` itself (`quote_plus` in monitor/custom.py) before its SDK encodes it
 * again, so it arrives here still percent-encoded (`…T17%3A41%3A09%2F…`). A timespan never holds
 * a `%` of its own, so one that still has `%XX` escapes is decoded once more.
 */
export function decodeTwiceEncoded(value: string): string {
  if (!/%[0-9A-Fa-f]{2}/.test(value)) return value;
  try { return decodeURIComponent(value.replace(/\+/g, ' ')); } catch { return value; }
}

/**
 * Host metrics on Azure Monitor's REST shape (`{vmId}/providers/Microsoft.Insights/metrics` and
 * `…/metricDefinitions`), and the server's Prometheus endpoint.
 */
export function registerMetricRoutes(app: FastifyInstance, ctx: ServerContext): void {
  const hostOf = async (p: ArmParams) => {
    const vm = await getVm(ctx, p.sub, p.rg, p.vm);
    return (await listAlertHosts(ctx)).find((h) => h.key === vm.key)!;
  };
  app.get<{ Params: ArmParams; Querystring: Record<string, string | undefined> }>(`${VMS}/:vm/providers/Microsoft.Insights/metrics`, async (req) => {
    const host = await hostOf(req.params);
    // Azure's query names are case-insensitive (metricNames, metricnames).
    const q = Object.fromEntries(Object.entries(req.query).map(([k, v]) => [k.toLowerCase(), v])) as MetricsQueryParameters;
    if (q.timespan !== undefined) q.timespan = decodeTwiceEncoded(q.timespan);
    await alertsRuntime(ctx).metrics.flush();
    return queryHostMetrics(ctx.store, host, q);
  });
  app.get<{ Params: ArmParams }>(`${VMS}/:vm/providers/Microsoft.Insights/metricDefinitions`, async (req) => hostMetricDefinitions(await hostOf(req.params)));

  app.get(PROMETHEUS_PATH, async (_req, reply) => {
    const registry = alertsRuntime(ctx).context.telemetry.registry;
    return reply.type(registry.contentType).send(await registry.metrics());
  });
}
