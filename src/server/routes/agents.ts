import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { ciObject, parseRequest } from '../../model/index.js';
import type { ServerContext } from '../services/context.js';
import { enrollAgent } from '../services/vms.js';

/** Path where an agent trades its one-time enrolment token for a credential. */
export const AGENT_ENROLL_PATH = '/agent/v1/enroll';

const enrollSchema = ciObject({ token: z.string().min(1), hostname: z.string().max(255).default('') });

/** Agent enrolment (the only route authenticated by its body's one-time token instead of a bearer token). */
export function registerAgentRoutes(app: FastifyInstance, ctx: ServerContext): void {
  app.post(AGENT_ENROLL_PATH, async (req) => {
    const input = parseRequest(enrollSchema, req.body, 'Enrollment');
    const { credential, vm } = await enrollAgent(ctx, input.token, input.hostname);
    return { credential, vmId: vm.id, vmName: vm.name, resourceGroup: vm.resourceGroup, subscriptionId: vm.subscriptionId, location: vm.location };
  });
}
