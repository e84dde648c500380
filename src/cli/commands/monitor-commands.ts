import { defineGroup, type Declaration } from '../command-declaration.js';
import { ACTION_GROUP_COMMANDS } from './monitor-action-group.js';
import { ACTIVITY_LOG_COMMANDS } from './monitor-activity-log.js';
import { ALERT_COMMANDS } from './monitor-alerts.js';
import { METRIC_ALERT_COMMANDS } from './monitor-metric-alert.js';
import { METRICS_COMMANDS } from './monitor-metrics.js';

/**
 * `nw monitor …`: host metrics, metric alert rules, action groups and fired alerts, with az's
 * command names and flags (`az monitor metrics list`, `az monitor metrics alert create`,
 * `az monitor action-group create`); `nw monitor alert` lists fired alerts (Alerts Management).
 * Each file declares its own commands; this is their group, in help order.
 */
export const MONITOR_COMMANDS: readonly Declaration[] = [
  defineGroup({
    path: ['monitor'],
    description: 'host metrics, metric alerts, action groups and the activity log (Azure Monitor)',
  }),
  ...ACTIVITY_LOG_COMMANDS,
  ...METRICS_COMMANDS,
  ...METRIC_ALERT_COMMANDS,
  ...ACTION_GROUP_COMMANDS,
  ...ALERT_COMMANDS,
];
