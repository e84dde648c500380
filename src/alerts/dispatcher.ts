import { armIdKey } from '../lib/index.js';
import type { MonitorCondition } from '../model/index.js';
import { redactUrl } from '../storage/index.js';
import { receiverServiceUri, type ActionGroupBody } from './action-groups.js';
import type { AlertsContext } from './context.js';
import type { MetricAlertBody } from './metric-alerts.js';
import { buildCommonAlertPayload, buildMetricAlertPayload, type AlertNotice } from './payloads.js';
import { deliverWebhook } from './webhook.js';

/** One webhook delivery of a notification, kept with the alert. */
export interface NotificationRecord {
  at: string;
  monitorCondition: MonitorCondition;
  actionGroupId: string;
  receiver: string;
  schema: 'azureMonitorCommonAlertSchema' | 'AzureMonitorMetricAlert';
  outcome: 'Succeeded' | 'Failed' | 'Skipped';
  attempts: number;
  httpStatus: number | null;
  error: string | null;
}

/**
 * Sends an alert's Fired and Resolved notifications to the webhooks of its rule's action groups,
 * each in the payload its receiver asked for, with retries, and records every delivery with the
 * alert. Deliveries run in the background: a slow receiver never delays the next evaluation.
 */
export class NotificationDispatcher {
  private readonly inFlight = new Set<Promise<void>>();
  private readonly abort = new AbortController();

  constructor(private readonly actx: AlertsContext) {}

  /** Starts sending one notification. */
  dispatch(rule: MetricAlertBody, notice: AlertNotice): void {
    const p = this.send(rule, notice).catch((error: unknown) => {
      this.actx.logger.error({ err: error, alert: notice.alertId }, 'sending alert notifications failed');
    });
    this.inFlight.add(p);
    void p.finally(() => this.inFlight.delete(p));
  }

  private async send(rule: MetricAlertBody, notice: AlertNotice): Promise<void> {
    const deliveries: Array<Promise<NotificationRecord>> = [];
    const skipped: NotificationRecord[] = [];
    const base = { monitorCondition: notice.monitorCondition, attempts: 0, httpStatus: null };
    for (const action of rule.properties.actions) {
      const group = await this.actx.store.getResource<ActionGroupBody>(armIdKey(action.actionGroupId));
      if (!group || !group.body.properties.enabled) {
        skipped.push({
          ...base,
          at: new Date().toISOString(),
          actionGroupId: action.actionGroupId,
          receiver: '',
          schema: 'AzureMonitorMetricAlert',
          outcome: 'Skipped',
          error: group ? 'the action group is disabled' : 'the action group no longer exists',
        });
        continue;
      }
      const customProperties = Object.keys(action.webHookProperties).length > 0 ? action.webHookProperties : null;
      for (const receiver of group.body.properties.webhookReceivers) {
        const schema = receiver.useCommonAlertSchema ? 'azureMonitorCommonAlertSchema' : 'AzureMonitorMetricAlert';
        const n = { ...notice, customProperties };
        const payload = receiver.useCommonAlertSchema ? buildCommonAlertPayload(n) : buildMetricAlertPayload(n);
        const url = receiverServiceUri(group, receiver.name);
        // Why the receiver could not be reached goes to the log only (the record is readable through the API).
        let unreachable: string | undefined;
        // This server's own alert-capture endpoint is called in-process: its URL needs no key.
        const delivery = this.actx.deliverToOwnEndpoint?.(url, payload) ?? null;
        deliveries.push(
          (
            delivery ??
            deliverWebhook(url, payload, {
              ...this.actx.webhook,
              signal: this.abort.signal,
              onUnreachable: (d) => {
                unreachable = d;
              },
            })
          ).then((r) => {
            this.actx.telemetry.notifications.inc({ outcome: r.outcome });
            if (r.outcome === 'Failed') {
              // The URL may carry a key (an alert-capture URL): only its redacted form is logged.
              this.actx.logger.warn(
                {
                  alert: notice.alertId,
                  receiver: receiver.name,
                  url: redactUrl(url),
                  httpStatus: r.httpStatus,
                  error: r.error,
                  reason: unreachable,
                },
                'alert webhook delivery failed',
              );
            }
            return {
              at: new Date().toISOString(),
              monitorCondition: notice.monitorCondition,
              actionGroupId: group.id,
              receiver: receiver.name,
              schema,
              outcome: r.outcome,
              attempts: r.attempts,
              httpStatus: r.httpStatus,
              error: r.error,
            };
          }),
        );
      }
    }
    const records = [...skipped, ...(await Promise.all(deliveries))];
    await this.actx.store.appendAlertNotifications(notice.alertId, records);
  }

  /** Stops waiting retries and waits for deliveries under way. */
  async close(): Promise<void> {
    this.abort.abort();
    await Promise.all([...this.inFlight]);
  }
}
