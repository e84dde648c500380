import { existsSync } from 'node:fs';
import { resolve, join } from 'node:path';
import { ensurePinnedCaFile } from '../../lib/index.js';
import { AGENT_CA_PATH } from '../../model/index.js';
import { writeLine, type CliContext } from '../context.js';
import { CliError, UsageError } from '../errors.js';
import { parseIntegerOption, requireOption } from '../option-values.js';
import { loadAgentStarter, waitForAbort, type ServiceStarters } from '../services.js';
import { defaultDataDir } from './server.js';
import {
  defineCommand,
  type Declaration,
  type OptionDeclaration,
  type OptionTable,
  type OptionValues,
} from '../command-declaration.js';
import { parseCaptureProgramChoice, type CaptureProgramChoice } from '../../capture/capture-program.js';
import { withAgentMetrics } from './monitor-agent-metrics.js';

/**
 * `--capture-program`, bound to NW_CAPTURE_PROGRAM: which program captures run (single files, rings, look-back)
 * (src/capture/capture-program.ts). `nw agent` and `nw up`.
 */
export const CAPTURE_PROGRAM_OPTION = {
  flags: '--capture-program <program>',
  description:
    'what captures run (single files, rings, look-back): auto (nw-capture when built and it runs, else tcpdump), native (nw-capture) or tcpdump',
  env: 'NW_CAPTURE_PROGRAM',
} as const satisfies OptionDeclaration;

/**
 * The --capture-program (or NW_CAPTURE_PROGRAM) value checked, so that a typo stops the agent at
 * start instead of every capture later; undefined when not given.
 * @example parseCaptureProgramOption('tcpdump') // 'tcpdump'
 */
export function parseCaptureProgramOption(text: string | undefined): CaptureProgramChoice | undefined {
  if (text === undefined || text === '') return undefined;
  try {
    return parseCaptureProgramChoice(text);
  } catch (error) {
    throw new UsageError(`--capture-program (NW_CAPTURE_PROGRAM): ${(error as Error).message}`);
  }
}

/** The flags of `nw agent`. */
export const AGENT_OPTIONS = {
  server: {
    flags: '--server <url>',
    description:
      'server URL; repeat it (or give a comma list) for several replicas: the agent rotates between them when one fails',
    required: true,
    repeatable: true,
  },
  token: {
    flags: '--token <token>',
    description: "one-time enrolment token from 'nw vm extension set' (not needed once enrolled)",
  },
  joinKey: {
    flags: '--join-key <key>',
    description:
      "reusable join key from 'nw vm join-key create' or 'nw vmss extension set': registers this host and enrols it (ignored once joined)",
  },
  vmName: {
    flags: '--vm-name <name>',
    description: 'name this host joins as, with --join-key (default: its host name)',
  },
  dataDir: { flags: '--data-dir <dir>', description: 'data folder (default ~/.netwatcher/agent)' },
  interface: { flags: '--interface <name>', description: 'interface to capture on', default: 'any' },
  captureRoot: {
    flags: '--capture-root <dir>',
    description: 'folder local capture files live under (default /var/captures)',
  },
  caFile: { flags: '--ca-file <file>', description: "CA certificate (PEM) of the server's private certificate" },
  caSha256: {
    flags: '--ca-sha256 <fingerprint>',
    description:
      "SHA-256 of a self-signed server's CA: fetched from the server into --ca-file (default DATA_DIR/server-ca.pem) and trusted only if it matches",
  },
  uploadRetryBudgetMs: {
    flags: '--upload-retry-budget-ms <ms>',
    parsed: 'number',
    description:
      'how long an upload may keep failing before the capture reports StorageFailed (default 300000); the file is kept and retried after',
  },
  uploadRetryIntervalMs: {
    flags: '--upload-retry-interval-ms <ms>',
    parsed: 'number',
    description: 'interval between upload retries after a StorageFailed (default 60000)',
  },
  metricsListen: {
    flags: '--metrics-listen <host:port>',
    description: 'serve Prometheus /metrics here (off by default)',
  },
  metricsInterval: {
    flags: '--metrics-interval <seconds>',
    description: 'seconds between host-metric reports to the server (default 1)',
  },
  logLevel: { flags: '--log-level <level>', description: 'log level' },
  captureProgram: CAPTURE_PROGRAM_OPTION,
} as const satisfies OptionTable;

/** Options of `nw agent`. */
export type AgentCommandOptions = OptionValues<typeof AGENT_OPTIONS>;

/**
 * `nw agent`: enrols this host (with --token) or reconnects with its saved credential, runs the
 * captures the server orders until `stop` aborts, then closes cleanly.
 * @example await runAgent({ server: 'https://nw.example:8817', token: 'enrol-token' }, ctx, controller.signal);
 */
