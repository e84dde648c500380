/**
 * The namespace lab (test/lab/lab.ts) with its server on https: a self-signed certificate for the
 * addresses the test process and the agents use, `nw server --tls-cert/--tls-key` in the server
 * namespace, and agents installed from the install command the server prints (which pins the CA).
 */
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createCaFetch, type FetchFunction } from '../../src/cli/index.js';
import { createSelfSignedCertificate } from '../../src/lib/index.js';
import {
  LAB_SERVER_PORT,
  NW_BIN,
  REPO_ROOT,
  SERVER_START_TIMEOUT_IN_MS,
  stopProcess,
  type Lab,
  type LabHost,
} from '../lab/lab.js';

/** A lab server on https. */
export interface TlsLabServer {
  /** URL the test process uses (root namespace side). */
  url: string;
  /** URL agents use (the server's bridge address). */
  agentUrl: string;
  certPath: string;
  adminToken: string;
  /** fetch that trusts the certificate. */
  fetch: FetchFunction;
  /** Stops the server process (it can be started again with `restart`). */
  stop(): Promise<void>;
  restart(): Promise<void>;
}

/** Starts `nw server` with a fresh self-signed certificate in the lab's server namespace. */
export async function startTlsLabServer(lab: Lab, extraArgs: string[] = []): Promise<TlsLabServer> {
  const rootSide = new URL(lab.serverUrl).hostname;
  const agentUrl = lab.agentServerUrl.replace(/^http:/, 'https:');
  const tlsDir = join(lab.workDir, 'tls');
  mkdirSync(tlsDir, { recursive: true });
  const pair = createSelfSignedCertificate({ names: [rootSide, new URL(agentUrl).hostname, 'localhost'] });
  const certPath = join(tlsDir, 'cert.pem');
  const keyPath = join(tlsDir, 'key.pem');
  writeFileSync(certPath, pair.certPem);
  writeFileSync(keyPath, pair.keyPem, { mode: 0o600 });
  const url = `https://${rootSide}:${LAB_SERVER_PORT}`;
  const fetchFn = createCaFetch(pair.certPem);
  let child: ChildProcess | null = null;
  let log = '';

  const start = async () => {
    const args = [
      NW_BIN,
      'server',
      '--listen',
      `0.0.0.0:${LAB_SERVER_PORT}`,
      '--data-dir',
      lab.serverDataDir,
      '--public-url',
      agentUrl,
      '--trust-proxy',
      '--location',
      'westcentralus',
      '--tls-cert',
      certPath,
      '--tls-key',
      keyPath,
      ...extraArgs,
    ];
    child = lab.srv.spawn(process.execPath, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, PATH: `${join(REPO_ROOT, 'bin')}:${process.env.PATH}` },
    });
    child.stdout?.on('data', (d: Buffer) => {
      log += d.toString();
    });
    child.stderr?.on('data', (d: Buffer) => {
      log += d.toString();
    });
    const deadline = Date.now() + SERVER_START_TIMEOUT_IN_MS;
    for (;;) {
      try {
        if ((await fetchFn(`${url}/healthz`)).ok) break;
      } catch {
        /* not up yet */
      }
      if (child.exitCode !== null || Date.now() > deadline) throw new Error(`https server did not start:\n${log}`);
      await sleep(100);
    }
  };
  await start();
  const adminToken = readFileSync(join(lab.serverDataDir, 'admin-token'), 'utf8').trim();
  lab.adminToken = adminToken;
  return {
    url,
    agentUrl,
    certPath,
    adminToken,
    fetch: fetchFn,
    stop: async () => {
      await stopProcess(child);
      child = null;
    },
    restart: async () => {
      await stopProcess(child);
      await start();
    },
  };
}

/** Agent data folders made by install commands, removed by `removeAgentDataDirs`. */
const agentDataDirs: string[] = [];

/**
 * Runs an install command (`nw agent …`) on a host as a user would, with extra arguments
 * appended; returns the agent process and the data folder the command named.
 */
export function runInstallCommand(
  lab: Lab,
  host: LabHost,
  installCommand: string,
  extraArgs: string[] = [],
): { agent: ChildProcess & { log?: () => string }; dataDir: string } {
  const argv = installCommand.split(/\s+/).filter(Boolean);
  const dataDir = argv[argv.indexOf('--data-dir') + 1]!;
  agentDataDirs.push(dataDir);
  return { agent: lab.startAgentProcess(host, [...argv, ...extraArgs]), dataDir };
}

/** Removes the agent data folders of every install command run. */
export function removeAgentDataDirs(): void {
  for (const d of agentDataDirs.splice(0)) rmSync(d, { recursive: true, force: true });
}
