import { ApiError } from '../../lib/index.js';
import type { OperationRecord } from '../../store/index.js';
import type { ServerContext } from './context.js';

/** An operation document by id (they live in the database, so they outlast a restart); 404 OperationNotFound when missing. */
export async function getOperation(ctx: ServerContext, id: string): Promise<OperationRecord> {
  const op = await ctx.store.getOperation(id);
  if (!op) throw new ApiError('OperationNotFound', `Operation '${id}' was not found.`);
  return op;
}
