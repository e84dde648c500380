import type { FastifyRequest } from 'fastify';
import { ApiError } from '../../lib/index.js';
import type { Store } from '../../store/index.js';
import type { Principal } from '../principal.js';
import type { RouteAuthorization } from '../openapi.js';
import { authorize, authorizationFailed } from './authorize.js';

/** What the route check needs of the server. */
export interface RouteCheckContext {
  store: Store;
  subscriptionId: string;
}

/** The names of a pattern's parameters, in order (`{name}` or `:name`). */
function paramNames(pattern: string): string[] {
  return [...pattern.matchAll(/\{(\w+)\}|:(\w+)/g)].map((m) => (m[1] ?? m[2])!);
}

/**
 * The scope of a `resource` check: the registered pattern up to its last parameter, the
 * parameters filled in from the request (decoded, as the router gives them), so a capture's
 * scope is the capture's id and a list's is its resource group or subscription.
 */
export function resourceScope(pattern: string, params: Record<string, string | undefined>): string {
  const segments = pattern.split('/').filter(Boolean);
  let last = -1;
  segments.forEach((seg, i) => {
    if (seg.startsWith(':')) last = i;
  });
  if (last < 0) return '/';
  return `/${segments
    .slice(0, last + 1)
    .map((seg) => (seg.startsWith(':') ? (params[seg.slice(1)] ?? '') : seg))
    .join('/')}`;
}

/** The action a route asks for, its `{parameter}` placeholders filled from the request (by position between the table's path and the registered pattern). */
export function concreteAction(
  action: string,
  tablePath: string,
  pattern: string,
  params: Record<string, string | undefined>,
): string {
  const tableNames = paramNames(tablePath);
  const routeNames = paramNames(pattern);
  return action.replace(/\{(\w+)\}/g, (whole, name: string) => {
    const i = tableNames.indexOf(name);
    const value = i >= 0 ? params[routeNames[i] ?? ''] : undefined;
    return value ?? whole;
  });
}

/**
 * The authorization step of every authenticated API request, run by the app's request hook
 * right after authentication (before any body is read or anything changes): the route's action
 * from the operation table, checked at the route's scope. A route the table does not know is
 * refused for everyone but the admin (and the route matrix test fails for it).
 */
export async function authorizeRoute(
  ctx: RouteCheckContext,
  request: FastifyRequest,
  principal: Principal,
  auth: RouteAuthorization | undefined,
): Promise<void> {
  const pattern = request.routeOptions.url;
  // No route matched: the not-found handler answers 404 (to an authenticated caller only).
  if (pattern === undefined) return;
  if (!auth) {
    if (principal.kind === 'admin') return;
    throw authorizationFailed(
      principal,
      `(no action is registered for ${request.method} ${pattern})`,
      request.url.split('?')[0]!,
    );
  }
  if (auth.access === 'public' || 'anyPrincipal' in auth.access) return;
  const params = (request.params ?? {}) as Record<string, string | undefined>;
  const data = 'dataAction' in auth.access;
  const action = concreteAction(
    'dataAction' in auth.access ? auth.access.dataAction : auth.access.action,
    auth.path,
    pattern,
    params,
  );
  const scope = await scopeOf(ctx, auth, pattern, params);
  await authorize(ctx.store, principal, action, data, scope);
}

async function scopeOf(
  ctx: RouteCheckContext,
  auth: RouteAuthorization,
  pattern: string,
  params: Record<string, string | undefined>,
): Promise<string> {
  const subscription = `/subscriptions/${ctx.subscriptionId}`;
  switch (auth.scope) {
    case 'root':
      return '/';
    case 'subscription':
      return subscription;
    case 'operation': {
      // The operation's resource (its key is the lower-cased resource id); unknown ids get the
      // subscription, and the handler's 404 follows for whoever may read there.
      const op = params.id ? await ctx.store.getOperation(params.id) : null;
      return op?.resourceKey?.startsWith('/subscriptions/') ? op.resourceKey : subscription;
    }
    case 'resource':
      return resourceScope(pattern, params);
    default:
      throw new ApiError('InternalServerError', `unknown scope kind ${String(auth.scope)}`);
  }
}
