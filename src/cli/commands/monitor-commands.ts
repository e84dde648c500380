import type { Command } from 'commander';
import type { CliContext } from '../context.js';
import {
  alertCaptureCreate,
  alertCaptureDelete,
  alertCaptureList,
  alertCaptureListRuns,
  alertCaptureRegenerateKey,
  alertCaptureShow,
} from './alert-capture.js';
import { actionGroupCreate, actionGroupDelete, actionGroupList, actionGroupShow } from './monitor-action-group.js';
import { alertList, alertShow } from './monitor-alerts.js';
import {
  metricAlertCreate,
  metricAlertDelete,
  metricAlertHistory,
  metricAlertList,
  metricAlertShow,
  metricAlertUpdate,
} from './monitor-metric-alert.js';
import { metricsList, metricsListDefinitions } from './monitor-metrics.js';
import { collect } from './monitor-options.js';
import { activityLogList } from './monitor-activity-log.js';

/** Makes a leaf command with az's common options and an examples block (program.ts's). */
export type LeafFactory = (parent: Command, name: string, description: string, examples: string[]) => Command;

type Options = Record<string, unknown>;
const act =
  (command: (options: Options) => Promise<unknown>) =>
  async (options: Options): Promise<void> => {
    await command(options);
  };

/**
 * `nw monitor …`: host metrics, metric alert rules, action groups and fired alerts, with az's
 * command names and flags (`az monitor metrics list`, `az monitor metrics alert create`,
 * `az monitor action-group create`); `nw monitor alert` lists fired alerts (Alerts Management).
 */
