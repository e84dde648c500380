/**
 * The servers of one benchmark size: one `nw server` (PGlite or PostgreSQL), or several replicas on
 * one fresh PostgreSQL database (issue 17) set up as docs/deploy.md says — one secret key file and
 * one admin token for all, the first replica started alone (it migrates and makes the default
 * account) — reached either through HAProxy (docs/deploy/haproxy.cfg, round-robin; one instance,
 * or several each fronting every replica, the agents given every balancer's address as
 * `nw agent --server LB1,LB2`) or directly (each agent given every replica's address, its own
 * first, as `nw agent --server A,B,C`); API calls round-robin over the addresses.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, createWriteStream, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { startHaproxy, type LoadBalancer } from './haproxy.js';

/** How agents and API calls reach several replicas. */
export type ReplicaRouting = 'haproxy' | 'direct';

/** One server process. */
export interface ServerProcess {
  index: number;
  url: string;
  pid: number;
  proc: ChildProcess;
  dataDir: string;
  /** Its listening port (bench/scale/kernel-queues.ts samples its accept queue). */
  port: number;
  /** Where bench/scale/event-loop-probe.mjs writes its event-loop delay. */
  eventLoopFile: string;
  /** Its id in `server_replicas` (PostgreSQL only; '' on PGlite). */
  replicaId: string;
  /** SIGTERM, then waits for the exit. */
  stop(): Promise<void>;
  /** SIGKILL (a crash), then waits for the exit. */
  kill(): Promise<void>;
}

/** Every server of one size, and how to reach them. */
export interface ServerSet {
  replicas: ServerProcess[];
  /** The first address agents and clients may use (the first HAProxy, or the first replica). */
  url: string;
  /** Every address a client (the real agent) is given, as `nw agent --server` takes it: the balancers, or the replicas. */
  serverUrls: string;
  /** The addresses each agent is given: every balancer, or every replica, as a comma list starting at `hostIndex % count` (an agent moves to the next on a failure). */
  agentUrlFor(hostIndex: number): string;
  /** The next API address: the balancers, or the replicas, in turn. */
  nextApiUrl(): string;
  token: string;
  /** The HAProxy instances, each fronting every replica ([] when direct or one replica). */
  loadBalancers: LoadBalancer[];
  /** The size's own database (PostgreSQL), or null on PGlite. */
  dbName: string | null;
  dbUrl: string | null;
  workDir: string;
  stop(): Promise<void>;
}

/** Options of {@link startServerSet}. */
export interface ServerSetOptions {
  count: number;
  routing: ReplicaRouting;
  /** The admin URL of the PostgreSQL server (a database is created per size), or null for PGlite. */
  databaseUrl: string | null;
  /** Prefix of the sizes' database names (`nw_scale` unless given: several benches may share one PostgreSQL). */
  databasePrefix?: string;
  /** Checkout whose `bin/nw.js` runs. */
  serverRoot: string;
  /** Checkout whose docs/deploy/haproxy.cfg HAProxy runs. */
  repoRoot: string;
  /** Writes a V8 CPU profile of each replica here when it stops. */
  cpuProfDir: string | null;
  /** HAProxy instances with routing 'haproxy' (default 1): each its own address in front of every replica. */
  balancers?: number;
  /** More `nw server` flags for every replica (`['--agent-metrics-batch-seconds', '1']`). */
  serverArgs?: string[];
}

/**
 * `urls` as the comma list one agent is given, starting at `hostIndex % urls.length`: agents
 * spread evenly over the addresses, and each still knows all of them (it moves to the next when
 * one fails).
 */
export function addressListFor(urls: string[], hostIndex: number): string {
  return urls.map((_, k) => urls[(hostIndex + k) % urls.length]!).join(',');
}

/** A free TCP port on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** Creates the size's own database; returns its name and URL. */
async function createDatabase(adminUrl: string, prefix = 'nw_scale'): Promise<{ dbName: string; dbUrl: string }> {
  if (!/^[a-z_][a-z0-9_]*$/.test(prefix))
    throw new Error(`a database prefix is lower-case letters, digits and _ (got ${prefix})`);
  const dbName = `${prefix}_${process.pid}_${Date.now()}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${dbName}`);
  await admin.end();
  const u = new URL(adminUrl);
  u.pathname = `/${dbName}`;
  return { dbName, dbUrl: u.toString() };
}

