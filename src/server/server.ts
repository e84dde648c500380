import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { createLogger, selfSignedRootOf } from '../lib/index.js';
import type { AgentToServer } from '../model/index.js';
import { Store, migrate, openPglite, openPostgres } from '../store/index.js';
import { AgentHub } from './agent-hub.js';
import { buildApp } from './app.js';
import { bearerToken } from './auth.js';
import type { ServerConfig } from './config.js';
import { handleAgentMessage, onAgentGone } from './services/agent-channel.js';
import type { ServerContext } from './services/context.js';
import { ensureDefaultStorageAccount } from './services/storage-accounts.js';
import { startAlertsRuntime } from './routes/alerts-runtime.js';

/** A started server. */
export interface RunningServer {
  /** Base URL it listens on. */
  url: string;
  /** The admin token (also in DATA_DIR/admin-token, mode 0600). */
  adminToken: string;
  /** Method and path pattern of the routes registered in the app's plugins (a test keeps the OpenAPI document complete with them). */
  routes?: ReadonlyArray<{ method: string; url: string }>;
  close(): Promise<void>;
}

/** File in the data folder that holds the admin token for the local operator (`nw up` copies it into the CLI config). */
export const ADMIN_TOKEN_FILE = 'admin-token';

/**
 * Starts the control plane: database (PGlite in the data folder, or PostgreSQL), migrations,
 * the default local storage account, the HTTP API and the agent channel.
 */
export async function startServer(config: ServerConfig): Promise<RunningServer> {
  mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  const logger = createLogger({ name: 'nw-server', level: config.logLevel });
  const db = config.databaseUrl ? await openPostgres(config.databaseUrl) : await openPglite(join(config.dataDir, 'db'));
  await migrate(db);
  const store = new Store(db);
  const signingKey = Buffer.from(await store.getOrCreateSetting('signing-key', () => randomBytes(32).toString('base64')), 'base64');
  // With the embedded database this process is the only server, so connections recorded by an
  // earlier run are stale. On PostgreSQL other replicas may hold live connections: leave them.
  if (db.engine === 'pglite') await store.markAllAgentsDisconnected();

  const tokenFile = join(config.dataDir, ADMIN_TOKEN_FILE);
  let adminToken: string;
  if (existsSync(tokenFile)) {
    adminToken = readFileSync(tokenFile, 'utf8').trim();
    await store.issueToken('admin', { token: adminToken });
  } else {
    adminToken = (await store.issueToken('admin')).token;
    writeFileSync(tokenFile, `${adminToken}\n`, { mode: 0o600 });
    chmodSync(tokenFile, 0o600);
  }

  // A self-signed certificate (or chain ending in a self-signed root) is handed to agents pinned by its SHA-256.
  const tlsCa = config.tls ? selfSignedRootOf(readFileSync(config.tls.certPath, 'utf8')) : null;
  const ctx = { config: { ...config }, store, logger, signingKey, tlsCa } as ServerContext;
  ctx.hub = new AgentHub(logger, {
    authenticate: async (request) => {
      const token = bearerToken({ headers: request.headers } as never);
      if (!token) return null;
      const info = await store.verifyToken(token);
      if (!info || info.kind !== 'agent' || !info.vmKey) return null;
      const proto = (request.socket as { encrypted?: boolean }).encrypted ? 'https' : 'http';
      return { vmKey: info.vmKey, baseUrl: `${proto}://${request.headers.host ?? 'localhost'}` };
    },
    onMessage: (identity, msg: AgentToServer) => handleAgentMessage(ctx, identity.vmKey, identity.baseUrl, msg),
    onDisconnect: (identity) => onAgentGone(ctx, identity.vmKey),
  });
  await ensureDefaultStorageAccount(ctx);

  const app = buildApp(ctx);
  // Plugins register their routes when the app starts, after this hook is in place.
  const routes: Array<{ method: string; url: string }> = [];
  app.addHook('onRoute', (route) => {
    for (const method of [route.method].flat()) routes.push({ method: String(method), url: route.url });
  });
  ctx.hub.attach(app.server as Server);
  await app.listen({ host: config.listenHost, port: config.listenPort });
  const address = app.server.address() as AddressInfo;
  const host = config.listenHost.includes(':') ? `[${config.listenHost}]` : config.listenHost;
  const url = `${config.tls ? 'https' : 'http'}://${host === '0.0.0.0' ? '127.0.0.1' : host}:${address.port}`;
  logger.info({ url, database: db.engine }, 'server listening');
  const alerts = startAlertsRuntime(ctx, url);
  return {
    url,
    adminToken,
    routes,
    async close() {
      await alerts.close();
      await ctx.hub.close();
      await app.close();
      await db.close();
    },
  };
}
