import { parseArmId } from '../lib/index.js';

/** ARM paths the CLI requests. Names are URL-encoded; ids given by the user are used as they are. */

const enc = encodeURIComponent;

/** `/subscriptions/{sub}`. */
export function subscriptionPath(subscriptionId: string): string {
  return `/subscriptions/${enc(subscriptionId)}`;
}

/** `/subscriptions/{sub}/resourceGroups/{rg}`. */
export function resourceGroupPath(subscriptionId: string, resourceGroup: string): string {
  return `${subscriptionPath(subscriptionId)}/resourceGroups/${enc(resourceGroup)}`;
}

/** A virtual machine. */
export function vmPath(subscriptionId: string, resourceGroup: string, vmName: string): string {
  return `${resourceGroupPath(subscriptionId, resourceGroup)}/providers/Microsoft.Compute/virtualMachines/${enc(vmName)}`;
}

/** Every VM of the subscription. */
export function vmListPath(subscriptionId: string): string {
  return `${subscriptionPath(subscriptionId)}/providers/Microsoft.Compute/virtualMachines`;
}

/** A scale set. */
export function vmssPath(subscriptionId: string, resourceGroup: string, vmssName: string): string {
  return `${resourceGroupPath(subscriptionId, resourceGroup)}/providers/Microsoft.Compute/virtualMachineScaleSets/${enc(vmssName)}`;
}

/** The extensions of a VM (append `/{name}` for one). */
export function vmExtensionsPath(subscriptionId: string, resourceGroup: string, vmName: string): string {
  return `${vmPath(subscriptionId, resourceGroup, vmName)}/extensions`;
}

/** One VM extension. */
export function vmExtensionPath(
  subscriptionId: string,
  resourceGroup: string,
  vmName: string,
  extensionName: string,
): string {
  return `${vmExtensionsPath(subscriptionId, resourceGroup, vmName)}/${enc(extensionName)}`;
}

/** Every storage account of the subscription. */
export function storageAccountListPath(subscriptionId: string): string {
  return `${subscriptionPath(subscriptionId)}/providers/Microsoft.Storage/storageAccounts`;
}

/** One storage account. */
export function storageAccountPath(subscriptionId: string, resourceGroup: string, accountName: string): string {
  return `${resourceGroupPath(subscriptionId, resourceGroup)}/providers/Microsoft.Storage/storageAccounts/${enc(accountName)}`;
}

/** Every network watcher of the subscription (NetworkWatchers_ListAll). */
export function watcherListPath(subscriptionId: string): string {
  return `${subscriptionPath(subscriptionId)}/providers/Microsoft.Network/networkWatchers`;
}

/** One network watcher. */
export function watcherPath(subscriptionId: string, resourceGroup: string, watcherName: string): string {
  return `${resourceGroupPath(subscriptionId, resourceGroup)}/providers/Microsoft.Network/networkWatchers/${enc(watcherName)}`;
}

/** The packet captures of a watcher (append `/{name}` for one). */
export function packetCapturesPath(watcherResourcePath: string): string {
  return `${watcherResourcePath}/packetCaptures`;
}

/** One packet capture. */
export function packetCapturePath(watcherResourcePath: string, captureName: string): string {
  return `${packetCapturesPath(watcherResourcePath)}/${enc(captureName)}`;
}

/** Whether a string is an ARM resource id rather than a name. */
export function isArmId(value: string): boolean {
  return /^\/subscriptions\//i.test(value);
}

/** The resource group of an ARM id, or null. */
export function resourceGroupOfId(id: string): string | null {
  return parseArmId(id)?.resourceGroup ?? null;
}

/** The last name of an ARM id (or the value itself when it is a plain name). */
export function nameOfId(idOrName: string): string {
  if (!isArmId(idOrName)) return idOrName;
  const parsed = parseArmId(idOrName);
  return parsed?.names[parsed.names.length - 1] ?? idOrName.replace(/\/+$/, '').split('/').pop()!;
}