/** Ids in `server_replicas` now. */
async function replicaIds(dbUrl: string): Promise<string[]> {
  const c = new pg.Client({ connectionString: dbUrl });
  await c.connect();
  try {
    return (await c.query('SELECT replica_id FROM server_replicas')).rows.map(
      (r: { replica_id: string }) => r.replica_id,
    );
  } finally {
    await c.end();
  }
}

/** Waits until a replica id not in `known` has a heartbeat row: the replica just started. */
async function newReplicaId(dbUrl: string, known: string[]): Promise<string> {
  for (let i = 0; i < 100; i++) {
    const fresh = (await replicaIds(dbUrl)).filter((id) => !known.includes(id));
    if (fresh.length === 1) return fresh[0]!;
    await sleep(100);
  }
  throw new Error('the replica wrote no heartbeat');
}

/** Polls `url/healthz` until it answers 200. */
async function waitHealthy(url: string, proc: ChildProcess): Promise<void> {
  for (let i = 0; ; i++) {
    const ok = await fetch(`${url}/healthz`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) return;
    if (proc.exitCode !== null) throw new Error(`the server at ${url} exited (${proc.exitCode})`);
    if (i > 600) throw new Error(`the server at ${url} did not start`);
    await sleep(100);
  }
}

/** Resolves when `proc` has exited (at once if it already has). */
function exited(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve();
  return new Promise((r) => proc.once('exit', () => r()));
}

const EVENT_LOOP_PROBE = new URL('./event-loop-probe.mjs', import.meta.url).href;

/** Starts one `nw server` process and waits until it answers. */
async function startServerProcess(
  options: ServerSetOptions,
  index: number,
  port: number,
  dataDir: string,
  extraArgs: string[],
): Promise<ServerProcess> {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const eventLoopFile = join(dataDir, 'event-loop.jsonl');
  const proc = spawn(
    process.execPath,
    [
      ...(options.cpuProfDir ? ['--cpu-prof', '--cpu-prof-dir', options.cpuProfDir] : []),
      // This checkout's probe, whichever checkout's server runs (--server-root).
      '--import',
      EVENT_LOOP_PROBE,
      join(options.serverRoot, 'bin/nw.js'),
      'server',
      '--listen',
      `127.0.0.1:${port}`,
      '--data-dir',
      dataDir,
      '--log-level',
      'warn',
      '-l',
      'westcentralus',
      ...extraArgs,
    ],
    {
      env: { ...process.env, NW_FROM_SOURCE: '1', NW_BENCH_EVENT_LOOP_FILE: eventLoopFile },
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  // The server's warnings and errors, for the why of any failed handshake.
  proc.stdout!.pipe(createWriteStream(join(tmpdir(), `nw-scale-server-${port}.log`)));
  const url = `http://127.0.0.1:${port}`;
  await waitHealthy(url, proc);
  return {
    index,
    url,
    pid: proc.pid!,
    proc,
    dataDir,
    port,
    eventLoopFile,
    replicaId: '',
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
      await exited(proc);
    },
    async kill() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
      await exited(proc);
    },
  };
}

/**
 * Starts the replicas one after another into `replicas` (so a failure leaves the started ones to
 * stop): the first alone (it migrates the database and writes the admin token), each later one
 * with the first's admin token copied into its data folder; each one's heartbeat id read back.
 */
async function startReplicaProcesses(
  options: ServerSetOptions,
  ports: number[],
  workDir: string,
  dbUrl: string | null,
  args: string[],
  replicas: ServerProcess[],
): Promise<void> {
  for (let i = 0; i < ports.length; i++) {
    const dataDir = join(workDir, `replica-${i}`);
    if (i > 0) {
      // One admin token for all (docs/deploy.md): the first replica's, copied before the start.
      mkdirSync(dataDir, { recursive: true, mode: 0o700 });
      copyFileSync(join(replicas[0]!.dataDir, 'admin-token'), join(dataDir, 'admin-token'));
    }
    const replica = await startServerProcess(options, i, ports[i]!, dataDir, args);
    if (dbUrl)
      replica.replicaId = await newReplicaId(
        dbUrl,
        replicas.map((r) => r.replicaId),
      );
    replicas.push(replica);
  }
}

