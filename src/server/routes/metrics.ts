import type { FastifyInstance } from 'fastify';
import {
  hostMetricDefinitions,
  scrapeMetrics,
  type MetricsQueryParameters,
  type PerHostSelection,
} from '../../alerts/index.js';
import { ApiError } from '../../lib/index.js';
import type { ServerContext } from '../services/context.js';
import { getVm } from '../services/vms.js';
import { alertHostOf, queryAlertHostMetrics } from '../alerts-runtime.js';
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
  try {
    return decodeURIComponent(value.replace(/\+/g, ' '));
  } catch {
    return value;
  }
}

/**
 * Which hosts' series a scrape of `/metrics` asks for: `?perHost=true` every host, `?vm=ID`
 * (repeatable, or comma-separated) those hosts, nothing the default. Anything else is refused
 * (400 InvalidParameter), not ignored.
 */
export function perHostSelection(query: Record<string, string | string[] | undefined>): PerHostSelection {
  let selection: PerHostSelection = 'default';
  for (const [name, raw] of Object.entries(query)) {
    const values = Array.isArray(raw) ? raw : [raw ?? ''];
    if (name.toLowerCase() === 'perhost') {
      const v = values.at(-1)!.toLowerCase();
      if (v !== 'true' && v !== 'false')
        throw new ApiError('InvalidParameter', `perHost must be true or false, not '${values.at(-1)}'.`, {
          target: 'perHost',
        });
      if (v === 'true') selection = 'all';
    } else if (name.toLowerCase() === 'vm') {
      if (selection === 'all') continue;
      const ids: Set<string> = new Set<string>(selection === 'default' ? [] : [...(selection as ReadonlySet<string>)]);
      for (const v of values) for (const id of v.split(',')) if (id.trim()) ids.add(id.trim().toLowerCase());
      selection = ids;
    } else {
      throw new ApiError(
        'InvalidParameter',
        `Unknown query parameter '${name}' on /metrics; use perHost=true or vm=ID.`,
        { target: name },
      );
    }
  }
  return selection;
}

/**
 * Host metrics on Azure Monitor's REST shape (`{vmId}/providers/Microsoft.Insights/metrics` and
 * `…/metricDefinitions`), and the server's Prometheus endpoint.
 */
export function registerMetricRoutes(app: FastifyInstance, ctx: ServerContext): void {
  const hostOf = async (p: ArmParams) => {
    return alertHostOf(ctx, await getVm(ctx, p.sub, p.rg, p.vm));
  };
  app.get<{ Params: ArmParams; Querystring: Record<string, string | undefined> }>(
    `${VMS}/:vm/providers/Microsoft.Insights/metrics`,
    async (req) => {
      const host = await hostOf(req.params);
      // Azure's query names are case-insensitive (metricNames, metricnames).
      const q = Object.fromEntries(
        Object.entries(req.query).map(([k, v]) => [k.toLowerCase(), v]),
      ) as MetricsQueryParameters;
      if (q.timespan !== undefined) q.timespan = decodeTwiceEncoded(q.timespan);
      return queryAlertHostMetrics(ctx, host, q);
    },
  );
  app.get<{ Params: ArmParams }>(`${VMS}/:vm/providers/Microsoft.Insights/metricDefinitions`, async (req) =>
    hostMetricDefinitions(await hostOf(req.params)),
  );

  app.get<{ Querystring: Record<string, string | string[] | undefined> }>(PROMETHEUS_PATH, async (req, reply) => {
    const registry = ctx.alerts.context.telemetry.registry;
    return reply.type(registry.contentType).send(await scrapeMetrics(registry, perHostSelection(req.query)));
  });
}
