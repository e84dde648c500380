import { PACKET_CAPTURE_LIMITS } from '../../model/index.js';
import { connect } from '../client-factory.js';
import type { CliContext, CommonOptions } from '../context.js';
import { UsageError } from '../errors.js';
import { parseBooleanOption, parseFiltersOption, parseIntegerOption, requireOption } from '../option-values.js';
import { writeOutput, type TableColumn } from '../output.js';
import { flattenResource, listValue } from '../shape.js';
import { alertCaptureListPath, alertCapturePath } from './monitor-paths.js';
import { parseKeyValues } from './monitor-options.js';
import {
  defineCommand,
  defineGroup,
  type Declaration,
  type OptionTable,
  type OptionValues,
} from '../command-declaration.js';

/** Resource group of endpoints created without `-g` (the server's own, as for watchers). */
export const DEFAULT_ALERT_CAPTURE_RESOURCE_GROUP = 'NetworkWatcherRG';

/** Options of `nw network watcher alert-capture …`. */
/** The flags of `alert-capture list-runs`. */
export const ALERT_CAPTURE_LIST_RUNS_OPTIONS = {
  name: { flags: '-n, --name <name>', description: 'endpoint name', required: true },
  resourceGroup: { flags: '-g, --resource-group <rg>', description: 'resource group (default NetworkWatcherRG)' },
  top: { flags: '--top <count>', parsed: 'number', description: 'at most this many' },
} as const satisfies OptionTable;

/** The flags of `alert-capture create`. */
export const ALERT_CAPTURE_CREATE_OPTIONS = {
  name: { flags: '-n, --name <name>', description: 'endpoint name', required: true },
  resourceGroup: { flags: '-g, --resource-group <rg>', description: 'resource group (default NetworkWatcherRG)' },
  captureName: {
    flags: '--capture-name <name>',
    description: 'name of the captures it starts; {vm} becomes the host name (default PSAzureFunction)',
  },
  timeLimit: { flags: '--time-limit <seconds>', parsed: 'number', description: 'capture duration (default 60)' },
  lookback: {
    flags: '--lookback <seconds>',
    parsed: 'number',
    description:
      "begin each capture this many seconds before it was created, from the host's look-back buffer (a host without one is captured from the alert on, and the run says so)",
  },
  sessionLimit: {
    flags: '--session-limit <count>',
    parsed: 'number',
    description: 'refuse when the watcher already runs this many sessions (default 10)',
  },
  storageAccount: {
    flags: '--storage-account <name-or-id>',
    description: "storage account for the files (default: the server's nwlocal)",
  },
  storagePath: { flags: '--storage-path <url>', description: 'container URL in the storage account' },
  filePath: {
    flags: '--file-path <path>',
    description: 'local path on the host, under /var/captures, ending in .cap',
  },
  captureSize: {
    flags: '--capture-size <bytes>',
    parsed: 'number',
    description: 'bytes captured per packet (0 = whole packet)',
  },
  captureLimit: { flags: '--capture-limit <bytes>', parsed: 'number', description: 'maximum bytes per session' },
  filters: { flags: '--filters <json>', description: 'JSON list of filters, as packet-capture create' },
  notifyUrl: {
    flags: '--notify-url <urls...>',
    description: 'webhooks told when a capture is done (capture id, status, stop reason, storage path)',
  },
  hostLabel: {
    flags: '--host-label <label>',
    description: 'Alertmanager label naming the host, tried before vm and instance',
  },
  scopeResourceGroups: {
    flags: '--scope-resource-groups <groups...>',
    description: "capture only on hosts of these resource groups (always only of the endpoint's own subscription)",
  },
  disabled: { flags: '--disabled [bool]', description: 'create it disabled' },
  tags: { flags: '--tags <tags...>', description: 'KEY=VALUE tags' },
} as const satisfies OptionTable;

