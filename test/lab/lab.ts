/**
 * The network-namespace lab for end-to-end tests: a server host and any number of capture hosts
 * on one bridge, all inside namespaces this test run creates and removes. Traffic never leaves
 * them; the test process reaches the server over a point-to-point link from the root namespace.
 *
 *   root ns ── veth (a /30 of 10.213.0.0/16) ── [srv ns: bridge 10.0.0.1/24, fd00:db8::1/64, nw server]
 *                                                │            │
 *                                           [host A]     [host B] …   (addresses given per host)
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  createNamespace,
  createVethPair,
  run,
  uniqueName,
  type TestNamespace,
} from '../../src/capture/testing/index.js';

/** Repository root. */
export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
/** The `nw` command as users run it. */
export const NW_BIN = join(REPO_ROOT, 'bin', 'nw.js');
/** Port the lab server listens on inside its namespace. */
export const LAB_SERVER_PORT = 8817;

/** One capture host of the lab. */
export interface LabHost {
  name: string;
  ns: TestNamespace;
  /** Its interface on the lab bridge. */
  interfaceName: string;
  addresses: string[];
}

/** An agent process of the lab, with what it printed so far. */
export type LabAgent = ChildProcess & { log: () => string };

/** Result of a finished command. */
export interface CommandResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion with an argument array (no shell). */
export function runCommand(
  command: string,
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; timeoutInMs?: number; input?: string } = {},
): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env: opts.env ?? process.env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutInMs ?? 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    // A command that exits (or closes its stdin) before its input is written makes the write fail
    // with EPIPE: harmless — its exit code says how it ended — but unhandled it would crash the test
    // (CI saw it once in fleet-capture.test.ts).
    child.stdin.on('error', () => undefined);
    child.stdin.end(opts.input ?? '');
  });
}

/** The lab: server namespace, hosts, the server process and a CLI configured for it. */
/** A fresh embedded database (PGlite's initdb in WASM) takes over 30 s on a loaded 2-core machine. */
export const SERVER_START_TIMEOUT_IN_MS = 90_000;

export class Lab {
  readonly hosts = new Map<string, LabHost>();
  readonly workDir = mkdtempSync(join(tmpdir(), 'nw-lab-'));
  readonly serverDataDir = join(this.workDir, 'server');
  readonly cliConfigPath = join(this.workDir, 'cli-config.json');
  /** URL the test process uses; agents use `agentServerUrl`. */
  serverUrl = '';
  /** The root namespace's address on the link to the server namespace (test-run services the server must reach can listen here). */
  rootAddress = '';
  readonly agentServerUrl = `http://10.0.0.1:${LAB_SERVER_PORT}`;
  adminToken = '';
  private server: ChildProcess | null = null;
  private serverLog = '';
  private readonly agents: ChildProcess[] = [];
  private readonly agentDataDirs: string[] = [];
  private rootLink = '';
  private releaseSubnet: () => void = () => {};
  private constructor(
    readonly srv: TestNamespace,
    private readonly bridge: string,
  ) {}

  /** Creates the server namespace, its bridge and the root link. */
  static async create(): Promise<Lab> {
    const srv = await createNamespace({ prefix: 'nwsrv' });
    const bridge = 'nwbr0';
    const lab = new Lab(srv, bridge);
    try {
      await mustExec(srv, 'ip', ['link', 'add', bridge, 'type', 'bridge']);
      await mustExec(srv, 'ip', ['addr', 'add', '10.0.0.1/24', 'dev', bridge]);
      await mustExec(srv, 'ip', ['addr', 'add', 'fd00:db8::1/64', 'dev', bridge, 'nodad']);
      await mustExec(srv, 'ip', ['link', 'set', bridge, 'up']);
      const subnet = await claimLinkSubnet();
      lab.releaseSubnet = subnet.release;
      lab.rootLink = uniqueName('nwr');
      const peer = uniqueName('nws');
      await mustRun('ip', ['link', 'add', lab.rootLink, 'type', 'veth', 'peer', 'name', peer, 'netns', srv.name]);
      await mustRun('ip', ['addr', 'add', `${subnet.rootAddress}/30`, 'dev', lab.rootLink]);
      await mustRun('ip', ['link', 'set', lab.rootLink, 'up']);
      await mustExec(srv, 'ip', ['addr', 'add', `${subnet.serverAddress}/30`, 'dev', peer]);
      await mustExec(srv, 'ip', ['link', 'set', peer, 'up']);
      lab.serverUrl = `http://${subnet.serverAddress}:${LAB_SERVER_PORT}`;
      lab.rootAddress = subnet.rootAddress;
      return lab;
    } catch (error) {
      await lab.destroy();
      throw error;
    }
  }