export async function runAgent(
  options: AgentCommandOptions,
  ctx: CliContext,
  stop: AbortSignal,
  starters?: Pick<ServiceStarters, 'startAgent'>,
): Promise<void> {
  const servers = [options.server ?? []]
    .flat()
    .flatMap((s) => s.split(','))
    .map((s) => s.trim())
    .filter(Boolean);
  const serverUrl = requireOption('--server', servers[0]);
  if (options.token && options.joinKey)
    throw new UsageError(
      'usage error: --token (one host, from nw vm extension set) | --join-key (any host, from nw vm join-key create)',
    );
  if (options.vmName && !options.joinKey)
    throw new UsageError('usage error: --vm-name applies only with --join-key (a --token names its VM already)');
  const uploadRetryBudgetInMs = parseIntegerOption(
    '--upload-retry-budget-ms',
    options.uploadRetryBudgetMs,
    0,
    7 * 24 * 3_600_000,
  );
  const uploadRetryIntervalInMs = parseIntegerOption(
    '--upload-retry-interval-ms',
    options.uploadRetryIntervalMs,
    100,
    24 * 3_600_000,
  );
  const captureProgram = parseCaptureProgramOption(options.captureProgram);
  const dataDir = resolve(options.dataDir ?? join(defaultDataDir(), 'agent'));
  const fetchedCa = join(dataDir, 'server-ca.pem');
  // A CA fetched by an earlier run (--ca-sha256) keeps being trusted on later runs without flags.
  let caFile = options.caFile
    ? resolve(options.caFile)
    : !options.caSha256 && existsSync(fetchedCa)
      ? fetchedCa
      : undefined;
  if (options.caSha256) {
    // The install command of a self-signed server carries the CA's pin: get the CA from the server
    // (or keep the copy fetched before) and trust it only if it has that fingerprint.
    caFile ??= fetchedCa;
    try {
      await ensurePinnedCaFile(caFile, `${serverUrl.replace(/\/+$/, '')}${AGENT_CA_PATH}`, options.caSha256);
    } catch (error) {
      throw new CliError(`cannot get the server's CA certificate: ${(error as Error).message}`, { cause: error });
    }
  }
  // The agent's uploads to the server's local storage are plain node:https requests: they must
  // trust the server's CA too, not only its enrolment and WebSocket.
  const services = starters ?? (await loadAgentStarter());
  const agent = await services.startAgent({
    serverUrl: servers.join(','),
    dataDir,
    ...(options.token ? { enrollmentToken: options.token } : {}),
    ...(options.joinKey ? { joinKey: options.joinKey } : {}),
    ...(options.vmName ? { vmName: options.vmName } : {}),
    ...(options.interface ? { interfaceName: options.interface } : {}),
    ...(options.captureRoot ? { captureRoot: resolve(options.captureRoot) } : {}),
    ...(caFile ? { caFile } : {}),
    ...(options.logLevel ? { logLevel: options.logLevel } : {}),
    ...(captureProgram !== undefined ? { captureProgram } : {}),
    ...(uploadRetryBudgetInMs !== undefined ? { uploadRetryBudgetInMs } : {}),
    ...(uploadRetryIntervalInMs !== undefined ? { uploadRetryIntervalInMs } : {}),
  });
  writeLine(ctx.out, `netwatcher agent running as ${agent.vmId}`);
  await waitForAbort(stop);
  writeLine(ctx.out, 'stopping agent…');
  await agent.close();
  writeLine(ctx.out, 'agent stopped');
}

/** The commands of this file, in help order. */
export const AGENT_COMMANDS: readonly Declaration[] = [
  defineCommand({
    path: ['agent'],
    description: 'run the capture agent on this host until Ctrl-C',
    examples: [
      'nw agent --server https://nw.example:8817 --token <one-time token> --data-dir /var/lib/netwatcher/agent',
      'nw agent --server https://nw.example:8817 --data-dir /var/lib/netwatcher/agent --metrics-listen 0.0.0.0:9100',
      '# several server replicas (or one load-balanced address, docs/deploy.md):',
      'nw agent --server https://nw1.example:8817 --server https://nw2.example:8817 --data-dir /var/lib/netwatcher/agent',
      "# any number of hosts (cloud-init, Ansible) with one join key; a scale set's key adds each as its next instance:",
      'nw agent --server https://nw.example:8817 --join-key nwj_… --data-dir /var/lib/netwatcher/agent',
      'nw agent --server https://nw.example:8817 --join-key nwj_… --vm-name web7 --data-dir /var/lib/netwatcher/agent',
      '# a server with a self-signed certificate (the install command carries the pin):',
      'nw agent --server https://nw.example:8817 --token <token> --data-dir /var/lib/netwatcher/agent --ca-file /var/lib/netwatcher/agent/server-ca.pem --ca-sha256 <64 hex digits>',
    ],
    commonOptions: false,
    service: true,
    worksWithoutConfig: true,
    options: AGENT_OPTIONS,
    run: (o, { ctx, stop, starters }) => runAgent(o, ctx, stop, withAgentMetrics(o, starters)),
  }),
];
