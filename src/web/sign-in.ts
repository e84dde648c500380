import type { Store } from '../store/index.js';
import { ADMIN_SESSION_PRINCIPAL, servicePrincipalSessionName } from '../server/session-principal.js';

/** Who a sign-in proved to be (as a portal session stores it), or why it failed. */
export type SignInOutcome = { ok: true; principal: string } | { ok: false; message: string };

/**
 * The portal's token sign-in: the admin token (DATA_DIR/admin-token, `nw up` prints where) or a
 * service principal's client secret. The session then acts for that principal, with its roles
 * (src/server/session-principal.ts reads what is stored here). Kept apart so other ways in
 * (OpenID Connect) are added beside it.
 */
export async function signInWithToken(store: Store, token: unknown): Promise<SignInOutcome> {
  if (typeof token !== 'string' || token.trim() === '')
    return {
      ok: false,
      message:
        "Give the admin token (the file admin-token in the server's data folder) or a service principal's secret.",
    };
  const info = await store.verifyToken(token.trim());
  if (info?.kind === 'admin') return { ok: true, principal: ADMIN_SESSION_PRINCIPAL };
  if (info?.kind === 'servicePrincipal' && info.principalId)
    return { ok: true, principal: servicePrincipalSessionName(info.principalId) };
  return { ok: false, message: 'That token is not valid for this server.' };
}
