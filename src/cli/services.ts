import type { AgentConfig, RunningAgent } from '../agent/index.js';
import type { RunningServer, ServerConfig } from '../server/index.js';

/**
 * The in-process services `nw server`, `nw agent` and `nw up` start. Loaded on demand so the
 * client commands never pay for loading the server (database, HTTP framework) at start-up.
 */
export interface ServiceStarters {
  startServer(config: ServerConfig): Promise<RunningServer>;
  startAgent(config: AgentConfig): Promise<RunningAgent>;
  /** Name of the admin token file in the server's data folder. */
  adminTokenFile: string;
  /** Name of the local storage account the server creates on first start. */
  defaultStorageAccountName: string;
  /** Resource group of the server's own resources (default storage, watchers). */
  defaultResourceGroup: string;
}

/** Imports the server module now and the agent module when an agent starts (`nw server` never loads the agent). */
export async function loadServiceStarters(): Promise<ServiceStarters> {
  const server = await import('../server/index.js');
  return {
    startServer: server.startServer,
    startAgent: async (config) => (await import('../agent/index.js')).startAgent(config),
    adminTokenFile: server.ADMIN_TOKEN_FILE,
    defaultStorageAccountName: server.SERVER_DEFAULTS.defaultStorageAccountName,
    defaultResourceGroup: server.SERVER_DEFAULTS.defaultResourceGroup,
  };
}

/** Imports only the agent module (`nw agent` on a host never loads the server, its database or HTTP framework). */
export async function loadAgentStarter(): Promise<Pick<ServiceStarters, 'startAgent'>> {
  const agent = await import('../agent/index.js');
  return { startAgent: agent.startAgent };
}

/** Resolves when the signal aborts (Ctrl-C, SIGTERM, or a test). */
export function waitForAbort(signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
}
