import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { OutboundPolicy, createLogger, lockDataDir, selfSignedRootOf } from '../lib/index.js';
import type { AgentToServer } from '../model/index.js';
import {
  SecretBox,
  Store,
  loadOrCreateSecretKey,
  migrate,
  openPglite,
  openPgliteWorker,
  openPostgres,
  tightenDataDir,
  translateDatabaseError,
  type Db,
} from '../store/index.js';
import { AgentHub } from './agent-hub.js';
import { AgentGreetings } from './agent-greetings.js';
import { ReplicaCoordinator } from './replicas.js';
import { buildApp } from './app.js';
import { bearerToken } from './auth.js';

import { baseUrlOf, boundPort, ownBaseUrl } from './request-context.js';
import { metricsBatchIntervalOf, type ServerConfig } from './config.js';
import { ADMIN_TOKEN_FILE, AgentCredentialCache, ensureAdminToken } from './credentials.js';
import { handleAgentMessage, onAgentGone } from './services/agent-channel.js';
import { setAgentConnected } from './services/vms.js';
import { newServerMemory, type ServerContext } from './services/context.js';
import { ensureDefaultStorageAccount } from './services/storage-accounts.js';
import { createAlertsRuntime, startAlertsRuntime } from './alerts-runtime.js';
import { AgentBatchIntervals } from './metric-batch-intervals.js';
import { moveWebhookUrlsToSecrets, type MetricStore } from '../alerts/index.js';
import { outboundFetch } from '../lib/outbound-fetch.js';
import { ActivityLogStore, DEFAULT_ACTIVITY_LOG_RETENTION_IN_DAYS, startActivityLogPruner } from './activity-log.js';
import { OidcVerifier } from './oidc.js';

/** A started server. */
export interface RunningServer {
  /** Base URL it listens on. */
  url: string;
  /** Base URL other hosts and clients are told to use (--public-url, else the server's own address). */
  publicUrl?: string;
  /** The admin token (also in DATA_DIR/admin-token, mode 0600). */
  adminToken: string;
  /** Method and path pattern of the routes registered in the app's plugins (a test keeps the OpenAPI document complete with them). */
  routes?: ReadonlyArray<{ method: string; url: string }>;
  /**
   * Entries the server keeps in memory per host, by table (issue 17: each is bounded by the hosts
   * connected, or reporting within the idle retention — never every host ever seen). Agent
   * credentials are per enrolled host (a revoked one is dropped).
   */
  perHostEntries?(): PerHostEntries;
  close(): Promise<void>;
}

/** Entries kept in memory per host, by table ({@link RunningServer.perHostEntries}). */
export type PerHostEntries = {
  agentConnections: number;
  announcedWelcomes: number;
  agentCredentials: number;
} & ReturnType<AgentGreetings['perHostEntries']> &
  ReturnType<MetricStore['perHostEntries']>;

export { ADMIN_TOKEN_FILE };

/**
 * Connections the kernel may hold for accepting. Small on purpose (issue 17): a queued connection
 * must be accepted before its agent's 10 s handshake timeout even when a loaded server admits only
 * ~170–300 handshakes a second, or the server spends the storm accepting connections their agents
 * have already given up (with 4,096 queued: 1,743–3,102 of 10,000 agents back after 60 s). A SYN
 * the full queue drops costs the server nothing; the client's TCP sends it again. With 1,024:
 * 9,992 back after 60 s and a first connect of 10,000 with no handshake timeout (bench/scale).
 */
export const LISTEN_BACKLOG = 1024;

/**
 * Agent greetings (and goodbyes) whose database work runs at once, by engine; the rest wait their
 * turn in order. Concurrent greetings share their statements (src/store/batch.ts: one read of 16
 * VMs, one locked update of 16 bodies), so this is also the batch size.
 *
 * PostgreSQL, 16: bench/scale at 10,000 agents: at 8 the hellos were still being greeted minutes
 * after every agent was connected; at 64 they took the pool's 10 connections from the
 * handshakes' credential look-ups, and 22,766 handshakes timed out while connecting (225 s).
 *
 * The embedded database, 64: it has no pool to exhaust, a handshake never waits for it (its
 * credentials are cached, authoritative), and it runs one statement at a time, each costing
 * ~1–5 ms of its thread whatever its rows. At 16, the greetings were bound by their round trips
 * (each hello 4–5 statements in turn, each behind the ~30 ms metric inserts in the one queue):
 * 10,000 hellos took ~35 s after the connect with the worker thread 40 % idle (bench/scale).
 */
