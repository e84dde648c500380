/**
 * One real `nw agent` (the built one, dist/) on this machine beside the simulated fleet: enrolled
 * as a user does (extension PUT, then the agent with its one-time token), capturing with tcpdump on
 * the loopback interface, so create → Running includes the order's way to the agent, tcpdump's
 * start (the agent reports Running only once tcpdump listens) and the state's way back.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/** A running real agent and the VM it is. */
export interface RealAgent {
  vmId: string;
  /** What the agent printed (for a failure message). */
  log(): string;
  stop(): Promise<void>;
}

/** One API call as bench/scale/run.ts makes them. */
export type ApiCall = (
  method: string,
  path: string,
  body?: unknown,
) => Promise<{ status: number; body: unknown; headers: Record<string, unknown> }>;

const SUB = '00000000-0000-0000-0000-000000000000';

/** Whether the VM's agent is recorded connected. */
async function agentConnected(api: ApiCall, vmId: string): Promise<boolean> {
  const vm = await api('GET', `${vmId}?api-version=2024-03-01`);
  const props = (vm.body as { properties?: { netwatcher?: { agentConnected?: boolean } } }).properties;
  return props?.netwatcher?.agentConnected === true;
}

/**
 * Registers VM `vmName` in `resourceGroup` with the agent extension, starts `nw agent` with the
 * enrolment token it got (`--interface lo`, data and capture folders under `workDir`), and waits
 * until the server records it connected.
 */
export async function startRealAgent(options: {
  api: ApiCall;
  /** The server address the agent is given (HAProxy, or comma-separated replicas). */
  serverUrl: string;
  repoRoot: string;
  workDir: string;
  resourceGroup: string;
  vmName: string;
}): Promise<RealAgent> {
  const vmId = `/subscriptions/${SUB}/resourceGroups/${options.resourceGroup}/providers/Microsoft.Compute/virtualMachines/${options.vmName}`;
  const ext = await options.api('PUT', `${vmId}/extensions/NetworkWatcherAgentLinux?api-version=2024-03-01`, {
    location: 'westcentralus',
    properties: {
      publisher: 'Microsoft.Azure.NetworkWatcher',
      type: 'NetworkWatcherAgentLinux',
      typeHandlerVersion: '1.4',
    },
  });
  if (ext.status !== 200 && ext.status !== 201)
    throw new Error(`extension of ${options.vmName}: HTTP ${ext.status} ${JSON.stringify(ext.body).slice(0, 300)}`);
  const token = (ext.body as { properties: { enrollmentToken: string } }).properties.enrollmentToken;
  const dataDir = join(options.workDir, 'real-agent');
  const captureRoot = join(dataDir, 'captures');
  mkdirSync(captureRoot, { recursive: true, mode: 0o700 });
  let log = '';
  // bin/nw.js runs dist/ when it is built (npm run build), as an installed agent does.
  const { NW_FROM_SOURCE: _fromSource, ...env } = process.env;
  const proc: ChildProcess = spawn(
    process.execPath,
    [
      join(options.repoRoot, 'bin', 'nw.js'),
      'agent',
      '--server',
      options.serverUrl,
      '--token',
      token,
      '--data-dir',
      dataDir,
      '--capture-root',
      captureRoot,
      '--interface',
      'lo',
      '--log-level',
      'warn',
    ],
    { env, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  proc.stdout!.on('data', (d: Buffer) => (log += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (log += d.toString()));
  const exitedPromise = new Promise<void>((r) => proc.once('exit', () => r()));
  for (let i = 0; !(await agentConnected(options.api, vmId)); i++) {
    if (proc.exitCode !== null) throw new Error(`the real agent exited:\n${log}`);
    if (i > 600) throw new Error(`the real agent did not connect in 120 s:\n${log}`);
    await sleep(200);
  }
  return {
    vmId,
    log: () => log,
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
      await exitedPromise;
    },
  };
}
