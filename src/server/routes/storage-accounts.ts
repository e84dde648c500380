import type { FastifyInstance } from 'fastify';
import { parseRequest, storageAccountPutSchema } from '../../model/index.js';
import { ApiError } from '../../lib/index.js';
import { requestBaseUrl } from '../request-context.js';
import type { ServerContext } from '../services/context.js';
import {
  deleteStorageAccount,
  getStorageAccount,
  listStorageAccounts,
  putStorageAccount,
  storageAccountView,
} from '../services/storage-accounts.js';
import { STORAGE, SUB, type ArmParams } from './arm-paths.js';

/** Storage account routes. Secrets are write-only: no answer ever contains them. */
export function registerStorageAccountRoutes(app: FastifyInstance, ctx: ServerContext): void {
  app.get<{ Params: ArmParams }>(`${SUB}/providers/Microsoft.Storage/storageAccounts`, async (req) => ({
    value: (await listStorageAccounts(ctx, req.params.sub)).map((a) => storageAccountView(ctx, a, requestBaseUrl(req))),
  }));
  app.get<{ Params: ArmParams }>(STORAGE, async (req) => ({
    value: (await listStorageAccounts(ctx, req.params.sub, req.params.rg)).map((a) =>
      storageAccountView(ctx, a, requestBaseUrl(req)),
    ),
  }));
  app.get<{ Params: ArmParams }>(`${STORAGE}/:name`, async (req) => {
    const rec = await getStorageAccount(ctx, req.params.sub, req.params.rg, req.params.name);
    return storageAccountView(ctx, rec, requestBaseUrl(req));
  });
  app.put<{ Params: ArmParams }>(`${STORAGE}/:name`, async (req, reply) => {
    const input = parseRequest(storageAccountPutSchema, req.body, 'StorageAccount');
    const { record } = await putStorageAccount(ctx, req.params.sub, req.params.rg, req.params.name, {
      location: input.location,
      kind: input.kind,
      tags: input.tags,
      backend: input.properties?.backend,
    });
    // 200 on create as well: StorageAccounts_Create declares 200 and 202 only, and the Python SDK (so az) refuses 201.
    return reply.code(200).send(storageAccountView(ctx, record, requestBaseUrl(req)));
  });
  // Account keys are never handed out: agents upload with short-lived signed URLs, and a blob or
  // S3 account's own keys stay on the server. A clear refusal, so `az storage account keys list` says why.
  app.post<{ Params: ArmParams }>(`${STORAGE}/:name/listKeys`, async (req) => {
    await getStorageAccount(ctx, req.params.sub, req.params.rg, req.params.name);
    throw new ApiError(
      'OperationNotSupported',
      `netwatcher does not hand out the keys of storage account '${req.params.name}': uploads use short-lived signed URLs and downloads go through the server ('nw network watcher packet-capture download', or the storagePath URL with a bearer token).`,
    );
  });
  app.delete<{ Params: ArmParams }>(`${STORAGE}/:name`, async (req, reply) => {
    const deleted = await deleteStorageAccount(ctx, req.params.sub, req.params.rg, req.params.name);
    return reply.code(deleted ? 200 : 204).send();
  });
}
