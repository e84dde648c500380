import { ActivityLogStore, type ActivityQuery, type ActivityRecord } from '../activity-log.js';
import type { ServerContext } from './context.js';

const readers = new WeakMap<ServerContext, ActivityLogStore>();

/** Activity-log rows of a query, newest first (the route pages them and shapes Azure's EventData). */
export async function listActivityRecords(ctx: ServerContext, query: ActivityQuery): Promise<ActivityRecord[]> {
  let reader = readers.get(ctx);
  if (!reader) {
    reader = new ActivityLogStore(ctx.store.db);
    readers.set(ctx, reader);
  }
  return reader.list(query);
}