/**
 * Starts the servers of one size: `count` replicas (count > 1 needs `databaseUrl`), HAProxy in
 * front of them when `routing` is 'haproxy' and there is more than one.
 */
export async function startServerSet(options: ServerSetOptions): Promise<ServerSet> {
  if (options.count > 1 && !options.databaseUrl) throw new Error('several replicas need --database-url');
  const workDir = await mkdtemp(join(tmpdir(), 'nw-scale-'));
  const db = options.databaseUrl ? await createDatabase(options.databaseUrl, options.databasePrefix) : null;
  const ports = await Promise.all(Array.from({ length: options.count }, () => freePort()));
  const balancerCount = options.count > 1 && options.routing === 'haproxy' ? (options.balancers ?? 1) : 0;
  const balancerPorts = await Promise.all(Array.from({ length: balancerCount }, () => freePort()));
  const publicUrl = `http://127.0.0.1:${balancerPorts[0] ?? ports[0]!}`;
  const shared: string[] = [];
  if (options.count > 1) {
    // docs/deploy.md: every replica reads the credentials the others sealed with one key.
    const keyFile = join(workDir, 'secret-key');
    writeFileSync(keyFile, `${randomBytes(32).toString('base64')}\n`, { mode: 0o600 });
    shared.push('--secret-key-file', keyFile, '--public-url', publicUrl, '--trust-proxy');
  }
  const dbArgs = db ? ['--database-url', db.dbUrl] : [];
  const replicas: ServerProcess[] = [];
  const loadBalancers: LoadBalancer[] = [];
  try {
    await startReplicaProcesses(
      options,
      ports,
      workDir,
      db?.dbUrl ?? null,
      [...dbArgs, ...shared, ...(options.serverArgs ?? [])],
      replicas,
    );
    for (const [i, frontendPort] of balancerPorts.entries())
      loadBalancers.push(
        await startHaproxy({
          repoRoot: options.repoRoot,
          workDir,
          name: `haproxy-${i}`,
          frontendPort,
          replicaPorts: ports,
        }),
      );
  } catch (error) {
    // Nothing of a half-started size is left running or stored.
    await Promise.all([...replicas.map((r) => r.stop()), ...loadBalancers.map((b) => b.stop())]);
    await rm(workDir, { recursive: true, force: true });
    if (db && options.databaseUrl) await dropDatabase(options.databaseUrl, db.dbName);
    throw error;
  }
  const addresses = loadBalancers.length > 0 ? loadBalancers.map((b) => b.url) : replicas.map((r) => r.url);
  const token = readFileSync(join(replicas[0]!.dataDir, 'admin-token'), 'utf8').trim();
  let nextApi = 0;
  const set: ServerSet = {
    replicas,
    url: addresses[0]!,
    serverUrls: addresses.join(','),
    agentUrlFor: (hostIndex) => addressListFor(addresses, hostIndex),
    nextApiUrl: () => addresses[nextApi++ % addresses.length]!,
    token,
    loadBalancers,
    dbName: db?.dbName ?? null,
    dbUrl: db?.dbUrl ?? null,
    workDir,
    async stop() {
      await Promise.all(replicas.map((r) => r.stop()));
      await Promise.all(loadBalancers.map((b) => b.stop()));
    },
  };
  return set;
}

/** Removes the size's data folders and drops its database (the servers must have stopped). */
export async function dropServerSetData(set: ServerSet, adminUrl: string | null): Promise<void> {
  await rm(set.workDir, { recursive: true, force: true });
  if (set.dbName && adminUrl) await dropDatabase(adminUrl, set.dbName);
}

/** Drops a size's database. */
async function dropDatabase(adminUrl: string, dbName: string): Promise<void> {
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
  await admin.end();
}
