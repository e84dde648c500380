/**
 * Running Azure's own Python clients (Debian's az 2.45 and python3-azure) in tests and benches:
 * a private AZURE_CONFIG_DIR, no telemetry, the server's certificate as the only trusted CA, and
 * every outbound connection confined: HTTP(S)_PROXY points at a closed port on loopback, so
 * anything az tries to reach other than the server (NO_PROXY) fails at once instead of leaving
 * the machine. PYTHONPATH carries the Debian-only API-profile workaround (sitecustomize.py here).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Folder of sitecustomize.py (the Debian api-version workaround) and the Python scripts. */
export const AZ_SUPPORT_DIR = dirname(fileURLToPath(import.meta.url));
/** Debian's az and Python (not a pyenv shim: python3-azure lives in Debian's dist-packages). */
export const AZ_BIN = '/usr/bin/az';
export const DEBIAN_PYTHON = '/usr/bin/python3';

/** A port on 127.0.0.1 that nothing listens on (bound, then closed). */
export async function closedLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** Result of one az (or Python) run, with its wall time. */
export interface AzResult {
  code: number | null;
  stdout: string;
  stderr: string;
  durationInMs: number;
}

/** One az configuration folder and the environment to run az in. */
export class AzEnvironment {
  private constructor(
    readonly configDir: string,
    readonly env: NodeJS.ProcessEnv,
  ) {}

  /** `noProxyHosts`: the server's host (and loopback, always). */
  static async create(options: {
    caBundle: string;
    noProxyHosts?: string[];
    withProfileWorkaround?: boolean;
  }): Promise<AzEnvironment> {
    const proxy = `http://127.0.0.1:${await closedLoopbackPort()}`;
    const noProxy = [...new Set(['127.0.0.1', 'localhost', '::1', ...(options.noProxyHosts ?? [])])].join(',');
    const base: NodeJS.ProcessEnv = {};
    for (const k of ['PATH', 'HOME', 'LANG', 'TZ']) if (process.env[k] !== undefined) base[k] = process.env[k];
    const configDir = mkdtempSync(join(tmpdir(), 'nw-az-'));
    return new AzEnvironment(configDir, {
      ...base,
      AZURE_CONFIG_DIR: configDir,
      AZURE_CORE_COLLECT_TELEMETRY: 'false',
      AZURE_CORE_OUTPUT: 'json',
      AZURE_CORE_NO_COLOR: 'true',
      AZURE_CORE_SURVEY_MESSAGE: 'false',
      // No .pyc files beside sitecustomize.py in the repository.
      PYTHONDONTWRITEBYTECODE: '1',
      REQUESTS_CA_BUNDLE: options.caBundle,
      HTTPS_PROXY: proxy,
      HTTP_PROXY: proxy,
      https_proxy: proxy,
      http_proxy: proxy,
      NO_PROXY: noProxy,
      no_proxy: noProxy,
      ...(options.withProfileWorkaround === false ? {} : { PYTHONPATH: AZ_SUPPORT_DIR }),
    });
  }

  /** Removes the configuration folder (az's token cache and the service principal's secret). */
  destroy(): void {
    rmSync(this.configDir, { recursive: true, force: true });
  }
}

/**
 * Runs a command to completion with an argument array (no shell), timing it. `wrap` runs it
 * through another command first (e.g. `ip netns exec NS`).
 */
export function runTimed(
  command: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  opts: { timeoutInMs?: number; wrap?: string[] } = {},
): Promise<AzResult> {
  const started = performance.now();
  const [cmd, ...rest] = opts.wrap ? [...opts.wrap, command, ...args] : [command, ...args];
  return new Promise((resolve, reject) => {
    const child = spawn(cmd!, rest, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutInMs ?? 120_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, durationInMs: performance.now() - started });
    });
  });
}

/** The one-time set-up of the recipe: register the cloud, select it, log in with the admin token. */
export function azLoginCommands(serverUrl: string, adminToken: string, subscriptionId: string): string[][] {
  return [
    ['cloud', 'register', '--name', 'netwatcher', '--endpoint-resource-manager', `${serverUrl}/`],
    ['cloud', 'set', '--name', 'netwatcher'],
    ['login', '--service-principal', '--username', 'netwatcher', '--password', adminToken, '--tenant', subscriptionId],
  ];
}