export function registerMonitorCommands(program: Command, ctx: CliContext, leaf: LeafFactory): void {
  const monitor = program
    .command('monitor')
    .description('host metrics, metric alerts, action groups and the activity log (Azure Monitor)');

  const activity = monitor
    .command('activity-log')
    .description('the activity log: changes, refused attempts and packet reads (docs/access.md)');
  leaf(
    activity,
    'list',
    "list activity-log events, newest first (Azure's activity log; az monitor activity-log list works too)",
    [
      'nw monitor activity-log list -g rg1 --offset 1h -o table',
      'nw monitor activity-log list --caller admin --status Failed --offset 1d',
      'nw monitor activity-log list --correlation-id 7f1c1c2e-0000-4000-8000-000000000001',
    ],
  )
    .option('-g, --resource-group <rg>', 'events of one resource group')
    .option('--resource-id <id>', 'events of one resource')
    .option('--resource-provider <namespace>', 'events of one provider (Microsoft.Network)')
    .option('--correlation-id <id>', 'events of one correlation id (x-ms-correlation-request-id)')
    .option('--caller <name-or-id>', 'events of one principal (display name or id)')
    .option('--status <status>', 'Succeeded or Failed')
    .option('--start-time <datetime>', 'start (ISO 8601); default: end time minus --offset')
    .option('--end-time <datetime>', 'end (ISO 8601); default: now, or start time plus --offset')
    .option('--offset <period>', 'length of the window: 1h, 30m, 2d (default 6h)')
    .option('--max-events <n>', 'at most this many events (default 50)')
    .action(act((o) => activityLogList(o, ctx)));

  const metrics = monitor.command('metrics').description('host metrics and metric alert rules');
  leaf(metrics, 'list', "list a host's metric values (Azure Monitor's metrics answer)", [
    'nw monitor metrics list --resource /subscriptions/SUB/resourceGroups/myRG/providers/Microsoft.Compute/virtualMachines/myVM --metric "TCP Segments Sent" --interval PT1M --aggregation Total',
    'nw monitor metrics list --resource myVM -g myRG --metrics "Network Out Total" "Network In Total" --interval 5s --offset 10m -o table',
  ])
    .requiredOption('--resource <id-or-name>', 'resource id, or a VM name with --resource-group')
    .option('-g, --resource-group <rg>', 'resource group of a --resource given by name')
    .option('--resource-type <type>', 'type of a --resource given by name', 'Microsoft.Compute/virtualMachines')
    .option('--metrics <names...>', 'metric names (see list-definitions)')
    .option('--metric <names...>', 'same as --metrics')
    .option('--interval <period>', 'time grain: 1m, PT1M, 5s, or FULL (default 1m)')
    .option('--aggregation <types...>', "Average, Count, Minimum, Maximum, Total (default: the metric's primary)")
    .option('--start-time <datetime>', 'start (ISO 8601); default: end time minus --offset')
    .option('--end-time <datetime>', 'end (ISO 8601); default: now')
    .option('--offset <period>', 'look-back when no start time is given (default 1h)')
    .option('--namespace <namespace>', 'metric namespace (Microsoft.Compute/virtualMachines)')
    .action(act((o) => metricsList(o, ctx)));
  leaf(metrics, 'list-definitions', 'list the metrics a host has', [
    'nw monitor metrics list-definitions --resource myVM -g myRG -o table',
  ])
    .requiredOption('--resource <id-or-name>', 'resource id, or a VM name with --resource-group')
    .option('-g, --resource-group <rg>', 'resource group of a --resource given by name')
    .option('--resource-type <type>', 'type of a --resource given by name', 'Microsoft.Compute/virtualMachines')
    .action(act((o) => metricsListDefinitions(o, ctx)));

  const alert = metrics.command('alert').description('metric alert rules');
  leaf(alert, 'create', 'create a metric alert rule on host metrics', [
    'nw monitor metrics alert create --name TCP_Segments_Sent_Exceeded --resource-group myRG --scopes VM_ID \\',
    '  --condition "total TCP Segments Sent > 100" --window-size 5m --evaluation-frequency 1m --action AG --description "TCP segments sent exceeded the threshold"',
    'nw monitor metrics alert create -n fast -g myRG --scopes VM_ID --condition "total TCP Segments Sent > 100" --window-size 5s --evaluation-frequency 1s --action AG',
  ])
    .requiredOption('-n, --name <name>', 'rule name')
    .requiredOption('-g, --resource-group <rg>', 'resource group of the rule')
    .requiredOption('--scopes <ids...>', 'VM ids (or names in --resource-group), resource group or subscription ids')
    .requiredOption(
      '--condition <condition>',
      'e.g. "total TCP Segments Sent > 100" (repeat for several; all must hold)',
      collect,
    )
    .option('--window-size <period>', 'look-back of each evaluation: 5m, 1h, 5s … (default 5m)')
    .option('--evaluation-frequency <period>', 'how often it is evaluated: 1m, 1s … (default 1m)')
    .option('-a, --action <words...>', 'action group name or id, then its webhook properties KEY=VALUE (repeatable)')
    .option('--description <text>', 'description')
    .option('--severity <0-4>', 'severity (default 2)')
    .option('--disabled [bool]', 'create it disabled')
    .option('--auto-mitigate <bool>', 'resolve the alert when the condition no longer holds (default true)')
    .option('--target-resource-region <region>', 'region of the target resources')
    .option('--tags <tags...>', 'KEY=VALUE tags')
    .action(act((o) => metricAlertCreate(o, ctx)));
  leaf(alert, 'update', 'change a metric alert rule', [
    'nw monitor metrics alert update -n TCP_Segments_Sent_Exceeded -g myRG --enabled false',
  ])
    .requiredOption('-n, --name <name>', 'rule name')
    .requiredOption('-g, --resource-group <rg>', 'resource group of the rule')
    .option('--enabled <bool>', 'enable or disable the rule')
    .option('--condition <condition>', 'replace the conditions (repeatable)', collect)
    .option('--window-size <period>', 'look-back of each evaluation')
    .option('--evaluation-frequency <period>', 'how often it is evaluated')
    .option(
      '-a, --action <words...>',
      'replace the actions: action group name or id, then KEY=VALUE webhook properties',
    )
    .option('--description <text>', 'description')
    .option('--severity <0-4>', 'severity')
    .option('--auto-mitigate <bool>', 'resolve automatically')
    .option('--tags <tags...>', 'KEY=VALUE tags')
    .action(act((o) => metricAlertUpdate(o, ctx)));
  leaf(alert, 'show', 'show a metric alert rule', [
    'nw monitor metrics alert show -n TCP_Segments_Sent_Exceeded -g myRG',
  ])
    .requiredOption('-n, --name <name>', 'rule name')
    .requiredOption('-g, --resource-group <rg>', 'resource group of the rule')
    .action(act((o) => metricAlertShow(o, ctx)));
  leaf(alert, 'list', 'list metric alert rules', ['nw monitor metrics alert list -g myRG -o table'])
    .option('-g, --resource-group <rg>', 'only this resource group')
    .action(act((o) => metricAlertList(o, ctx)));
  leaf(alert, 'delete', 'delete a metric alert rule (its alerts stay in the history); prints nothing', [
    'nw monitor metrics alert delete -n TCP_Segments_Sent_Exceeded -g myRG',
  ])
    .requiredOption('-n, --name <name>', 'rule name')
    .requiredOption('-g, --resource-group <rg>', 'resource group of the rule')
    .action(act((o) => metricAlertDelete(o, ctx)));
  leaf(alert, 'history', 'the alerts a rule fired (and resolved), newest first, with their webhook deliveries', [
    'nw monitor metrics alert history -n TCP_Segments_Sent_Exceeded -g myRG -o table',
  ])
    .requiredOption('-n, --name <name>', 'rule name')
    .requiredOption('-g, --resource-group <rg>', 'resource group of the rule')
    .action(act((o) => metricAlertHistory(o, ctx)));

  const group = monitor.command('action-group').description('action groups: where alert notifications go (webhooks)');
  leaf(group, 'create', 'create an action group with webhook receivers', [
    'nw monitor action-group create --name AG --resource-group myRG --action webhook capture "https://nw.example:8817/alert-capture/v1/…?code=KEY" usecommonalertschema',
    'nw monitor action-group create -n AG2 -g myRG -a webhook ops https://hooks.example/ops -a webhook audit https://hooks.example/audit',
  ])
    .requiredOption('-n, --name <name>', 'action group name')
    .requiredOption('-g, --resource-group <rg>', 'resource group')
    .option('--short-name <name>', 'short name, at most 12 characters (default: the name)')
    .option('-a, --action <words...>', 'webhook NAME URI [usecommonalertschema] (repeatable)')
    .option('-l, --location <location>', 'location (default Global)')
    .option('--tags <tags...>', 'KEY=VALUE tags')
    .action(act((o) => actionGroupCreate(o, ctx)));
  leaf(group, 'show', 'show an action group', ['nw monitor action-group show -n AG -g myRG'])
    .requiredOption('-n, --name <name>', 'action group name')
    .requiredOption('-g, --resource-group <rg>', 'resource group')
    .action(act((o) => actionGroupShow(o, ctx)));
  leaf(group, 'list', 'list action groups', ['nw monitor action-group list -o table'])
    .option('-g, --resource-group <rg>', 'only this resource group')
    .action(act((o) => actionGroupList(o, ctx)));
  leaf(group, 'delete', 'delete an action group; prints nothing', ['nw monitor action-group delete -n AG -g myRG'])
    .requiredOption('-n, --name <name>', 'action group name')
    .requiredOption('-g, --resource-group <rg>', 'resource group')
    .action(act((o) => actionGroupDelete(o, ctx)));

  const alerts = monitor.command('alert').description('fired alerts (Alerts Management)');
  leaf(alerts, 'list', 'list fired alerts, newest first', [
    'nw monitor alert list -o table',
    'nw monitor alert list --rule TCP_Segments_Sent_Exceeded --state Fired',
  ])
    .option('--rule <name-or-id>', 'only alerts of this rule')
    .option('--resource <id>', 'only alerts on this VM')
    .option('--state <condition>', 'Fired or Resolved')
    .option('--top <count>', 'at most this many (default 250)')
    .action(act((o) => alertList(o, ctx)));
  leaf(alerts, 'show', 'show one alert with its notifications', ['nw monitor alert show --id 3f0c…'])
    .requiredOption('--id <id>', 'alert id (GUID or full id)')
    .action(act((o) => alertShow(o, ctx)));
}

