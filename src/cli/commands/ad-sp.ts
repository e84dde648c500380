import { connect } from '../client-factory.js';
import type { CliContext, CommonOptions } from '../context.js';
import { CliError, UsageError } from '../errors.js';
import { requireOption } from '../option-values.js';
import { writeOutput } from '../output.js';
import {
  defineCommand,
  defineGroup,
  type Declaration,
  type OptionTable,
  type OptionValues,
} from '../command-declaration.js';

/** The server's service principal API (admin only). */
const SP_PATH = '/admin/v1/servicePrincipals';
const ARM_SCOPE = /^\/subscriptions\/[^/]+(\/resourceGroups\/[^/]+)?$/i;

/** The flags of `nw ad sp create-for-rbac`. */
export const CREATE_FOR_RBAC_OPTIONS = {
  name: { flags: '-n, --name <name>', description: 'display name (unique on this server)' },
  role: {
    flags: '--role <role>',
    description:
      'role to assign (name or id): Reader, Network Contributor, Contributor, Owner, Packet Capture Operator, Packet Capture Data Reader',
  },
  scopes: {
    flags: '--scopes <scope...>',
    description: 'scopes of the role: /subscriptions/S or /subscriptions/S/resourceGroups/RG (one or more)',
  },
} as const satisfies OptionTable;

/** Options of `nw ad sp create-for-rbac`. */
export type CreateForRbacOptions = CommonOptions & OptionValues<typeof CREATE_FOR_RBAC_OPTIONS>;

/** The GUID id of a role, found by name as az does (`roleName eq '…'`). */
async function roleDefinitionId(ctx: CliContext, options: CommonOptions, role: string, scope: string): Promise<string> {
  const conn = connect(ctx, options);
  const r = await conn.client.request('GET', `${scope}/providers/Microsoft.Authorization/roleDefinitions`, {
    query: { $filter: `roleName eq '${role.replace(/'/g, "''")}'` },
  });
  const found = (r.body as { value?: Array<{ id: string }> }).value ?? [];
  if (found.length === 0)
    throw new UsageError(`Role '${role}' doesn't exist (nw role definition list shows the roles).`);
  return found[0]!.id;
}

/**
 * `nw ad sp create-for-rbac`: creates a service principal and, with --role and --scopes, assigns
 * it that role at each scope. Prints appId, displayName, password and tenant once, as az does
 * (the server keeps only the password's hash). A failed assignment deletes the new principal
 * again, so nothing half-made is left.
 * @example await createForRbac({ name: 'ci-bot', role: 'Network Contributor', scopes: ['/subscriptions/S/resourceGroups/rg1'] }, ctx);
 */
export async function createForRbac(options: CreateForRbacOptions, ctx: CliContext): Promise<Record<string, unknown>> {
  const name = requireOption('--name', options.name);
  const scopes = options.scopes ?? [];
  if (Boolean(options.role) !== scopes.length > 0)
    throw new UsageError('usage error: --role and --scopes must be used together');
  for (const scope of scopes)
    if (!ARM_SCOPE.test(scope))
      throw new UsageError(
        `argument --scopes: '${scope}' is not a subscription or resource group id (/subscriptions/S or /subscriptions/S/resourceGroups/RG)`,
      );
  const conn = connect(ctx, options);
  // The role is resolved before anything is created, so a misspelt role creates nothing.
  const roleId = options.role
    ? await roleDefinitionId(ctx, options, options.role, `/subscriptions/${ctx.config.subscriptionId}`)
    : null;
  const created = (await conn.client.request('POST', SP_PATH, { body: { displayName: name } })).body as {
    appId: string;
    objectId: string;
    displayName: string;
    password: string;
    tenant: string;
  };
  try {
    for (const scope of scopes) {
      await conn.client.request(
        'PUT',
        `${scope}/providers/Microsoft.Authorization/roleAssignments/${crypto.randomUUID()}`,
        {
          body: {
            properties: { roleDefinitionId: roleId, principalId: created.objectId, principalType: 'ServicePrincipal' },
          },
        },
      );
    }
  } catch (error) {
    await conn.client.request('DELETE', `${SP_PATH}/${created.objectId}`).catch(() => undefined);
    throw new CliError(
      `the role assignment failed, so service principal '${name}' was deleted again: ${(error as Error).message}`,
    );
  }
  ctx.err.write(
    'The output includes credentials that you must protect. Be sure that you do not include these credentials in your code or check the credentials into your source control.\n',
  );
  const result = {
    appId: created.appId,
    displayName: created.displayName,
    password: created.password,
    tenant: created.tenant,
  };
  writeOutput(ctx.out, result, options.output);
  return result;
}

