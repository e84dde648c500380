import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { RunningAgent } from '../../agent/index.js';
import type { RunningServer } from '../../server/index.js';
import { assertDataDirFree, certificateNames, ensureSelfSignedCertificate } from '../../lib/index.js';
import { AGENT_EXTENSION } from '../../model/index.js';
import { ArmClient } from '../arm-client.js';
import { createCaFetch } from '../ca-fetch.js';
import { vmExtensionPath, vmPath, watcherListPath, watcherPath } from '../arm-paths.js';
import { DEFAULT_SUBSCRIPTION_ID, saveCliConfig } from '../config.js';
import { writeLine, type CliContext } from '../context.js';
import { CliError, UsageError } from '../errors.js';
import { isLoopbackHost, parseListenOption, parseOutboundOptions, parsePublicUrlOption } from '../option-values.js';
import { loadServiceStarters, waitForAbort, type ServiceStarters } from '../services.js';
import { listValue } from '../shape.js';
import { DATABASE_URL_OPTION, DEFAULT_LISTEN, defaultDataDir } from './server.js';
import { azRecipeLines } from './az-recipe.js';
import { CAPTURE_PROGRAM_OPTION, parseCaptureProgramOption } from './agent.js';
import { defineCommand, type Declaration, type OptionTable, type OptionValues } from '../command-declaration.js';

