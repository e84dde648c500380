import {
  CAPTURE_SETTINGS_LIMITS,
  CAPTURE_TARGET_TYPES,
  PACKET_CAPTURE_LIMITS,
  type CaptureTargetType,
} from '../../model/index.js';
import {
  isArmId,
  packetCapturePath,
  packetCapturesPath,
  resourceGroupOfId,
  resourceGroupPath,
  storageAccountPath,
  vmPath,
  vmssPath,
} from '../arm-paths.js';
import { connect, type ConnectedClient } from '../client-factory.js';
import type { CliContext, CommonOptions } from '../context.js';
import { UsageError } from '../errors.js';
import { beginAndWait, pollUntilDone } from '../lro.js';
import { parseFiltersOption, parseIntegerOption, requireOption } from '../option-values.js';
import { writeOutput } from '../output.js';
import { listValue, shapePacketCapture, shapeQueryStatus } from '../shape.js';
import { resolveWatcher, type ResolvedWatcher } from '../watcher-lookup.js';
import { findStorageAccount } from './storage-account.js';

/** How a packet-capture command names its watcher: az's `--location`, or `--watcher` (+ its resource group). */
export interface WatcherOptions extends CommonOptions {
  location?: string;
  /** Watcher name (netwatcher addition; skips the lookup by location). */
  watcher?: string;
  /** Resource group of --watcher. */
  watcherResourceGroup?: string;
}

/** Options of show, show-status, stop, delete, list. */
export interface PacketCaptureNameOptions extends WatcherOptions {
  name?: string;
  /** Outside create, `-g` names the watcher's resource group (with --watcher). */
  resourceGroup?: string;
  /** stop/delete: return after the first response. */
  noWait?: boolean;
  /** delete: also delete the capture files (netwatcher addition; Azure keeps them). */
  deleteFiles?: boolean;
}

/** Options of `nw network watcher packet-capture create` (az's flags). */
export interface PacketCaptureCreateOptions extends WatcherOptions {
  /** Resource group of the target. */
  resourceGroup?: string;
  /** VM name or id. */
  vm?: string;
  name?: string;
  /** Storage account name or id. */
  storageAccount?: string;
  storagePath?: string;
  /** Local path on the host, ending in .cap. */
  filePath?: string;
  /** bytesToCapturePerPacket (0 = whole packet). */
  captureSize?: string | number;
  /** totalBytesPerSession. */
  captureLimit?: string | number;
  /** timeLimitInSeconds. */
  timeLimit?: string | number;
  /** lookbackInSeconds (netwatcher's own): begin the file this many seconds before creation, from the host's look-back buffer. */
  lookback?: string | number;
  /** JSON list of filters. */
  filters?: string;
  /** Continuous capture: 'true' or 'false' (az's --continuous-capture). */
  continuousCapture?: string;
  /** Ring settings as KEY=VALUE words (az's --capture-settings). */
  captureSettings?: string[];
  /** Host path used when continuousCapture is given (az's --local-path). */
  localPath?: string;
  /** Scale set name or id (with --target-type AzureVMSS). */
  target?: string;
  /** AzureVM (default) or AzureVMSS. */
  targetType?: string;
  /** Scale-set instances to capture. */
  include?: string[];
  /** Scale-set instances to skip. */
  exclude?: string[];
  /** `resourceGroup=RG,tags.KEY=VALUE,…`: every VM of the resource group (or the subscription) with these tags (netwatcher). */
  targetSelector?: string;
  noWait?: boolean;
}

/**
 * Parses `--target-selector "resourceGroup=RG,tags.role=web"` (either part may be left out, not both).
 * @example parseTargetSelector('resourceGroup=rg1,tags.role=web') // { resourceGroup: 'rg1', tags: { role: 'web' } }
 */
export function parseTargetSelector(text: string): { resourceGroup?: string; tags: Record<string, string> } {
  const out: { resourceGroup?: string; tags: Record<string, string> } = { tags: {} };
  for (const part of text
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean)) {
    const i = part.indexOf('=');
    const key = i > 0 ? part.slice(0, i).trim() : '';
    const value = i > 0 ? part.slice(i + 1).trim() : '';
    if (/^resourcegroup$/i.test(key) && value) out.resourceGroup = value;
    else if (/^tags\.\S/i.test(key)) out.tags[key.slice(5)] = value;
    else throw new UsageError(`argument --target-selector: '${part}' is not resourceGroup=RG or tags.KEY=VALUE`);
  }
  if (out.resourceGroup === undefined && Object.keys(out.tags).length === 0)
    throw new UsageError('argument --target-selector: give resourceGroup=RG, tags.KEY=VALUE, or both');
  return out;
}

