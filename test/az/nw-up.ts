/**
 * `nw up --tls` as a user starts it, for the az tests and the az bench: in the root namespace on
 * loopback, or inside a lab namespace (`ns`), with its own data folder and CLI config.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import type { TestNamespace } from '../../src/capture/testing/index.js';
import { NW_BIN, stopProcess } from '../lab/lab.js';

/** A running `nw up`. */
export interface NwUp {
  /** The URL it printed ("netwatcher is running at …"). */
  url: string;
  /** Its certificate (DATA_DIR/tls/cert.pem) and admin token file. */
  certPath: string;
  adminTokenPath: string;
  /** Environment in which `nw` uses the CLI config it wrote. */
  cliEnv: NodeJS.ProcessEnv;
  output(): string;
  stop(): Promise<void>;
}

/** Starts `nw up --tls` and resolves once it printed `ready`. */
export async function startNwUp(options: {
  dataDir: string;
  configPath: string;
  listen: string;
  vmName: string;
  resourceGroup: string;
  location: string;
  interfaceName: string;
  ns?: TestNamespace;
  extraArgs?: string[];
}): Promise<NwUp> {
  const cliEnv = { ...process.env, NW_CONFIG: options.configPath };
  const args = [
    NW_BIN,
    'up',
    '--tls',
    '--data-dir',
    options.dataDir,
    '--listen',
    options.listen,
    '--vm-name',
    options.vmName,
    '--resource-group',
    options.resourceGroup,
    '--location',
    options.location,
    '--interface',
    options.interfaceName,
    ...(options.extraArgs ?? []),
  ];
  const child: ChildProcess = options.ns
    ? options.ns.spawn(process.execPath, args, { env: cliEnv, stdio: ['ignore', 'pipe', 'pipe'] })
    : spawn(process.execPath, args, { env: cliEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (d: Buffer) => {
    output += d.toString();
  });
  child.stderr!.on('data', (d: Buffer) => {
    output += d.toString();
  });
  const deadline = Date.now() + 90_000;
  while (!/\nready\n/.test(output)) {
    if (child.exitCode !== null || Date.now() > deadline) {
      await stopProcess(child);
      throw new Error(`nw up did not get ready:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  const url = /netwatcher is running at (https:\/\/\S+) /.exec(output)?.[1];
  if (!url) throw new Error(`no URL in nw up's output:\n${output}`);
  return {
    url,
    certPath: join(options.dataDir, 'tls', 'cert.pem'),
    adminTokenPath: join(options.dataDir, 'admin-token'),
    cliEnv,
    output: () => output,
    stop: () => stopProcess(child),
  };
}
