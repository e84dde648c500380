import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { ciObject, parseRequest } from '../../model/index.js';
import { rotateAdminToken } from '../credentials.js';
import type { ServerContext } from '../services/context.js';

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
    const { token, file } = await rotateAdminToken(ctx.store, ctx.config.dataDir);
    ctx.logger.warn({ file }, 'admin token rotated: every earlier admin token stopped working');
    return { token, tokenFile: file };
  });
  app.get(TOKENS_PATH, async () => ({
    value: (await ctx.store.listTokens()).map((t) => ({
      id: t.id,
      kind: t.kind,
      description: t.description,
      vmKey: t.vmKey,
      createdAt: t.createdAt.toISOString(),
      expiresAt: t.expiresAt?.toISOString() ?? null,
      usedAt: t.usedAt?.toISOString() ?? null,
    })),
  }));
}