/** What create sends, worked out before any request (so usage errors come first). */
export interface PacketCaptureCreatePlan {
  name: string;
  targetType: CaptureTargetType;
  /** Target name or id as given. */
  target: string;
  resourceGroup: string | undefined;
  properties: Record<string, unknown>;
}

const STORAGE_USAGE =
  'usage error: --storage-account NAME_OR_ID [--storage-path PATH] [--file-path PATH] | --file-path PATH';

/**
 * Checks create's arguments as az does and builds the request properties that need no lookup.
 * @example planPacketCaptureCreate({ resourceGroup: 'rg', vm: 'vm1', name: 'pc1', filePath: '/var/captures/pc1.cap' });
 */
export function planPacketCaptureCreate(options: PacketCaptureCreateOptions): PacketCaptureCreatePlan {
  const name = requireOption('--name/-n', options.name);
  const typeText = options.targetType ?? 'AzureVM';
  const targetType = CAPTURE_TARGET_TYPES.find((t) => t.toLowerCase() === typeText.toLowerCase());
  if (!targetType)
    throw new UsageError(`argument --target-type: invalid choice: '${typeText}' (choose from 'AzureVM', 'AzureVMSS')`);
  if (options.targetSelector !== undefined && (options.vm || options.target || options.include || options.exclude)) {
    throw new UsageError(
      'usage error: --target-selector picks the hosts; do not combine it with --vm, --target, --include or --exclude',
    );
  }
  const target =
    options.targetSelector !== undefined
      ? ''
      : targetType === 'AzureVMSS'
        ? options.target
        : (options.vm ?? options.target);
  if (target === undefined || (target === '' && options.targetSelector === undefined))
    throw new UsageError(
      'usage error: --vm NAME_OR_ID | --target NAME_OR_ID --target-type AzureVMSS | --target-selector "resourceGroup=RG,tags.KEY=VALUE"',
    );
  if (options.targetSelector === undefined && !isArmId(target) && !options.resourceGroup)
    throw new UsageError('the following arguments are required: --resource-group/-g');

  const hostPath = options.filePath ?? options.localPath;
  if (!options.storageAccount && (options.storagePath !== undefined || hostPath === undefined))
    throw new UsageError(STORAGE_USAGE);
  if (options.filePath !== undefined && options.localPath !== undefined)
    throw new UsageError(
      'usage error: --file-path and --local-path exclude each other (--local-path goes with --continuous-capture)',
    );
  const storageLocation: Record<string, string> = {};
  if (options.localPath !== undefined) {
    if (!options.localPath.endsWith('.cap'))
      throw new UsageError("usage error: --local-path PATH must end with the '*.cap' extension");
    storageLocation['localPath'] = options.localPath;
  }
  if (options.storagePath !== undefined) storageLocation['storagePath'] = options.storagePath;
  if (options.filePath !== undefined) {
    if (!options.filePath.endsWith('.cap'))
      throw new UsageError("usage error: --file-path PATH must end with the '*.cap' extension");
    // az's rule: a path not starting with '/' is a Windows path.
    storageLocation['filePath'] = options.filePath.startsWith('/')
      ? options.filePath
      : options.filePath.replace(/\//g, '\\');
  }

  const properties: Record<string, unknown> = { targetType };
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
  const timeLimit = parseIntegerOption(
    '--time-limit',
    options.timeLimit,
    0,
    PACKET_CAPTURE_LIMITS.maxTimeLimitInSeconds,
  );
  if (captureSize !== undefined) properties['bytesToCapturePerPacket'] = captureSize;
  if (captureLimit !== undefined) properties['totalBytesPerSession'] = captureLimit;
  if (timeLimit !== undefined) properties['timeLimitInSeconds'] = timeLimit;
  const lookback = parseIntegerOption('--lookback', options.lookback, 1, 3600);
  if (lookback !== undefined) properties['lookbackInSeconds'] = lookback;
  properties['storageLocation'] = storageLocation;
  const filters = parseFiltersOption(options.filters);
  if (filters !== undefined) properties['filters'] = filters;
  const continuous = parseContinuousCapture(options.continuousCapture);
  if (continuous !== undefined) properties['continuousCapture'] = continuous;
  if (options.captureSettings !== undefined) {
    if (continuous !== true)
      throw new UsageError('usage error: --capture-settings goes with --continuous-capture true');
    properties['captureSettings'] = parseCaptureSettings(options.captureSettings);
  }
  if (targetType === 'AzureVMSS' && (options.include || options.exclude)) {
    properties['scope'] = { include: options.include ?? [], exclude: options.exclude ?? [] };
  }
  return { name, targetType, target, resourceGroup: options.resourceGroup, properties };
}

function parseContinuousCapture(text: string | undefined): boolean | undefined {
  if (text === undefined) return undefined;
  const value = text.trim().toLowerCase();
  if (value === 'true' || value === 'yes' || value === '1') return true;
  if (value === 'false' || value === 'no' || value === '0') return false;
  throw new UsageError(`argument --continuous-capture: invalid value '${text}' (true or false)`);
}

const CAPTURE_SETTING_KEYS = {
  filecount: 'fileCount',
  filesizeinbytes: 'fileSizeInBytes',
  sessiontimelimitinseconds: 'sessionTimeLimitInSeconds',
} as const;
const CAPTURE_SETTING_MAX = {
  fileCount: CAPTURE_SETTINGS_LIMITS.maxFileCount,
  fileSizeInBytes: CAPTURE_SETTINGS_LIMITS.maxFileSizeInBytes,
  sessionTimeLimitInSeconds: CAPTURE_SETTINGS_LIMITS.maxSessionTimeLimitInSeconds,
} as const;

/**
 * az's `--capture-settings` words: `fileCount=3 fileSizeInBytes=1048576 sessionTimeLimitInSeconds=600`
 * (az's shorthand `file-count=3 …`, a `{…}` JSON object and comma-separated pairs work too).
 * @example parseCaptureSettings(['fileCount=3', 'file-size-in-bytes=1048576']) // { fileCount: 3, fileSizeInBytes: 1048576 }
 */
export function parseCaptureSettings(words: string[]): Record<string, number> {
  const joined = words.join(' ').trim();
  let pairs: Array<[string, string]>;
  if (joined.startsWith('{')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(joined);
    } catch {
      throw new UsageError(`argument --capture-settings: '${joined}' is not valid JSON`);
    }
    pairs = Object.entries(parsed as Record<string, unknown>).map(([k, v]) => [k, String(v)]);
  } else {
    pairs = joined
      .split(/[\s,]+/)
      .filter(Boolean)
      .map((word) => {
        const eq = word.indexOf('=');
        if (eq <= 0)
          throw new UsageError(
            `argument --capture-settings: '${word}' is not KEY=VALUE (keys: fileCount, fileSizeInBytes, sessionTimeLimitInSeconds)`,
          );
        return [word.slice(0, eq), word.slice(eq + 1)];
      });
  }
  const out: Record<string, number> = {};
  for (const [key, value] of pairs) {
    const canonical = CAPTURE_SETTING_KEYS[key.replace(/[-_]/g, '').toLowerCase() as keyof typeof CAPTURE_SETTING_KEYS];
    if (!canonical)
      throw new UsageError(
        `argument --capture-settings: unknown key '${key}' (keys: fileCount, fileSizeInBytes, sessionTimeLimitInSeconds)`,
      );
    out[canonical] = parseIntegerOption(`--capture-settings ${canonical}`, value, 0, CAPTURE_SETTING_MAX[canonical])!;
  }
  return out;
}

