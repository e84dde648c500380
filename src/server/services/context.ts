import type { Logger, OutboundPolicy } from '../../lib/index.js';
import type { Store } from '../../store/index.js';
import type { ServerConfig } from '../config.js';
import type { AgentHub } from '../agent-hub.js';
import type { ReplicaCoordinator } from '../replicas.js';
import type { OidcVerifier } from '../oidc.js';

/** What the services share: configuration, the store, the agent hub and the logger. */
export interface ServerContext {
  config: Required<Pick<ServerConfig, 'subscriptionId' | 'defaultLocation' | 'dataDir'>> & ServerConfig;
  store: Store;
  hub: AgentHub;
  logger: Logger;
  /** HMAC key for local-storage signed URLs; persisted in the data folder so URLs survive restarts. */
  signingKey: Buffer;
  /** The self-signed CA of the server's TLS certificate (agents pin its SHA-256), or null (plain http or a publicly trusted certificate). */
  tlsCa?: { pem: string; sha256: string } | null;
  /** Where the server may connect on users' behalf (webhooks, notifications, storage endpoints); absent: the built-in denials only. */
  outboundPolicy?: OutboundPolicy;
  /** Leases and cross-replica orders (absent in tests that build a context by hand: this process is then the only server). */
  replicas?: ReplicaCoordinator;
  /** Verifier of the OpenID Connect provider's tokens (`--oidc-issuer`), or absent (no single sign-on). */
  oidc?: OidcVerifier;
}

/** True when the host's agent is connected to this replica or to another one of the same database. */
export async function agentConnectedAnywhere(ctx: ServerContext, vmKey: string): Promise<boolean> {
  return ctx.replicas ? ctx.replicas.connectedAnywhere(vmKey) : ctx.hub.isConnected(vmKey);
}

/**
 * Runs `fn` with a context whose store is bound to one transaction: every statement `fn` makes
 * through `tx.store` commits together or not at all. Only store calls belong inside: an agent
 * order, a hub disconnect or a token revocation (whose cache listeners live on the server's own
 * store) runs after the commit, in the caller.
 * @example const op = await inTransaction(ctx, async (tx) => { await tx.store.deleteResource(key); return tx.store.createOperation(…); });
 */
export function inTransaction<T>(ctx: ServerContext, fn: (tx: ServerContext) => Promise<T>): Promise<T> {
  return ctx.store.transaction((store) => fn({ ...ctx, store }));
}
