import type { FastifyInstance, FastifyRequest } from 'fastify';
import { ApiError } from '../../lib/index.js';
import { parseRequest, roleAssignmentPutSchema } from '../../model/index.js';
import { BUILT_IN_ROLES, roleById, type RoleDefinition } from '../rbac/index.js';
import type { ServerContext } from '../services/context.js';
import {
  createRoleAssignment,
  deleteRoleAssignmentAt,
  findRoleAssignmentAt,
  listRoleAssignmentsAt,
  type RoleAssignmentRecord,
} from '../services/role-assignments.js';
import { RG, SUB } from './arm-paths.js';

/** Provider path of role assignments and definitions under a scope. */
const AUTH = 'providers/Microsoft.Authorization';
const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

interface ScopeParams {
  sub: string;
  rg?: string;
  name?: string;
  roleId?: string;
}

/** The scope of a request: the subscription, or one of its resource groups (404 for another subscription). */
function requestScope(ctx: ServerContext, params: ScopeParams): string {
  if (params.sub.toLowerCase() !== ctx.config.subscriptionId.toLowerCase())
    throw new ApiError(
      'NotFound',
      `Subscription '${params.sub}' is not served here; this server's subscription is '${ctx.config.subscriptionId}'.`,
      { target: 'subscriptionId' },
    );
  const sub = `/subscriptions/${ctx.config.subscriptionId}`;
  return params.rg ? `${sub}/resourceGroups/${params.rg}` : sub;
}

/** A role definition as ARM's RoleDefinition; ids always under the subscription, as Azure answers them (az compares them as strings). */
export function roleDefinitionView(role: RoleDefinition, subscriptionId: string): Record<string, unknown> {
  return {
    id: `/subscriptions/${subscriptionId}/${AUTH}/roleDefinitions/${role.id}`,
    name: role.id,
    type: 'Microsoft.Authorization/roleDefinitions',
    properties: {
      roleName: role.roleName,
      type: role.roleType,
      description: role.description,
      assignableScopes: ['/'],
      permissions: [role.permissions],
      createdOn: '2015-02-02T21:55:09.8806423Z',
      updatedOn: '2026-01-01T00:00:00.0000000Z',
      createdBy: null,
      updatedBy: null,
    },
  };
}

/** A role assignment as ARM's RoleAssignment. */
export function roleAssignmentView(a: RoleAssignmentRecord, subscriptionId: string): Record<string, unknown> {
  return {
    id: `${a.scope}/${AUTH}/roleAssignments/${a.id}`,
    name: a.id,
    type: 'Microsoft.Authorization/roleAssignments',
    properties: {
      roleDefinitionId: `/subscriptions/${subscriptionId}/${AUTH}/roleDefinitions/${a.roleDefinitionId}`,
      principalId: a.principalId,
      principalType: a.principalType,
      scope: a.scope,
      description: a.description,
      condition: null,
      conditionVersion: null,
      delegatedManagedIdentityResourceId: null,
      createdOn: a.createdAt.toISOString(),
      updatedOn: a.createdAt.toISOString(),
      createdBy: null,
      updatedBy: null,
    },
  };
}

/** ARM's role-assignment `$filter`s that az sends: `atScope()`, `principalId eq '…'`, `assignedTo('…')`, joined by `and`. */
export function parseAssignmentFilter(filter: string | undefined): { atScope: boolean; principalId: string | null } {
  const out = { atScope: false, principalId: null as string | null };
  if (filter === undefined || filter.trim() === '') return out;
  for (const term of filter.split(/\s+and\s+/i)) {
    const t = term.trim();
    let m: RegExpExecArray | null;
    if (/^atScope\(\)$/i.test(t)) out.atScope = true;
    else if ((m = /^principalId\s+eq\s+'([^']+)'$/i.exec(t)) || (m = /^assignedTo\('([^']+)'\)$/i.exec(t)))
      out.principalId = m[1]!;
    else
      throw new ApiError(
        'InvalidParameter',
        `$filter '${filter}' is not supported: use atScope(), principalId eq '{id}' or assignedTo('{id}'), joined by 'and'.`,
        { target: '$filter' },
      );
  }
  return out;
}

/** The role a roleDefinitionId names (`…/roleDefinitions/GUID` or the bare GUID), or a 400 naming it. */
function roleOfDefinitionId(value: string): RoleDefinition {
  const m =
    /^(?:\/subscriptions\/[^/]+(?:\/resourceGroups\/[^/]+)?)?(?:\/providers\/Microsoft\.Authorization\/roleDefinitions\/)?([0-9a-f-]{36})$/i.exec(
      value.trim(),
    );
  const role = m ? roleById(m[1]!) : undefined;
  if (!role)
    throw new ApiError(
      'RoleDefinitionDoesNotExist',
      `The role definition '${value}' does not exist; the roles are ${BUILT_IN_ROLES.map((r) => `'${r.roleName}' (${r.id})`).join(', ')}.`,
      { target: 'properties.roleDefinitionId' },
    );
  return role;
}

