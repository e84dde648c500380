import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { ciObject, parseRequest } from '../../model/index.js';
import type { ServerContext } from '../services/context.js';
import { listTokenRows, rotateAdminCredential } from '../services/tokens.js';

/** Path that rotates the admin token (admin token required; answers the new one once). */
export const ROTATE_ADMIN_TOKEN_PATH = '/admin/v1/rotate-admin-token';

/** Path that lists the token rows: what each token is for, never a token or its hash. */
export const TOKENS_PATH = '/admin/v1/tokens';

/**
 * Body of the rotation: `{"confirm": true}`. Rotating ends every admin session, so a blind POST
 * (a crawler, a client probing the API, a replayed request without its body) changes nothing.
 */
export const rotateAdminTokenSchema = ciObject({
  confirm: z.literal(true, {
    error: 'send {"confirm": true} to rotate the admin token (every admin token stops working)',
  }),
});

/** Credential management: rotate the admin token, list what every token row is for. */
export function registerCredentialRoutes(app: FastifyInstance, ctx: ServerContext): void {
  app.post(ROTATE_ADMIN_TOKEN_PATH, async (req) => {
    parseRequest(rotateAdminTokenSchema, req.body ?? {}, 'RotateAdminToken');
    // The caller's own token is among the old ones: it stops working with this answer.
    const { token, file } = await rotateAdminCredential(ctx);
    return { token, tokenFile: file };
  });
  app.get(TOKENS_PATH, async () => ({ value: await listTokenRows(ctx) }));
}
