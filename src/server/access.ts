import type { FastifyRequest } from 'fastify';
import { isAuthorized, resourceScope } from './rbac/index.js';
import type { ServerContext } from './services/context.js';

/** The action that lets a caller see an agent's one-time install command (it carries an enrolment token). */
export const EXTENSION_WRITE_ACTION = 'Microsoft.Compute/virtualMachines/extensions/write';

/**
 * Whether the caller may write a VM's agent extension, and so may see its install command (it
 * carries a one-time enrolment token): the one place that asks for write access to
 * `…/virtualMachines/{vm}/extensions`, at the scope of the route being served (the VM or its extension).
 */
export async function mayWriteAgentExtension(ctx: ServerContext, request: FastifyRequest): Promise<boolean> {
  const principal = request.principal;
  const pattern = request.routeOptions.url;
  if (!principal || pattern === undefined) return false;
  return isAuthorized(
    ctx.store,
    principal,
    EXTENSION_WRITE_ACTION,
    false,
    resourceScope(pattern, (request.params ?? {}) as Record<string, string | undefined>),
  );
}
