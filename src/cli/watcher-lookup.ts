import { watcherListPath, watcherPath, resourceGroupOfId } from './arm-paths.js';
import type { ConnectedClient } from './client-factory.js';
import { UsageError, WatcherNotFoundError, CliError } from './errors.js';
import { listValue } from './shape.js';

/** A network watcher the packet-capture commands work under. */
export interface ResolvedWatcher {
  /** Resource group of the watcher. */
  resourceGroup: string;
  /** Name of the watcher. */
  name: string;
  /** ARM path of the watcher. */
  path: string;
}

/** How the user named the watcher: az's `--location`, or netwatcher's explicit `--watcher` (+ resource group). */
export interface WatcherSelector {
  location?: string | undefined;
  watcher?: string | undefined;
  watcherResourceGroup?: string | undefined;
}

/**
 * Finds the watcher as az does for its `--location` forms: list every watcher of the
 * subscription (NetworkWatchers_ListAll) and take the one in that location.
 * @example const w = await resolveWatcher(conn, { location: 'westcentralus' });
 */
export async function resolveWatcher(conn: ConnectedClient, selector: WatcherSelector): Promise<ResolvedWatcher> {
  if (selector.watcher && selector.watcherResourceGroup) {
    return {
      name: selector.watcher,
      resourceGroup: selector.watcherResourceGroup,
      path: watcherPath(conn.subscriptionId, selector.watcherResourceGroup, selector.watcher),
    };
  }
  if (!selector.watcher && !selector.location)
    throw new UsageError('the following arguments are required: --location/-l');
  const response = await conn.client.request('GET', watcherListPath(conn.subscriptionId));
  const watchers = listValue(response.body) as Array<Record<string, unknown>>;
  const match = watchers.find((w) =>
    selector.watcher
      ? String(w['name'] ?? '').toLowerCase() === selector.watcher.toLowerCase()
      : String(w['location'] ?? '').toLowerCase() === selector.location!.toLowerCase(),
  );
  if (!match) {
    if (selector.watcher) throw new CliError(`network watcher '${selector.watcher}' not found.`);
    throw new WatcherNotFoundError(selector.location!);
  }
  const id = String(match['id'] ?? '');
  const resourceGroup = resourceGroupOfId(id);
  const name = String(match['name'] ?? '');
  if (!resourceGroup || !name) throw new CliError(`the server returned a network watcher without a valid id: '${id}'`);
  return { name, resourceGroup, path: watcherPath(conn.subscriptionId, resourceGroup, name) };
}
