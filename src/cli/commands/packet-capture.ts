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
import {
  defineCommand,
  defineGroup,
  type Declaration,
  type OptionTable,
  type OptionValues,
} from '../command-declaration.js';

/** How a packet-capture command names its watcher: az's `--location`, or `--watcher` (+ its resource group). */
export const WATCHER_OPTIONS = {
  location: {
    flags: '-l, --location <location>',
    description: 'location of the network watcher (az style: the watcher is looked up by location)',
  },
  // Watcher name and resource group: netwatcher additions that skip the lookup by location.
  watcher: { flags: '--watcher <name>', description: 'name of the network watcher, instead of --location' },
  watcherResourceGroup: {
    flags: '--watcher-resource-group <rg>',
    description: 'resource group of --watcher (also -g)',
  },
  // Outside create, `-g` names the watcher's resource group (with --watcher).
  resourceGroup: { flags: '-g, --resource-group <rg>', description: 'resource group of --watcher' },
} as const satisfies OptionTable;

/** The flags of the commands that name one capture of a watcher (show, show-status, wait, download …). */
export const CAPTURE_NAME_OPTIONS = {
  ...WATCHER_OPTIONS,
  name: { flags: '-n, --name <name>', description: 'name of the capture', required: true },
} as const satisfies OptionTable;

/** The flags of `packet-capture stop`. */
const STOP_OPTIONS = {
  ...CAPTURE_NAME_OPTIONS,
  noWait: { flags: '--no-wait', description: 'do not wait for the capture to stop' },
} as const satisfies OptionTable;

/** The flags of `packet-capture delete`. */
const DELETE_OPTIONS = {
  ...CAPTURE_NAME_OPTIONS,
  // Also delete the capture files (netwatcher addition; Azure keeps them).
  deleteFiles: { flags: '--delete-files', description: 'also delete the capture files' },
  noWait: { flags: '--no-wait', description: 'do not wait for the deletion' },
} as const satisfies OptionTable;

/** Options of a command that finds a watcher. */
export type WatcherOptions = CommonOptions & OptionValues<typeof WATCHER_OPTIONS>;

/** Options of show, show-status, stop, delete, list: delete's flags, the widest of them. */
export type PacketCaptureNameOptions = CommonOptions & OptionValues<typeof DELETE_OPTIONS>;

/** The flags of `nw network watcher packet-capture create` (az's, and netwatcher's own: lookback, selectors, instances). */
export const PACKET_CAPTURE_CREATE_OPTIONS = {
  resourceGroup: {
    flags: '-g, --resource-group <rg>',
    description: 'resource group of the target (not needed with --target-selector or an id)',
  },
  vm: { flags: '--vm <vm>', description: 'name or id of the VM to capture on' },
  name: { flags: '-n, --name <name>', description: 'name of the capture', required: true },
  storageAccount: { flags: '--storage-account <name-or-id>', description: 'storage account for the .cap file' },
  storagePath: { flags: '--storage-path <url>', description: 'container URL in the storage account' },
  filePath: {
    flags: '--file-path <path>',
    description: 'local path on the host, ending in .cap (under /var/captures)',
  },
  captureSize: {
    flags: '--capture-size <bytes>',
    parsed: 'number',
    description: 'bytes captured per packet (0 = whole packet)',
  },
  captureLimit: {
    flags: '--capture-limit <bytes>',
    parsed: 'number',
    description:
      'maximum bytes per session (default 1073741824; 0 = the maximum, 4294967295, which the capture then shows)',
  },
  timeLimit: {
    flags: '--time-limit <seconds>',
    parsed: 'number',
    description:
      'maximum duration in seconds (default and maximum 18000; 0 = the maximum, which the capture then shows)',
  },
  lookback: {
    flags: '--lookback <seconds>',
    parsed: 'number',
    description:
      "begin the file this many seconds before creation with the packets of the host's look-back buffer that pass the filters (netwatcher's own; needs nw vm lookback enable)",
  },
  filters: {
    flags: '--filters <json>',
    description: 'JSON list of filters: protocol, localIPAddress, localPort, remoteIPAddress, remotePort',
  },
  continuousCapture: {
    flags: '--continuous-capture <bool>',
    description:
      'true: a ring of files (--capture-settings) instead of one file; true or false: the host path is --local-path (docs/continuous.md)',
  },
  captureSettings: {
    flags: '--capture-settings <settings...>',
    description:
      "the ring, as KEY=VALUE: fileCount (default 10, at most 10000), fileSizeInBytes (default 104857600, at least 24 + 16 + snap length: 262184 with whole packets), sessionTimeLimitInSeconds (default 86400, at most 604800); az's file-count=… spelling works too",
  },
  localPath: {
    flags: '--local-path <path>',
    description:
      'with --continuous-capture: local path on the host, ending in .cap (under /var/captures); ring files are NAME-000001.cap, …',
  },
  location: { flags: '-l, --location <location>', description: "location of the watcher (default: the target's)" },
  target: { flags: '--target <name-or-id>', description: 'scale set to capture on (with --target-type AzureVMSS)' },
  targetType: { flags: '--target-type <type>', description: 'AzureVM (default) or AzureVMSS' },
  include: { flags: '--include <instances...>', description: 'scale-set instances to capture' },
  exclude: { flags: '--exclude <instances...>', description: 'scale-set instances to skip' },
  targetSelector: {
    flags: '--target-selector <selector>',
    description:
      'every VM of a resource group and/or with tags, resolved now: "resourceGroup=RG,tags.role=web" (with --location)',
  },
  watcher: {
    flags: '--watcher <name>',
    description: 'name of the network watcher, instead of looking it up by location',
  },
  watcherResourceGroup: { flags: '--watcher-resource-group <rg>', description: 'resource group of --watcher' },
  noWait: { flags: '--no-wait', description: 'do not wait for the capture to start' },
} as const satisfies OptionTable;

