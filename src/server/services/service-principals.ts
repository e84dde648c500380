import { ApiError } from '../../lib/index.js';
import type { ServicePrincipalRecord } from '../../store/index.js';
import type { ServerContext } from './context.js';

/** A service principal record (the store's; never a secret or its hash). */
export type { ServicePrincipalRecord };

/** Every service principal, oldest first. */
export async function listServicePrincipals(ctx: ServerContext): Promise<ServicePrincipalRecord[]> {
  return ctx.store.listServicePrincipals();
}

/** A service principal by app id, object id or name, or null. */
export async function findServicePrincipal(
  ctx: ServerContext,
  idOrName: string,
): Promise<ServicePrincipalRecord | null> {
  return ctx.store.findServicePrincipal(idOrName);
}

/** A service principal by app id, object id or name; 404 NotFound when missing. */
export async function getServicePrincipal(ctx: ServerContext, idOrName: string): Promise<ServicePrincipalRecord> {
  const sp = await ctx.store.findServicePrincipal(idOrName);
  if (!sp)
    throw new ApiError(
      'NotFound',
      `Service principal '${idOrName}' was not found (give its app id, object id or name).`,
      { target: 'servicePrincipal' },
    );
  return sp;
}

/** A service principal by its object id only (Microsoft Graph's servicePrincipals/{id}), or null. */
export async function findServicePrincipalByObjectId(
  ctx: ServerContext,
  objectId: string,
): Promise<ServicePrincipalRecord | null> {
  const sp = await ctx.store.findServicePrincipal(objectId);
  return sp && sp.objectId.toLowerCase() === objectId.toLowerCase() ? sp : null;
}

/** Creates a service principal; its secret is returned once (409 Conflict when the name is taken). */
export async function createServicePrincipal(
  ctx: ServerContext,
  displayName: string,
): Promise<{ principal: ServicePrincipalRecord; secret: string }> {
  const { principal, secret } = await ctx.store.createServicePrincipal(displayName);
  ctx.logger.info({ appId: principal.appId, displayName: principal.displayName }, 'service principal created');
  return { principal, secret };
}

/** Replaces a service principal's secret: the old one and its access tokens stop working. Returns the new secret (shown once). */
export async function resetServicePrincipalSecret(
  ctx: ServerContext,
  idOrName: string,
): Promise<{ principal: ServicePrincipalRecord; secret: string }> {
  const sp = await getServicePrincipal(ctx, idOrName);
  const { secret } = await ctx.store.resetServicePrincipalSecret(sp.objectId);
  ctx.logger.warn(
    { appId: sp.appId },
    'service principal secret reset: the old secret and its access tokens stopped working',
  );
  return { principal: sp, secret };
}

/** Deletes a service principal with its secrets, access tokens and role assignments; returns it, or null when it was missing. */
export async function deleteServicePrincipal(
  ctx: ServerContext,
  idOrName: string,
): Promise<ServicePrincipalRecord | null> {
  const sp = await ctx.store.findServicePrincipal(idOrName);
  if (!sp) return null;
  await ctx.store.deleteServicePrincipal(sp.objectId);
  ctx.logger.warn(
    { appId: sp.appId },
    'service principal deleted: its secrets, access tokens and role assignments are gone',
  );
  return sp;
}
