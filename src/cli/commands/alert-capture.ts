import { PACKET_CAPTURE_LIMITS } from '../../model/index.js';
import { connect } from '../client-factory.js';
import type { CliContext, CommonOptions } from '../context.js';
import { UsageError } from '../errors.js';
import { parseBooleanOption, parseFiltersOption, parseIntegerOption, requireOption } from '../option-values.js';
import { writeOutput, type TableColumn } from '../output.js';
import { flattenResource, listValue } from '../shape.js';
import { alertCaptureListPath, alertCapturePath } from './monitor-paths.js';
import { parseKeyValues } from './monitor-options.js';

/** Resource group of endpoints created without `-g` (the server's own, as for watchers). */
export const DEFAULT_ALERT_CAPTURE_RESOURCE_GROUP = 'NetworkWatcherRG';

/** Options of `nw network watcher alert-capture …`. */
export interface AlertCaptureOptions extends CommonOptions {
  name?: string;
  resourceGroup?: string;
  /** Name of the captures it starts; `{vm}` is replaced by the host's name. */
  captureName?: string;
  timeLimit?: string | number;
  /** lookbackInSeconds of the captures it starts (from the host's look-back buffer). */
  lookback?: string | number;
  sessionLimit?: string | number;
  storageAccount?: string;
  storagePath?: string;
  filePath?: string;
  captureSize?: string | number;
  captureLimit?: string | number;
  filters?: string;
  /** Webhooks told when a capture is done. */
  notifyUrl?: string[];
  /** Alertmanager label naming the host (before `vm` and `instance`). */
  hostLabel?: string;
  /** Only hosts of these resource groups (of the endpoint's subscription) may be captured on. */
  scopeResourceGroups?: string[];
  disabled?: string | boolean;
  tags?: string[];
  top?: string | number;
}

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