/**
 * `nw network watcher alert-capture …`: the alert-triggered capture endpoint of seed 002, under
 * the watcher commands.
 */
export function registerAlertCaptureCommands(watcher: Command, ctx: CliContext, leaf: LeafFactory): void {
  const ac = watcher
    .command('alert-capture')
    .description('alert-triggered capture endpoints: a keyed URL that starts a capture on the alerted host');
  leaf(ac, 'create', 'create an endpoint; prints its keyed URL (shown once)', [
    'nw network watcher alert-capture create --name tcpBurst --capture-name PSAzureFunction --time-limit 10 --session-limit 10',
    'nw network watcher alert-capture create -n perHost --capture-name "burst-{vm}" --time-limit 60 --storage-account nwlocal \\',
    '  --filters "[{\\"protocol\\":\\"TCP\\"}]" --notify-url https://hooks.example/captures --host-label node',
    "# captures that begin 30 s before the alert, from the hosts' look-back buffers (nw vm lookback enable):",
    'nw network watcher alert-capture create -n onset --capture-name "onset-{vm}" --time-limit 60 --lookback 30',
  ])
    .requiredOption('-n, --name <name>', 'endpoint name')
    .option('-g, --resource-group <rg>', 'resource group (default NetworkWatcherRG)')
    .option(
      '--capture-name <name>',
      'name of the captures it starts; {vm} becomes the host name (default PSAzureFunction)',
    )
    .option('--time-limit <seconds>', 'capture duration (default 60)')
    .option(
      '--lookback <seconds>',
      "begin each capture this many seconds before it was created, from the host's look-back buffer (a host without one is captured from the alert on, and the run says so)",
    )
    .option('--session-limit <count>', 'refuse when the watcher already runs this many sessions (default 10)')
    .option('--storage-account <name-or-id>', "storage account for the files (default: the server's nwlocal)")
    .option('--storage-path <url>', 'container URL in the storage account')
    .option('--file-path <path>', 'local path on the host, under /var/captures, ending in .cap')
    .option('--capture-size <bytes>', 'bytes captured per packet (0 = whole packet)')
    .option('--capture-limit <bytes>', 'maximum bytes per session')
    .option('--filters <json>', 'JSON list of filters, as packet-capture create')
    .option(
      '--notify-url <urls...>',
      'webhooks told when a capture is done (capture id, status, stop reason, storage path)',
    )
    .option('--host-label <label>', 'Alertmanager label naming the host, tried before vm and instance')
    .option(
      '--scope-resource-groups <groups...>',
      "capture only on hosts of these resource groups (always only of the endpoint's own subscription)",
    )
    .option('--disabled [bool]', 'create it disabled')
    .option('--tags <tags...>', 'KEY=VALUE tags')
    .action(act((o) => alertCaptureCreate(o, ctx)));
  leaf(ac, 'show', 'show an endpoint (its URL without the key)', ['nw network watcher alert-capture show -n tcpBurst'])
    .requiredOption('-n, --name <name>', 'endpoint name')
    .option('-g, --resource-group <rg>', 'resource group (default NetworkWatcherRG)')
    .action(act((o) => alertCaptureShow(o, ctx)));
  leaf(ac, 'list', 'list endpoints', ['nw network watcher alert-capture list -o table'])
    .option('-g, --resource-group <rg>', 'only this resource group')
    .action(act((o) => alertCaptureList(o, ctx)));
  leaf(ac, 'delete', 'delete an endpoint (its captures stay); prints nothing', [
    'nw network watcher alert-capture delete -n tcpBurst',
  ])
    .requiredOption('-n, --name <name>', 'endpoint name')
    .option('-g, --resource-group <rg>', 'resource group (default NetworkWatcherRG)')
    .action(act((o) => alertCaptureDelete(o, ctx)));
  leaf(ac, 'regenerate-key', 'replace the key; prints the new URL (the old one stops working)', [
    'nw network watcher alert-capture regenerate-key -n tcpBurst',
  ])
    .requiredOption('-n, --name <name>', 'endpoint name')
    .option('-g, --resource-group <rg>', 'resource group (default NetworkWatcherRG)')
    .action(act((o) => alertCaptureRegenerateKey(o, ctx)));
  leaf(ac, 'list-runs', 'every alert the endpoint received and what came of it, newest first', [
    'nw network watcher alert-capture list-runs -n tcpBurst -o table',
  ])
    .requiredOption('-n, --name <name>', 'endpoint name')
    .option('-g, --resource-group <rg>', 'resource group (default NetworkWatcherRG)')
    .option('--top <count>', 'at most this many')
    .action(act((o) => alertCaptureListRuns(o, ctx)));
}