export const AGENT_GREETINGS_AT_ONCE = { postgres: 16, pglite: 64 } as const satisfies Record<Db['engine'], number>;

/** How long a stop waits for the agent greetings and goodbyes under way (at most 16 or 64, each a few statements). */
const AGENT_WORK_AT_STOP_TIMEOUT_IN_MS = 10_000;
/**
 * How long the goodbye of a connection cut without a close frame waits before the host is
 * recorded disconnected (AgentGreetings.goodbye): the agent's longest back-off (5 s) and a
 * handshake under load. An agent back within it costs no database work and its host never shows
 * disconnected; a host that is really gone shows so this much later. A host told a reconnect
 * spread (src/server/reconnect-spread.ts: 10 s for 10,000 agents) is given that spread and 5 s
 * for its handshake, if longer: a fleet that comes back as asked never shows disconnected.
 */
const AGENT_GOODBYE_GRACE_IN_MS = 10_000;
const AGENT_GOODBYE_GRACE_AFTER_SPREAD_IN_MS = 5_000;

/** Server settings that are secrets (sealed in the database). */
const SECRET_SETTINGS = ['signing-key'] as const;

/**
 * Starts the control plane: database (PGlite in the data folder, or PostgreSQL), migrations,
 * the default local storage account, the HTTP API and the agent channel.
 * @example
 * const server = await startServer({ listenHost: '127.0.0.1', listenPort: 8817, dataDir: './nw-data' });
 * console.log(server.url, server.adminToken);
 * await server.close();
 */
export async function startServer(config: ServerConfig): Promise<RunningServer> {
  // A bad CIDR stops the start before anything is opened (OutboundPolicyConfigError names it).
  const outboundPolicy = OutboundPolicy.fromSettings(config.outbound ?? {});
  mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  // Before the database opens: a second process on the same embedded database corrupts it.
  let lock: ReturnType<typeof lockDataDir>;
  try {
    lock = lockDataDir(config.dataDir);
  } catch (error) {
    // A full disk is said as such here too (the lock is the first file a start writes).
    if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') throw error;
    throw new Error(
      `netwatcher server cannot start: the disk under ${config.dataDir} is full (${(error as Error).message}). Free space there and retry.`,
      { cause: error },
    );
  }
  const cleanups: Array<() => Promise<void>> = [async () => lock.release()];
  const cleanUp = async () => {
    for (const step of cleanups.reverse()) await step().catch(() => undefined);
  };
  try {
    return await startLocked(config, outboundPolicy, lock, cleanups, cleanUp);
  } catch (error) {
    // A failed start leaves nothing open (an open database or timer would keep the process alive: no hang).
    await cleanUp();
    throw error;
  }
}

