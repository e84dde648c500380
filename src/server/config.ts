/** Everything the server needs, read once by the entry (src/cli) from flags and the environment. */
export interface ServerConfig {
  listenHost: string;
  listenPort: number;
  /** Folder for the embedded database, local storage, the admin token file and TLS material. */
  dataDir: string;
  /** PostgreSQL URL; when absent the embedded PGlite database in dataDir is used. */
  databaseUrl?: string;
  /** Key file that encrypts credentials in the database (default DATA_DIR/secret-key, created when missing); every replica of one database needs the same. */
  secretKeyFile?: string;
  /** Base URL that agents and clients reach this server at (install commands, upload URLs, operation links); default: the server's own address. */
  publicUrl?: string;
  /** Build URLs from X-Forwarded-Proto/-Host and Host (a reverse proxy in front sets them); off by default: headers are the client's to choose. */
  trustProxy?: boolean;
  /** Location given to hosts enrolled without one. */
  defaultLocation: string;
  /** Subscription id used for resources created by the server itself (default storage, watchers). */
  subscriptionId: string;
  tls?: { certPath: string; keyPath: string };
  logLevel?: string;
  /** Parallel capture sessions allowed per location and subscription (Azure: 10,000). */
  sessionLimitPerLocation?: number;
  /** How long host metric samples are kept (default 7 days). */
  metricsRetentionInSeconds?: number;
  /**
   * How often agents send their host-metric samples (`--agent-metrics-batch-seconds`, issue 17):
   * announced in the welcome; agents still sample every second. Metric alert windows end this
   * long less one second before their evaluation (src/server/alerts-runtime.ts). Default {@link SERVER_DEFAULTS.agentMetricsBatchIntervalInSeconds}.
   */
  agentMetricsBatchIntervalInSeconds?: number;
  /**
   * Agent handshakes a second this replica is sized to admit in a reconnect storm (issue 17): the
   * reconnect spread its welcome announces is the connected agents divided by this
   * (src/server/reconnect-spread.ts; default 1,000: 10,000 agents spread over 10 s). Not a flag:
   * for tests and embedding.
   */
  agentAdmissionsPerSecond?: number;
  /**
   * Where the embedded PGlite database runs (issue 17 §2): `worker` (default), a worker thread of
   * its own, so that its WASM execution does not hold up the server's sockets; `server`, on the
   * server's thread (src/store/db.ts `openPglite`, the engine before 2026-12-04). Ignored with
   * databaseUrl. Not a flag: for tests and embedding.
   */
  embeddedDatabaseThread?: 'worker' | 'server';
  /** Path of tcpdump, used to check compiled filters before a capture is accepted. */
  tcpdumpPath?: string;
  /** Items per page of the lists that page with nextLink (virtual machines); default 1000. */
  listPageSizeInItems?: number;
  /** CIDRs the server may or may not connect to for webhooks, notifications and storage endpoints, beyond the built-in denials (`--outbound-deny`, `--outbound-allow`). */
  outbound?: { deny?: readonly string[]; allow?: readonly string[] };
  /** Retry-After of long-running answers to clients that wait for it (az, the Python SDK); 0 = never (default 1). */
  retryAfterInSeconds?: number;
  /** How long activity-log events are kept (`--activity-log-retention-days`, default 90). */
  activityLogRetentionInDays?: number;
  /** Single sign-on: access tokens of this OpenID Connect provider are accepted (`--oidc-issuer …`); see src/server/oidc.ts. */
  oidc?: import('./oidc-settings.js').OidcSettings;
}

/** The metric batch interval a server announces to its agents (issue 17). */
export function metricsBatchIntervalOf(config: Pick<ServerConfig, 'agentMetricsBatchIntervalInSeconds'>): number {
  return config.agentMetricsBatchIntervalInSeconds ?? SERVER_DEFAULTS.agentMetricsBatchIntervalInSeconds;
}

/** Defaults of optional settings. */
export const SERVER_DEFAULTS = {
  sessionLimitPerLocation: 10000,
  enrollmentTokenLifetimeInSeconds: 24 * 3600,
  uploadGrantLifetimeInSeconds: 15 * 60,
  defaultStorageAccountName: 'nwlocal',
  defaultResourceGroup: 'NetworkWatcherRG',
  listPageSizeInItems: 1000,
  retryAfterInSeconds: 1,
  /** 5 s: a fifth of the messages and statements of per-second reports (bench/scale), for 5 s more alert latency. */
  agentMetricsBatchIntervalInSeconds: 5,
} as const;