  /** Adds a capture host on the bridge with the given addresses (CIDR). */
  async addHost(name: string, addresses: string[]): Promise<LabHost> {
    const ns = await createNamespace({ prefix: `nw${name}`.slice(0, 6) });
    const pair = await createVethPair(this.srv, ns, { addressesB: addresses });
    await mustExec(this.srv, 'ip', ['link', 'set', pair.interfaceA, 'master', this.bridge]);
    const host: LabHost = { name, ns, interfaceName: pair.interfaceB, addresses };
    this.hosts.set(name, host);
    return host;
  }

  /** Starts (or restarts) `nw server` inside the server namespace and waits until it answers. */
  async startServer(extraArgs: string[] = [], options: { timeoutInMs?: number } = {}): Promise<void> {
    // Reached at two addresses (this process: the link address; agents: 10.0.0.1), so links follow
    // each request's Host (--trust-proxy) while install commands carry --public-url.
    const args = [
      NW_BIN,
      'server',
      '--listen',
      `0.0.0.0:${LAB_SERVER_PORT}`,
      '--data-dir',
      this.serverDataDir,
      '--public-url',
      this.agentServerUrl,
      '--trust-proxy',
      '--location',
      'westcentralus',
      ...extraArgs,
    ];
    this.server = this.srv.spawn(process.execPath, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, PATH: `${join(REPO_ROOT, 'bin')}:${process.env.PATH}` },
    });
    this.server.stdout?.on('data', (d: Buffer) => {
      this.serverLog += d.toString();
    });
    this.server.stderr?.on('data', (d: Buffer) => {
      this.serverLog += d.toString();
    });
    const deadline = Date.now() + (options.timeoutInMs ?? SERVER_START_TIMEOUT_IN_MS);
    for (;;) {
      try {
        const res = await fetch(`${this.serverUrl}/healthz`);
        if (res.ok) break;
      } catch {
        /* not up yet */
      }
      if (this.server.exitCode !== null || Date.now() > deadline)
        throw new Error(`server did not start:\n${this.serverLog}`);
      await sleep(100);
    }
    this.adminToken = readFileSync(join(this.serverDataDir, 'admin-token'), 'utf8').trim();
    writeFileSync(
      this.cliConfigPath,
      JSON.stringify({
        server: this.serverUrl,
        token: this.adminToken,
        subscriptionId: '00000000-0000-0000-0000-000000000000',
      }),
    );
  }

  /** Stops the server process (SIGTERM, then SIGKILL). */
  async stopServer(): Promise<void> {
    await stopProcess(this.server);
    this.server = null;
  }

  /** Kills the server process at once (SIGKILL), as a crash would; `startServer` starts it again. */
  killServer(): void {
    this.server?.kill('SIGKILL');
  }

  /** What the server printed. */
  get serverOutput(): string {
    return this.serverLog;
  }

  /** Environment in which `nw` talks to the lab server. */
  get cliEnv(): NodeJS.ProcessEnv {
    return { ...process.env, NW_CONFIG: this.cliConfigPath, PATH: `${join(REPO_ROOT, 'bin')}:${process.env.PATH}` };
  }

  /** Runs `nw ARGS…` as a user would (from the root namespace). */
  nw(args: string[], opts: { timeoutInMs?: number } = {}): Promise<CommandResult> {
    return runCommand(process.execPath, [NW_BIN, ...args], {
      env: this.cliEnv,
      timeoutInMs: opts.timeoutInMs ?? 60_000,
    });
  }

  /** Runs `nw ARGS…` and parses its JSON output; throws with stderr when it fails. */
  async nwJson<T = Record<string, unknown>>(args: string[]): Promise<T> {
    const r = await this.nw(args);
    if (r.code !== 0) throw new Error(`nw ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
    return JSON.parse(r.stdout) as T;
  }

  /** Calls the API with the admin token. */
  async api(
    method: string,
    path: string,
    body?: unknown,
    token = this.adminToken,
  ): Promise<{ status: number; headers: Headers; body: unknown }> {
    const res = await fetch(`${this.serverUrl}${path}`, {
      method,
      headers: {
        ...(token ? { Authorization: `Bearer ${token}` } : {}),
        ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}),
      },
      ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch {
      /* keep text */
    }
    return { status: res.status, headers: res.headers, body: parsed };
  }

  /**
   * Installs the agent on a host the way a user does: `nw vm extension set`, then the printed
   * install command, run on the host (inside its namespace), with `extraArgs` after it (e.g.
   * `--metrics-listen`). Waits until the agent is connected. The agent's data folder is removed
   * with the lab.
   */
  async installAgent(
    host: LabHost,
    resourceGroup: string,
    vmName: string,
    extraArgs: string[] = [],
    options: { timeoutInMs?: number } = {},
  ): Promise<{ installCommand: string; extension: Record<string, unknown>; agent: LabAgent; dataDir: string }> {
    const extension = await this.nwJson([
      'vm',
      'extension',
      'set',
      '--resource-group',
      resourceGroup,
      '--vm-name',
      vmName,
      '--publisher',
      'Microsoft.Azure.NetworkWatcher',
      '--name',
      'NetworkWatcherAgentLinux',
      '--version',
      '1.4',
    ]);
    const installCommand = String(extension.installCommand);
    const argv = installCommand.split(/\s+/).filter(Boolean);
    const dataDir = argv[argv.indexOf('--data-dir') + 1]!;
    this.agentDataDirs.push(dataDir);
    const agent = this.startAgentProcess(host, [...argv, ...extraArgs]);
    await this.waitForAgent(resourceGroup, vmName, options.timeoutInMs);
    return { installCommand, extension, agent, dataDir };
  }

  /** Waits until a VM's agent is connected to the server (after an install, or a restart of either side). */
  // 60 s: a fresh agent's start, enrolment and connect took over 20 s on a loaded CI machine.
  async waitForAgent(resourceGroup: string, vmName: string, timeoutInMs = 60_000): Promise<void> {
    await this.waitFor(
      async () => {
        const vm = await this.api(
          'GET',
          `/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/${resourceGroup}/providers/Microsoft.Compute/virtualMachines/${vmName}`,
        );
        return (
          (vm.body as { properties?: { netwatcher?: { agentConnected?: boolean } } }).properties?.netwatcher
            ?.agentConnected === true
        );
      },
      timeoutInMs,
      `the agent of ${vmName} to connect`,
    );
  }

  /**
   * Where a storage server for the lab runs (src/storage/testing fixtures): inside the server
   * namespace, reached by the server and the agents at 10.0.0.1 (so signed URLs carry the host
   * everyone uses) and by this process at the server namespace's link address.
   */
  storagePlacement(): { netns: string; bindHost: string; advertisedHost: string; probeHost: string } {
    return {
      netns: this.srv.name,
      bindHost: '0.0.0.0',
      advertisedHost: '10.0.0.1',
      probeHost: new URL(this.serverUrl).hostname,
    };
  }

  /** Starts an agent process inside a host from an install command's argv (`nw agent …`). */
  startAgentProcess(host: LabHost, argv: string[]): LabAgent {
    const [command, ...rest] = argv;
    if (command !== 'nw') throw new Error(`unexpected install command: ${argv.join(' ')}`);
    let log = '';
    const child = host.ns.spawn(process.execPath, [NW_BIN, ...rest], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, PATH: `${join(REPO_ROOT, 'bin')}:${process.env.PATH}` },
    });
    child.stdout?.on('data', (d: Buffer) => {
      log += d.toString();
    });
    child.stderr?.on('data', (d: Buffer) => {
      log += d.toString();
    });
    const agent = child as LabAgent;
    agent.log = () => log;
    this.agents.push(child);
    return agent;
  }

  /** Polls until `check` is true. */
  async waitFor(check: () => Promise<boolean>, timeoutInMs: number, what: string): Promise<void> {
    const deadline = Date.now() + timeoutInMs;
    while (!(await check())) {
      if (Date.now() > deadline)
        throw new Error(`timed out waiting for ${what}\n--- server output ---\n${this.serverLog.slice(-4000)}`);
      await sleep(100);
    }
  }

  /** Stops every process and removes every namespace, link and file of the lab. */
  async destroy(): Promise<void> {
    await Promise.all(this.agents.map((a) => stopProcess(a)));
    await stopProcess(this.server);
    for (const h of this.hosts.values()) await h.ns.destroy().catch(() => {});
    await this.srv.destroy().catch(() => {});
    if (this.rootLink) await run('ip', ['link', 'del', this.rootLink]).catch(() => {});
    this.releaseSubnet();
    for (const d of this.agentDataDirs) rmSync(d, { recursive: true, force: true });
    rmSync(this.workDir, { recursive: true, force: true });
  }
}

/** Folder of claims on root-link subnets, so labs running at the same time never share one. */
const LINK_CLAIMS_DIR = join(tmpdir(), 'nw-lab-links');

/**
 * Claims a free /30 in 10.213.0.0/16 for the root ↔ server link: a claim file created
 * exclusively (a claim of a process that no longer runs is taken over), and an address not
 * already on this machine.
 */
async function claimLinkSubnet(): Promise<{ rootAddress: string; serverAddress: string; release(): void }> {
  mkdirSync(LINK_CLAIMS_DIR, { recursive: true });
  const inUse = (await run('ip', ['-4', '-o', 'addr', 'show'])).stdout;
  for (let attempt = 0; attempt < 200; attempt++) {
    const third = Math.floor(Math.random() * 256);
    const fourth = 4 * Math.floor(Math.random() * 64);
    const base = `10.213.${third}.`;
    const claim = join(LINK_CLAIMS_DIR, `${third}-${fourth}`);
    if (inUse.includes(`${base}${fourth + 1}/`) || inUse.includes(`${base}${fourth + 2}/`)) continue;
    try {
      writeFileSync(claim, String(process.pid), { flag: 'wx' });
    } catch {
      const owner = Number(readFileSync(claim, 'utf8'));
      let alive = true;
      try {
        process.kill(owner, 0);
      } catch {
        alive = false;
      }
      if (alive) continue;
      writeFileSync(claim, String(process.pid));
    }
    return {
      rootAddress: `${base}${fourth + 1}`,
      serverAddress: `${base}${fourth + 2}`,
      release: () => rmSync(claim, { force: true }),
    };
  }
  throw new Error('no free 10.213.x.y/30 for the lab link');
}

async function mustExec(ns: TestNamespace, command: string, args: string[]): Promise<void> {
  const r = await ns.exec(command, args);
  if (r.exitCode !== 0) throw new Error(`${command} ${args.join(' ')} in ${ns.name} failed: ${r.stderr}`);
}

async function mustRun(command: string, args: string[]): Promise<void> {
  const r = await run(command, args);
  if (r.exitCode !== 0) throw new Error(`${command} ${args.join(' ')} failed: ${r.stderr}`);
}

/** SIGTERM, wait up to 5 s, then SIGKILL. */
export async function stopProcess(child: ChildProcess | null): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
  await exited;
  clearTimeout(timer);
}
