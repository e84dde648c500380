/**
 * Several `nw server` replicas on one PostgreSQL behind a real HAProxy, inside a lab's server
 * namespace (issue 17): replica i listens on 0.0.0.0:882(i+1), HAProxy on the lab's server port
 * (8817) with docs/deploy/haproxy.cfg as it is, so agents and the lab's CLI reach "the server"
 * through the load balancer while a test can also pin the CLI to one replica.
 *
 *   test process ──► LINK:8817 (HAProxy) ──► 127.0.0.1:8821 | :8822 | :8823 (replicas)
 *   agents ────────► 10.0.0.1:8817 ─┘        (direct: LINK:882x / 10.0.0.1:882x)
 */
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { connect, createServer as createNetServer, type AddressInfo, type Server as NetServer } from 'node:net';
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { LAB_SERVER_PORT, NW_BIN, REPO_ROOT, runCommand, stopProcess, type CommandResult, type Lab } from './lab.js';

/** The HAProxy configuration the docs give and the test runs. */
export const HAPROXY_CONFIG = join(REPO_ROOT, 'docs', 'deploy', 'haproxy.cfg');

/** Port of replica `i` (0-based), as in docs/deploy/haproxy.cfg. */
export function replicaPort(i: number): number {
  return 8821 + i;
}

/** One replica process and what it printed. */
export interface Replica {
  index: number;
  dataDir: string;
  process: ChildProcess | null;
  log: string;
  /** Its replica id of the current run (from its "server listening" line). */
  replicaId: string;
}

/** Three (or fewer) replicas on one database behind HAProxy, in a lab. */
export class ReplicaSet {
  readonly replicas: Replica[] = [];
  private haproxy: ChildProcess | null = null;
  private haproxyLog = '';
  private relay: NetServer | null = null;
  private relayedUrl: string | undefined;
  /** Shared by every replica: each must read the credentials the others sealed. */
  readonly secretKeyFile: string;

  constructor(
    private readonly lab: Lab,
    readonly databaseUrl: string,
    count = 3,
  ) {
    this.secretKeyFile = join(lab.workDir, 'secret-key');
    // As docs/deploy.md makes it: `head -c 32 /dev/urandom | base64`, owner-only.
    writeFileSync(this.secretKeyFile, `${randomBytes(32).toString('base64')}\n`, { mode: 0o600 });
    for (let i = 0; i < count; i++)
      this.replicas.push({
        index: i,
        dataDir: join(lab.workDir, `replica-${i}`),
        process: null,
        log: '',
        replicaId: '',
      });
  }

  /** URL of replica `i` as the test process reaches it (past the load balancer). */
  url(i: number): string {
    return `http://${new URL(this.lab.serverUrl).hostname}:${replicaPort(i)}`;
  }

  /**
   * The test machine's PostgreSQL listens on the root namespace's loopback, which the server
   * namespace cannot reach: a TCP relay on the root end of the lab link carries the replicas'
   * connections there. Returns the database URL the replicas use.
   */
  private async relayDatabase(): Promise<string> {
    const target = new URL(this.databaseUrl);
    const relay = createNetServer((client) => {
      const upstream = connect({ host: target.hostname, port: Number(target.port || 5432) });
      client.pipe(upstream).pipe(client);
      const end = () => {
        client.destroy();
        upstream.destroy();
      };
      client.on('error', end);
      upstream.on('error', end);
      client.on('close', end);
      upstream.on('close', end);
    });
    await new Promise<void>((resolve, reject) => {
      relay.once('error', reject);
      relay.listen(0, this.lab.rootAddress, () => resolve());
    });
    this.relay = relay;
    const url = new URL(this.databaseUrl);
    url.hostname = this.lab.rootAddress;
    url.port = String((relay.address() as AddressInfo).port);
    return url.toString();
  }

  /** Starts HAProxy (docs/deploy/haproxy.cfg) in the server namespace, in the foreground. */
  async startLoadBalancer(): Promise<void> {
    const proc = this.lab.srv.spawn('haproxy', ['-db', '-f', HAPROXY_CONFIG], { stdio: ['ignore', 'pipe', 'pipe'] });
    proc.stdout?.on('data', (d: Buffer) => {
      this.haproxyLog += d.toString();
    });
    proc.stderr?.on('data', (d: Buffer) => {
      this.haproxyLog += d.toString();
    });
    this.haproxy = proc;
    await sleep(300);
    if (proc.exitCode !== null) throw new Error(`haproxy did not start:\n${this.haproxyLog}`);
  }

