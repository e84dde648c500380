import { ApiError, armIdKey } from '../lib/index.js';
import type { AlertRecord } from '../store/index.js';
import type { AlertsContext } from './context.js';
import type { StoredAlertBody } from './evaluator.js';
import { alertResourceId } from './payloads.js';

/** The filters of Alerts Management's list (Alerts_GetAll) that netwatcher honours. */
export interface FiredAlertFilter {
  /** A rule's id, or (as the portal filters) its name. */
  alertRule?: string;
  /** The id of the resource the alert is about. */
  targetResource?: string;
  monitorCondition?: string;
  /** Most alerts answered (pageCount). */
  limit: number;
}

/** The fired alerts of a subscription, newest first, filtered as Alerts_GetAll asks. */
export async function listFiredAlerts(
  actx: AlertsContext,
  sub: string,
  filter: FiredAlertFilter,
): Promise<AlertRecord<StoredAlertBody>[]> {
  const rule = filter.alertRule;
  const byId = rule?.startsWith('/') ?? false;
  const list = await actx.store.listAlerts<StoredAlertBody>({
    subscriptionId: sub,
    ...(rule && byId ? { ruleKey: armIdKey(rule) } : {}),
    ...(filter.targetResource ? { targetKey: armIdKey(filter.targetResource) } : {}),
    ...(filter.monitorCondition ? { monitorCondition: filter.monitorCondition } : {}),
    limit: rule && !byId ? 1000 : filter.limit,
  });
  return rule && !byId
    ? list.filter((a) => a.body.rule.name.toLowerCase() === rule.toLowerCase()).slice(0, filter.limit)
    : list;
}

/** One fired alert of a subscription by its id; 404 ResourceNotFound when missing or another subscription's. */
export async function getFiredAlert(
  actx: AlertsContext,
  sub: string,
  id: string,
): Promise<AlertRecord<StoredAlertBody>> {
  const rec = await actx.store.getAlert<StoredAlertBody>(id);
  if (!rec || rec.subscriptionId.toLowerCase() !== sub.toLowerCase())
    throw new ApiError('ResourceNotFound', `Alert '${alertResourceId(sub, id)}' was not found.`);
  return rec;
}
