import { InvalidBlobLocationError } from './errors.js';

/** Where one blob lives inside a storage account. */
export interface BlobLocation {
  container: string;
  blobPath: string;
}

/** Azure Network Watcher's container for packet captures. */
export const CAPTURE_CONTAINER = 'network-watcher-logs';

/** Longest blob name Azure accepts (characters). */
export const MAX_BLOB_PATH_LENGTH = 1024;

// Azure's container rule, applied to every kind so one location is valid everywhere:
// https://learn.microsoft.com/rest/api/storageservices/naming-and-referencing-containers--blobs--and-metadata#container-names
const containerPattern = /^[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9])){2,62}$/;
// eslint-disable-next-line no-control-regex
const forbiddenInBlobPath = /[\u0000-\u001f\u007f\\]/;

/**
 * Throws {@link InvalidBlobLocationError} unless the container name follows Azure's rule and the
 * blob path is a relative `/`-separated path with no empty, `.` or `..` segment, no backslash and
 * no control character. Every store and the local routes call this first, so a location can
 * never escape its container (or, for the local kind, the account's root folder).
 */
export function assertValidBlobLocation(location: BlobLocation): void {
  if (!containerPattern.test(location.container)) {
    throw new InvalidBlobLocationError(
      `container "${location.container}" must be 3-63 lower-case letters, digits and single hyphens, starting and ending with a letter or digit`,
    );
  }
  const { blobPath } = location;
  if (blobPath.length === 0 || blobPath.length > MAX_BLOB_PATH_LENGTH) {
    throw new InvalidBlobLocationError(`blob path must be 1-${MAX_BLOB_PATH_LENGTH} characters`);
  }
  if (forbiddenInBlobPath.test(blobPath)) {
    throw new InvalidBlobLocationError('blob path must not contain backslashes or control characters');
  }
  for (const segment of blobPath.split('/')) {
    if (segment === '' || segment === '.' || segment === '..') {
      throw new InvalidBlobLocationError(`blob path "${blobPath}" has an empty, "." or ".." segment`);
    }
  }
}

/** Inputs of {@link azureCaptureBlobPath}. */
export interface CaptureBlobPathInput {
  subscriptionId: string;
  resourceGroup: string;
  vmName: string;
  /** Creation time of the capture; the path uses its UTC fields. */
  createdAt: Date;
  /** For an instance of a scale set: the scale set's name (then `vmName` is unused) and the instance id. */
  scaleSet?: { name: string; instanceId: string };
}

/**
 * The blob path Azure Network Watcher gives a VM's capture (resource group and VM lower-cased, UTC time):
 * `subscriptions/{sub}/resourcegroups/{rg}/providers/microsoft.compute/virtualmachines/{vm}/{yyyy}/{MM}/{dd}/packetcapture_{HH}_{mm}_{ss}_{fff}.cap`;
 * for a scale-set instance `…/virtualmachinescalesets/{vmss}/virtualMachines/{instanceId}/{yyyy}/…`.
 * @example azureCaptureBlobPath({ subscriptionId: 's', resourceGroup: 'RG', vmName: 'Vm1', createdAt: new Date('2017-05-25T16:22:34.630Z') })
 * // 'subscriptions/s/resourcegroups/rg/providers/microsoft.compute/virtualmachines/vm1/2017/05/25/packetcapture_16_22_34_630.cap'
 */
export function azureCaptureBlobPath(input: CaptureBlobPathInput): string {
  const t = input.createdAt;
  if (Number.isNaN(t.getTime())) throw new InvalidBlobLocationError('createdAt is not a valid date');
  const pad = (value: number, width = 2): string => String(value).padStart(width, '0');
  return [
    'subscriptions',
    input.subscriptionId,
    'resourcegroups',
    input.resourceGroup.toLowerCase(),
    // A scale-set instance's file: Azure's scale-set layout (reference §4, S8), one folder per instance.
    ...(input.scaleSet
      ? [
          'providers/microsoft.compute/virtualmachinescalesets',
          input.scaleSet.name.toLowerCase(),
          'virtualMachines',
          input.scaleSet.instanceId,
        ]
      : ['providers/microsoft.compute/virtualmachines', input.vmName.toLowerCase()]),
    pad(t.getUTCFullYear(), 4),
    pad(t.getUTCMonth() + 1),
    pad(t.getUTCDate()),
    `packetcapture_${pad(t.getUTCHours())}_${pad(t.getUTCMinutes())}_${pad(t.getUTCSeconds())}_${pad(t.getUTCMilliseconds(), 3)}.cap`,
  ].join('/');
}

/**
 * Where a capture's file goes: with no `storagePath`, Azure's layout in `network-watcher-logs`;
 * with a container URI (as `--storage-path` takes), the same layout under that container and
 * prefix; with a URI naming a `.cap` blob, exactly that blob. Returns null when `storagePath`
 * is not a URL of this account (`parseContainerUrl` of the account's store answers that).
 */
export function resolveCaptureLocation(
  parseContainerUrl: (url: string) => { container: string; prefix: string } | null,
  storagePath: string | undefined,
  capture: CaptureBlobPathInput,
): BlobLocation | null {
  const layoutPath = azureCaptureBlobPath(capture);
  if (storagePath === undefined || storagePath.trim() === '') {
    return { container: CAPTURE_CONTAINER, blobPath: layoutPath };
  }
  const parsed = parseContainerUrl(storagePath.trim());
  if (!parsed) return null;
  const prefix = parsed.prefix.replace(/^\/+|\/+$/g, '');
  let location: BlobLocation;
  if (prefix.toLowerCase().endsWith('.cap')) location = { container: parsed.container, blobPath: prefix };
  else location = { container: parsed.container, blobPath: prefix === '' ? layoutPath : `${prefix}/${layoutPath}` };
  assertValidBlobLocation(location);
  return location;
}

/**
 * The blob path as it appears in a URL: each segment percent-encoded, slashes kept.
 * @example encodeBlobPath('a b/c.cap') // 'a%20b/c.cap'
 */
export function encodeBlobPath(blobPath: string): string {
  return blobPath
    .split('/')
    .map((segment) => encodeURIComponent(segment))
    .join('/');
}

/**
 * Splits the part of a URL after an account's base into a container and a blob prefix, decoding
 * each segment; null when there is no container or a segment is not valid percent-encoding.
 * @example splitContainerPath('captures/a%20b/c') // { container: 'captures', prefix: 'a b/c' }
 */
export function splitContainerPath(path: string): { container: string; prefix: string } | null {
  const [container, ...rest] = path.split('/');
  if (!container) return null;
  try {
    return {
      container: decodeURIComponent(container),
      prefix: rest
        .filter((s) => s !== '')
        .map(decodeURIComponent)
        .join('/'),
    };
  } catch {
    return null;
  }
}