  /**
   * Starts replica `i` and waits until it answers directly. The first replica's admin token file
   * is copied into the others' data folders first (docs/deploy.md: one admin token for all).
   */
  async start(i: number): Promise<void> {
    this.relayedUrl ??= await this.relayDatabase();
    const r = this.replicas[i]!;
    const first = join(this.replicas[0]!.dataDir, 'admin-token');
    if (i > 0 && existsSync(first) && !existsSync(join(r.dataDir, 'admin-token'))) {
      mkdirSync(r.dataDir, { recursive: true, mode: 0o700 });
      copyFileSync(first, join(r.dataDir, 'admin-token'));
    }
    r.log = '';
    r.replicaId = '';
    const args = [
      NW_BIN,
      'server',
      '--listen',
      `0.0.0.0:${replicaPort(i)}`,
      '--data-dir',
      r.dataDir,
      '--database-url',
      this.relayedUrl,
      '--secret-key-file',
      this.secretKeyFile,
      '--public-url',
      this.lab.agentServerUrl,
      '--trust-proxy',
      '--location',
      'westcentralus',
    ];
    const proc = this.lab.srv.spawn(process.execPath, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, PATH: `${join(REPO_ROOT, 'bin')}:${process.env.PATH}` },
    });
    proc.stdout?.on('data', (d: Buffer) => {
      r.log += d.toString();
    });
    proc.stderr?.on('data', (d: Buffer) => {
      r.log += d.toString();
    });
    r.process = proc;
    const deadline = Date.now() + 60_000;
    for (;;) {
      try {
        if ((await fetch(`${this.url(i)}/healthz`)).ok) break;
      } catch {
        /* not up yet */
      }
      if (proc.exitCode !== null || Date.now() > deadline) throw new Error(`replica ${i} did not start:\n${r.log}`);
      await sleep(100);
    }
    r.replicaId = /"replica":"([0-9a-f-]{36})"/.exec(r.log)?.[1] ?? '';
    if (i === 0) {
      this.lab.adminToken = readFileSync(first, 'utf8').trim();
      writeFileSync(
        this.lab.cliConfigPath,
        JSON.stringify({
          server: this.lab.serverUrl,
          token: this.lab.adminToken,
          subscriptionId: '00000000-0000-0000-0000-000000000000',
        }),
      );
    }
  }

  /** Starts every replica: the first alone (it migrates the new database and makes the default account), then the others together. */
  async startAll(): Promise<void> {
    await this.start(0);
    await Promise.all(this.replicas.slice(1).map((r) => this.start(r.index)));
    // HAProxy marks a replica up only after two passed checks a second apart (rise 2): until then
    // the balanced address answers 503. Ready means ready through the load balancer too.
    const deadline = Date.now() + 30_000;
    for (;;) {
      const ok = await fetch(`${this.lab.serverUrl}/healthz`).then(
        (r) => r.ok,
        () => false,
      );
      if (ok) break;
      if (Date.now() > deadline) throw new Error(`the load balancer never answered /healthz:\n${this.output()}`);
      await sleep(200);
    }
  }

  /** Stops replica `i` as systemd does (SIGTERM, then SIGKILL after 5 s). */
  async stop(i: number): Promise<void> {
    await stopProcess(this.replicas[i]!.process);
    this.replicas[i]!.process = null;
  }

  /** Kills replica `i` at once, as a crash does, and waits until it is gone. */
  async kill(i: number): Promise<void> {
    const proc = this.replicas[i]!.process;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
    proc.kill('SIGKILL');
    await exited;
    this.replicas[i]!.process = null;
  }

  /** Index of the replica whose id is `replicaId`, or -1. */
  indexOf(replicaId: string): number {
    return this.replicas.findIndex((r) => r.replicaId === replicaId);
  }

  /** Writes a CLI config pinned to replica `i` and returns it. */
  cliConfigFor(i: number): string {
    const file = join(this.lab.workDir, `cli-config-${i}.json`);
    writeFileSync(
      file,
      JSON.stringify({
        server: this.url(i),
        token: this.lab.adminToken,
        subscriptionId: '00000000-0000-0000-0000-000000000000',
      }),
    );
    return file;
  }

  /** Runs `nw ARGS…` with the CLI pinned to replica `i`. */
  nw(i: number, args: string[], opts: { timeoutInMs?: number } = {}): Promise<CommandResult> {
    return runCommand(process.execPath, [NW_BIN, ...args], {
      env: { ...this.lab.cliEnv, NW_CONFIG: this.cliConfigFor(i) },
      timeoutInMs: opts.timeoutInMs ?? 60_000,
    });
  }

  /** Runs `nw ARGS…` pinned to replica `i` and parses its JSON; throws with stderr when it fails. */
  async nwJson<T = Record<string, unknown>>(i: number, args: string[]): Promise<T> {
    const r = await this.nw(i, args);
    if (r.code !== 0) throw new Error(`nw ${args.join(' ')} through replica ${i} failed (${r.code}): ${r.stderr}`);
    return JSON.parse(r.stdout) as T;
  }

  /** Calls the API of replica `i` directly with the admin token. */
  async api(
    i: number,
    method: string,
    path: string,
    body?: unknown,
  ): Promise<{ status: number; headers: Headers; body: unknown }> {
    const res = await fetch(path.startsWith('http') ? path : `${this.url(i)}${path}`, {
      method,
      headers: {
        Authorization: `Bearer ${this.lab.adminToken}`,
        ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}),
      },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
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

  /** What every replica and HAProxy printed (for failure messages). */
  output(): string {
    return [
      ...this.replicas.map((r) => `--- replica ${r.index} (${r.replicaId}) ---\n${r.log.slice(-3000)}`),
      `--- haproxy ---\n${this.haproxyLog.slice(-2000)}`,
    ].join('\n');
  }

  /** Stops every replica and HAProxy. */
  async close(): Promise<void> {
    await Promise.all(this.replicas.map((r) => stopProcess(r.process)));
    await stopProcess(this.haproxy);
    this.relay?.close();
  }
}

export { LAB_SERVER_PORT };