async function targetLocation(conn: ConnectedClient, targetId: string): Promise<string> {
  const response = await conn.client.request('GET', targetId);
  const location = (response.body as { location?: unknown } | null)?.location;
  if (typeof location !== 'string' || location.length === 0)
    throw new UsageError(`the target '${targetId}' has no location; pass --location`);
  return location;
}

async function storageAccountId(
  conn: ConnectedClient,
  nameOrId: string,
  resourceGroup: string | undefined,
): Promise<string> {
  if (isArmId(nameOrId)) return nameOrId;
  // az builds the id in the target's resource group; netwatcher accounts often live elsewhere, so look it up first.
  const found = await findStorageAccount(conn, nameOrId, resourceGroup);
  if (found && typeof found['id'] === 'string') return found['id'];
  if (!resourceGroup) throw new UsageError(`the storage account '${nameOrId}' was not found; pass its id`);
  return storageAccountPath(conn.subscriptionId, resourceGroup, nameOrId);
}

/**
 * `nw network watcher packet-capture create`: starts a capture on a VM (or scale set) and waits
 * until the agent has accepted it; prints the capture as az does.
 * @example await packetCaptureCreate({ resourceGroup: 'rg', vm: 'vm1', name: 'pc1', storageAccount: 'store1', timeLimit: 60 }, ctx);
 */
