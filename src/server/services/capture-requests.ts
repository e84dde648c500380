import { armIdKey } from '../../lib/index.js';
import type { OperationRecord, ResourceRecord } from '../../store/index.js';
import type { CaptureBody } from './capture-types.js';
import type { ServerContext } from './context.js';
import { captureId, deleteCapture, getCapture, stopCapture } from './packet-captures.js';
import { getWatcher } from './watchers.js';

/**
 * What the packet-capture routes and alert-triggered captures ask of the capture service beyond
 * create (packet-captures.ts): lists, lookups by key, and the delete and stop requests with the
 * operation the answer names.
 */

/** The captures of a watcher (PacketCaptures_List); 404 when the watcher is missing. */
export async function listCaptures(
  ctx: ServerContext,
  sub: string,
  rg: string,
  watcherName: string,
): Promise<ResourceRecord<CaptureBody>[]> {
  const watcher = await getWatcher(ctx, sub, rg, watcherName);
  return listCapturesOfWatcher(ctx, watcher.key);
}

/** The captures under a watcher's key. */
export async function listCapturesOfWatcher(
  ctx: ServerContext,
  watcherKey: string,
): Promise<ResourceRecord<CaptureBody>[]> {
  return ctx.store.listResources<CaptureBody>('packetCapture', { parentKey: watcherKey });
}

/** A capture by its key, or null when it is gone (or the key names no capture). */
export async function findCaptureByKey(ctx: ServerContext, key: string): Promise<ResourceRecord<CaptureBody> | null> {
  const rec = await ctx.store.getResource<CaptureBody>(key);
  return rec && rec.type === 'packetCapture' ? rec : null;
}

/**
 * Deletes a capture by its id parts (PacketCaptures_Delete). Returns the delete operation while
 * it is still pending (the answer is then 202 naming it), or null when nothing is left to do: the
 * capture is gone, or was missing to begin with (Azure's SDK throws on a 404 here).
 */
export async function requestCaptureDelete(
  ctx: ServerContext,
  sub: string,
  rg: string,
  watcherName: string,
  name: string,
  deleteFiles: boolean,
): Promise<OperationRecord | null> {
  const rec = await ctx.store.getResource<CaptureBody>(armIdKey(captureId(sub, rg, watcherName, name)));
  if (!rec) return null;
  if ((await deleteCapture(ctx, rec, deleteFiles)) === 'done') return null;
  // Hosts may have settled while the delete was recorded: pending means still pending now.
  const [op] = await ctx.store.pendingOperations(rec.key, 'delete');
  return op ?? null;
}

/**
 * Stops a capture by its id parts (PacketCaptures_Stop; 404 when missing). Returns the stop
 * operation while it is still pending (202), or null when nothing runs any more (200).
 */
export async function requestCaptureStop(
  ctx: ServerContext,
  sub: string,
  rg: string,
  watcherName: string,
  name: string,
): Promise<OperationRecord | null> {
  const rec = await getCapture(ctx, sub, rg, watcherName, name);
  if ((await stopCapture(ctx, rec)) === 'done') return null;
  const [op] = await ctx.store.pendingOperations(rec.key, 'stop');
  return op ?? null;
}
