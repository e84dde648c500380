import type { FastifyInstance } from 'fastify';
import { ApiError } from '../../lib/index.js';
import { parseRequest, servicePrincipalCreateSchema } from '../../model/index.js';
import type { ServerContext } from '../services/context.js';
import {
  createServicePrincipal,
  deleteServicePrincipal,
  findServicePrincipalByObjectId,
  getServicePrincipal,
  listServicePrincipals,
  resetServicePrincipalSecret,
  type ServicePrincipalRecord,
} from '../services/service-principals.js';

/** Service principal management (netwatcher's, as `nw ad sp` calls it; admin only: scope `/`). */
export const SERVICE_PRINCIPALS_PATH = '/admin/v1/servicePrincipals';
/** Microsoft Graph's paths that az reads to resolve `--assignee` and to name principals (graph endpoint = the server). */
export const GRAPH_PREFIX = '/v1.0';

/** A service principal as netwatcher's admin API shows it (never a secret or its hash). */
function servicePrincipalView(sp: ServicePrincipalRecord, tenant: string): Record<string, unknown> {
  return {
    objectId: sp.objectId,
    appId: sp.appId,
    displayName: sp.displayName,
    tenant,
    createdAt: sp.createdAt.toISOString(),
  };
}

/** A service principal as Microsoft Graph's servicePrincipal (what az reads of it). */
function graphServicePrincipal(sp: ServicePrincipalRecord): Record<string, unknown> {
  return {
    '@odata.type': '#microsoft.graph.servicePrincipal',
    id: sp.objectId,
    appId: sp.appId,
    displayName: sp.displayName,
    servicePrincipalNames: [sp.appId],
    servicePrincipalType: 'Application',
    accountEnabled: true,
  };
}

/** Graph `$filter`s az sends for service principals: servicePrincipalNames/any(c:c eq 'X'), appId eq 'X', displayName eq 'X', startswith(displayName,'X'). */
function graphFilter(filter: string | undefined): (sp: ServicePrincipalRecord) => boolean {
  if (filter === undefined || filter.trim() === '') return () => true;
  const f = filter.trim();
  const lit = (s: string) => s.replace(/''/g, "'").toLowerCase();
  let m: RegExpExecArray | null;
  if ((m = /^servicePrincipalNames\/any\(\w+:\w+ eq '(.*)'\)$/i.exec(f))) {
    const v = lit(m[1]!);
    return (sp) => sp.appId.toLowerCase() === v;
  }
  if ((m = /^appId eq '(.*)'$/i.exec(f))) {
    const v = lit(m[1]!);
    return (sp) => sp.appId.toLowerCase() === v;
  }
  if ((m = /^displayName eq '(.*)'$/i.exec(f))) {
    const v = lit(m[1]!);
    return (sp) => sp.displayName.toLowerCase() === v;
  }
  if ((m = /^startswith\(displayName,\s*'(.*)'\)$/i.exec(f))) {
    const v = lit(m[1]!);
    return (sp) => sp.displayName.toLowerCase().startsWith(v);
  }
  throw new ApiError('InvalidParameter', `$filter '${filter}' is not supported for servicePrincipals.`, {
    target: '$filter',
  });
}

/**
 * Service principals: netwatcher's admin API (create, list, show, reset the secret, delete: the
 * secret is answered once, only its hash is kept) and the few Microsoft Graph reads az makes for
 * `az role assignment --assignee APPID` (servicePrincipals by name, directoryObjects/getByIds),
 * which any signed-in principal may make, as in Azure, and which show ids and names only.
 */
export function registerServicePrincipalRoutes(app: FastifyInstance, ctx: ServerContext): void {
  const tenant = ctx.config.subscriptionId;
  app.get(SERVICE_PRINCIPALS_PATH, async () => ({
    value: (await listServicePrincipals(ctx)).map((sp) => servicePrincipalView(sp, tenant)),
  }));
  app.post(SERVICE_PRINCIPALS_PATH, async (req, reply) => {
    const body = parseRequest(servicePrincipalCreateSchema, req.body ?? {}, 'ServicePrincipal');
    const { principal, secret } = await createServicePrincipal(ctx, body.displayName);
    return reply
      .code(201)
      .header('Cache-Control', 'no-store')
      .send({ ...servicePrincipalView(principal, tenant), password: secret });
  });
  app.get<{ Params: { id: string } }>(`${SERVICE_PRINCIPALS_PATH}/:id`, async (req) =>
    servicePrincipalView(await getServicePrincipal(ctx, req.params.id), tenant),
  );
  app.post<{ Params: { id: string } }>(`${SERVICE_PRINCIPALS_PATH}/:id/resetCredential`, async (req, reply) => {
    const { principal: sp, secret } = await resetServicePrincipalSecret(ctx, req.params.id);
    return reply.header('Cache-Control', 'no-store').send({ appId: sp.appId, password: secret, tenant });
  });
  app.delete<{ Params: { id: string } }>(`${SERVICE_PRINCIPALS_PATH}/:id`, async (req, reply) => {
    const sp = await deleteServicePrincipal(ctx, req.params.id);
    if (!sp) return reply.code(204).send();
    return reply.code(200).send(servicePrincipalView(sp, tenant));
  });

  app.get<{ Querystring: { $filter?: string } }>(`${GRAPH_PREFIX}/servicePrincipals`, async (req) => {
    const match = graphFilter(req.query.$filter);
    return {
      '@odata.context': 'https://graph.microsoft.com/v1.0/$metadata#servicePrincipals',
      value: (await listServicePrincipals(ctx)).filter(match).map(graphServicePrincipal),
    };
  });
  app.get<{ Params: { id: string } }>(`${GRAPH_PREFIX}/servicePrincipals/:id`, async (req) => {
    const sp = await findServicePrincipalByObjectId(ctx, req.params.id);
    if (!sp)
      throw new ApiError(
        'NotFound',
        `Resource '${req.params.id}' does not exist or one of its queried reference-property objects are not present.`,
      );
    return graphServicePrincipal(sp);
  });
  // No user directory here (users come from the OpenID Connect provider's tokens): az then tries a service principal.
  app.get(`${GRAPH_PREFIX}/users`, async () => ({
    '@odata.context': 'https://graph.microsoft.com/v1.0/$metadata#users',
    value: [],
  }));
  app.post<{ Body: { ids?: unknown } }>(`${GRAPH_PREFIX}/directoryObjects/getByIds`, async (req) => {
    const ids = Array.isArray(req.body?.ids)
      ? req.body.ids.filter((x): x is string => typeof x === 'string').slice(0, 1000)
      : null;
    if (!ids)
      throw new ApiError('InvalidRequestContent', 'getByIds: the body must carry "ids", an array of object ids.', {
        target: 'ids',
      });
    const wanted = new Set(ids.map((i) => i.toLowerCase()));
    return {
      value: (await listServicePrincipals(ctx))
        .filter((sp) => wanted.has(sp.objectId.toLowerCase()))
        .map(graphServicePrincipal),
    };
  });
}