export async function packetCaptureCreate(
  options: PacketCaptureCreateOptions,
  ctx: CliContext,
): Promise<Record<string, unknown> | undefined> {
  const plan = planPacketCaptureCreate(options);
  const conn = connect(ctx, options);
  if (options.targetSelector !== undefined) return selectorCaptureCreate(options, plan, conn, ctx);
  const targetId = isArmId(plan.target)
    ? plan.target
    : plan.targetType === 'AzureVMSS'
      ? vmssPath(conn.subscriptionId, plan.resourceGroup!, plan.target)
      : vmPath(conn.subscriptionId, plan.resourceGroup!, plan.target);
  const targetGroup = plan.resourceGroup ?? resourceGroupOfId(targetId) ?? undefined;

  let watcher: ResolvedWatcher;
  if (options.watcher)
    watcher = await resolveWatcher(conn, {
      watcher: options.watcher,
      watcherResourceGroup: options.watcherResourceGroup,
    });
  else watcher = await resolveWatcher(conn, { location: options.location ?? (await targetLocation(conn, targetId)) });

  const properties: Record<string, unknown> = { ...plan.properties, target: targetId };
  if (options.storageAccount) {
    (properties['storageLocation'] as Record<string, string>)['storageId'] = await storageAccountId(
      conn,
      options.storageAccount,
      targetGroup,
    );
  }
  const path = packetCapturePath(watcher.path, plan.name);
  const initial = await conn.client.request('PUT', path, { body: { properties } });
  if (options.noWait) return undefined;
  const { result } = await pollUntilDone(conn.client, 'PUT', path, initial, {
    pollIntervalInMs: conn.pollIntervalInMs,
  });
  const shaped = shapePacketCapture(result);
  writeOutput(ctx.out, shaped, options.output);
  return shaped;
}

/** Create with `--target-selector`: the scope (resource group or subscription) is the target, the tags the selector; the watcher comes from --location (or --watcher), the hosts' location. */
async function selectorCaptureCreate(
  options: PacketCaptureCreateOptions,
  plan: PacketCaptureCreatePlan,
  conn: ConnectedClient,
  ctx: CliContext,
): Promise<Record<string, unknown> | undefined> {
  const selector = parseTargetSelector(options.targetSelector!);
  if (!options.location && !options.watcher)
    throw new UsageError('usage error: --target-selector needs --location (the location of the hosts) or --watcher');
  const scope =
    selector.resourceGroup !== undefined
      ? resourceGroupPath(conn.subscriptionId, selector.resourceGroup)
      : `/subscriptions/${encodeURIComponent(conn.subscriptionId)}`;
  const watcher = options.watcher
    ? await resolveWatcher(conn, { watcher: options.watcher, watcherResourceGroup: options.watcherResourceGroup })
    : await resolveWatcher(conn, { location: options.location });
  const properties: Record<string, unknown> = {
    ...plan.properties,
    target: decodeURIComponent(scope),
    targetSelector: { tags: selector.tags },
  };
  delete properties['targetType'];
  if (options.storageAccount) {
    (properties['storageLocation'] as Record<string, string>)['storageId'] = await storageAccountId(
      conn,
      options.storageAccount,
      selector.resourceGroup ?? options.resourceGroup,
    );
  }
  const path = packetCapturePath(watcher.path, plan.name);
  const initial = await conn.client.request('PUT', path, { body: { properties } });
  if (options.noWait) return undefined;
  const { result } = await pollUntilDone(conn.client, 'PUT', path, initial, {
    pollIntervalInMs: conn.pollIntervalInMs,
  });
  const shaped = shapePacketCapture(result);
  writeOutput(ctx.out, shaped, options.output);
  return shaped;
}

