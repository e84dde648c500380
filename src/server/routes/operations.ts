import type { FastifyInstance } from 'fastify';
import { operationStatusDocument, operationUrls } from '../lro.js';
import { retryAfterFor } from '../retry-after.js';
import type { ServerContext } from '../services/context.js';
import { getOperation } from '../services/operations.js';
import { SUB, type ArmParams } from './arm-paths.js';

/**
 * Operation documents (…/locations/{loc}/operations/{id}) and results (…/operationResults/{id}).
 * They live in the database, so they keep answering after a restart.
 */
export function registerOperationRoutes(app: FastifyInstance, ctx: ServerContext): void {
  app.get<{ Params: ArmParams }>(`${SUB}/providers/:provider/locations/:loc/operations/:id`, async (req, reply) => {
    const op = await getOperation(ctx, req.params.id);
    // Still running: say when to look again (azure-core for Python waits 30 s otherwise).
    const retryAfter = op.status === 'InProgress' ? retryAfterFor(ctx.config, req) : null;
    if (retryAfter !== null) void reply.header('Retry-After', String(retryAfter));
    return operationStatusDocument(op);
  });
  app.get<{ Params: ArmParams }>(
    `${SUB}/providers/:provider/locations/:loc/operationResults/:id`,
    async (req, reply) => {
      const op = await getOperation(ctx, req.params.id);
      if (op.status === 'InProgress') {
        const urls = operationUrls(req, op);
        return reply
          .code(202)
          .header('Location', urls.location)
          .header('Azure-AsyncOperation', urls.asyncOperation)
          .send();
      }
      if (op.status === 'Failed') return reply.code(200).send(operationStatusDocument(op));
      // Azure answers a finished stop's result with 200 and the JSON body `null`.
      return reply
        .code(200)
        .type('application/json; charset=utf-8')
        .send(JSON.stringify(op.result ?? null));
    },
  );
}
