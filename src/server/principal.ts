/**
 * Who is calling: the one shape every part of the server uses to say who a request acts for
 * (authorisation, the activity log, the portal). Authentication puts it on the request; nothing
 * else decides who the caller is.
 *
 * Kinds: the admin (the data folder's admin token and what is traded for it), a service principal
 * (an API client with an app id and secrets), a user signed in through an external OpenID Connect
 * provider. Agents are never principals of the API: their credential opens only the agent channel.
 */
export type PrincipalKind = 'admin' | 'servicePrincipal' | 'user';

/** An authenticated caller of the API. */
export interface Principal {
  kind: PrincipalKind;
  /** Stable id role assignments name (`principalId`): the admin's fixed id, an app's object id, a user's `oid` or `sub`. */
  id: string;
  /** What people read in lists and the activity log (never a secret). */
  displayName: string;
  /** Group ids a user's token carried (role assignments may name a group); empty for others. */
  groups: readonly string[];
  /** The credential row or token id behind this request, for revocation and the log; null for external tokens. */
  credentialId: string | null;
}

/** The admin's principal id (a fixed, well-known id so role assignments and logs can name it). */
export const ADMIN_PRINCIPAL_ID = '00000000-0000-0000-0000-00000000ad01';

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the authentication hook on every authenticated API request; absent on public routes. */
    principal?: Principal;
  }
}
