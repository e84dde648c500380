import type { Store } from '../store/index.js';

/** Who a sign-in proved to be, or why it failed. */
export type SignInOutcome = { ok: true; principal: string } | { ok: false; message: string };

/**
 * The portal's one way in today: the admin token (DATA_DIR/admin-token, `nw up` prints where).
 * Kept apart so later ways (service principals, OpenID Connect) are added here and nowhere else.
 */
export async function signInWithToken(store: Store, token: unknown): Promise<SignInOutcome> {
  if (typeof token !== 'string' || token.trim() === '') return { ok: false, message: 'Give the admin token (the file admin-token in the server\'s data folder).' };
  const info = await store.verifyToken(token.trim());
  if (!info || info.kind !== 'admin') return { ok: false, message: 'That token is not valid for this server.' };
  return { ok: true, principal: 'admin' };
}
