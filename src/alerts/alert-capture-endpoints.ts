import { armIdKey } from '../lib/index.js';
import type { ResourceRecord } from '../store/index.js';
import { alertCaptureId, type AlertCaptureBody, type AlertCaptureRunDetail } from './alert-capture.js';
import type { AlertsContext } from './context.js';

/** The alert-capture endpoints of a subscription, or of one of its resource groups. */
export async function listAlertCaptures(
  actx: AlertsContext,
  sub: string,
  rg?: string,
): Promise<ResourceRecord<AlertCaptureBody>[]> {
  return actx.store.listResources<AlertCaptureBody>('alertCapture', {
    subscriptionId: sub,
    ...(rg !== undefined ? { resourceGroup: rg } : {}),
  });
}

/** Deletes an alert-capture endpoint; true if it existed. */
export async function deleteAlertCapture(actx: AlertsContext, sub: string, rg: string, name: string): Promise<boolean> {
  return actx.store.deleteResource(armIdKey(alertCaptureId(sub, rg, name)));
}

/** Most runs listed for an endpoint (`alert-capture list-runs`). */
export const ALERT_CAPTURE_RUNS_LISTED = 500;

/** The runs of an endpoint, newest first, as `alert-capture list-runs` shows them. */
export async function listAlertCaptureRuns(
  actx: AlertsContext,
  rec: ResourceRecord<AlertCaptureBody>,
): Promise<Array<Record<string, unknown>>> {
  const runs = await actx.store.listAlertCaptureRuns<AlertCaptureRunDetail>({
    configKey: rec.key,
    limit: ALERT_CAPTURE_RUNS_LISTED,
  });
  return runs.map((r) => ({
    id: r.id,
    state: r.state,
    createdAt: r.createdAt.toISOString(),
    updatedAt: r.updatedAt.toISOString(),
    ...r.detail,
  }));
}
