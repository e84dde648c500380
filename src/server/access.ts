import type { FastifyRequest } from 'fastify';
import { accessTokenKey, authenticateRequest } from './oauth.js';
import type { ServerContext } from './services/context.js';

/**
 * Whether the caller may write a VM's agent extension, and so may see its install command (it
 * carries a one-time enrolment token). Today every API caller is the admin; when roles arrive,
 * this is the one place that asks for write access to `…/virtualMachines/{vm}/extensions`.
 */
export async function mayWriteAgentExtension(ctx: ServerContext, request: FastifyRequest): Promise<boolean> {
  try {
    const info = await authenticateRequest(ctx.store, accessTokenKey(ctx.signingKey), request, ['admin']);
    return info.kind === 'admin';
  } catch {
    return false;
  }
}
