import { resourceGroupOfId } from './arm-paths.js';

/**
 * az's output shape. The Python SDKs flatten `properties` into the model, az adds
 * `resourceGroup` parsed from the id, and every attribute of the model is printed, `null`
 * when the service left it out. The key lists below are those of the seed's sample outputs
 * (Azure's network-watcher-packet-capture-manage-cli article), so a script written against az finds the
 * same keys; fields the server adds beyond them are kept.
 */

type Json = Record<string, unknown>;

function asRecord(value: unknown): Json {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Json) : {};
}

/**
 * Lifts `properties` to the top level and adds `resourceGroup`. Top-level fields win over
 * properties of the same name (id, name, type, location are the resource's).
 */
export function flattenResource(resource: unknown): Json {
  const record = asRecord(resource);
  const out: Json = {};
  for (const [key, value] of Object.entries(asRecord(record['properties']))) out[key] = value;
  for (const [key, value] of Object.entries(record)) if (key !== 'properties') out[key] = value;
  if (typeof record['id'] === 'string' && out['resourceGroup'] === undefined)
    out['resourceGroup'] = resourceGroupOfId(record['id']);
  return out;
}

function withNulls(record: Json, keys: readonly string[]): Json {
  for (const key of keys) if (record[key] === undefined) record[key] = null;
  return record;
}

const EXTENSION_KEYS = [
  'autoUpgradeMinorVersion',
  'forceUpdateTag',
  'id',
  'instanceView',
  'location',
  'name',
  'protectedSettings',
  'provisioningState',
  'publisher',
  'resourceGroup',
  'settings',
  'tags',
  'type',
  'typeHandlerVersion',
  'virtualMachineExtensionType',
] as const;

/** A VM extension as `az vm extension show` prints it (`properties.type` becomes virtualMachineExtensionType). */
export function shapeVmExtension(resource: unknown): Json {
  const record = asRecord(resource);
  const properties = { ...asRecord(record['properties']) };
  const extensionType = properties['type'];
  delete properties['type'];
  const out = flattenResource({ ...record, properties });
  if (extensionType !== undefined) out['virtualMachineExtensionType'] = extensionType;
  return withNulls(out, EXTENSION_KEYS);
}

const CAPTURE_KEYS = [
  'bytesToCapturePerPacket',
  'etag',
  'filters',
  'id',
  'name',
  'provisioningState',
  'resourceGroup',
  'storageLocation',
  'target',
  'timeLimitInSeconds',
  'totalBytesPerSession',
] as const;

// az (msrest models) prints the filter fields with its own spelling: localIpAddress, not the wire's localIPAddress.
const FILTER_KEYS = ['localIpAddress', 'localPort', 'protocol', 'remoteIpAddress', 'remotePort'] as const;
const STORAGE_LOCATION_KEYS = ['filePath', 'storageId', 'storagePath'] as const;

/** A packet capture as `az network watcher packet-capture create|show` prints it. */
export function shapePacketCapture(resource: unknown): Json {
  const out = flattenResource(resource);
  if (Array.isArray(out['filters'])) out['filters'] = out['filters'].map(shapeFilter);
  if (out['storageLocation'] !== undefined && out['storageLocation'] !== null) {
    out['storageLocation'] = withNulls({ ...asRecord(out['storageLocation']) }, STORAGE_LOCATION_KEYS);
  }
  return withNulls(out, CAPTURE_KEYS);
}

function shapeFilter(filter: unknown): Json {
  const out: Json = {};
  const byLower = new Map(FILTER_KEYS.map((k) => [k.toLowerCase(), k]));
  for (const [key, value] of Object.entries(asRecord(filter))) out[byLower.get(key.toLowerCase()) ?? key] = value;
  // The service echoes unset filter fields as "" (the seed's sample shows it); keep that shape.
  for (const key of FILTER_KEYS)
    if (out[key] === undefined || out[key] === null) out[key] = key === 'protocol' ? 'Any' : '';
  return out;
}

const STATUS_KEYS = [
  'captureStartTime',
  'id',
  'name',
  'packetCaptureError',
  'packetCaptureStatus',
  'stopReason',
] as const;

/**
 * The queryStatus result as `az … show-status` prints it: the known fields at the top, and
 * everything else under `additionalProperties` (where msrest put unknown fields), together with
 * the operation's final `status` (the seed shows `"additionalProperties": {"status": "Succeeded"}`).
 * netwatcher's additions (packet and byte counts, files, per-instance status) land there too.
 */
export function shapeQueryStatus(result: unknown, operationStatus: string): Json {
  const record = asRecord(result);
  const out: Json = {};
  const additional: Json = { status: operationStatus };
  const known = new Set<string>(STATUS_KEYS);
  for (const [key, value] of Object.entries(record)) {
    if (known.has(key)) out[key] = value;
    else if (key === 'additionalProperties') Object.assign(additional, asRecord(value));
    else additional[key] = value;
  }
  if (out['packetCaptureError'] === undefined || out['packetCaptureError'] === null) out['packetCaptureError'] = [];
  out['additionalProperties'] = additional;
  return withNulls(out, STATUS_KEYS);
}

const STORAGE_ACCOUNT_KEYS = [
  'id',
  'kind',
  'location',
  'name',
  'primaryEndpoints',
  'provisioningState',
  'resourceGroup',
  'sku',
  'tags',
  'type',
] as const;

/** A storage account as `az storage account list|show` prints it. */
export function shapeStorageAccount(resource: unknown): Json {
  return withNulls(flattenResource(resource), STORAGE_ACCOUNT_KEYS);
}

const WATCHER_KEYS = ['etag', 'id', 'location', 'name', 'provisioningState', 'resourceGroup', 'tags', 'type'] as const;

/** A network watcher as `az network watcher list` prints it. */
export function shapeWatcher(resource: unknown): Json {
  return withNulls(flattenResource(resource), WATCHER_KEYS);
}

const VM_KEYS = ['id', 'location', 'name', 'provisioningState', 'resourceGroup', 'tags', 'type'] as const;

/** A virtual machine (host) as `az vm show` prints it. */
export function shapeVm(resource: unknown): Json {
  return withNulls(flattenResource(resource), VM_KEYS);
}

/** The `value` array of an ARM list response. */
export function listValue(body: unknown): unknown[] {
  const value = asRecord(body)['value'];
  return Array.isArray(value) ? value : [];
}