/** Options of the `alert-capture` commands: create's and list-runs' flags. */
export type AlertCaptureOptions = CommonOptions &
  OptionValues<typeof ALERT_CAPTURE_CREATE_OPTIONS> &
  OptionValues<typeof ALERT_CAPTURE_LIST_RUNS_OPTIONS>;

const TABLE: readonly TableColumn[] = [
  { header: 'Name', value: (r) => r['name'] },
  { header: 'ResourceGroup', value: (r) => r['resourceGroup'] },
  { header: 'Enabled', value: (r) => r['enabled'] },
  { header: 'CaptureName', value: (r) => r['captureName'] },
  { header: 'TimeLimit', value: (r) => r['timeLimitInSeconds'] },
  { header: 'SessionLimit', value: (r) => r['sessionLimit'] },
  { header: 'Endpoint', value: (r) => r['endpoint'] },
];

const RUN_TABLE: readonly TableColumn[] = [
  { header: 'Created', value: (r) => r['createdAt'] },
  { header: 'State', value: (r) => r['state'] },
  { header: 'Schema', value: (r) => r['schema'] },
  { header: 'Rule', value: (r) => r['ruleName'] },
  { header: 'Host', value: (r) => r['hostReference'] },
  { header: 'Capture', value: (r) => r['captureName'] },
  {
    header: 'Status',
    value: (r) => (r['completion'] as { packetCaptureStatus?: unknown } | null)?.packetCaptureStatus,
  },
  { header: 'Reason', value: (r) => r['reason'] },
];

function groupOf(options: AlertCaptureOptions): string {
  return options.resourceGroup ?? DEFAULT_ALERT_CAPTURE_RESOURCE_GROUP;
}

/**
 * `nw network watcher alert-capture create`: an alert-triggered capture endpoint (seed 002's
 * function, built in). Prints the endpoint with its keyed `url` — shown this once; use it as the
 * webhook of an action group or an Alertmanager receiver.
 * @example await alertCaptureCreate({ name: 'ac1', captureName: 'PSAzureFunction', timeLimit: 10, sessionLimit: 10 }, ctx);
 */