/** `nw ad sp list`: every service principal (app id, object id, name; never a secret). */
export async function servicePrincipalList(options: CommonOptions, ctx: CliContext): Promise<unknown[]> {
  const r = await connect(ctx, options).client.request('GET', SP_PATH);
  const value = (r.body as { value: unknown[] }).value;
  writeOutput(ctx.out, value, options.output);
  return value;
}

/** The flags of `nw ad sp delete|credential reset`: the principal. */
export const SERVICE_PRINCIPAL_ID_OPTIONS = {
  id: { flags: '--id <appId>', description: 'app id, object id or name' },
} as const satisfies OptionTable;

/** Options of `nw ad sp delete|credential reset`. */
export type ServicePrincipalIdOptions = CommonOptions & OptionValues<typeof SERVICE_PRINCIPAL_ID_OPTIONS>;

/** `nw ad sp credential reset --id APPID`: a new secret, printed once; the old one and its access tokens stop working at once. */
export async function servicePrincipalCredentialReset(
  options: ServicePrincipalIdOptions,
  ctx: CliContext,
): Promise<Record<string, unknown>> {
  const id = requireOption('--id', options.id);
  const r = await connect(ctx, options).client.request('POST', `${SP_PATH}/${encodeURIComponent(id)}/resetCredential`, {
    body: {},
  });
  ctx.err.write(
    'The output includes credentials that you must protect. Be sure that you do not include these credentials in your code or check the credentials into your source control.\n',
  );
  const result = r.body as Record<string, unknown>;
  writeOutput(ctx.out, result, options.output);
  return result;
}

/** `nw ad sp delete --id APPID`: deletes it with its secrets, access tokens and role assignments. Prints nothing, as az. */
export async function servicePrincipalDelete(options: ServicePrincipalIdOptions, ctx: CliContext): Promise<void> {
  const id = requireOption('--id', options.id);
  const r = await connect(ctx, options).client.request('DELETE', `${SP_PATH}/${encodeURIComponent(id)}`);
  if (r.status === 204) throw new CliError(`service principal '${id}' was not found`);
}

/** The commands of this file, in help order. */
export const AD_SP_COMMANDS: readonly Declaration[] = [
  defineGroup({ path: ['ad'], description: 'principals of this server (service principals)' }),
  defineGroup({ path: ['ad', 'sp'], description: 'service principals: API clients with an app id and a secret' }),
  defineCommand({
    path: ['ad', 'sp', 'create-for-rbac'],
    description: 'create a service principal, optionally with a role at some scopes; prints its password once',
    examples: [
      'nw ad sp create-for-rbac --name ci-bot --role "Network Contributor" --scopes /subscriptions/S/resourceGroups/rg1',
      'nw ad sp create-for-rbac --name oncall --role Reader --scopes /subscriptions/S',
    ],
    options: CREATE_FOR_RBAC_OPTIONS,
    run: (o, { ctx }) => createForRbac(o, ctx),
  }),
  defineCommand({
    path: ['ad', 'sp', 'list'],
    description: 'list the service principals (ids and names; never a secret)',
    examples: ['nw ad sp list -o table'],
    options: {
      all: { flags: '--all', description: 'accepted for az compatibility (every principal is listed)' },
    },
    run: (o, { ctx }) => servicePrincipalList(o, ctx),
  }),
  defineCommand({
    path: ['ad', 'sp', 'delete'],
    description: 'delete a service principal: its secret, access tokens and role assignments stop at once',
    examples: ['nw ad sp delete --id APPID'],
    options: SERVICE_PRINCIPAL_ID_OPTIONS,
    run: (o, { ctx }) => servicePrincipalDelete(o, ctx),
  }),
  defineGroup({ path: ['ad', 'sp', 'credential'], description: "a service principal's secret" }),
  defineCommand({
    path: ['ad', 'sp', 'credential', 'reset'],
    description:
      'replace its secret by a new one, printed once; the old one and its access tokens stop working at once',
    examples: ['nw ad sp credential reset --id APPID'],
    options: {
      id: { flags: '--id <appId>', description: 'app id, object id or name' },
    },
    run: (o, { ctx }) => servicePrincipalCredentialReset(o, ctx),
  }),
];
