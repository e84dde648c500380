import { resolve, join } from 'node:path';
import { writeLine, type CliContext } from '../context.js';
import { requireOption } from '../option-values.js';
import { loadAgentStarter, waitForAbort, type ServiceStarters } from '../services.js';
import { defaultDataDir } from './server.js';

/** Options of `nw agent`. */
export interface AgentCommandOptions {
  /** Server URL. */
  server?: string;
  /** One-time enrolment token (absent: use the credential saved in the data folder). */
  token?: string;
  /** Data folder (default ~/.netwatcher/agent). */
  dataDir?: string;
  /** Interface tcpdump listens on (default any). */
  interface?: string;
  /** Folder local capture files must live under (default /var/captures). */
  captureRoot?: string;
  /** CA certificate of a server with a private certificate. */
  caFile?: string;
  logLevel?: string;
}

/**
 * `nw agent`: enrols this host (with --token) or reconnects with its saved credential, runs the
 * captures the server orders until `stop` aborts, then closes cleanly.
 * @example await runAgent({ server: 'https://nw.example:8817', token: 'enrol-token' }, ctx, controller.signal);
 */
export async function runAgent(options: AgentCommandOptions, ctx: CliContext, stop: AbortSignal, starters?: Pick<ServiceStarters, 'startAgent'>): Promise<void> {
  const serverUrl = requireOption('--server', options.server);
  const services = starters ?? (await loadAgentStarter());
  const agent = await services.startAgent({
    serverUrl,
    dataDir: resolve(options.dataDir ?? join(defaultDataDir(), 'agent')),
    ...(options.token ? { enrollmentToken: options.token } : {}),
    ...(options.interface ? { interfaceName: options.interface } : {}),
    ...(options.captureRoot ? { captureRoot: resolve(options.captureRoot) } : {}),
    ...(options.caFile ? { caFile: resolve(options.caFile) } : {}),
    ...(options.logLevel ? { logLevel: options.logLevel } : {}),
  });
  writeLine(ctx.out, `netwatcher agent running as ${agent.vmId}`);
  await waitForAbort(stop);
  writeLine(ctx.out, 'stopping agent…');
  await agent.close();
  writeLine(ctx.out, 'agent stopped');
}
