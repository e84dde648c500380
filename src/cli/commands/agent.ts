import { existsSync } from 'node:fs';
import { resolve, join } from 'node:path';
import { ensurePinnedCaFile } from '../../lib/index.js';
import { AGENT_CA_PATH } from '../../model/index.js';
import { writeLine, type CliContext } from '../context.js';
import { CliError, UsageError } from '../errors.js';
import { parseIntegerOption, requireOption } from '../option-values.js';
import { loadAgentStarter, waitForAbort, type ServiceStarters } from '../services.js';
import { defaultDataDir } from './server.js';

/** Options of `nw agent`. */
export interface AgentCommandOptions {
  /** Server URL, or several (repeated --server or a comma list): replicas the agent rotates between when one fails. */
  server?: string | string[];
  /** One-time enrolment token (absent: use the credential saved in the data folder). */
  token?: string;
  /** Reusable join key (`nw vm join-key create`): registers and enrols the host in one step. */
  joinKey?: string;
  /** Name the host joins as (with --join-key; default its host name). */
  vmName?: string;
  /** Data folder (default ~/.netwatcher/agent). */
  dataDir?: string;
  /** Interface tcpdump listens on (default any). */
  interface?: string;
  /** Folder local capture files must live under (default /var/captures). */
  captureRoot?: string;
  /** CA certificate of a server with a private certificate. */
  caFile?: string;
  /** SHA-256 of a self-signed server's CA: fetched into caFile (default DATA_DIR/server-ca.pem) and trusted only if it matches. */
  caSha256?: string;
  /** How long an upload may keep failing before the capture reports StorageFailed (ms). */
  uploadRetryBudgetMs?: string | number;
  /** Interval between upload retries after a StorageFailed (ms). */
  uploadRetryIntervalMs?: string | number;
  logLevel?: string;
}

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
    ...(uploadRetryBudgetInMs !== undefined ? { uploadRetryBudgetInMs } : {}),
    ...(uploadRetryIntervalInMs !== undefined ? { uploadRetryIntervalInMs } : {}),
  });
  writeLine(ctx.out, `netwatcher agent running as ${agent.vmId}`);
  await waitForAbort(stop);
  writeLine(ctx.out, 'stopping agent…');
  await agent.close();
  writeLine(ctx.out, 'agent stopped');
}
