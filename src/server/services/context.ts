import { AnalysisCache } from '../../analysis/index.js';
import type { AlertsRuntime } from '../../alerts/index.js';
import type { Logger, OutboundPolicy } from '../../lib/index.js';
import type { Store } from '../../store/index.js';
import type { ActivityLogStore } from '../activity-log.js';
import type { ServerConfig } from '../config.js';
import type { AgentHub } from '../agent-hub.js';
import type { AgentBatchIntervals } from '../metric-batch-intervals.js';
import type { ReplicaCoordinator } from '../replicas.js';
import type { BaseUrlPolicy } from '../request-context.js';
import type { OidcVerifier } from '../oidc.js';
import type { CaptureRoute } from './agent-channel.js';
import type { WatcherQueue } from './capture-admission.js';
import type { Flights } from './coalesce.js';

/**
 * What the services share: configuration, the store, the agent hub, the logger, and what the
 * server keeps in memory. Everything a server holds for its lifetime is a field here, made once
 * where the server is composed (startServer), so every copy of the context (a transaction's
 * `{ ...ctx, store }`) shares it — never a module-level table keyed by the context object, which
 * gives each copy a table of its own.
 */
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
  /** How the server names itself in the URLs it builds (request-context.ts): the API's and the agent channel's. */
  urlPolicy: BaseUrlPolicy;
  /** The in-memory tables of the services ({@link newServerMemory}; a test that builds a context by hand makes its own). */
  memory: ServerMemory;
  /** Host metrics, alert rules and alert-triggered captures (alerts-runtime.ts; made by startServer). */
  alerts: AlertsRuntime;
  /** How often each connected agent sends its host metrics (metric-batch-intervals.ts; made by startServer). */
  batchIntervals: AgentBatchIntervals;
  /** The activity log: written by the app's hooks, read by its route, pruned by the server (made by startServer). */
  activityLog: ActivityLogStore;
}

/** The services' in-memory tables of one server (see {@link ServerContext}). */
export interface ServerMemory {
  /** Capture re-evaluations in flight, by capture key (coalesce.ts: a fleet's reports share them). */
  captureEvaluations: Flights;
  /** Creates waiting for their watcher's next admission transaction, by watcher key (capture-admission.ts). */
  captureAdmissions: Map<string, WatcherQueue>;
  /** What a host's report needs of its capture, by capture uid (agent-channel.ts). */
  captureRoutes: Map<string, CaptureRoute>;
  /** Analyses of stored capture files, by file SHA-256 (analysis.ts). */
  analysisCache: AnalysisCache;
}

/** Empty in-memory tables for a new server (or a test's hand-built context). */
export function newServerMemory(): ServerMemory {
  return {
    captureEvaluations: new Map(),
    captureAdmissions: new Map(),
    captureRoutes: new Map(),
    analysisCache: new AnalysisCache(),
  };
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
