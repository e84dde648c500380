import type { FastifyInstance } from 'fastify';
import { hostMetricDefinitions, queryHostMetrics, type MetricsQueryParameters } from '../../alerts/index.js';
import type { ServerContext } from '../services/context.js';
import { getVm } from '../services/vms.js';
import { alertsRuntime, listAlertHosts } from './alerts-runtime.js';
import { VMS, type ArmParams } from './arm-paths.js';

/** Path of the server's Prometheus endpoint (admin bearer token, like every API call). */
export const PROMETHEUS_PATH = '/metrics';

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
    await alertsRuntime(ctx).metrics.flush();
    return queryHostMetrics(ctx.store, host, q);
  });
  app.get<{ Params: ArmParams }>(`${VMS}/:vm/providers/Microsoft.Insights/metricDefinitions`, async (req) => hostMetricDefinitions(await hostOf(req.params)));

  app.get(PROMETHEUS_PATH, async (_req, reply) => {
    const registry = alertsRuntime(ctx).context.telemetry.registry;
    return reply.type(registry.contentType).send(await registry.metrics());
  });
}
