import { rotateAdminToken } from '../credentials.js';
import { exchangeClientCredentials, type TokenAnswer } from '../oauth.js';
import type { ServerContext } from './context.js';

/** A token row as the admin API lists it: what the token is for, never the token or its hash. */
export interface TokenRowView {
  id: string;
  kind: string;
  description: string | null;
  vmKey: string | null;
  createdAt: string;
  expiresAt: string | null;
  usedAt: string | null;
}

/** Every token row, oldest first. */
export async function listTokenRows(ctx: ServerContext): Promise<TokenRowView[]> {
  return (await ctx.store.listTokens()).map((t) => ({
    id: t.id,
    kind: t.kind,
    description: t.description,
    vmKey: t.vmKey,
    createdAt: t.createdAt.toISOString(),
    expiresAt: t.expiresAt?.toISOString() ?? null,
    usedAt: t.usedAt?.toISOString() ?? null,
  }));
}

/** Replaces every admin token by one new one (written to the data folder's admin-token file); returns it and the file. */
export async function rotateAdminCredential(ctx: ServerContext): Promise<{ token: string; file: string | null }> {
  const rotated = await rotateAdminToken(ctx.store, ctx.config.dataDir);
  ctx.logger.warn({ file: rotated.file }, 'admin token rotated: every earlier admin token stopped working');
  return rotated;
}

/** OAuth 2.0 client credentials: a service principal's secret for an access token (OAuthError when refused). */
export async function issueAccessToken(ctx: ServerContext, key: Buffer, form: unknown): Promise<TokenAnswer> {
  return exchangeClientCredentials(ctx.store, key, form);
}
