import type { ActivityQuery, ActivityRecord } from '../activity-log.js';
import type { ServerContext } from './context.js';

/** Activity-log rows of a query, newest first (the route pages them and shapes Azure's EventData). */
export async function listActivityRecords(ctx: ServerContext, query: ActivityQuery): Promise<ActivityRecord[]> {
  return ctx.activityLog.list(query);
}