/** The watcher of a non-create command: `--location`, or `--watcher` with `--watcher-resource-group`/`-g`. */
export async function watcherFor(conn: ConnectedClient, options: PacketCaptureNameOptions): Promise<ResolvedWatcher> {
  return resolveWatcher(conn, {
    location: options.location,
    watcher: options.watcher,
    watcherResourceGroup: options.watcherResourceGroup ?? options.resourceGroup,
  });
}

/** `nw network watcher packet-capture show`: the capture resource as az prints it. */
export async function packetCaptureShow(
  options: PacketCaptureNameOptions,
  ctx: CliContext,
): Promise<Record<string, unknown>> {
  const name = requireOption('--name/-n', options.name);
  const conn = connect(ctx, options);
  const watcher = await watcherFor(conn, options);
  const response = await conn.client.request('GET', packetCapturePath(watcher.path, name));
  const shaped = shapePacketCapture(response.body);
  writeOutput(ctx.out, shaped, options.output);
  return shaped;
}

/** Runs queryStatus and returns the az-shaped status (no output). */
export async function queryPacketCaptureStatus(
  conn: ConnectedClient,
  watcher: ResolvedWatcher,
  name: string,
): Promise<Record<string, unknown>> {
  const outcome = await beginAndWait(
    conn.client,
    'POST',
    `${packetCapturePath(watcher.path, name)}/queryStatus`,
    {},
    { pollIntervalInMs: conn.pollIntervalInMs },
  );
  return shapeQueryStatus(outcome.result, outcome.status);
}

/** `nw network watcher packet-capture show-status`: queryStatus, shaped like the seed's sample. */
export async function packetCaptureShowStatus(
  options: PacketCaptureNameOptions,
  ctx: CliContext,
): Promise<Record<string, unknown>> {
  const name = requireOption('--name/-n', options.name);
  const conn = connect(ctx, options);
  const watcher = await watcherFor(conn, options);
  const status = await queryPacketCaptureStatus(conn, watcher, name);
  writeOutput(ctx.out, status, options.output);
  return status;
}

/** `nw network watcher packet-capture stop`: stops a running capture. Prints nothing (as az). */
export async function packetCaptureStop(options: PacketCaptureNameOptions, ctx: CliContext): Promise<void> {
  const name = requireOption('--name/-n', options.name);
  const conn = connect(ctx, options);
  const watcher = await watcherFor(conn, options);
  const path = `${packetCapturePath(watcher.path, name)}/stop`;
  if (options.noWait) await conn.client.request('POST', path);
  else await beginAndWait(conn.client, 'POST', path, {}, { pollIntervalInMs: conn.pollIntervalInMs });
}

/** `nw network watcher packet-capture delete`: deletes the capture (files stay unless --delete-files). Prints nothing. */
export async function packetCaptureDelete(options: PacketCaptureNameOptions, ctx: CliContext): Promise<void> {
  const name = requireOption('--name/-n', options.name);
  const conn = connect(ctx, options);
  const watcher = await watcherFor(conn, options);
  const path = packetCapturePath(watcher.path, name);
  const request = options.deleteFiles ? { query: { deleteFiles: 'true' } } : {};
  if (options.noWait) await conn.client.request('DELETE', path, request);
  else await beginAndWait(conn.client, 'DELETE', path, request, { pollIntervalInMs: conn.pollIntervalInMs });
}

/** `nw network watcher packet-capture list`: the captures of the location's watcher. */
export async function packetCaptureList(
  options: PacketCaptureNameOptions,
  ctx: CliContext,
): Promise<Array<Record<string, unknown>>> {
  const conn = connect(ctx, options);
  const watcher = await watcherFor(conn, options);
  const response = await conn.client.request('GET', packetCapturesPath(watcher.path));
  const captures = listValue(response.body).map(shapePacketCapture);
  writeOutput(ctx.out, captures, options.output);
  return captures;
}
