import type { FastifyInstance } from 'fastify';
import {
  alertView,
  deleteActionGroup,
  deleteMetricAlert,
  getActionGroup,
  getFiredAlert,
  getMetricAlert,
  listActionGroups,
  listFiredAlerts,
  listMetricAlerts,
  putActionGroup,
  putMetricAlert,
} from '../../alerts/index.js';
import { ApiError } from '../../lib/index.js';
import { actionGroupPutSchema, metricAlertPutSchema, parseRequest } from '../../model/index.js';
import { resourceView } from '../services/view.js';
import type { ServerContext } from '../services/context.js';
import { RG, SUB, type ArmParams } from './arm-paths.js';

const ACTION_GROUPS = `${RG}/providers/Microsoft.Insights/actionGroups`;
const METRIC_ALERTS = `${RG}/providers/Microsoft.Insights/metricAlerts`;
const ALERTS = `${SUB}/providers/Microsoft.AlertsManagement/alerts`;

/**
 * Azure Monitor resources of seed 002: action groups (webhook receivers), metric alert rules
 * (ARM CRUD, synchronous PUTs as Azure's), and fired alerts (Alerts Management's list and get).
 */
export function registerAlertRoutes(app: FastifyInstance, ctx: ServerContext): void {
  const actx = () => ctx.alerts.context;
  // A rule changed: the hosts it watches may have to send their metrics more or less often (the
  // rule is stored whatever happens here; a failed read is logged, and the poll or the next change retries).
  const rulesChanged = () =>
    ctx.batchIntervals
      .refresh()
      .catch((error: unknown) =>
        ctx.logger.warn({ err: error }, 'could not re-read the metric alert rules for batch intervals'),
      );

  // ---- action groups ----
  app.put<{ Params: ArmParams }>(`${ACTION_GROUPS}/:name`, async (req, reply) => {
    const input = parseRequest(actionGroupPutSchema, req.body, 'ActionGroupResource');
    const { record, created } = await putActionGroup(actx(), req.params.sub, req.params.rg, req.params.name, input);
    return reply.code(created ? 201 : 200).send(resourceView(record));
  });
  app.get<{ Params: ArmParams }>(`${ACTION_GROUPS}/:name`, async (req) =>
    resourceView(await getActionGroup(actx(), req.params.sub, req.params.rg, req.params.name)),
  );
  app.get<{ Params: ArmParams }>(ACTION_GROUPS, async (req) => ({
    value: (await listActionGroups(actx(), req.params.sub, req.params.rg)).map((r) => resourceView(r)),
  }));
  app.get<{ Params: ArmParams }>(`${SUB}/providers/Microsoft.Insights/actionGroups`, async (req) => ({
    value: (await listActionGroups(actx(), req.params.sub)).map((r) => resourceView(r)),
  }));
  app.delete<{ Params: ArmParams }>(`${ACTION_GROUPS}/:name`, async (req, reply) => {
    const deleted = await deleteActionGroup(actx(), req.params.sub, req.params.rg, req.params.name);
    return reply.code(deleted ? 200 : 204).send();
  });

  // ---- metric alert rules ----
  app.put<{ Params: ArmParams }>(`${METRIC_ALERTS}/:name`, async (req, reply) => {
    const input = parseRequest(metricAlertPutSchema, req.body, 'MetricAlertResource');
    const { record } = await putMetricAlert(actx(), req.params.sub, req.params.rg, req.params.name, input);
    await rulesChanged();
    // 200 on create as well: Azure's spec for 2018-03-01 declares only 200, and the SDK (so az) refuses 201.
    return reply.code(200).send(resourceView(record));
  });
  app.get<{ Params: ArmParams }>(`${METRIC_ALERTS}/:name`, async (req) =>
    resourceView(await getMetricAlert(actx(), req.params.sub, req.params.rg, req.params.name)),
  );
  app.get<{ Params: ArmParams }>(METRIC_ALERTS, async (req) => ({
    value: (await listMetricAlerts(actx(), req.params.sub, req.params.rg)).map((r) => resourceView(r)),
  }));
  app.get<{ Params: ArmParams }>(`${SUB}/providers/Microsoft.Insights/metricAlerts`, async (req) => ({
    value: (await listMetricAlerts(actx(), req.params.sub)).map((r) => resourceView(r)),
  }));
  app.delete<{ Params: ArmParams }>(`${METRIC_ALERTS}/:name`, async (req, reply) => {
    const deleted = await deleteMetricAlert(actx(), req.params.sub, req.params.rg, req.params.name);
    if (deleted) await rulesChanged();
    return reply.code(deleted ? 200 : 204).send();
  });

  // ---- fired alerts (Alerts Management) ----
  app.get<{ Params: ArmParams; Querystring: Record<string, string | undefined> }>(ALERTS, async (req) => {
    const q = Object.fromEntries(Object.entries(req.query).map(([k, v]) => [k.toLowerCase(), v]));
    const limit = q['pagecount'] === undefined ? 250 : Number(q['pagecount']);
    if (!Number.isInteger(limit) || limit < 1 || limit > 1000)
      throw new ApiError('InvalidParameter', `pageCount '${q['pagecount']}' must be a whole number from 1 to 1000.`, {
        target: 'pageCount',
      });
    // alertRule may be a rule id or (as the portal filters) a rule name.
    const alerts = await listFiredAlerts(actx(), req.params.sub, {
      ...(q['alertrule'] ? { alertRule: q['alertrule'] } : {}),
      ...(q['targetresource'] ? { targetResource: q['targetresource'] } : {}),
      ...(q['monitorcondition'] ? { monitorCondition: q['monitorcondition'] } : {}),
      limit,
    });
    return { value: alerts.map(alertView) };
  });
  app.get<{ Params: ArmParams }>(`${ALERTS}/:id`, async (req) => {
    const rec = await getFiredAlert(actx(), req.params.sub, req.params.id);
    return alertView(rec);
  });
}