/**
 * Microsoft.Authorization at subscription and resource-group scope: role definitions (the
 * built-in ones) and role assignments, as `az role assignment create/list/delete` and `az role
 * definition list` call them. Who may call what is the operation table's business (the route
 * check runs first); these handlers keep to their scope: an assignment is read or deleted only at
 * the scope it was made at.
 */
export function registerAuthorizationRoutes(app: FastifyInstance, ctx: ServerContext): void {
  const sub = ctx.config.subscriptionId;
  for (const base of [SUB, RG]) {
    app.get<{ Params: ScopeParams; Querystring: { $filter?: string } }>(
      `${base}/${AUTH}/roleDefinitions`,
      async (req) => {
        requestScope(ctx, req.params);
        const filter = req.query.$filter?.trim();
        let roles = [...BUILT_IN_ROLES];
        if (filter) {
          const byName = /^roleName\s+eq\s+'(.*)'$/i.exec(filter);
          const byType = /^type\s+eq\s+'(BuiltInRole|CustomRole)'$/i.exec(filter);
          if (byName)
            roles = roles.filter((r) => r.roleName.toLowerCase() === byName[1]!.replace(/''/g, "'").toLowerCase());
          else if (byType) roles = roles.filter((r) => r.roleType.toLowerCase() === byType[1]!.toLowerCase());
          else
            throw new ApiError(
              'InvalidParameter',
              `$filter '${filter}' is not supported: use roleName eq '{name}' or type eq 'BuiltInRole'.`,
              { target: '$filter' },
            );
        }
        return { value: roles.map((r) => roleDefinitionView(r, sub)) };
      },
    );
    app.get<{ Params: ScopeParams }>(`${base}/${AUTH}/roleDefinitions/:roleId`, async (req) => {
      requestScope(ctx, req.params);
      const role = roleById(req.params.roleId ?? '');
      if (!role)
        throw new ApiError('NotFound', `The role definition '${req.params.roleId}' does not exist.`, {
          target: 'roleDefinitionId',
        });
      return roleDefinitionView(role, sub);
    });

    app.get<{ Params: ScopeParams; Querystring: { $filter?: string } }>(
      `${base}/${AUTH}/roleAssignments`,
      async (req) => {
        const scope = requestScope(ctx, req.params);
        const filter = parseAssignmentFilter(req.query.$filter);
        // At the scope and above it (atScope()), or also below it (no filter), as ARM lists them.
        const value = await listRoleAssignmentsAt(ctx, scope, {
          atScopeOnly: filter.atScope,
          principalId: filter.principalId,
        });
        return { value: value.map((a) => roleAssignmentView(a, sub)) };
      },
    );
    const atThisScope = async (req: FastifyRequest<{ Params: ScopeParams }>): Promise<RoleAssignmentRecord | null> =>
      findRoleAssignmentAt(ctx, requestScope(ctx, req.params), String(req.params.name));
    app.get<{ Params: ScopeParams }>(`${base}/${AUTH}/roleAssignments/:name`, async (req) => {
      const found = await atThisScope(req);
      if (!found)
        throw new ApiError('NotFound', `Role assignment '${req.params.name}' was not found at this scope.`, {
          target: 'roleAssignmentName',
        });
      return roleAssignmentView(found, sub);
    });
    app.put<{ Params: ScopeParams }>(`${base}/${AUTH}/roleAssignments/:name`, async (req, reply) => {
      const scope = requestScope(ctx, req.params);
      const name = String(req.params.name);
      if (!GUID.test(name))
        throw new ApiError('InvalidParameter', `The role assignment name '${name}' is not valid: it must be a GUID.`, {
          target: 'roleAssignmentName',
        });
      const body = parseRequest(roleAssignmentPutSchema, req.body ?? {}, 'RoleAssignment');
      for (const field of ['condition', 'conditionVersion', 'delegatedManagedIdentityResourceId'] as const) {
        if (body.properties[field] !== undefined && body.properties[field] !== null)
          throw new ApiError(
            'InvalidParameter',
            `properties.${field} is not supported by netwatcher (role assignments have no conditions here).`,
            { target: `properties.${field}` },
          );
      }
      const role = roleOfDefinitionId(body.properties.roleDefinitionId);
      const created = await createRoleAssignment(ctx, {
        name,
        scope,
        roleDefinitionId: role.id,
        principalId: body.properties.principalId,
        principalType: body.properties.principalType,
        description: body.properties.description ?? null,
      });
      return reply.code(201).send(roleAssignmentView(created, sub));
    });
    app.delete<{ Params: ScopeParams }>(`${base}/${AUTH}/roleAssignments/:name`, async (req, reply) => {
      const found = await deleteRoleAssignmentAt(ctx, requestScope(ctx, req.params), String(req.params.name));
      if (!found) return reply.code(204).send();
      return reply.code(200).send(roleAssignmentView(found, sub));
    });
  }
}
