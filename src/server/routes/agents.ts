import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { ApiError } from '../../lib/index.js';
import {
  AGENT_CA_PATH,
  AGENT_ENROLL_PATH,
  AGENT_JOIN_PATH,
  agentHostnameSchema,
  ciObject,
  joinRequestSchema,
  parseRequest,
} from '../../model/index.js';
import type { ServerContext } from '../services/context.js';
import { enrollAgent } from '../services/vms.js';
import { joinWithKey } from '../services/join-keys.js';

/** Body of the agent enrolment. */
export const enrollRequestSchema = ciObject({ token: z.string().min(1), hostname: agentHostnameSchema.default('') });

/** Agent enrolment (the only route authenticated by its body's one-time token instead of a bearer token). */
export function registerAgentRoutes(app: FastifyInstance, ctx: ServerContext): void {
  app.post(AGENT_ENROLL_PATH, async (req) => {
    const input = parseRequest(enrollRequestSchema, req.body, 'Enrollment');
    const { credential, vm } = await enrollAgent(ctx, input.token, input.hostname);
    return {
      credential,
      vmId: vm.id,
      vmName: vm.name,
      resourceGroup: vm.resourceGroup,
      subscriptionId: vm.subscriptionId,
      location: vm.location,
    };
  });
  // Authenticated by the join key in the body, like enrolment by its token.
  app.post(AGENT_JOIN_PATH, async (req) => {
    const input = parseRequest(joinRequestSchema, req.body, 'Join');
    const { credential, vm } = await joinWithKey(ctx, input.joinKey, input.vmName, input.hostname);
    return {
      credential,
      vmId: vm.id,
      vmName: vm.name,
      resourceGroup: vm.resourceGroup,
      subscriptionId: vm.subscriptionId,
      location: vm.location,
      ...(vm.body.instanceId !== undefined ? { instanceId: vm.body.instanceId } : {}),
    };
  });
  // Unauthenticated: a host has nothing yet but its install command. The certificate is public;
  // the SHA-256 pin in the install command is what makes it trustworthy (docs/sdk.md).
  app.get(AGENT_CA_PATH, async (_req, reply) => {
    if (!ctx.tlsCa)
      throw new ApiError(
        'NotFound',
        "This server's certificate is not self-signed (or it serves plain http): there is no CA to hand out.",
      );
    return reply.type('application/x-pem-file').send(ctx.tlsCa.pem);
  });
}
