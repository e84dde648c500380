import { ApiError } from '../lib/index.js';
import type { Store } from '../store/index.js';
import { ADMIN_PRINCIPAL_ID, type Principal } from './principal.js';

/** How a portal session names the admin in its `principal` column. */
export const ADMIN_SESSION_PRINCIPAL = 'admin';

/** How a portal session names a service principal (its object id after the colon); deleting or resetting the principal ends such sessions (Store). */
export function servicePrincipalSessionName(objectId: string): string {
  return `servicePrincipal:${objectId}`;
}

/**
 * The principal a portal session acts for, from its stored `principal` text: `admin`,
 * `servicePrincipal:OBJECTID` (looked up on every request, so a deleted principal's session
 * stops at once), or a JSON Principal (a signed-in user: what the sign-in proved, kept whole).
 * 401 when it names nobody who still exists.
 */
export async function principalOfSession(store: Store, stored: string): Promise<Principal> {
  if (stored === ADMIN_SESSION_PRINCIPAL)
    return { kind: 'admin', id: ADMIN_PRINCIPAL_ID, displayName: 'admin', groups: [], credentialId: null };
  const servicePrincipalPrefix = servicePrincipalSessionName('');
  if (stored.startsWith(servicePrincipalPrefix)) {
    const sp = await store.findServicePrincipal(stored.slice(servicePrincipalPrefix.length));
    if (sp)
      return { kind: 'servicePrincipal', id: sp.objectId, displayName: sp.displayName, groups: [], credentialId: null };
  } else if (stored.startsWith('{')) {
    try {
      const p = JSON.parse(stored) as Partial<Principal>;
      if (p.kind === 'user' && typeof p.id === 'string' && p.id) {
        return {
          kind: 'user',
          id: p.id,
          displayName: String(p.displayName ?? p.id),
          groups: Array.isArray(p.groups) ? p.groups.map(String) : [],
          credentialId: null,
        };
      }
    } catch {
      /* not a principal: refused below */
    }
  }
  throw new ApiError(
    'AuthenticationFailed',
    'Authentication failed. The portal session names a principal that no longer exists; sign in again.',
  );
}
