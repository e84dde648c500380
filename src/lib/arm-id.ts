/**
 * ARM resource ids. ARM compares ids case-insensitively but echoes the caller's casing, so ids
 * are built from stored names and compared through `armIdKey`.
 */

/** The parts of a resource id under a resource group. */
export interface ArmResourceRef {
  subscriptionId: string;
  resourceGroup: string;
  provider: string; // e.g. Microsoft.Compute
  types: string[]; // e.g. ['virtualMachines', 'extensions']
  names: string[]; // e.g. ['vm1', 'NetworkWatcherAgentLinux']
}

/** Builds `/subscriptions/{sub}/resourceGroups/{rg}/providers/{provider}/{type}/{name}/…`. */
export function buildArmId(ref: ArmResourceRef): string {
  let id = `/subscriptions/${ref.subscriptionId}/resourceGroups/${ref.resourceGroup}/providers/${ref.provider}`;
  ref.types.forEach((type, i) => {
    id += `/${type}/${ref.names[i] ?? ''}`;
  });
  return id;
}

/** Parses a resource id; returns null when it is not one (wrong shape, odd number of type/name segments). */
export function parseArmId(id: string): ArmResourceRef | null {
  const parts = id.replace(/^\/+|\/+$/g, '').split('/');
  if (parts.length < 6) return null;
  if (
    parts[0]?.toLowerCase() !== 'subscriptions' ||
    parts[2]?.toLowerCase() !== 'resourcegroups' ||
    parts[4]?.toLowerCase() !== 'providers'
  )
    return null;
  const rest = parts.slice(6);
  if (rest.length === 0 || rest.length % 2 !== 0 || rest.some((p) => p === '')) return null;
  const types: string[] = [];
  const names: string[] = [];
  for (let i = 0; i < rest.length; i += 2) {
    types.push(rest[i]!);
    let name: string;
    try {
      name = decodeURIComponent(rest[i + 1]!);
    } catch {
      return null; // bad percent-encoding: not an id (and never an exception out of here)
    }
    // A decoded name is one segment: an encoded slash or a control character makes it no id.
    // eslint-disable-next-line no-control-regex
    if (/[/\u0000-\u001f\u007f]/.test(name)) return null;
    names.push(name);
  }
  return { subscriptionId: parts[1]!, resourceGroup: parts[3]!, provider: parts[5]!, types, names };
}

/** A lower-cased form of an id for case-insensitive comparison and database keys. */
export function armIdKey(id: string): string {
  return id.toLowerCase().replace(/\/+$/, '');
}

/** Builds a VM id. */
export function vmId(subscriptionId: string, resourceGroup: string, vmName: string): string {
  return buildArmId({
    subscriptionId,
    resourceGroup,
    provider: 'Microsoft.Compute',
    types: ['virtualMachines'],
    names: [vmName],
  });
}

/** Builds a network watcher id. */
export function watcherId(subscriptionId: string, resourceGroup: string, watcherName: string): string {
  return buildArmId({
    subscriptionId,
    resourceGroup,
    provider: 'Microsoft.Network',
    types: ['networkWatchers'],
    names: [watcherName],
  });
}

/** Builds a storage account id. */
export function storageAccountId(subscriptionId: string, resourceGroup: string, accountName: string): string {
  return buildArmId({
    subscriptionId,
    resourceGroup,
    provider: 'Microsoft.Storage',
    types: ['storageAccounts'],
    names: [accountName],
  });
}