/** Options of `nw network watcher packet-capture create`. */
export type PacketCaptureCreateOptions = CommonOptions & OptionValues<typeof PACKET_CAPTURE_CREATE_OPTIONS>;

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

/** The commands of this file, in help order. */
export const PACKET_CAPTURE_COMMANDS: readonly Declaration[] = [
  defineGroup({ path: ['network', 'watcher', 'packet-capture'], description: 'packet captures' }),
  defineCommand({
    path: ['network', 'watcher', 'packet-capture', 'create'],
    description: 'start a packet capture on a VM (or scale set) and wait until its agent has accepted it',
    examples: [
      'nw network watcher packet-capture create --resource-group myRG --vm myVM --name packetCaptureName --storage-account nwlocal \\',
      '  --filters "[{\\"protocol\\":\\"TCP\\", \\"remoteIPAddress\\":\\"1.1.1.1-255.255.255\\",\\"localIPAddress\\":\\"10.0.0.3\\", \\"remotePort\\":\\"20\\"},{\\"protocol\\":\\"UDP\\"}]"',
      'nw network watcher packet-capture create -g myRG --vm myVM -n pc1 --file-path /var/captures/pc1.cap --time-limit 60 --capture-size 128',
      'nw network watcher packet-capture create -g myRG --target myScaleSet --target-type AzureVMSS --include 0 1 -n pc2 --storage-account nwlocal',
      "# begin 30 s in the past, from the host's look-back buffer (nw vm lookback enable):",
      'nw network watcher packet-capture create -g myRG --vm myVM -n pc3 --storage-account nwlocal --time-limit 60 --lookback 30',
      'nw network watcher packet-capture create -n pc3 --target-selector "resourceGroup=myRG,tags.role=web" --location westus --storage-account nwlocal',
      'nw network watcher packet-capture create -g myRG --vm myVM -n ring1 --storage-account nwlocal --continuous-capture true \\',
      '  --capture-settings fileCount=3 fileSizeInBytes=1048576 sessionTimeLimitInSeconds=600 --local-path /var/captures/ring.cap',
    ],
    options: PACKET_CAPTURE_CREATE_OPTIONS,
    run: (o, { ctx }) => packetCaptureCreate(o, ctx),
  }),
  defineCommand({
    path: ['network', 'watcher', 'packet-capture', 'show'],
    description: 'show a packet capture',
    examples: ['nw network watcher packet-capture show --name packetCaptureName --location westcentralus'],
    options: {
      ...CAPTURE_NAME_OPTIONS,
    },
    run: (o, { ctx }) => packetCaptureShow(o, ctx),
  }),
  defineCommand({
    path: ['network', 'watcher', 'packet-capture', 'show-status'],
    description: 'show the status of a packet capture (queryStatus)',
    examples: ['nw network watcher packet-capture show-status --name packetCaptureName --location westcentralus'],
    options: {
      ...CAPTURE_NAME_OPTIONS,
    },
    run: (o, { ctx }) => packetCaptureShowStatus(o, ctx),
  }),
  defineCommand({
    path: ['network', 'watcher', 'packet-capture', 'stop'],
    description: 'stop a running packet capture; prints nothing',
    examples: ['nw network watcher packet-capture stop --name packetCaptureName --location westcentralus'],
    options: STOP_OPTIONS,
    run: (o, { ctx }) => packetCaptureStop(o, ctx),
  }),
  defineCommand({
    path: ['network', 'watcher', 'packet-capture', 'delete'],
    description: 'delete a packet capture (its files stay unless --delete-files); prints nothing',
    examples: [
      'nw network watcher packet-capture delete --name packetCaptureName --location westcentralus',
      'nw network watcher packet-capture delete --name packetCaptureName --location westcentralus --delete-files',
    ],
    options: DELETE_OPTIONS,
    run: (o, { ctx }) => packetCaptureDelete(o, ctx),
  }),
  defineCommand({
    path: ['network', 'watcher', 'packet-capture', 'list'],
    description: 'list the packet captures of a location',
    examples: ['nw network watcher packet-capture list --location westcentralus -o table'],
    options: {
      ...WATCHER_OPTIONS,
    },
    run: (o, { ctx }) => packetCaptureList(o, ctx),
  }),
];