/** The flags of `nw up`. */
export const UP_OPTIONS = {
  dataDir: { flags: '--data-dir <dir>', description: 'data folder (default ~/.netwatcher)' },
  listen: { flags: '--listen <host:port>', description: 'address to listen on', default: DEFAULT_LISTEN },
  location: { flags: '-l, --location <location>', description: 'location of this host', default: 'local' },
  vmName: { flags: '--vm-name <name>', description: "this host's VM name (default: the host name)" },
  resourceGroup: {
    flags: '-g, --resource-group <rg>',
    description: "this host's resource group",
    default: 'netwatcher-local',
  },
  interface: { flags: '--interface <name>', description: 'interface to capture on (default any)' },
  captureRoot: {
    flags: '--capture-root <dir>',
    description: 'folder local capture files live under (default /var/captures)',
  },
  tls: {
    flags: '--tls',
    description:
      'serve https with a self-signed certificate for this host, kept in DATA_DIR/tls/ (the CLI config trusts it); the default when listening beyond loopback',
  },
  noTls: { flags: '--no-tls', description: 'serve plain http even when listening beyond loopback' },
  publicUrl: {
    flags: '--public-url <url>',
    description:
      'URL other hosts reach this server at (install commands and links start with it; its host goes into the certificate)',
  },
  trustProxy: {
    flags: '--trust-proxy',
    description: 'behind a reverse proxy: build URLs from X-Forwarded-Proto/-Host and Host (never trusted otherwise)',
  },
  databaseUrl: DATABASE_URL_OPTION,
  logLevel: { flags: '--log-level <level>', description: 'log level' },
  captureProgram: CAPTURE_PROGRAM_OPTION,
  outboundDeny: {
    flags: '--outbound-deny <cidr>',
    description: 'never connect to this range for webhooks, notifications or storage endpoints (repeatable)',
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
} as const satisfies OptionTable;

/** Options of `nw up`. */
export type UpOptions = OptionValues<typeof UP_OPTIONS> & {
  /** How long to wait for the agent to connect before saying so (default 20 s; tests shorten it). */
  agentConnectTimeoutInMs?: number;
};

/** What `nw up` started (returned once it has stopped, for tests). */
export interface UpResult {
  url: string;
  vmName: string;
  resourceGroup: string;
  location: string;
  /** Whether this run enrolled the agent (false: it reused the saved credential). */
  enrolled: boolean;
}

/** A VM name from the host name: its first label, with characters ARM names refuse replaced. */
export function vmNameFromHostname(name: string): string {
  const first = name.split('.')[0] ?? name;
  const cleaned = first.replace(/[^A-Za-z0-9_.-]/g, '-').slice(0, 64);
  return cleaned.length > 0 ? cleaned : 'localhost';
}

/**
 * `nw up`: the newcomer's first command. Starts the server (embedded database and local storage
 * in DIR), registers this host as a VM by installing the agent extension, starts the agent
 * in-process (enrolling with the one-time token, or reusing the credential saved in DIR/agent),
 * writes the CLI config so the next `nw` command talks to it, and runs until `stop` aborts;
 * then stops the agent and the server. Running it again keeps every resource.
 * @example await up({}, ctx, controller.signal);
 */
export async function up(
  options: UpOptions,
  ctx: CliContext,
  stop: AbortSignal,
  starters?: ServiceStarters,
): Promise<UpResult> {
  const { host, port } = parseListenOption(options.listen ?? DEFAULT_LISTEN);
  const dataDir = resolve(options.dataDir ?? defaultDataDir());
  const agentDir = join(dataDir, 'agent');
  const captureProgram = parseCaptureProgramOption(options.captureProgram);
  const location = options.location ?? 'local';
  const vmName = options.vmName ?? vmNameFromHostname(hostname());
  const resourceGroup = options.resourceGroup ?? 'netwatcher-local';
  const subscriptionId = ctx.config.subscriptionId || DEFAULT_SUBSCRIPTION_ID;
  const outbound = parseOutboundOptions(options.outboundDeny, options.outboundAllow);
  const publicUrl = options.publicUrl === undefined ? undefined : parsePublicUrlOption(options.publicUrl);
  // Beyond loopback the admin token and agent credentials cross a network: https unless told otherwise.
  const wantTls = options.tls ?? !isLoopbackHost(host);
  const retryAfter = options.retryAfter === undefined ? undefined : Number(options.retryAfter);
  if (retryAfter !== undefined && (!Number.isInteger(retryAfter) || retryAfter < 0 || retryAfter > 60))
    throw new UsageError(
      `usage error: --retry-after must be a whole number of seconds from 0 to 60, not '${options.retryAfter}'`,
    );
  const services = starters ?? (await loadServiceStarters());
  // Refuse before writing anything into a folder a running server uses (the server takes the lock itself).
  assertDataDirFree(dataDir);
  const publicHost = publicUrl ? new URL(publicUrl).hostname.replace(/^\[|\]$/g, '') : undefined;
  const tls = wantTls
    ? ensureSelfSignedCertificate(join(dataDir, 'tls'), [
        ...certificateNames(host),
        ...(publicHost ? [publicHost] : []),
      ])
    : undefined;
  // With our own certificate, every client in this process trusts it: the CLI's requests, and
  // the agent's (its uploads to local storage are plain node:https requests).
  const fetchFn = tls ? createCaFetch(readFileSync(tls.certPath)) : ctx.fetch;

  writeLine(ctx.out, `starting server… (data in ${dataDir})`);
  const server: RunningServer = await services.startServer({
    listenHost: host,
    listenPort: port,
    dataDir,
    defaultLocation: location,
    subscriptionId,
    ...(tls ? { tls: { certPath: tls.certPath, keyPath: tls.keyPath } } : {}),
    ...(publicUrl ? { publicUrl } : {}),
    ...(options.trustProxy ? { trustProxy: true } : {}),
    ...(options.databaseUrl ? { databaseUrl: options.databaseUrl } : {}),
    // A newcomer reads the progress lines; the JSON log shows warnings and errors only unless asked.
    logLevel: options.logLevel ?? 'warn',
    ...(outbound ? { outbound } : {}),
    ...(retryAfter !== undefined ? { retryAfterInSeconds: retryAfter } : {}),
  });
  if (tls) {
    writeLine(
      ctx.out,
      `TLS: ${tls.created ? 'made a' : 'using the'} self-signed certificate ${tls.certPath} for ${tls.names.join(', ')}`,
    );
    writeLine(
      ctx.out,
      `     SHA-256 ${tls.sha256}; it is its own CA: the CLI config trusts it, agents get it pinned through their install command,`,
    );
    writeLine(ctx.out, `     and Azure SDKs and scripts trust it with NODE_EXTRA_CA_CERTS=${tls.certPath}`);
  }
  let agent: RunningAgent | undefined;
  try {
    const client = new ArmClient({ serverUrl: server.url, token: server.adminToken, fetch: fetchFn });
    const extensionPath = vmExtensionPath(subscriptionId, resourceGroup, vmName, AGENT_EXTENSION.linuxType);
    const agentOptions = {
      serverUrl: server.url,
      dataDir: agentDir,
      ...(options.interface ? { interfaceName: options.interface } : {}),
      ...(options.captureRoot ? { captureRoot: resolve(options.captureRoot) } : {}),
      logLevel: options.logLevel ?? 'warn',
      ...(tls ? { caFile: tls.certPath } : {}),
      ...(captureProgram !== undefined ? { captureProgram } : {}),
    };

    let enrolled = false;
    const existing = await client.request('GET', extensionPath, { allowStatuses: [404] });
    if (existing.status !== 404) {
      writeLine(ctx.out, `starting agent for VM ${vmName} (enrolled earlier)…`);
      // A saved credential in DIR/agent reconnects without a token; without one, enrol again below.
      agent = await services.startAgent(agentOptions).catch(() => undefined);
    }
    if (!agent) {
      writeLine(
        ctx.out,
        `registering this host as VM ${vmName} in resource group ${resourceGroup} (location ${location})…`,
      );
      const put = await client.request('PUT', extensionPath, {
        body: {
          location,
          properties: {
            publisher: AGENT_EXTENSION.publisher,
            type: AGENT_EXTENSION.linuxType,
            typeHandlerVersion: AGENT_EXTENSION.typeHandlerVersion,
            autoUpgradeMinorVersion: true,
          },
        },
      });
      const token = (put.body as { properties?: { enrollmentToken?: unknown } } | null)?.properties?.enrollmentToken;
      if (typeof token !== 'string' || token.length === 0)
        throw new CliError('the server did not return an enrolment token for this host');
      writeLine(ctx.out, 'starting agent…');
      agent = await services.startAgent({ ...agentOptions, enrollmentToken: token });
      enrolled = true;
    }

    // Why captures would fail here, said before the first one does.
    const agentWarnings = agent.warnings ?? [];
    for (const warning of agentWarnings) writeLine(ctx.err, `WARNING: ${warning}`);
    const connected = await waitForAgent(
      client,
      vmPath(subscriptionId, resourceGroup, vmName),
      options.agentConnectTimeoutInMs ?? 20_000,
    );
    if (!connected)
      writeLine(
        ctx.err,
        `WARNING: the agent has not connected yet; check 'nw vm show -g ${resourceGroup} -n ${vmName}'`,
      );
    await ensureWatcher(client, subscriptionId, location, services.defaultResourceGroup);

    if (ctx.configPath) {
      await saveCliConfig(ctx.configPath, {
        server: server.url,
        token: server.adminToken,
        subscriptionId,
        ...(tls ? { caFile: tls.certPath } : {}),
      });
      writeLine(ctx.out, `CLI configured: ${ctx.configPath}`);
    }
    // Looked up before 'ready' so that the banner after it is printed in one go (scripts read it then).
    const captureName = await unusedCaptureName(client, subscriptionId, location);
    // One write from 'ready' to the end of the banner: a script that reads on at 'ready' (as the
    // newcomer test does) sees it whole, not the first lines of a loaded machine's several writes.
    const banner: string[] = [];
    banner.push('ready');
    banner.push('');
    banner.push(`netwatcher is running at ${server.url} (Ctrl-C to stop).`);
    banner.push(
      `Web portal: ${server.publicUrl ?? server.url}/ (sign in with the admin token in ${join(dataDir, services.adminTokenFile)})`,
    );
    if (server.publicUrl && server.publicUrl !== server.url)
      banner.push(
        `Other hosts reach it at ${server.publicUrl}: install commands from 'nw vm extension set' point there.`,
      );
    if (agentWarnings.length > 0)
      banner.push(`Captures on this host will fail until this is fixed: ${agentWarnings.join('; ')}`);
    banner.push('Try:');
    for (const line of nextSteps(vmName, resourceGroup, location, services.defaultStorageAccountName, captureName))
      banner.push(`  ${line}`);
    if (tls) {
      banner.push('With the real Azure CLI (az; see docs/sdk.md), once:');
      for (const line of azRecipeLines({
        serverUrl: server.publicUrl ?? server.url,
        adminTokenPath: join(dataDir, services.adminTokenFile),
        subscriptionId,
        caFile: tls.certPath,
      }))
        banner.push(`  ${line}`);
      banner.push(`  then the seeds' az commands, e.g. az network watcher packet-capture list --location ${location}`);
    }

    writeLine(ctx.out, banner.join('\n'));

    await waitForAbort(stop);
    writeLine(ctx.out, 'stopping agent…');
    await agent.close();
    agent = undefined;
    writeLine(ctx.out, 'stopping server…');
    await server.close();
    writeLine(ctx.out, 'stopped');
    return { url: server.url, vmName, resourceGroup, location, enrolled };
  } catch (error) {
    // Leave nothing running behind a failed start.
    await agent?.close().catch(() => undefined);
    await server.close().catch(() => undefined);
    throw error;
  }
}

/** The commands printed once everything runs. */
export function nextSteps(
  vmName: string,
  resourceGroup: string,
  location: string,
  storageAccountName: string,
  captureName = 'first',
): string[] {
  return [
    `nw vm extension show -g ${resourceGroup} --vm-name ${vmName} --name ${AGENT_EXTENSION.linuxType} -o table`,
    `nw network watcher packet-capture create -g ${resourceGroup} --vm ${vmName} --name ${captureName} --storage-account ${storageAccountName} --time-limit 30`,
    `nw network watcher packet-capture show-status --name ${captureName} --location ${location}`,
    `nw network watcher packet-capture wait --name ${captureName} --location ${location} --stopped --interval 2`,
    `nw network watcher packet-capture download --name ${captureName} --location ${location} --file ${captureName}.cap`,
  ];
}

/** `first`, or `first-2`, `first-3` … when a restart finds the earlier ones still there (the banner's create must not fail with a name in use). */
export async function unusedCaptureName(client: ArmClient, subscriptionId: string, location: string): Promise<string> {
  const watchers = listValue((await client.request('GET', watcherListPath(subscriptionId))).body) as Array<{
    id?: unknown;
    location?: unknown;
  }>;
  const watcher = watchers.find((w) => String(w.location ?? '').toLowerCase() === location.toLowerCase());
  if (typeof watcher?.id !== 'string') return 'first';
  const captures = listValue(
    (await client.request('GET', `${watcher.id}/packetCaptures`, { allowStatuses: [404] })).body,
  ) as Array<{ name?: unknown }>;
  const taken = new Set(captures.map((c) => String(c.name ?? '').toLowerCase()));
  let name = 'first';
  for (let n = 2; taken.has(name); n++) name = `first-${n}`;
  return name;
}

async function waitForAgent(client: ArmClient, vmResourcePath: string, timeoutInMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutInMs;
  for (;;) {
    const vm = await client.request('GET', vmResourcePath, { allowStatuses: [404] });
    const state = (vm.body as { properties?: { netwatcher?: { agentConnected?: unknown } } } | null)?.properties
      ?.netwatcher;
    if (state?.agentConnected === true) return true;
    if (Date.now() >= deadline) return false;
    await sleep(200);
  }
}

// The server creates the location's watcher when its first host enrols; make sure, because every
// packet-capture command looks the watcher up by location.
async function ensureWatcher(
  client: ArmClient,
  subscriptionId: string,
  location: string,
  resourceGroup: string,
): Promise<void> {
  const list = await client.request('GET', watcherListPath(subscriptionId));
  const found = listValue(list.body).some(
    (w) => String((w as { location?: unknown }).location ?? '').toLowerCase() === location.toLowerCase(),
  );
  if (!found)
    await client.request('PUT', watcherPath(subscriptionId, resourceGroup, `NetworkWatcher_${location}`), {
      body: { location },
    });
}

/** The commands of this file, in help order. */
export const UP_COMMANDS: readonly Declaration[] = [
  defineCommand({
    path: ['up'],
    description:
      'run a server and an agent for this host in one process, and configure the CLI: the first command to try',
    examples: [
      'sudo nw up',
      'nw up --data-dir ./nw-data --listen 127.0.0.1:9000',
      '# reachable from other hosts (https with a self-signed certificate, pinned by the install commands):',
      'sudo nw up --listen 0.0.0.0:8817 --public-url https://HOST:8817',
    ],
    commonOptions: false,
    service: true,
    worksWithoutConfig: true,
    options: UP_OPTIONS,
    run: (o, { ctx, stop, starters }) => up(o, ctx, stop, starters),
  }),
];
