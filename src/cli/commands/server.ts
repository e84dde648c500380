import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { DEFAULT_SUBSCRIPTION_ID } from '../config.js';
import { writeLine, type CliContext } from '../context.js';
import { assertDataDirFree, certificateNames, ensureSelfSignedCertificate } from '../../lib/index.js';
import { UsageError } from '../errors.js';
import { AGENT_METRICS_BATCH_INTERVAL_LIMITS } from '../../model/index.js';
import { validateOidcSettings, type OidcSettings } from '../../server/oidc-settings.js';
import { parseListenOption, parseOutboundOptions, parsePublicUrlOption } from '../option-values.js';
import { loadServiceStarters, waitForAbort, type ServiceStarters } from '../services.js';
import {
  defineCommand,
  type Declaration,
  type OptionDeclaration,
  type OptionTable,
  type OptionValues,
} from '../command-declaration.js';

/** Default address of `nw server` and `nw up`. */
export const DEFAULT_LISTEN = '127.0.0.1:8817';

/**
 * `--database-url`, bound to NW_DATABASE_URL on the option itself (commander reads a variable only
 * for an option that declares it): `nw server`, `nw server rotate-admin-token` and `nw up`.
 */
export const DATABASE_URL_OPTION = {
  flags: '--database-url <url>',
  description: 'PostgreSQL URL (default: embedded database in the data folder)',
  env: 'NW_DATABASE_URL',
} as const satisfies OptionDeclaration;

/** Default data folder (`~/.netwatcher`). */
export function defaultDataDir(): string {
  return join(homedir(), '.netwatcher');
}

/** The flags of `nw server`. */
export const SERVER_OPTIONS = {
  listen: { flags: '--listen <host:port>', description: 'address to listen on', default: DEFAULT_LISTEN },
  dataDir: { flags: '--data-dir <dir>', description: 'data folder (default ~/.netwatcher)' },
  databaseUrl: DATABASE_URL_OPTION,
  publicUrl: {
    flags: '--public-url <url>',
    description:
      "URL agents and clients reach this server at: operation links, storagePath and install commands start with it (default: the listen address; for 0.0.0.0, this host's name)",
  },
  trustProxy: {
    flags: '--trust-proxy',
    description:
      'behind a reverse proxy: build those URLs from X-Forwarded-Proto/-Host and Host (never trusted otherwise)',
  },
  location: {
    flags: '-l, --location <location>',
    description: 'location of hosts enrolled without one',
    default: 'local',
  },
  tlsCert: { flags: '--tls-cert <file>', description: 'TLS certificate (PEM)' },
  tlsKey: { flags: '--tls-key <file>', description: 'TLS private key (PEM)' },
  logLevel: { flags: '--log-level <level>', description: 'log level (info, debug, warn …)' },
  subscription: { flags: '--subscription <id>', description: "subscription id of the server's own resources" },
  sessionLimit: {
    flags: '--session-limit <count>',
    description: 'parallel capture sessions allowed per location and subscription (default 10000)',
  },
  tlsSelfSigned: {
    flags: '--tls-self-signed',
    description: 'serve https with a self-signed certificate for this host, kept in DATA_DIR/tls/',
  },
  metricsRetentionDays: {
    flags: '--metrics-retention-days <days>',
    description: 'how long host metrics are kept (default 7)',
  },
  agentMetricsBatchSeconds: {
    flags: '--agent-metrics-batch-seconds <seconds>',
    description:
      'agents send their per-second host-metric samples every this many seconds, 1-30 (default 5; metric alerts see a sample up to this much later)',
  },
  secretKeyFile: {
    flags: '--secret-key-file <file>',
    description:
      'key that encrypts credentials in the database (default DATA_DIR/secret-key; the same file on every replica)',
    env: 'NW_SECRET_KEY_FILE',
  },
  outboundDeny: {
    flags: '--outbound-deny <cidr>',
    description:
      'never connect to this range for webhooks, notifications or storage endpoints (repeatable; link-local and cloud metadata are always denied unless allowed)',
    repeatable: true,
  },
  outboundAllow: {
    flags: '--outbound-allow <cidr>',
    description: 'allow this range even inside a denied one (repeatable; the most specific range wins)',
    repeatable: true,
  },
  retryAfter: {
    flags: '--retry-after <seconds>',
    description: 'Retry-After of long-running answers for az and the Python SDK (0 = never; default 1)',
  },
  activityLogRetentionDays: {
    flags: '--activity-log-retention-days <days>',
    description: 'how long activity-log events (changes, refusals, packet reads) are kept (default 90)',
  },
  oidcIssuer: {
    flags: '--oidc-issuer <url>',
    description:
      "single sign-on: accept access tokens of this OpenID Connect provider (its issuer URL, exactly as in its tokens' iss)",
  },
  oidcAudience: {
    flags: '--oidc-audience <aud>',
    description: "the audience (aud) the provider's access tokens for this API carry (required with --oidc-issuer)",
  },
  oidcClientId: {
    flags: '--oidc-client-id <id>',
    description:
      "the portal's client id at the provider: users sign in to the portal through it (authorization code with PKCE)",
  },
  oidcGroupsClaim: {
    flags: '--oidc-groups-claim <claim>',
    description: "claim that lists the user's groups (default groups)",
  },
} as const satisfies OptionTable;