export async function alertCaptureCreate(
  options: AlertCaptureOptions,
  ctx: CliContext,
): Promise<Record<string, unknown>> {
  const name = requireOption('--name/-n', options.name);
  const timeLimit = parseIntegerOption(
    '--time-limit',
    options.timeLimit,
    1,
    PACKET_CAPTURE_LIMITS.maxTimeLimitInSeconds,
  );
  const sessionLimit = parseIntegerOption('--session-limit', options.sessionLimit, 1, 10000);
  const lookback = parseIntegerOption('--lookback', options.lookback, 1, 3600);
  const captureSize = parseIntegerOption(
    '--capture-size',
    options.captureSize,
    0,
    PACKET_CAPTURE_LIMITS.maxBytesToCapturePerPacket,
  );
  const captureLimit = parseIntegerOption(
    '--capture-limit',
    options.captureLimit,
    0,
    PACKET_CAPTURE_LIMITS.maxTotalBytesPerSession,
  );
  const filters = parseFiltersOption(options.filters);
  const disabled = parseBooleanOption('--disabled', options.disabled) ?? false;
  if (options.filePath !== undefined && !options.filePath.endsWith('.cap'))
    throw new UsageError("usage error: --file-path PATH must end with the '*.cap' extension");
  for (const url of options.notifyUrl ?? [])
    if (!/^https?:\/\//i.test(url)) throw new UsageError(`argument --notify-url: '${url}' is not an http or https URL`);
  const tags = parseKeyValues('--tags', options.tags);
  const conn = connect(ctx, options);
  const storageLocation: Record<string, string> = {};
  if (options.storageAccount) storageLocation['storageId'] = options.storageAccount;
  if (options.storagePath) storageLocation['storagePath'] = options.storagePath;
  if (options.filePath) storageLocation['filePath'] = options.filePath;
  const properties: Record<string, unknown> = {
    enabled: !disabled,
    ...(options.captureName ? { captureName: options.captureName } : {}),
    ...(timeLimit !== undefined ? { timeLimitInSeconds: timeLimit } : {}),
    ...(lookback !== undefined ? { lookbackInSeconds: lookback } : {}),
    ...(sessionLimit !== undefined ? { sessionLimit } : {}),
    ...(captureSize !== undefined ? { bytesToCapturePerPacket: captureSize } : {}),
    ...(captureLimit !== undefined ? { totalBytesPerSession: captureLimit } : {}),
    ...(Object.keys(storageLocation).length > 0 ? { storageLocation } : {}),
    ...(filters ? { filters } : {}),
    ...(options.notifyUrl ? { notificationWebhooks: options.notifyUrl.map((serviceUri) => ({ serviceUri })) } : {}),
    ...(options.hostLabel ? { hostLabel: options.hostLabel } : {}),
    ...(options.scopeResourceGroups ? { resourceGroups: options.scopeResourceGroups } : {}),
  };
  const response = await conn.client.request('PUT', alertCapturePath(conn.subscriptionId, groupOf(options), name), {
    body: { ...(tags ? { tags } : {}), properties },
  });
  const shaped = flattenResource(response.body);
  writeOutput(ctx.out, shaped, options.output, TABLE);
  return shaped;
}

/** `nw network watcher alert-capture show` (without the key). */
export async function alertCaptureShow(
  options: AlertCaptureOptions,
  ctx: CliContext,
): Promise<Record<string, unknown>> {
  const name = requireOption('--name/-n', options.name);
  const conn = connect(ctx, options);
  const shaped = flattenResource(
    (await conn.client.request('GET', alertCapturePath(conn.subscriptionId, groupOf(options), name))).body,
  );
  writeOutput(ctx.out, shaped, options.output, TABLE);
  return shaped;
}

/** `nw network watcher alert-capture list`. */
export async function alertCaptureList(
  options: AlertCaptureOptions,
  ctx: CliContext,
): Promise<Array<Record<string, unknown>>> {
  const conn = connect(ctx, options);
  const path = options.resourceGroup
    ? alertCapturePath(conn.subscriptionId, options.resourceGroup, '')
    : alertCaptureListPath(conn.subscriptionId);
  const list = listValue((await conn.client.request('GET', path)).body).map(flattenResource);
  writeOutput(ctx.out, list, options.output, TABLE);
  return list;
}

/** `nw network watcher alert-capture delete`: the URL stops working; captures it started stay. Prints nothing. */
export async function alertCaptureDelete(options: AlertCaptureOptions, ctx: CliContext): Promise<void> {
  const name = requireOption('--name/-n', options.name);
  const conn = connect(ctx, options);
  await conn.client.request('DELETE', alertCapturePath(conn.subscriptionId, groupOf(options), name));
}

/** `nw network watcher alert-capture regenerate-key`: a new keyed URL; the old one stops working. */
export async function alertCaptureRegenerateKey(
  options: AlertCaptureOptions,
  ctx: CliContext,
): Promise<Record<string, unknown>> {
  const name = requireOption('--name/-n', options.name);
  const conn = connect(ctx, options);
  const body = (
    await conn.client.request('POST', `${alertCapturePath(conn.subscriptionId, groupOf(options), name)}/regenerateKey`)
  ).body as Record<string, unknown>;
  writeOutput(ctx.out, body, options.output);
  return body;
}

/** `nw network watcher alert-capture list-runs`: every alert the endpoint received and what it did, newest first. */
export async function alertCaptureListRuns(
  options: AlertCaptureOptions,
  ctx: CliContext,
): Promise<Array<Record<string, unknown>>> {
  const name = requireOption('--name/-n', options.name);
  const top = parseIntegerOption('--top', options.top, 1, 500);
  const conn = connect(ctx, options);
  const runs = listValue(
    (await conn.client.request('GET', `${alertCapturePath(conn.subscriptionId, groupOf(options), name)}/runs`)).body,
  ) as Array<Record<string, unknown>>;
  const shown = top === undefined ? runs : runs.slice(0, top);
  writeOutput(ctx.out, shown, options.output, RUN_TABLE);
  return shown;
}

/** The commands of this file, in help order. */
export const ALERT_CAPTURE_COMMANDS: readonly Declaration[] = [
  defineGroup({
    path: ['network', 'watcher', 'alert-capture'],
    description: 'alert-triggered capture endpoints: a keyed URL that starts a capture on the alerted host',
  }),
  defineCommand({
    path: ['network', 'watcher', 'alert-capture', 'create'],
    description: 'create an endpoint; prints its keyed URL (shown once)',
    examples: [
      'nw network watcher alert-capture create --name tcpBurst --capture-name PSAzureFunction --time-limit 10 --session-limit 10',
      'nw network watcher alert-capture create -n perHost --capture-name "burst-{vm}" --time-limit 60 --storage-account nwlocal \\',
      '  --filters "[{\\"protocol\\":\\"TCP\\"}]" --notify-url https://hooks.example/captures --host-label node',
      "# captures that begin 30 s before the alert, from the hosts' look-back buffers (nw vm lookback enable):",
      'nw network watcher alert-capture create -n onset --capture-name "onset-{vm}" --time-limit 60 --lookback 30',
    ],
    options: ALERT_CAPTURE_CREATE_OPTIONS,
    run: (o, { ctx }) => alertCaptureCreate(o, ctx),
  }),
  defineCommand({
    path: ['network', 'watcher', 'alert-capture', 'show'],
    description: 'show an endpoint (its URL without the key)',
    examples: ['nw network watcher alert-capture show -n tcpBurst'],
    options: {
      name: { flags: '-n, --name <name>', description: 'endpoint name', required: true },
      resourceGroup: { flags: '-g, --resource-group <rg>', description: 'resource group (default NetworkWatcherRG)' },
    },
    run: (o, { ctx }) => alertCaptureShow(o, ctx),
  }),
  defineCommand({
    path: ['network', 'watcher', 'alert-capture', 'list'],
    description: 'list endpoints',
    examples: ['nw network watcher alert-capture list -o table'],
    options: {
      resourceGroup: { flags: '-g, --resource-group <rg>', description: 'only this resource group' },
    },
    run: (o, { ctx }) => alertCaptureList(o, ctx),
  }),
  defineCommand({
    path: ['network', 'watcher', 'alert-capture', 'delete'],
    description: 'delete an endpoint (its captures stay); prints nothing',
    examples: ['nw network watcher alert-capture delete -n tcpBurst'],
    options: {
      name: { flags: '-n, --name <name>', description: 'endpoint name', required: true },
      resourceGroup: { flags: '-g, --resource-group <rg>', description: 'resource group (default NetworkWatcherRG)' },
    },
    run: (o, { ctx }) => alertCaptureDelete(o, ctx),
  }),
  defineCommand({
    path: ['network', 'watcher', 'alert-capture', 'regenerate-key'],
    description: 'replace the key; prints the new URL (the old one stops working)',
    examples: ['nw network watcher alert-capture regenerate-key -n tcpBurst'],
    options: {
      name: { flags: '-n, --name <name>', description: 'endpoint name', required: true },
      resourceGroup: { flags: '-g, --resource-group <rg>', description: 'resource group (default NetworkWatcherRG)' },
    },
    run: (o, { ctx }) => alertCaptureRegenerateKey(o, ctx),
  }),
  defineCommand({
    path: ['network', 'watcher', 'alert-capture', 'list-runs'],
    description: 'every alert the endpoint received and what came of it, newest first',
    examples: ['nw network watcher alert-capture list-runs -n tcpBurst -o table'],
    options: ALERT_CAPTURE_LIST_RUNS_OPTIONS,
    run: (o, { ctx }) => alertCaptureListRuns(o, ctx),
  }),
];