async function startLocked(
  config: ServerConfig,
  outboundPolicy: OutboundPolicy,
  lock: ReturnType<typeof lockDataDir>,
  cleanups: Array<() => Promise<void>>,
  cleanUp: () => Promise<void>,
): Promise<RunningServer> {
  // Opening and migrating a database takes seconds; a busy port should be said at once.
  await probePort(config.listenHost, config.listenPort);
  const logger = createLogger({ name: 'nw-server', level: config.logLevel });
  // The data folder holds the database, the keys and local blobs: owner-only, whatever it was.
  const tightened = tightenDataDir(config.dataDir);
  if (tightened > 0)
    logger.warn(
      { dataDir: config.dataDir, entries: tightened },
      'the data folder was readable or writable by others: made owner-only',
    );
  const secretKey = loadOrCreateSecretKey(config.dataDir, config.secretKeyFile);
  if (secretKey.created)
    logger.warn(
      { file: secretKey.file },
      'created the secret key that encrypts credentials in the database: back it up (without it they cannot be read)',
    );
  let db: Awaited<ReturnType<typeof openPglite>>;
  try {
    db = config.databaseUrl
      ? await openPostgres(config.databaseUrl)
      : config.embeddedDatabaseThread === 'server'
        ? await openPglite(join(config.dataDir, 'db'))
        : await openPgliteWorker(join(config.dataDir, 'db'));
  } catch (error) {
    const reason = (translateDatabaseError(error, config.databaseUrl ? null : join(config.dataDir, 'db')) as Error)
      .message;
    logger.error({ err: error }, `cannot open the database: ${reason}`);
    throw new Error(`netwatcher server cannot start: ${reason}`, { cause: error });
  }
  cleanups.push(() => db.close());
  try {
    await migrate(db);
  } catch (error) {
    const reason = (translateDatabaseError(error, config.databaseUrl ? null : join(config.dataDir, 'db')) as Error)
      .message;
    logger.error({ err: error }, `cannot prepare the database: ${reason}`);
    throw new Error(`netwatcher server cannot start: ${reason}`, { cause: error });
  }
  // PGlite creates its files with the process umask (0644 and 0755): tighten them once they exist.
  if (db.engine === 'pglite') tightenDataDir(join(config.dataDir, 'db'));
  const store = new Store(db, new SecretBox(secretKey.key));
  try {
    const sealed = (await store.sealPlaintextSecrets(SECRET_SETTINGS)) + (await moveWebhookUrlsToSecrets(store));
    if (sealed > 0) {
      logger.info({ rows: sealed }, 'encrypted credentials stored in plain text by an earlier version');
      // Rewrites the tables so the old plaintext row versions are gone from their files.
      await db.query('VACUUM FULL resources');
      await db.query('VACUUM FULL server_settings');
    }
  } catch (error) {
    throw new Error(`${(error as Error).message} (secret key file: ${secretKey.file}; docs/security.md)`, {
      cause: error,
    });
  }
  const signingKey = Buffer.from(
    await store.getOrCreateSecretSetting('signing-key', () => randomBytes(32).toString('base64')),
    'base64',
  );
  // With the embedded database this process is the only server, so connections recorded by an
  // earlier run are stale. On PostgreSQL other replicas may hold live connections: leave them.
  if (db.engine === 'pglite') await store.markAllAgentsDisconnected();

  const adminToken = await ensureAdminToken(store, config.dataDir, logger);

  // A self-signed certificate (or chain ending in a self-signed root) is handed to agents pinned by its SHA-256.
  const tlsCa = config.tls ? selfSignedRootOf(readFileSync(config.tls.certPath, 'utf8')) : null;
  let httpServer: Server | null = null;
  // The server's composition root: every table and runtime it keeps for its lifetime is a field
  // of this one context, made here (the hub and the replica coordinator follow below).
  const ctx = {
    config: { ...config },
    store,
    logger,
    signingKey,
    tlsCa,
    outboundPolicy,
    urlPolicy: {
      publicUrl: config.publicUrl,
      trustProxy: config.trustProxy,
      tls: Boolean(config.tls),
      listenHost: config.listenHost,
      port: () => (httpServer ? boundPort(httpServer) : 0),
    },
    memory: newServerMemory(),
    activityLog: new ActivityLogStore(db),
  } as ServerContext;
  ctx.batchIntervals = new AgentBatchIntervals(ctx);
  // Links in alerts name the server's own address once it listens (when no public URL is set).
  let listeningUrl = 'http://localhost';
  ctx.alerts = createAlertsRuntime(ctx, () => listeningUrl);
  // The identity provider is fetched from through the outbound policy, like every fetch the server makes.
  if (config.oidc) ctx.oidc = new OidcVerifier(config.oidc, outboundFetch(outboundPolicy));
  // Admission of a reconnecting fleet is cheap: credentials seen recently need no database read,
  // and the database work of greeting agents (hello: the host's state and reconciliation) and of
  // recording them gone runs a few at a time, so a storm of 10,000 never queues ahead of API calls
  // and handshakes. Other agent messages (metrics above all) are not held.
  // On the embedded database every revocation passes through this process: its cache is the
  // truth, primed at start, so a handshake never waits for the database (which runs on this
  // thread, behind metric batches and greetings).
  const agentCredentials = new AgentCredentialCache(store, { authoritative: db.engine === 'pglite' });
  if (db.engine === 'pglite') await agentCredentials.prime();
  const greetings = new AgentGreetings(AGENT_GREETINGS_AT_ONCE[db.engine], (vmKey) => ctx.hub.isConnected(vmKey));
  ctx.hub = new AgentHub(logger, {
    authenticate: async (request) => {
      const token = bearerToken(request);
      if (!token) return null;
      const info = await agentCredentials.verify(token);
      if (!info || info.kind !== 'agent' || !info.vmKey) return null;
      // Upload URLs for this agent follow the same rule as every other URL the server builds.
      return {
        vmKey: info.vmKey,
        baseUrl: baseUrlOf(
          request.headers,
          Boolean((request.socket as { encrypted?: boolean }).encrypted),
          ctx.urlPolicy,
        ),
        credentialId: info.id,
      };
    },
    validCredentials: (ids) => store.liveTokenIds(ids),
    onMessage: async (identity, msg: AgentToServer) => {
      if (msg.type !== 'hello') return handleAgentMessage(ctx, identity.vmKey, identity.baseUrl, msg);
      // Hellos take turns (bounded database work per handshake in a reconnect storm). The lease
      // comes first: from the hello on, orders for this host from any replica come here.
      return greetings.hello(identity.vmKey, async () => {
        await replicas.hostConnected(identity.vmKey);
        await handleAgentMessage(ctx, identity.vmKey, identity.baseUrl, msg);
      });
    },
    // Only a host recorded connected is recorded away, and not while a newer connection of it is
    // open here (agent-greetings.ts); nor one that already reconnected through another replica.
    // A connection cut without a close frame waits out a grace first: an agent back by then
    // (a reconnect storm) costs nothing, and its host never shows disconnected.
    onDisconnect: async (identity, how) => {
      const spreadInSeconds = ctx.batchIntervals.spreadToldTo(identity.vmKey) ?? 0;
      ctx.batchIntervals.disconnected(identity.vmKey);
      await greetings.goodbye(
        identity.vmKey,
        async () => {
          if (await replicas.hostDisconnected(identity.vmKey)) await onAgentGone(ctx, identity.vmKey);
        },
        how?.abrupt
          ? Math.max(AGENT_GOODBYE_GRACE_IN_MS, spreadInSeconds * 1000 + AGENT_GOODBYE_GRACE_AFTER_SPREAD_IN_MS)
          : 0,
      );
    },
  });
  const replicas = new ReplicaCoordinator(
    db,
    ctx.hub,
    logger,
    {
      // Thousands at once when a replica stops or dies: through the greetings' limit, so they share
      // statements instead of running one host after another (minutes for 10,000).
      onHostsGone: async (vmKeys) => {
        await Promise.all(
          vmKeys.map((vmKey) =>
            // In the host's turn, and only if its agent is not back (here or through another replica) by then.
            greetings.forHost(vmKey, async () => {
              try {
                if (!(await replicas.connectedAnywhere(vmKey))) await onAgentGone(ctx, vmKey);
              } catch (error) {
                logger.error({ err: error, vm: vmKey }, 'recording an agent disconnect failed');
              }
            }),
          ),
        );
      },
      onHostsBack: async (vmKeys) => {
        await Promise.all(
          vmKeys.map((vmKey) =>
            greetings.forHost(vmKey, () =>
              setAgentConnected(ctx, vmKey, true).catch((error: unknown) =>
                logger.error({ err: error, vm: vmKey }, 'recording an agent connection failed'),
              ),
            ),
          ),
        );
      },
      localStorageRoots: async () =>
        (await store.listResources('storageAccount'))
          .map((a) => a.secret as { type?: string; rootDir?: string } | null | undefined)
          .flatMap((secret) => (secret?.type === 'local' && secret.rootDir ? [secret.rootDir] : [])),
    },
    {},
    // A split batch interval would silently change alert timing: a replica started with another
    // value than the live ones refuses to start (ReplicaSettingsMismatchError, docs/deploy.md).
    { '--agent-metrics-batch-seconds': metricsBatchIntervalOf(config) },
  );
  ctx.replicas = replicas;
  await ensureDefaultStorageAccount(ctx);
  await replicas.start();

  const app = buildApp(ctx);
  // Cleanups run in reverse: greetings stop first (no hello or goodbye starts any more), then the
  // hub closes every agent connection, then the app; once the turns under way are over, the
  // replica's heartbeat is expired (its leases left to a live replica's sweep, or the next start)
  // and one line says how many goodbyes were left to them.
  cleanups.push(async () => {
    const unrecorded = await greetings.settled(AGENT_WORK_AT_STOP_TIMEOUT_IN_MS);
    await replicas.close();
    if (unrecorded.length > 0)
      logger.info(
        { hosts: unrecorded.length },
        db.engine === 'pglite'
          ? 'agents that left just before the stop are not recorded disconnected now: the next start records them'
          : "agents that left just before the stop are not recorded disconnected now: this replica's leases expire, and a live replica's next sweep (or the next start) records them",
      );
  });
  cleanups.push(() => app.close());
  cleanups.push(() => ctx.hub.close());
  httpServer = app.server as Server;
  cleanups.push(async () => greetings.stop());
  // Plugins register their routes when the app starts, after this hook is in place.
  const routes: Array<{ method: string; url: string }> = [];
  app.addHook('onRoute', (route) => {
    for (const method of [route.method].flat()) routes.push({ method: String(method), url: route.url });
  });
  ctx.hub.attach(app.server as Server);
  try {
    // A deep accept queue (Node's default is 511): when thousands of agents reconnect at once, a
    // full queue makes the kernel drop handshakes that then fail with ECONNRESET and retry.
    await app.listen({ host: config.listenHost, port: config.listenPort, backlog: LISTEN_BACKLOG });
  } catch (error) {
    throw listenError(error, config.listenHost, config.listenPort);
  }
  const address = app.server.address() as AddressInfo;
  const host = config.listenHost.includes(':') ? `[${config.listenHost}]` : config.listenHost;
  const url = `${config.tls ? 'https' : 'http'}://${host === '0.0.0.0' ? '127.0.0.1' : host}:${address.port}`;
  const publicUrl = config.publicUrl ? config.publicUrl.replace(/\/+$/, '') : ownBaseUrl(ctx.urlPolicy);
  lock.setUrl(publicUrl);
  logger.info({ url, publicUrl, database: db.engine, replica: replicas.replicaId }, 'server listening');
  listeningUrl = url;
  const alerts = startAlertsRuntime(ctx);
  cleanups.push(() => alerts.close());
  // Rules changed through other replicas reach this one's agents' batch intervals by a poll.
  ctx.batchIntervals.start();
  cleanups.push(() => ctx.batchIntervals.close());
  const pruner = startActivityLogPruner(
    ctx.activityLog,
    config.activityLogRetentionInDays ?? DEFAULT_ACTIVITY_LOG_RETENTION_IN_DAYS,
    logger,
  );
  cleanups.push(() => pruner.close());
  return {
    url,
    publicUrl,
    adminToken,
    routes,
    perHostEntries: () => ({
      agentConnections: ctx.hub.connectedCount,
      announcedWelcomes: ctx.batchIntervals.announcedCount,
      ...greetings.perHostEntries(),
      agentCredentials: agentCredentials.size,
      ...ctx.alerts.metrics.perHostEntries(),
    }),
    close: cleanUp,
  };
}

/** Fails like listen would if the address cannot be bound now (port 0 always can). */
async function probePort(host: string, port: number): Promise<void> {
  if (port === 0) return;
  const probe = createNetServer();
  try {
    await new Promise<void>((resolve, reject) => {
      probe.once('error', reject);
      probe.listen({ host, port, exclusive: true }, () => resolve());
    });
  } catch (error) {
    throw listenError(error, host, port);
  } finally {
    await new Promise<void>((resolve) => probe.close(() => resolve()));
  }
}

/** A listen failure as the operator should read it (EADDRINUSE alone says neither which port nor what to do). */
function listenError(error: unknown, host: string, port: number): Error {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'EADDRINUSE')
    return new Error(
      `port ${port} on ${host} is already in use (EADDRINUSE: another netwatcher, or another program); stop it or choose another address with --listen HOST:PORT`,
    );
  if (code === 'EACCES')
    return new Error(
      `not allowed to listen on ${host}:${port} (ports below 1024 need root or CAP_NET_BIND_SERVICE); choose another with --listen HOST:PORT`,
    );
  if (code === 'EADDRNOTAVAIL')
    return new Error(`cannot listen on ${host}:${port}: no interface of this host has address ${host}`);
  return error instanceof Error ? error : new Error(String(error));
}
