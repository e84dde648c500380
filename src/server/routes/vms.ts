import type { FastifyInstance, FastifyRequest } from 'fastify';
import {
  parseRequest,
  vmExtensionPutSchema,
  vmLookbackPutSchema,
  vmRegisterPutSchema,
  vmUpdatePatchSchema,
} from '../../model/index.js';
import { disableLookback, enableLookback, lookbackView } from '../services/lookback.js';
import { replyCreated } from '../lro.js';
import { SERVER_DEFAULTS } from '../config.js';
import { pageLink, pagePosition, requestHandoffBaseUrl } from '../request-context.js';
import type { ServerContext } from '../services/context.js';
import { mayWriteAgentExtension } from '../access.js';
import { resourceView } from '../services/view.js';
import {
  deleteExtension,
  getExtension,
  getVm,
  installAgentExtension,
  listExtensions,
  listVmPage,
  registerVm,
  revokeAgentAccess,
  updateVmTags,
} from '../services/vms.js';
import { deleteVm } from '../services/vm-delete.js';
import { extensionView, vmView, wantsInstanceView } from '../services/vm-views.js';
import { SUB, VMS, type ArmParams } from './arm-paths.js';

/** Virtual machine (host) and VM extension (agent) routes. */
export function registerVmRoutes(app: FastifyInstance, ctx: ServerContext): void {
  // VM lists page with nextLink (Azure's compute SDK and `nw vm list` follow it).
  const pageSize = ctx.config.listPageSizeInItems ?? SERVER_DEFAULTS.listPageSizeInItems;
  // The database reads one page (and one record more, to know whether another follows). Scale-set
  // instances are listed under their scale set (nw vmss list-instances), as Azure lists them.
  const vmPage = async (req: FastifyRequest, filter: { subscriptionId: string; resourceGroup?: string }) => {
    const records = await listVmPage(ctx, filter, pagePosition(req), pageSize + 1);
    const { page, nextLink } = pageLink(req, records, pageSize);
    return { value: page.map(resourceView), ...(nextLink ? { nextLink } : {}) };
  };
  app.get<{ Params: ArmParams }>(`${SUB}/providers/Microsoft.Compute/virtualMachines`, async (req) =>
    vmPage(req, { subscriptionId: req.params.sub }),
  );
  app.get<{ Params: ArmParams }>(VMS, async (req) =>
    vmPage(req, { subscriptionId: req.params.sub, resourceGroup: req.params.rg }),
  );
  app.get<{ Params: ArmParams }>(`${VMS}/:vm`, async (req) => {
    const vm = await getVm(ctx, req.params.sub, req.params.rg, req.params.vm);
    const instanceView = wantsInstanceView(req.query);
    const extensions = await listExtensions(ctx, vm.key);
    return vmView(vm, extensions, {
      instanceView,
      showInstallCommand: instanceView && (await mayWriteAgentExtension(ctx, req)),
    });
  });
  // Registers a host without the agent (`az resource create`), so plain az can then run `az vm extension set`.
  app.put<{ Params: ArmParams }>(`${VMS}/:vm`, async (req, reply) => {
    const input = parseRequest(vmRegisterPutSchema, req.body, 'VirtualMachine');
    const { record, created } = await registerVm(ctx, req.params.sub, req.params.rg, req.params.vm, input.location);
    return reply.code(created ? 201 : 200).send(
      vmView(record, await listExtensions(ctx, record.key), {
        instanceView: false,
        showInstallCommand: false,
      }),
    );
  });

  // VirtualMachines_Update: tags only (what capture selectors match on).
  app.patch<{ Params: ArmParams }>(`${VMS}/:vm`, async (req) => {
    const input = parseRequest(vmUpdatePatchSchema, req.body, 'VirtualMachineUpdate');
    const record = await updateVmTags(ctx, req.params.sub, req.params.rg, req.params.vm, input.tags);
    return vmView(record, await listExtensions(ctx, record.key), {
      instanceView: false,
      showInstallCommand: false,
    });
  });

  // VirtualMachines_Delete: Azure's forceDeletion query parameter also ends the captures running on the host.
  app.delete<{ Params: ArmParams; Querystring: { forceDeletion?: string } }>(`${VMS}/:vm`, async (req, reply) => {
    const force = String(req.query.forceDeletion ?? '').toLowerCase() === 'true';
    const result = await deleteVm(ctx, req.params.sub, req.params.rg, req.params.vm, force);
    return reply.code(result.deleted ? 200 : 204).send();
  });

  app.get<{ Params: ArmParams }>(`${VMS}/:vm/extensions`, async (req) => {
    const vm = await getVm(ctx, req.params.sub, req.params.rg, req.params.vm);
    return { value: (await listExtensions(ctx, vm.key)).map(resourceView) };
  });
  app.get<{ Params: ArmParams }>(`${VMS}/:vm/extensions/:ext`, async (req) => {
    const ext = await getExtension(ctx, req.params.sub, req.params.rg, req.params.vm, req.params.ext);
    const instanceView = wantsInstanceView(req.query);
    return extensionView(ext, {
      instanceView,
      showInstallCommand: instanceView && (await mayWriteAgentExtension(ctx, req)),
    });
  });

  app.put<{ Params: ArmParams }>(`${VMS}/:vm/extensions/:ext`, async (req, reply) => {
    const input = parseRequest(vmExtensionPutSchema, req.body ?? {}, 'VirtualMachineExtension');
    const { sub, rg, vm, ext } = req.params;
    const serverUrl = requestHandoffBaseUrl(req);
    const result = await installAgentExtension(ctx, serverUrl, sub, rg, vm, ext, {
      location: input.location,
      ...input.properties,
    });
    const view = resourceView(result.record) as { properties: Record<string, unknown> };
    // The one-time token and install command appear in this answer only.
    const body = {
      ...view,
      properties: {
        ...view.properties,
        enrollmentToken: result.enrollmentToken,
        installCommand: result.installCommand,
      },
    };
    return replyCreated(req, reply, result.operation, body, result.created ? 201 : 200);
  });

  app.delete<{ Params: ArmParams }>(`${VMS}/:vm/extensions/:ext`, async (req, reply) => {
    const { sub, rg, vm, ext } = req.params;
    // Removing the agent extension revokes the host's credential and cuts its live connection.
    const deleted = await deleteExtension(ctx, sub, rg, vm, ext);
    return reply.code(deleted ? 200 : 204).send();
  });

  // The host's look-back buffer (netwatcher's own singleton child resource; off by default, docs/continuous.md).
  app.get<{ Params: ArmParams }>(`${VMS}/:vm/lookback`, async (req) =>
    lookbackView(await getVm(ctx, req.params.sub, req.params.rg, req.params.vm)),
  );
  app.put<{ Params: ArmParams }>(`${VMS}/:vm/lookback`, async (req) => {
    const input = parseRequest(vmLookbackPutSchema, req.body, 'Lookback');
    const vm = await getVm(ctx, req.params.sub, req.params.rg, req.params.vm);
    return lookbackView(await enableLookback(ctx, vm, input));
  });
  app.delete<{ Params: ArmParams }>(`${VMS}/:vm/lookback`, async (req) =>
    lookbackView(await disableLookback(ctx, await getVm(ctx, req.params.sub, req.params.rg, req.params.vm))),
  );

  // Revokes the host's agent credential (a stolen or leaked one); the extension stays, and
  // `nw vm extension set` issues a new enrolment token to install the agent again.
  app.post<{ Params: ArmParams }>(`${VMS}/:vm/revokeAgentCredential`, async (req) => {
    const vmRec = await getVm(ctx, req.params.sub, req.params.rg, req.params.vm);
    const revoked = await revokeAgentAccess(ctx, vmRec.key, 'the agent credential was revoked by an operator');
    return { vmId: vmRec.id, revokedTokens: revoked };
  });
}
