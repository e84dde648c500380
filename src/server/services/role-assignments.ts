import { ApiError } from '../../lib/index.js';
import type { PrincipalType } from '../../model/index.js';
import type { RoleAssignmentRecord } from '../../store/index.js';
import { scopeCovers } from '../rbac/index.js';
import type { ServerContext } from './context.js';

/** A role assignment record (the store's). */
export type { RoleAssignmentRecord };

/**
 * The role assignments seen from a scope, as ARM lists them: those at the scope and above it, and
 * (unless `atScopeOnly`, az's `atScope()`) those below it too; optionally of one principal.
 */
export async function listRoleAssignmentsAt(
  ctx: ServerContext,
  scope: string,
  filter: { atScopeOnly: boolean; principalId: string | null },
): Promise<RoleAssignmentRecord[]> {
  const all = await ctx.store.listRoleAssignments(filter.principalId ? [filter.principalId] : undefined);
  return all.filter((a) => scopeCovers(a.scope, scope) || (!filter.atScopeOnly && scopeCovers(scope, a.scope)));
}

/** The assignment of this name made at exactly this scope (one is read or deleted only where it was made), or null. */
export async function findRoleAssignmentAt(
  ctx: ServerContext,
  scope: string,
  name: string,
): Promise<RoleAssignmentRecord | null> {
  const found = (await ctx.store.listRoleAssignments()).find((a) => a.id.toLowerCase() === name.toLowerCase());
  return found && found.scope.toLowerCase() === scope.toLowerCase() ? found : null;
}

/**
 * Whom an assignment names, and as what: a service principal of this server (by object id;
 * principalType ServicePrincipal or absent), or a user or group of the OpenID Connect provider,
 * which this server cannot look up, so its principalType must be given.
 */
async function principalTypeOf(
  ctx: ServerContext,
  principalId: string,
  given: string | undefined,
): Promise<PrincipalType> {
  const sp = await ctx.store.findServicePrincipal(principalId);
  if (sp && sp.objectId.toLowerCase() === principalId.toLowerCase()) {
    if (given && given !== 'ServicePrincipal')
      throw new ApiError('InvalidParameter', `Principal '${principalId}' is a service principal, not a ${given}.`, {
        target: 'properties.principalType',
      });
    return 'ServicePrincipal';
  }
  if (given === 'User' || given === 'Group') return given;
  throw new ApiError(
    'PrincipalNotFound',
    `Principal ${principalId} does not exist in the directory. Give a service principal's object id, or principalType User or Group for an id of the identity provider (oid, sub or group id).`,
    { target: 'properties.principalId' },
  );
}

/** Creates a role assignment at a scope (409 when one of this name or the same triple exists elsewhere: the store's rules). */
export async function createRoleAssignment(
  ctx: ServerContext,
  a: {
    name: string;
    scope: string;
    roleDefinitionId: string;
    principalId: string;
    principalType: string | undefined;
    description: string | null;
  },
): Promise<RoleAssignmentRecord> {
  const principalType = await principalTypeOf(ctx, a.principalId, a.principalType);
  return ctx.store.createRoleAssignment({
    id: a.name.toLowerCase(),
    scope: a.scope,
    roleDefinitionId: a.roleDefinitionId,
    principalId: a.principalId,
    principalType,
    description: a.description,
  });
}

/** Deletes the assignment of this name made at exactly this scope; returns it, or null when there is none there. */
export async function deleteRoleAssignmentAt(
  ctx: ServerContext,
  scope: string,
  name: string,
): Promise<RoleAssignmentRecord | null> {
  const found = await findRoleAssignmentAt(ctx, scope, name);
  if (!found) return null;
  await ctx.store.deleteRoleAssignment(found.id);
  return found;
}
