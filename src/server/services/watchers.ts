import { ApiError, armIdKey, watcherId } from '../../lib/index.js';
import type { ResourceRecord } from '../../store/index.js';
import { SERVER_DEFAULTS } from '../config.js';
import type { WatcherBody } from '../../model/index.js';
import { inTransaction, type ServerContext } from './context.js';

/** Stored body of a network watcher (model's watcherBodySchema). */
export type { WatcherBody };

function watcherBody(location: string, tags?: Record<string, string>): WatcherBody {
  return {
    type: 'Microsoft.Network/networkWatchers',
    location,
    ...(tags ? { tags } : {}),
    properties: { provisioningState: 'Succeeded', runningOperationIds: [] },
  };
}

/** Creates or updates a watcher (NetworkWatchers_CreateOrUpdate); returns it and whether it is new. */
export async function putWatcher(
  ctx: ServerContext,
  sub: string,
  rg: string,
  name: string,
  input: { location: string; tags?: Record<string, string> },
): Promise<{ record: ResourceRecord<WatcherBody>; created: boolean }> {
  // One watcher per location: the check and the write under the location's lock, so two PUTs of
  // different names in one location at once cannot both pass (nor race the watcher an agent's
  // enrolment creates).
  return inTransaction(ctx, async (tx) => {
    await tx.store.lockName(watcherLocationLockName(sub, input.location));
    return putWatcherLocked(tx, sub, rg, name, input);
  });
}

/** The lock that serialises watcher creation in one location of a subscription. */
function watcherLocationLockName(sub: string, location: string): string {
  return `watcher-location:${sub}:${location}`;
}

async function putWatcherLocked(
  ctx: ServerContext,
  sub: string,
  rg: string,
  name: string,
  input: { location: string; tags?: Record<string, string> },
): Promise<{ record: ResourceRecord<WatcherBody>; created: boolean }> {
  const id = watcherId(sub, rg, name);
  const existing = await ctx.store.getResource<WatcherBody>(armIdKey(id));
  if (existing && existing.location?.toLowerCase() !== input.location.toLowerCase()) {
    throw new ApiError(
      'InvalidParameter',
      `Network watcher '${name}' is in location '${existing.location}'; its location cannot change to '${input.location}'.`,
      { target: 'location' },
    );
  }
  const others = (
    await ctx.store.listResources<WatcherBody>('watcher', { subscriptionId: sub, location: input.location })
  ).filter((w) => w.key !== armIdKey(id));
  if (!existing && others.length > 0) {
    // Azure allows one watcher per location and subscription.
    throw new ApiError(
      'Conflict',
      `Location '${input.location}' already has network watcher '${others[0]!.name}'; only one watcher is allowed per location.`,
      { target: 'location' },
    );
  }
  const record = await ctx.store.putResource<WatcherBody>({
    key: armIdKey(id),
    type: 'watcher',
    parentKey: null,
    id: existing?.id ?? id,
    name: existing?.name ?? name,
    subscriptionId: sub,
    resourceGroup: rg,
    location: input.location,
    body: watcherBody(input.location, input.tags ?? existing?.body.tags),
  });
  return { record, created: !existing };
}

/** The watcher of a location in a subscription, created as `NetworkWatcher_{location}` in NetworkWatcherRG if none (as when Azure enables Network Watcher for a region). */
export async function ensureWatcherForLocation(
  ctx: ServerContext,
  sub: string,
  location: string,
): Promise<ResourceRecord<WatcherBody>> {
  // Every host's connection asks: the common answer takes no lock.
  const found = await findWatcherForLocation(ctx, sub, location);
  if (found) return found;
  return inTransaction(ctx, async (tx) => {
    await tx.store.lockName(watcherLocationLockName(sub, location));
    const created = await findWatcherForLocation(tx, sub, location);
    if (created) return created;
    const name = `NetworkWatcher_${location}`;
    const id = watcherId(sub, SERVER_DEFAULTS.defaultResourceGroup, name);
    await tx.store.insertResource<WatcherBody>({
      key: armIdKey(id),
      type: 'watcher',
      parentKey: null,
      id,
      name,
      subscriptionId: sub,
      resourceGroup: SERVER_DEFAULTS.defaultResourceGroup,
      location,
      body: watcherBody(location),
    });
    return (await findWatcherForLocation(tx, sub, location))!;
  });
}

/** The watcher of a location, or null. */
export async function findWatcherForLocation(
  ctx: ServerContext,
  sub: string,
  location: string,
): Promise<ResourceRecord<WatcherBody> | null> {
  const list = await ctx.store.listResources<WatcherBody>('watcher', { subscriptionId: sub, location });
  return list[0] ?? null;
}

/** A watcher by id parts; 404 NotFound when missing. */
export async function getWatcher(
  ctx: ServerContext,
  sub: string,
  rg: string,
  name: string,
): Promise<ResourceRecord<WatcherBody>> {
  const rec = await ctx.store.getResource<WatcherBody>(armIdKey(watcherId(sub, rg, name)));
  if (!rec)
    throw new ApiError('NetworkWatcherNotFound', `Network watcher '${name}' was not found in resource group '${rg}'.`, {
      target: 'networkWatcherName',
    });
  return rec;
}

/** The watchers of a subscription, or of one of its resource groups (NetworkWatchers_ListAll, _List). */
export async function listWatchers(
  ctx: ServerContext,
  sub: string,
  rg?: string,
): Promise<ResourceRecord<WatcherBody>[]> {
  return ctx.store.listResources<WatcherBody>('watcher', {
    subscriptionId: sub,
    ...(rg !== undefined ? { resourceGroup: rg } : {}),
  });
}

/**
 * Deletes a watcher (NetworkWatchers_Delete); 409 Conflict while it still has packet captures.
 * The check and the delete run in one transaction with the watcher's row locked, the lock a
 * capture create takes too, so no capture can be created under a watcher being deleted.
 */
export async function deleteWatcher(ctx: ServerContext, sub: string, rg: string, name: string): Promise<void> {
  const key = armIdKey(watcherId(sub, rg, name));
  await inTransaction(ctx, async (tx) => {
    await tx.store.lockResource(key);
    const children = await tx.store.listResources('packetCapture', { parentKey: key });
    if (children.length > 0)
      throw new ApiError(
        'Conflict',
        `Network watcher '${name}' still has ${children.length} packet capture(s); delete them first.`,
      );
    await tx.store.deleteResource(key);
  });
}