/** Options of `nw server`. */
export type ServerCommandOptions = OptionValues<typeof SERVER_OPTIONS>;

/** The single sign-on flags as server settings; undefined without --oidc-issuer. */
function oidcOptions(options: ServerCommandOptions): OidcSettings | undefined {
  if (!options.oidcIssuer) {
    const stray = (['oidcAudience', 'oidcClientId', 'oidcGroupsClaim'] as const).find((k) => options[k] !== undefined);
    if (stray)
      throw new UsageError(
        `usage error: --${stray.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} needs --oidc-issuer URL`,
      );
    return undefined;
  }
  if (!options.oidcAudience)
    throw new UsageError(
      'usage error: --oidc-issuer URL --oidc-audience AUD (the audience is required: without it any token of the provider would do)',
    );
  const settings: OidcSettings = {
    issuer: options.oidcIssuer,
    audience: options.oidcAudience,
    ...(options.oidcClientId ? { clientId: options.oidcClientId } : {}),
    ...(options.oidcGroupsClaim ? { groupsClaim: options.oidcGroupsClaim } : {}),
  };
  try {
    return validateOidcSettings(settings);
  } catch (error) {
    throw new UsageError(`usage error: ${(error as Error).message}`);
  }
}

/**
 * `nw server`: runs the control plane until `stop` aborts (SIGINT/SIGTERM in main.ts), then
 * closes it cleanly.
 * @example await runServer({ listen: '0.0.0.0:8817', dataDir: '/var/lib/netwatcher' }, ctx, controller.signal);
 */
