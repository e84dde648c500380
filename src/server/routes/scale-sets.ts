import type { FastifyInstance } from 'fastify';
import { joinKeyCreateSchema, parseRequest, vmExtensionPutSchema, vmssPutSchema } from '../../model/index.js';
import { replyCreated } from '../lro.js';
import { requestHandoffBaseUrl } from '../request-context.js';
import type { ServerContext } from '../services/context.js';
import { createJoinKey, listJoinKeys, revokeJoinKey } from '../services/join-keys.js';
import {
  deleteScaleSet,
  deleteScaleSetInstance,
  getScaleSet,
  getScaleSetInstance,
  installScaleSetAgentExtension,
  listScaleSets,
  putScaleSet,
  scaleSetInstances,
} from '../services/scale-sets.js';
import { listExtensions } from '../services/vms.js';
import { resourceView } from '../services/view.js';
import { RG, SUB, type ArmParams } from './arm-paths.js';

/** Scale-set routes (`Microsoft.Compute/virtualMachineScaleSets`). */
export const VMSS = `${RG}/providers/Microsoft.Compute/virtualMachineScaleSets`;

/** Join-key routes (a netwatcher addition, under its own provider namespace). */
export const JOIN_KEYS = `${RG}/providers/Netwatcher/joinKeys`;

/** Scale sets, their instances and agent extension, and join keys. */
export function registerScaleSetRoutes(app: FastifyInstance, ctx: ServerContext): void {
  app.get<{ Params: ArmParams }>(`${SUB}/providers/Microsoft.Compute/virtualMachineScaleSets`, async (req) => ({
    value: (await listScaleSets(ctx, req.params.sub)).map(resourceView),
  }));
  app.get<{ Params: ArmParams }>(VMSS, async (req) => ({
    value: (await listScaleSets(ctx, req.params.sub, req.params.rg)).map(resourceView),
  }));
  app.get<{ Params: ArmParams }>(`${VMSS}/:name`, async (req) =>
    resourceView(await getScaleSet(ctx, req.params.sub, req.params.rg, req.params.name)),
  );
  app.put<{ Params: ArmParams }>(`${VMSS}/:name`, async (req, reply) => {
    const input = parseRequest(vmssPutSchema, req.body ?? {}, 'VirtualMachineScaleSet');
    const { record, created } = await putScaleSet(ctx, req.params.sub, req.params.rg, req.params.name, {
      location: input.location,
      tags: input.tags,
    });
    return reply.code(created ? 201 : 200).send(resourceView(record));
  });
  app.delete<{ Params: ArmParams }>(`${VMSS}/:name`, async (req, reply) => {
    const deleted = await deleteScaleSet(ctx, req.params.sub, req.params.rg, req.params.name);
    return reply.code(deleted ? 200 : 204).send();
  });

  app.get<{ Params: ArmParams }>(`${VMSS}/:name/virtualMachines`, async (req) => {
    const scaleSet = await getScaleSet(ctx, req.params.sub, req.params.rg, req.params.name);
    return { value: (await scaleSetInstances(ctx, scaleSet)).map((r) => resourceView(r)) };
  });
  app.get<{ Params: ArmParams }>(`${VMSS}/:name/virtualMachines/:id`, async (req) => {
    const scaleSet = await getScaleSet(ctx, req.params.sub, req.params.rg, req.params.name);
    return resourceView(await getScaleSetInstance(ctx, scaleSet, req.params.id));
  });
  app.delete<{ Params: ArmParams }>(`${VMSS}/:name/virtualMachines/:id`, async (req, reply) => {
    const scaleSet = await getScaleSet(ctx, req.params.sub, req.params.rg, req.params.name);
    return reply.code((await deleteScaleSetInstance(ctx, scaleSet, req.params.id)) ? 200 : 204).send();
  });

  app.get<{ Params: ArmParams }>(`${VMSS}/:name/extensions`, async (req) => {
    const scaleSet = await getScaleSet(ctx, req.params.sub, req.params.rg, req.params.name);
    return { value: (await listExtensions(ctx, scaleSet.key)).map(resourceView) };
  });
  app.put<{ Params: ArmParams }>(`${VMSS}/:name/extensions/:ext`, async (req, reply) => {
    const input = parseRequest(vmExtensionPutSchema, req.body ?? {}, 'VirtualMachineScaleSetExtension');
    const { sub, rg, name, ext } = req.params;
    const result = await installScaleSetAgentExtension(ctx, requestHandoffBaseUrl(req), sub, rg, name, ext, {
      ...input.properties,
    });
    const view = resourceView(result.record) as { properties: Record<string, unknown> };
    // The join key and the install command appear in this answer only.
    const body = {
      ...view,
      properties: {
        ...view.properties,
        joinKey: result.joinKey,
        joinKeyId: result.joinKeyId,
        joinKeyExpiresAt: result.expiresAt,
        installCommand: result.installCommand,
      },
    };
    return replyCreated(req, reply, result.operation, body, result.created ? 201 : 200);
  });

  app.get<{ Params: ArmParams }>(`${SUB}/providers/Netwatcher/joinKeys`, async (req) => ({
    value: await listJoinKeys(ctx, req.params.sub, undefined),
  }));
  app.get<{ Params: ArmParams }>(JOIN_KEYS, async (req) => ({
    value: await listJoinKeys(ctx, req.params.sub, req.params.rg),
  }));
  app.post<{ Params: ArmParams }>(JOIN_KEYS, async (req, reply) => {
    const input = parseRequest(joinKeyCreateSchema, req.body ?? {}, 'JoinKey');
    return reply
      .code(201)
      .send(await createJoinKey(ctx, requestHandoffBaseUrl(req), req.params.sub, req.params.rg, input));
  });
  app.post<{ Params: ArmParams }>(`${JOIN_KEYS}/:id/revoke`, async (req) =>
    revokeJoinKey(ctx, req.params.sub, req.params.rg, req.params.id),
  );
}
