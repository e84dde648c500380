import type { FastifyInstance } from 'fastify';
import { networkWatcherPutSchema, parseRequest } from '../../model/index.js';
import type { ServerContext } from '../services/context.js';
import { resourceView } from '../services/view.js';
import { deleteWatcher, getWatcher, listWatchers, putWatcher } from '../services/watchers.js';
import { SUB, WATCHERS, type ArmParams } from './arm-paths.js';

/** Network watcher routes (NetworkWatchers_*). The PUT is not a long-running operation: the SDK throws on 202. */
export function registerWatcherRoutes(app: FastifyInstance, ctx: ServerContext): void {
  app.get<{ Params: ArmParams }>(`${SUB}/providers/Microsoft.Network/networkWatchers`, async (req) => ({
    value: (await listWatchers(ctx, req.params.sub)).map(resourceView),
  }));
  app.get<{ Params: ArmParams }>(WATCHERS, async (req) => ({
    value: (await listWatchers(ctx, req.params.sub, req.params.rg)).map(resourceView),
  }));
  app.get<{ Params: ArmParams }>(`${WATCHERS}/:nw`, async (req) =>
    resourceView(await getWatcher(ctx, req.params.sub, req.params.rg, req.params.nw)),
  );
  app.put<{ Params: ArmParams }>(`${WATCHERS}/:nw`, async (req, reply) => {
    const input = parseRequest(networkWatcherPutSchema, req.body, 'NetworkWatcher');
    const { record, created } = await putWatcher(ctx, req.params.sub, req.params.rg, req.params.nw, input);
    return reply.code(created ? 201 : 200).send(resourceView(record));
  });
  app.delete<{ Params: ArmParams }>(`${WATCHERS}/:nw`, async (req, reply) => {
    await deleteWatcher(ctx, req.params.sub, req.params.rg, req.params.nw);
    // 204 whether it existed or not: the Python SDK accepts only 202 and 204 (NetworkWatchers_Delete).
    return reply.code(204).send();
  });
}