export async function runServer(
  options: ServerCommandOptions,
  ctx: CliContext,
  stop: AbortSignal,
  starters?: ServiceStarters,
): Promise<void> {
  const { host, port } = parseListenOption(options.listen ?? DEFAULT_LISTEN);
  if (Boolean(options.tlsCert) !== Boolean(options.tlsKey))
    throw new UsageError('usage error: --tls-cert FILE --tls-key FILE (give both or neither)');
  if (options.tlsSelfSigned && options.tlsCert)
    throw new UsageError('usage error: --tls-self-signed | --tls-cert FILE --tls-key FILE (not both)');
  const dataDir = resolve(options.dataDir ?? defaultDataDir());
  const sessionLimit = options.sessionLimit === undefined ? undefined : Number(options.sessionLimit);
  if (sessionLimit !== undefined && (!Number.isInteger(sessionLimit) || sessionLimit < 1))
    throw new UsageError(`usage error: --session-limit must be a positive whole number, not '${options.sessionLimit}'`);
  const retentionDays = options.metricsRetentionDays === undefined ? undefined : Number(options.metricsRetentionDays);
  if (retentionDays !== undefined && (!Number.isFinite(retentionDays) || retentionDays <= 0 || retentionDays > 3650))
    throw new UsageError(
      `usage error: --metrics-retention-days must be a number of days from 0 to 3650, not '${options.metricsRetentionDays}'`,
    );
  const batchSeconds =
    options.agentMetricsBatchSeconds === undefined ? undefined : Number(options.agentMetricsBatchSeconds);
  const { minSeconds, maxSeconds } = AGENT_METRICS_BATCH_INTERVAL_LIMITS;
  if (
    batchSeconds !== undefined &&
    (!Number.isInteger(batchSeconds) || batchSeconds < minSeconds || batchSeconds > maxSeconds)
  )
    throw new UsageError(
      `usage error: --agent-metrics-batch-seconds must be a whole number of seconds from ${minSeconds} to ${maxSeconds}, not '${options.agentMetricsBatchSeconds}'`,
    );
  const outbound = parseOutboundOptions(options.outboundDeny, options.outboundAllow);
  const publicUrl = options.publicUrl === undefined ? undefined : parsePublicUrlOption(options.publicUrl);
  const retryAfter = options.retryAfter === undefined ? undefined : Number(options.retryAfter);
  if (retryAfter !== undefined && (!Number.isInteger(retryAfter) || retryAfter < 0 || retryAfter > 60))
    throw new UsageError(
      `usage error: --retry-after must be a whole number of seconds from 0 to 60, not '${options.retryAfter}'`,
    );
  const activityDays =
    options.activityLogRetentionDays === undefined ? undefined : Number(options.activityLogRetentionDays);
  if (activityDays !== undefined && (!Number.isFinite(activityDays) || activityDays <= 0 || activityDays > 3650))
    throw new UsageError(
      `usage error: --activity-log-retention-days must be a number of days above 0, at most 3650, not '${options.activityLogRetentionDays}'`,
    );
  const oidc = oidcOptions(options);
  const services = starters ?? (await loadServiceStarters());
  // Refuse before writing anything into a folder a running server uses (the server takes the lock itself).
  assertDataDirFree(dataDir);
  const selfSigned = options.tlsSelfSigned
    ? ensureSelfSignedCertificate(join(dataDir, 'tls'), [
        ...certificateNames(host),
        ...(publicUrl ? [new URL(publicUrl).hostname.replace(/^\[|\]$/g, '')] : []),
      ])
    : undefined;
  const server = await services.startServer({
    listenHost: host,
    listenPort: port,
    dataDir,
    defaultLocation: options.location ?? 'local',
    subscriptionId: options.subscription ?? DEFAULT_SUBSCRIPTION_ID,
    ...(options.databaseUrl ? { databaseUrl: options.databaseUrl } : {}),
    ...(options.secretKeyFile ? { secretKeyFile: resolve(options.secretKeyFile) } : {}),
    ...(publicUrl ? { publicUrl } : {}),
    ...(options.trustProxy ? { trustProxy: true } : {}),
    ...(options.tlsCert && options.tlsKey
      ? { tls: { certPath: resolve(options.tlsCert), keyPath: resolve(options.tlsKey) } }
      : {}),
    ...(selfSigned ? { tls: { certPath: selfSigned.certPath, keyPath: selfSigned.keyPath } } : {}),
    ...(options.logLevel ? { logLevel: options.logLevel } : {}),
    ...(sessionLimit !== undefined ? { sessionLimitPerLocation: sessionLimit } : {}),
    ...(retentionDays !== undefined ? { metricsRetentionInSeconds: Math.round(retentionDays * 86400) } : {}),
    ...(batchSeconds !== undefined ? { agentMetricsBatchIntervalInSeconds: batchSeconds } : {}),
    ...(outbound ? { outbound } : {}),
    ...(retryAfter !== undefined ? { retryAfterInSeconds: retryAfter } : {}),
    ...(activityDays !== undefined ? { activityLogRetentionInDays: activityDays } : {}),
    ...(oidc ? { oidc } : {}),
  });
  const tokenFile = join(dataDir, services.adminTokenFile);
  writeLine(ctx.out, `netwatcher server listening on ${server.url}`);
  if (server.publicUrl && server.publicUrl !== server.url)
    writeLine(
      ctx.out,
      `other hosts and clients: ${server.publicUrl}${publicUrl || options.trustProxy ? '' : ' (set --public-url to the URL they reach this server at)'}`,
    );
  if (selfSigned)
    writeLine(
      ctx.out,
      `TLS: self-signed certificate ${selfSigned.certPath} (SHA-256 ${selfSigned.sha256}); clients: nw login --ca-file ${selfSigned.certPath}`,
    );
  writeLine(ctx.out, `admin token: ${tokenFile}`);
  writeLine(ctx.out, `web portal: ${server.publicUrl ?? server.url}/ (sign in with the admin token)`);
  writeLine(
    ctx.out,
    `log in from a client with: nw login --server ${server.publicUrl ?? server.url} --token "$(cat ${tokenFile})"`,
  );
  await waitForAbort(stop);
  writeLine(ctx.out, 'stopping server…');
  await server.close();
  writeLine(ctx.out, 'server stopped');
}

/** The commands of this file, in help order. */
export const SERVER_COMMANDS: readonly Declaration[] = [
  defineCommand({
    path: ['server'],
    description: 'run the netwatcher server (control plane) until Ctrl-C',
    examples: [
      'nw server --listen 0.0.0.0:8817 --data-dir /var/lib/netwatcher --tls-cert cert.pem --tls-key key.pem',
      'nw server --oidc-issuer https://login.example.com/realms/ops --oidc-audience api://netwatcher --oidc-client-id netwatcher-portal',
      'NW_DATABASE_URL=postgres://nw@db/netwatcher nw server --listen 0.0.0.0:8817 --data-dir /var/lib/netwatcher',
    ],
    commonOptions: false,
    service: true,
    worksWithoutConfig: true,
    options: SERVER_OPTIONS,
    run: (o, { ctx, stop, starters }) => runServer(o, ctx, stop, starters),
  }),
];
