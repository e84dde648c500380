import { ApiError } from '../../lib/index.js';
import type { Store } from '../../store/index.js';
import type { Principal } from '../principal.js';
import { roleById, roleGrants } from './roles.js';

/**
 * What a route asks of its caller (src/server/openapi.ts gives every operation one):
 * - `action` / `dataAction`: an RBAC action at a scope (the data plane is checked apart, as in Azure);
 * - `anyPrincipal`: any authenticated principal (the subscription az reads at login, directory look-ups).
 */
export type RouteAccess = { action: string } | { dataAction: string } | { anyPrincipal: true };

/**
 * Where the scope of a check comes from: `resource` (default), the route's path up to its last
 * parameter (the resource, or the resource group of a list); `subscription`, the server's
 * subscription; `root` (`/`), server-wide things only the admin holds (tokens, principals);
 * `operation`, the resource a long-running operation is about (so whoever may act on a capture
 * may poll what they started).
 */
export type ScopeKind = 'resource' | 'subscription' | 'root' | 'operation';

/** True when `assignmentScope` is `scope` or one of its ancestors (whole path segments, case-insensitive). */
export function scopeCovers(assignmentScope: string, scope: string): boolean {
  const a = assignmentScope.toLowerCase().replace(/\/+$/, '');
  const s = scope.toLowerCase().replace(/\/+$/, '');
  return a === '' || s === a || s.startsWith(`${a}/`);
}

/** ARM's refusal, naming the caller, the action and the scope. */
export function authorizationFailed(principal: Principal, action: string, scope: string): ApiError {
  return new ApiError(
    'AuthorizationFailed',
    `The client '${principal.displayName}' with object id '${principal.id}' does not have authorization to perform action '${action}' over scope '${scope}' or the scope is invalid. If access was recently granted, please refresh your credentials.`,
  );
}

/**
 * Whether the principal holds the action at the scope: the admin always (Owner at the root);
 * anyone else through a role assignment to its id or one of its groups at the scope or above
 * it whose role grants the action. Read from the store on every call: an assignment deleted
 * takes effect at the next request, on every replica.
 */
export async function isAuthorized(
  store: Store,
  principal: Principal,
  action: string,
  data: boolean,
  scope: string,
): Promise<boolean> {
  if (principal.kind === 'admin') return true;
  const assignments = await store.listRoleAssignments([principal.id, ...principal.groups]);
  return assignments.some((a) => {
    const role = roleById(a.roleDefinitionId);
    return role !== undefined && scopeCovers(a.scope, scope) && roleGrants(role, action, data);
  });
}

/** Throws 403 AuthorizationFailed unless the principal holds the action at the scope. */
export async function authorize(
  store: Store,
  principal: Principal,
  action: string,
  data: boolean,
  scope: string,
): Promise<void> {
  if (!(await isAuthorized(store, principal, action, data, scope))) throw authorizationFailed(principal, action, scope);
}
