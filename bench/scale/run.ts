/**
 * Scale benchmark (issue 17): one `nw server` replica, or several on PostgreSQL (`--replicas N`,
 * through HAProxy or direct), against simulated agents speaking the real
 * protocol (bench/lib/agent-simulator.ts, several processes, each agent from its own 127/8
 * address), at several fleet sizes, each figure also as a ratio against the smallest size of the
 * same run (100 agents by default):
 *
 * - connect: from starting the fleet until every agent is connected; failed and timed-out handshakes
 * - steady: server CPU (share of one core) and RSS with every agent reporting metrics each second,
 *   per 1,000 agents; memory per agent over an idle server
 * - create → Running while loaded, p50/p99: on one simulated host (the server's share) and on one
 *   real `nw agent` with tcpdump on `lo` (bench/scale/real-agent.ts; dist/ must be built)
 * - fan-out: 1,000 captures created in parallel, one per host, all with the same filters: until all
 *   answered, until every agent had its order; then 1,000 stops and 1,000 deletes in parallel
 * - reconnect storm: every connection cut at once, until all are back
 * - with several replicas: per-replica CPU and RSS, HAProxy's connections and limit, and a crash —
 *   `kill -9` of one replica, until its agents are back through the others (bench/scale/replica-crash.ts)
 * - metrics: reports sent by the agents against rows stored (nothing lost), bytes per row
 * - a `/metrics` scrape and a page of the VM list: time and size
 *
 * Usage: node --import tsx bench/scale/run.ts [--sizes 100,1000,3000] [--database-url postgres://…] [--database-prefix nw_scale]
 *        [--steady-seconds 20] [--steady-delay-seconds 5] [--agents-per-process 2500]
 *        [--fanout-only] [--fanout-repeats N] [--skip-fanout] [--server-cpu-prof DIR] [--server-root CHECKOUT]
 *        [--storm-timeout-seconds 600] [--connect-timeout-seconds 600] [--progress-seconds 10]
 *        [--replicas N] [--routing haproxy|direct] [--balancers 1] [--probes 20] [--no-real-agent] [--skip-crash]
 *        [--report-format batch|single|both|acks] [--agent-metrics-batch-seconds N]
 *
 * --report-format: how the simulated agents send their per-second samples — `batch` (default, as
 * the agent does with a server that announces batches: one `metrics.batch` every announced
 * interval), `single` (one `metrics` message a second, as before issue 17's batches), or `both`:
 * the steady state measured twice on the same server and fleet, single reports first, then
 * batches, and their ratio printed; `acks`: the same, batches without ids first (agents before
 * acknowledged batches: no `metrics.ack`), then the agent's acknowledged batches.
 */
import { copyFile, readFile } from 'node:fs/promises';
import { request as httpRequest, Agent } from 'node:http';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { enrollSimulatedHosts, type SimulatedFleetProcesses, type SimulatedHost } from '../lib/agent-simulator.js';
import { openPglite, Store, type Db } from '../../src/store/index.js';
import { tickCpuSeconds } from '../capture-fidelity/cpu.js';
import { startFleetOverReplicas } from './fleet-over-replicas.js';
import { describeQueues, markHellos, waitHellosRecorded, watchQueues, type QueueFigures } from './kernel-queues.js';
import { startRealAgent, type ApiCall } from './real-agent.js';
import { measureReplicaCrash, type ReplicaCrashFigures } from './replica-crash.js';
import { dropServerSetData, startServerSet, type ReplicaRouting, type ServerSet } from './replica-set.js';

const args = process.argv.slice(2);
const arg = (name: string, fallback: string) => (args.includes(name) ? args[args.indexOf(name) + 1]! : fallback);
const sizes = arg('--sizes', '100,1000,3000').split(',').map(Number);
const databaseUrl = args.includes('--database-url') ? arg('--database-url', '') : null;
// Each size's database is PREFIX_<pid>_<ms> (nw_scale unless given).
const databasePrefix = arg('--database-prefix', 'nw_scale');
const steadySeconds = Number(arg('--steady-seconds', '20'));
/** Wait between the connect and the steady measurement: the hellos' database work may still run then (PGlite in a worker thread). */
const steadyDelaySeconds = Number(arg('--steady-delay-seconds', '5'));
const agentsPerProcess = Number(arg('--agents-per-process', '2500'));
// Profiling aids: a V8 CPU profile of the server (written when it stops), and a run of only the
// fan-out (connect, then creates/stops/deletes `--fanout-repeats` times; no steady, probe or storm).
const serverCpuProfDir = args.includes('--server-cpu-prof') ? arg('--server-cpu-prof', '') : null;
const fanoutOnly = args.includes('--fanout-only');
const fanoutRepeats = Number(arg('--fanout-repeats', '1'));
// A short run for connect, steady and storm only (no probe, no fan-out).
const skipFanout = args.includes('--skip-fanout');
// How long the storm may take before the run gives up on it (the figures are still printed).
const stormTimeoutSeconds = Number(arg('--storm-timeout-seconds', '600'));
// How long the first connect may take before the size is given up (its queue figures are logged).
const connectTimeoutSeconds = Number(arg('--connect-timeout-seconds', '600'));
// While connecting and in the storm: the fleet's counters every this many seconds (0: none).
const progressSeconds = Number(arg('--progress-seconds', '10'));
// Several replicas on one PostgreSQL database (issue 17): agents and API calls through HAProxy
// (docs/deploy/haproxy.cfg) or each agent given one replica's address directly.
const replicaCount = Number(arg('--replicas', '1'));
const routing = arg('--routing', 'haproxy') as ReplicaRouting;
// HAProxy instances, each an address in front of every replica; agents are given all of them
// (`nw agent --server LB1,LB2`): no single balancer, and each carries 1/N of the connections.
const balancerCount = Number(arg('--balancers', '1'));
if (!(balancerCount >= 1)) throw new Error('--balancers is a count ≥ 1');
if (replicaCount > 1 && !databaseUrl) throw new Error('--replicas needs --database-url (replicas share PostgreSQL)');
if (routing !== 'haproxy' && routing !== 'direct') throw new Error('--routing is haproxy or direct');
// Creates timed per size on each of the simulated and the real agent.
const probeCount = Number(arg('--probes', '20'));
const withRealAgent = !args.includes('--no-real-agent');
// The crash (kill -9 of the last replica) ends each size of a run with several replicas.
const skipCrash = args.includes('--skip-crash');
// The servers' batch interval (`nw server --agent-metrics-batch-seconds`; its default, 5, unless given): 1 is the most messages (and acks).
const batchSeconds = args.includes('--agent-metrics-batch-seconds') ? arg('--agent-metrics-batch-seconds', '') : null;
const reportFormat = arg('--report-format', 'batch');
if (!['batch', 'single', 'both', 'acks'].includes(reportFormat))
  throw new Error('--report-format is batch, single, both or acks');
/** With `both` or `acks`, the steady state measured twice: first with this format, then with acknowledged batches. */
const baselineFormat = reportFormat === 'both' ? 'single' : reportFormat === 'acks' ? 'unacked' : null;
const baselineName = reportFormat === 'acks' ? 'batches without acks' : 'single reports';
const SUB = '00000000-0000-0000-0000-000000000000';
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
// The checkout whose server runs (default this one): an A/B of two versions in one run of the simulator.
const serverRoot = arg('--server-root', ROOT);
const WATCHER = `/subscriptions/${SUB}/resourceGroups/NetworkWatcherRG/providers/Microsoft.Network/networkWatchers/NetworkWatcher_westcentralus`;
const STORAGE = `/subscriptions/${SUB}/resourceGroups/NetworkWatcherRG/providers/Microsoft.Storage/storageAccounts/nwlocal`;
const FILTERS = [
  { protocol: 'TCP', remotePort: '443', localIPAddress: '10.0.0.0-10.255.255.255' },
  { protocol: 'UDP', remotePort: '53' },
];

const http = new Agent({ keepAlive: true, maxSockets: 256 });

/** One API call; resolves with status, body and elapsed ms. */
function api(
  base: string,
  token: string,
  method: string,
  path: string,
  body?: unknown,
): Promise<{
  status: number;
  body: unknown;
  ms: number;
  bytes: number;
  headers: Record<string, string | string[] | undefined>;
}> {
  const started = performance.now();
  const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      new URL(path, base),
      {
        method,
        agent: http,
        headers: {
          Authorization: `Bearer ${token}`,
          ...(payload ? { 'Content-Type': 'application/json', 'Content-Length': String(payload.length) } : {}),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const buf = Buffer.concat(chunks);
          let parsed: unknown = buf.toString('utf8');
          try {
            parsed = JSON.parse(parsed as string);
          } catch {
            /* text */
          }
          resolve({
            status: res.statusCode ?? 0,
            body: parsed,
            ms: performance.now() - started,
            bytes: buf.length,
            headers: res.headers,
          });
        });
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

/** CPU seconds (user+system) and RSS of a process, from /proc. */
async function usage(pid: number): Promise<{ cpuSeconds: number; rssBytes: number }> {
  const stat = (await readFile(`/proc/${pid}/stat`, 'utf8')).split(') ')[1]!.split(' ');
  const ticks = Number(stat[11]) + Number(stat[12]);
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const rssKb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  return { cpuSeconds: ticks / 100, rssBytes: rssKb * 1024 };
}

/**
 * The V8 heap in use of each replica (its `/metrics`: prom-client's nodejs_heap_size_used_bytes),
 * summed: less noisy than RSS for memory per agent (RSS holds freed pages and allocator slack).
 * The least of `samples` reads 250 ms apart: a read just after a collection is closest to what
 * is live (one read swings by tens of MiB with the garbage not yet collected).
 */
async function heapUsedBytes(set: ServerSet, samples = 20): Promise<number> {
  let total = 0;
  for (const r of set.replicas) {
    let least = Number.POSITIVE_INFINITY;
    for (let i = 0; i < samples; i++) {
      if (i > 0) await sleep(250);
      const scrape = await api(r.url, set.token, 'GET', '/metrics?perHost=false');
      const text = typeof scrape.body === 'string' ? scrape.body : '';
      least = Math.min(least, Number(/^nw_server_nodejs_heap_size_used_bytes\s+(\S+)/m.exec(text)?.[1] ?? NaN));
    }
    total += least;
  }
  return total;
}

/** CPU of each process as a share of one core over `seconds`. */
async function cpuShares(pids: number[], seconds: number): Promise<number[]> {
  const a = await Promise.all(pids.map(usage));
  const t0 = performance.now();
  await sleep(seconds * 1000);
  const b = await Promise.all(pids.map(usage));
  const elapsedSeconds = (performance.now() - t0) / 1000;
  return pids.map((_, i) => (b[i]!.cpuSeconds - a[i]!.cpuSeconds) / elapsedSeconds);
}

/**
 * CPU seconds of a process's main thread (its JavaScript event loop: /proc/PID/task/PID), which
 * the process total hides once work runs on other threads (PGlite in a worker, issue 17 §2); 0
 * for a process gone.
 */
async function mainThreadCpuSeconds(pid: number): Promise<number> {
  return (await tickCpuSeconds(pid, String(pid))) ?? 0;
}

/** CPU seconds summed over several processes. */
async function cpuSecondsOf(pids: number[]): Promise<number> {
  let total = 0;
  for (const pid of pids) total += (await usage(pid).catch(() => ({ cpuSeconds: 0 }))).cpuSeconds;
  return total;
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((x, y) => x - y);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

/** Opens the stopped servers' database to count what was stored. */
async function openDb(set: ServerSet): Promise<Db & { end(): Promise<void> }> {
  if (set.dbUrl) {
    const c = new pg.Client({ connectionString: set.dbUrl });
    await c.connect();
    const self = {
      engine: 'postgres',
      query: async (sql: string, p?: unknown[]) => (await c.query(sql, p)).rows,
      // One client: its statements between BEGIN and COMMIT are the transaction.
      transaction: async (fn: (tx: unknown) => Promise<unknown>) => {
        await c.query('BEGIN');
        try {
          const out = await fn(self);
          await c.query('COMMIT');
          return out;
        } catch (error) {
          await c.query('ROLLBACK');
          throw error;
        }
      },
      close: () => c.end(),
      end: () => c.end(),
    };
    return self as never;
  }
  const db = await openPglite(join(set.replicas[0]!.dataDir, 'db'));
  return Object.assign(db, { end: () => db.close() });
}

/**
 * Runs `fn` for every item at once; resolves with the time until all answered, and the failures
 * by cause (HTTP status with the error code of its body, or the request's error code), each
 * cause's first answer printed once (what it said).
 */
async function allAtOnce<T>(
  items: T[],
  fn: (item: T) => Promise<{ status: number; body?: unknown }>,
  okStatus: (s: number) => boolean,
): Promise<{ ms: number; failed: number; causes: Record<string, number> }> {
  const started = performance.now();
  const results = await Promise.all(
    items.map((i) =>
      fn(i).then(
        (r) => {
          const code = (r.body as { error?: { code?: string } } | undefined)?.error?.code;
          return { status: r.status, cause: `HTTP ${r.status}${code ? ` ${code}` : ''}`, body: r.body };
        },
        (error: NodeJS.ErrnoException) => ({
          status: 0,
          cause: error.code ?? error.message.slice(0, 60),
          body: error.message as unknown,
        }),
      ),
    ),
  );
  const causes: Record<string, number> = {};
  for (const r of results) {
    if (okStatus(r.status)) continue;
    if (!causes[r.cause]) console.error(`  first ${r.cause}: ${JSON.stringify(r.body).slice(0, 400)}`);
    causes[r.cause] = (causes[r.cause] ?? 0) + 1;
  }
  return {
    ms: performance.now() - started,
    failed: results.filter((r) => !okStatus(r.status)).length,
    causes,
  };
}

interface Figures {
  agents: number;
  replicas: number;
  connectMs: number;
  failedHandshakes: number;
  handshakeTimeouts: number;
  /** Summed over the replicas. */
  idleRssBytes: number;
  /** V8 heap in use at start (no agent) and while steady (heapUsedBytes). */
  idleHeapBytes: number;
  steadyHeapBytes: number;
  steadyCpu: number;
  steadyRssBytes: number;
  /** Per replica (index order). */
  steadyCpuByReplica: number[];
  steadyRssBytesByReplica: number[];
  /** Agents whose lease each replica held while steady (PostgreSQL). */
  agentsByReplica: number[];
  /** Per HAProxy instance: its CPU while steady, its open connections then and its limit. */
  balancerCpu: number[];
  balancerConnections: number[];
  balancerMaxConnections: number[];
  balancerFrontendMax: number[];
  createToRunningP50: number;
  createToRunningP99: number;
  realCreateToRunningP50: number;
  realCreateToRunningP99: number;
  fanoutHosts: number;
  fanoutCreateMs: number;
  fanoutOrdersMs: number;
  fanoutFailed: number;
  fanoutFailureCauses: Record<string, number>;
  fanoutStopMs: number;
  fanoutDeleteMs: number;
  stormMs: number;
  stormFailedAttempts: number;
  stormTimeouts: number;
  crash: ReplicaCrashFigures | null;
  failureCauses: Record<string, number>;
  unexpectedDrops: number;
  reportsSent: number;
  rowsStored: number;
  minuteReports: number;
  rawBytesPerRow: number;
  minuteBytesPerRow: number;
  scrapeMs: number;
  scrapeBytes: number;
  vmPageMs: number;
  load: number;
  /** From starting the fleet until every host was recorded connected (hello handled); PostgreSQL only. */
  greetedMs: number;
  /** From the storm's cut until every host's hello of the storm was recorded (PostgreSQL only). */
  stormGreetedMs: number;
  /** The same two as the server's probe counts its recorded hellos (event-loop-probe.mjs; either database; to the probe's 500 ms). */
  probeGreetedMs: number;
  stormProbeGreetedMs: number;
  /** Server (summed over replicas) and simulator CPU (share of one core) while connecting, steady and in the storm; 1-min load average then. */
  connectServerCpu: number;
  connectSimCpu: number;
  steadySimCpu: number;
  /** With --report-format both: the steady state with single reports (before the batches' figure). */
  steadySingle: { cpu: number; simCpu: number; load: number } | null;
  stormServerCpu: number;
  stormSimCpu: number;
  /** The same for the replicas' main threads alone (the event loop: sockets, handshakes, and PGlite when it runs in-thread). */
  connectServerMainCpu: number;
  steadyServerMainCpu: number;
  stormServerMainCpu: number;
  /** The kernel's listen queues and the replicas' event-loop delay while connecting and in the storm (kernel-queues.ts). */
  connectQueues: QueueFigures;
  stormQueues: QueueFigures;
  loads: { connect: number; steady: number; storm: number; realProbe: number; crash: number };
}

type Fleet = SimulatedFleetProcesses;

/** An API call on the set's next API address (HAProxy, or the replicas in turn). */
function apiOn(set: ServerSet): ApiCall {
  return (method, path, body) => api(set.nextApiUrl(), set.token, method, path, body);
}

/** Process ids of the replicas still running. */
function replicaPids(set: ServerSet): number[] {
  return set.replicas.filter((r) => r.proc.exitCode === null && r.proc.signalCode === null).map((r) => r.pid);
}

/** CPU seconds summed over the replicas still running. */
function serverCpuSeconds(set: ServerSet): Promise<number> {
  return cpuSecondsOf(replicaPids(set));
}

/** CPU seconds of the running replicas' main threads, summed. */
async function serverMainThreadCpuSeconds(set: ServerSet): Promise<number> {
  let total = 0;
  for (const pid of replicaPids(set)) total += await mainThreadCpuSeconds(pid);
  return total;
}

/** `causes` with each key prefixed by `what`. */
function prefixed(what: string, causes: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(causes).map(([k, v]) => [`${what} ${k}`, v]));
}

/** Logs the fleet's counters every `progressSeconds` (connected, failures by cause, drops) until stopped. */
function progress(fleet: Fleet, log: (m: string) => void, what: string, since: number): { stop(): void } {
  if (progressSeconds <= 0) return { stop() {} };
  const timer = setInterval(() => {
    void fleet
      .stats()
      .then((st) =>
        log(
          `${what} +${((performance.now() - since) / 1000).toFixed(0)} s: ${st.connected} connected, ${st.failedAttempts} failed (${st.handshakeTimeouts} timed out), ${st.unexpectedDrops} dropped, spread announced ≤ ${st.largestSpreadInSeconds} s, causes ${JSON.stringify(st.failureCauses)}, load ${loadavg()[0]!.toFixed(1)}`,
        ),
      );
  }, progressSeconds * 1000);
  return { stop: () => clearInterval(timer) };
}

/** One capture per target host created at once (same filters), then stopped and deleted at once. */
async function fanout(
  set: ServerSet,
  fleet: Fleet,
  targets: SimulatedHost[],
  prefix: string,
): Promise<{
  createMs: number;
  ordersMs: number;
  stopMs: number;
  deleteMs: number;
  failed: number;
  causes: Record<string, number>;
}> {
  const call = apiOn(set);
  const path = (h: SimulatedHost) => `${WATCHER}/packetCaptures/${prefix}-${h.vmName}`;
  const ordersBefore = (await fleet.stats()).ordersReceived;
  if (process.env.BENCH_SQL_STATS) for (const pid of replicaPids(set)) process.kill(pid, 'SIGUSR2');
  const fan0 = performance.now();
  const create = await allAtOnce(
    targets,
    (h) =>
      call('PUT', `${path(h)}?api-version=2024-05-01`, {
        properties: {
          target: h.vmId,
          storageLocation: { storageId: STORAGE },
          timeLimitInSeconds: 300,
          filters: FILTERS,
        },
      }),
    (st) => st === 201,
  );
  if (process.env.BENCH_SQL_STATS) for (const pid of replicaPids(set)) process.kill(pid, 'SIGUSR2');
  for (const [i, b] of set.loadBalancers.entries()) {
    const c = await b.connections();
    console.error(
      `  haproxy ${i + 1} after the creates: ${c.retries} retried, ${c.redispatches} redispatched, replicas marked down ${c.replicasMarkedDown} times (since its start)`,
    );
  }
  let ordersMs = NaN;
  for (let i = 0; i < 1200; i++) {
    // Every created capture's order at its agent (a failed create has none).
    if ((await fleet.stats()).ordersReceived - ordersBefore >= targets.length - create.failed) {
      ordersMs = performance.now() - fan0;
      break;
    }
    await sleep(50);
  }
  const stop = await allAtOnce(
    targets,
    (h) => call('POST', `${path(h)}/stop?api-version=2024-05-01`),
    (st) => st === 200 || st === 202,
  );
  const del = await allAtOnce(
    targets,
    (h) => call('DELETE', `${path(h)}?api-version=2024-05-01`),
    (st) => st === 200 || st === 202 || st === 204,
  );
  return {
    createMs: create.ms,
    ordersMs,
    stopMs: stop.ms,
    deleteMs: del.ms,
    failed: create.failed + stop.failed + del.failed,
    causes: {
      ...prefixed('create', create.causes),
      ...prefixed('stop', stop.causes),
      ...prefixed('delete', del.causes),
    },
  };
}

/**
 * `count` captures on `vmId`, one after another: each from its create until the create operation
 * succeeded (the agent reported Running), then deleted (and, with `waitGone`, until the delete is
 * done: a real agent's tcpdump stops and its file is stored before the next starts). Returns ms.
 */
async function createToRunning(
  call: ApiCall,
  vmId: string,
  count: number,
  prefix: string,
  waitGone: boolean,
): Promise<number[]> {
  const latencies: number[] = [];
  for (let i = 0; i < count; i++) {
    const path = `${WATCHER}/packetCaptures/${prefix}${i}?api-version=2024-05-01`;
    const t0 = performance.now();
    const put = await call('PUT', path, {
      properties: { target: vmId, storageLocation: { storageId: STORAGE }, timeLimitInSeconds: 60, filters: FILTERS },
    });
    if (put.status !== 201) throw new Error(`probe create: ${put.status} ${JSON.stringify(put.body).slice(0, 300)}`);
    const op = new URL(String(put.headers['azure-asyncoperation']));
    for (;;) {
      const st = await call('GET', `${op.pathname}${op.search}`);
      const status = (st.body as { status?: string }).status;
      if (status === 'Succeeded') break;
      if (status !== 'InProgress') throw new Error(`probe create operation: ${JSON.stringify(st.body).slice(0, 300)}`);
      await sleep(5);
    }
    latencies.push(performance.now() - t0);
    await call('DELETE', path);
    for (let j = 0; waitGone && j < 2400 && (await call('GET', path)).status !== 404; j++) await sleep(25);
  }
  return latencies;
}

/** create → Running on one real `nw agent` (enrolled now, stopped after): p50 / p99 ms. */
async function realAgentCreateToRunning(set: ServerSet, n: number): Promise<{ p50: number; p99: number }> {
  const call = apiOn(set);
  const agent = await startRealAgent({
    api: call,
    // Every balancer, or every replica (the agent rotates between them when one fails).
    serverUrl: set.serverUrls,
    repoRoot: ROOT,
    workDir: set.workDir,
    resourceGroup: 'realrg',
    vmName: `real${n}`,
  });
  try {
    const latencies = await createToRunning(call, agent.vmId, probeCount, 'real', true);
    return { p50: percentile(latencies, 50), p99: percentile(latencies, 99) };
  } catch (error) {
    throw new Error(`${(error as Error).message}\nreal agent:\n${agent.log().slice(-3000)}`);
  } finally {
    await agent.stop();
  }
}

/** Hosts holding a lease on each replica (index order); [] on PGlite. */
async function agentsPerReplica(set: ServerSet): Promise<number[]> {
  if (!set.dbUrl) return [];
  const c = new pg.Client({ connectionString: set.dbUrl });
  await c.connect();
  try {
    const rows = (await c.query('SELECT replica_id, count(*)::int AS n FROM agent_leases GROUP BY replica_id'))
      .rows as Array<{ replica_id: string; n: number }>;
    return set.replicas.map((r) => rows.find((x) => x.replica_id === r.replicaId)?.n ?? 0);
  } finally {
    await c.end();
  }
}

/** Waits until every host is recorded connected (hello handled), at most `timeoutInMs`; ms since `started` (NaN when some never were). */
/**
 * Waits until `n` simulated hosts are recorded connected (with `helloSince`, an ISO time: by a
 * hello recorded since then — the storm's, whose hosts never show disconnected); the wait in ms
 * from `started`, NaN after `timeoutInMs`.
 */
async function waitGreeted(
  dbUrl: string,
  n: number,
  started: number,
  timeoutInMs = 600_000,
  helloSince?: string,
): Promise<number> {
  const c = new pg.Client({ connectionString: dbUrl });
  await c.connect();
  try {
    for (;;) {
      const [row] = (
        await c.query(
          `SELECT count(*)::int AS n FROM resources WHERE type = 'vm' AND name LIKE 'sim%' AND body->'properties'->'netwatcher'->>'agentConnected' = 'true'
             AND ($1::text IS NULL OR body->'properties'->'netwatcher'->>'lastSeenAt' >= $1::text)`,
          [helloSince ?? null],
        )
      ).rows as Array<{ n: number }>;
      if (row!.n >= n) return performance.now() - started;
      if (performance.now() - started > timeoutInMs) {
        console.error(`only ${row!.n} of ${n} hosts recorded connected after ${timeoutInMs / 1000} s`);
        return NaN;
      }
      await sleep(250);
    }
  } finally {
    await c.end();
  }
}

async function runSize(n: number): Promise<Figures | null> {
  const set = await startServerSet({
    count: replicaCount,
    routing,
    databaseUrl,
    databasePrefix,
    serverRoot,
    repoRoot: ROOT,
    cpuProfDir: serverCpuProfDir,
    balancers: balancerCount,
    ...(batchSeconds ? { serverArgs: ['--agent-metrics-batch-seconds', batchSeconds] } : {}),
  });
  try {
    const idle = await Promise.all(set.replicas.map((r) => usage(r.pid)));
    const idleHeap = await heapUsedBytes(set);
    const log = (m: string) => console.error(`[${n}${replicaCount > 1 ? ` ×${replicaCount}` : ''}] ${m}`);
    log('enrolling');
    const hosts: SimulatedHost[] = await enrollSimulatedHosts({
      serverUrl: set.url,
      adminToken: set.token,
      count: n,
      concurrency: 32,
    });
    log(
      `connecting ${n} agents (${set.loadBalancers.length === 0 ? 'direct' : `through ${set.loadBalancers.length} HAProxy`})`,
    );
    const watch = () =>
      watchQueues(
        set.replicas.map((r) => r.port),
        set.replicas.map((r) => r.eventLoopFile),
      );
    const beforeConnect = await serverCpuSeconds(set);
    const beforeConnectMain = await serverMainThreadCpuSeconds(set);
    const connectWatch = watch();
    const started = performance.now();
    const startedAtMs = Date.now();
    const eventLoopFiles = set.replicas.map((r) => r.eventLoopFile);
    // Every host's hello recorded, as the server itself tells (its probe): either database.
    const probeGreeted = waitHellosRecorded(eventLoopFiles, n, connectTimeoutSeconds * 1000 + 600_000).then(
      (at) => at - startedAtMs,
    );
    const fleet = await startFleetOverReplicas({
      hosts,
      urlFor: set.agentUrlFor,
      agentsPerProcess,
      connectConcurrency: 256,
      reportFormat: reportFormat === 'single' ? 'single' : 'batch',
    });
    // The simulator processes were born after \`started\` (their CPU so far, start-up included, is the connect's).
    const connectProgress = progress(fleet, log, 'connect', started);
    const connectedAll = await fleet.waitConnected(n, connectTimeoutSeconds * 1000, 50).then(
      () => true,
      (error: unknown) => error as Error,
    );
    connectProgress.stop();
    if (connectedAll !== true) {
      log(`connect: ${describeQueues(await connectWatch.stop())}`);
      await fleet.stop();
      throw connectedAll;
    }
    const connectMs = performance.now() - started;
    const connectQueues = await connectWatch.stop();
    const afterConnect = await fleet.stats();
    const connectServerCpu = ((await serverCpuSeconds(set)) - beforeConnect) / (connectMs / 1000);
    const connectServerMainCpu = ((await serverMainThreadCpuSeconds(set)) - beforeConnectMain) / (connectMs / 1000);
    const connectSimCpu = (await cpuSecondsOf(fleet.pids)) / (connectMs / 1000);
    const loadConnect = loadavg()[0]!;
    log(
      `connected in ${(connectMs / 1000).toFixed(1)} s (server ${(connectServerCpu * 100).toFixed(0)} %, its main thread ${(connectServerMainCpu * 100).toFixed(0)} %, simulator ${(connectSimCpu * 100).toFixed(0)} % of a core, load ${loadConnect.toFixed(1)}), ${afterConnect.failedAttempts} failed / ${afterConnect.handshakeTimeouts} timed out`,
    );
    log(`connect: ${describeQueues(connectQueues)}`);
    if (fanoutOnly) {
      const targets = hosts.slice(0, Math.min(n, 1000));
      for (let rep = 0; rep < fanoutRepeats; rep++) {
        const f = await fanout(set, fleet, targets, `fan${rep}`);
        const sec = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
        log(
          `fan-out ${targets.length} #${rep}: creates answered ${sec(f.createMs)}, orders ${sec(f.ordersMs)}, stops ${sec(f.stopMs)}, deletes ${sec(f.deleteMs)}, failed ${f.failed}`,
        );
        console.log(JSON.stringify({ agents: n, rep, ...f, load: loadavg()[0] }));
      }
      await fleet.stop();
      await set.stop();
      return null;
    }
    // Steady means every hello handled (the host recorded connected): on PostgreSQL read from the
    // database; on either, as the server's probe tells (hellos recorded: the embedded database is
    // the server's own, no other process can read it meanwhile).
    const greetedMs = set.dbUrl ? await waitGreeted(set.dbUrl, n, started) : NaN;
    const probeGreetedMs = await probeGreeted;
    log(
      `every host recorded connected after ${(greetedMs / 1000).toFixed(1)} s (database), ${(probeGreetedMs / 1000).toFixed(1)} s (the server's own count)`,
    );
    // Both formats on the same server and fleet: single reports first (then batches, the steady figure below).
    let steadySingle: { cpu: number; simCpu: number; load: number } | null = null;
    if (baselineFormat) {
      await fleet.setReportFormat(baselineFormat);
      await sleep(5_000);
      const sim0 = await cpuSecondsOf(fleet.pids);
      const t0 = performance.now();
      const cpu = (await cpuShares(replicaPids(set), steadySeconds)).reduce((a, b) => a + b, 0);
      const simCpu = ((await cpuSecondsOf(fleet.pids)) - sim0) / ((performance.now() - t0) / 1000);
      steadySingle = { cpu, simCpu, load: loadavg()[0]! };
      log(
        `steady cpu with ${baselineName} ${(cpu * 100).toFixed(1)} % (simulator ${(simCpu * 100).toFixed(0)} %), load ${steadySingle.load.toFixed(1)}`,
      );
      await fleet.setReportFormat('batch');
      // The first batches leave one interval after the switch.
      await sleep(2_000);
    }
    await sleep(steadyDelaySeconds * 1000);
    const pingsSteady0 = (await fleet.stats()).keepalivePings;
    const simSteady0 = await cpuSecondsOf(fleet.pids);
    const steady0 = performance.now();
    const steadyMain0 = await serverMainThreadCpuSeconds(set);
    const balancerPids = set.loadBalancers.map((b) => b.pid);
    const shares = await cpuShares([...replicaPids(set), ...balancerPids], steadySeconds);
    const steadyCpuByReplica = shares.slice(0, set.replicas.length);
    const steadyCpu = steadyCpuByReplica.reduce((a, b) => a + b, 0);
    const steadyServerMainCpu =
      ((await serverMainThreadCpuSeconds(set)) - steadyMain0) / ((performance.now() - steady0) / 1000);
    const balancerCpu = shares.slice(set.replicas.length);
    const steadySimCpu = ((await cpuSecondsOf(fleet.pids)) - simSteady0) / ((performance.now() - steady0) / 1000);
    const steadyRssBytesByReplica = (await Promise.all(set.replicas.map((r) => usage(r.pid)))).map((u) => u.rssBytes);
    const steadyRss = steadyRssBytesByReplica.reduce((a, b) => a + b, 0);
    const steadyHeap = await heapUsedBytes(set);
    log(
      `main thread (event loop) ${(steadyServerMainCpu * 100).toFixed(1)} % of a core of the steady ${(steadyCpu * 100).toFixed(1)} %; heap used: idle ${(idleHeap / 2 ** 20).toFixed(1)} MiB, steady ${(steadyHeap / 2 ** 20).toFixed(1)} MiB (${((steadyHeap - idleHeap) / n / 1024).toFixed(1)} KiB per agent); rss idle ${(idle.reduce((a, u) => a + u.rssBytes, 0) / 2 ** 20).toFixed(0)} MiB, steady ${(steadyRss / 2 ** 20).toFixed(0)} MiB (${((steadyRss - idle.reduce((a, u) => a + u.rssBytes, 0)) / n / 1024).toFixed(1)} KiB per agent)`,
    );
    const agentsByReplica = await agentsPerReplica(set);
    const balancers = await Promise.all(set.loadBalancers.map((b) => b.connections()));
    const loadSteady = loadavg()[0]!;
    // The agents' own keep-alive pings (issue 17): none against a server that pings every connection.
    const steadyKeepalivePings = (await fleet.stats()).keepalivePings - pingsSteady0;
    const pcs = (v: number[]) => v.map((x) => `${(x * 100).toFixed(0)} %`).join(' + ');
    log(
      `steady cpu${baselineFormat ? ' with acknowledged batches' : ''} ${pcs(steadyCpuByReplica)} (main threads ${(steadyServerMainCpu * 100).toFixed(0)} %; simulator ${(steadySimCpu * 100).toFixed(0)} %), rss ${steadyRssBytesByReplica.map((b) => (b / 2 ** 20).toFixed(0)).join(' + ')} MiB, agents per replica ${agentsByReplica.join(' / ')}, load ${loadSteady.toFixed(1)}, agents' keep-alive pings ${steadyKeepalivePings}${steadySingle ? `; acknowledged batches ÷ ${baselineName} ${(steadyCpu / steadySingle.cpu).toFixed(2)}` : ''}${balancers.map((b, i) => `; haproxy ${i + 1}: ${(balancerCpu[i]! * 100).toFixed(0)} %, ${b.current} connections of ${b.max} (frontend limit ${b.frontendMax})`).join('')}`,
    );

    // Create → Running on one simulated host while loaded (it answers at once: the server's share).
    const latencies = skipFanout
      ? [NaN]
      : await createToRunning(apiOn(set), hosts[0]!.vmId, probeCount, 'probe', false);
    // … and on one real agent (tcpdump on lo), the same number of times.
    const real = withRealAgent && !skipFanout ? await realAgentCreateToRunning(set, n) : { p50: NaN, p99: NaN };
    const loadRealProbe = loadavg()[0]!;
    log(
      `create→Running p50/p99: simulated ${percentile(latencies, 50).toFixed(0)} / ${percentile(latencies, 99).toFixed(0)} ms, real agent ${real.p50.toFixed(0)} / ${real.p99.toFixed(0)} ms (load ${loadRealProbe.toFixed(1)})`,
    );

    // Fan-out: one capture per host on up to 1,000 hosts, all at once.
    const targets = hosts.slice(1, Math.min(n, 1001));
    const fan = skipFanout
      ? { createMs: NaN, ordersMs: NaN, stopMs: NaN, deleteMs: NaN, failed: 0, causes: {} }
      : await fanout(set, fleet, targets, 'fan');
    log(
      `fan-out ${targets.length}: answered ${(fan.createMs / 1000).toFixed(1)} s, orders ${(fan.ordersMs / 1000).toFixed(1)} s, failed ${fan.failed} ${JSON.stringify(fan.causes)}`,
    );

    // Scrape and list while loaded.
    const scrape = await api(set.nextApiUrl(), set.token, 'GET', '/metrics');
    const vmPage = await api(
      set.nextApiUrl(),
      set.token,
      'GET',
      `/subscriptions/${SUB}/providers/Microsoft.Compute/virtualMachines?api-version=2024-03-01`,
    );

    // Reconnect storm.
    const s0 = await fleet.stats();
    const stormServer0 = await serverCpuSeconds(set);
    const stormServerMain0 = await serverMainThreadCpuSeconds(set);
    const stormSim0 = await cpuSecondsOf(fleet.pids);
    const stormWatch = watch();
    const storm0 = performance.now();
    const stormStartedAtMs = Date.now();
    const stormStartedAt = new Date(stormStartedAtMs).toISOString();
    markHellos(eventLoopFiles, stormStartedAtMs);
    const stormProbeGreeted = waitHellosRecorded(eventLoopFiles, n, stormTimeoutSeconds * 1000 + 600).then(
      (at) => at - stormStartedAtMs,
    );
    await fleet.dropAll();
    const stormProgress = progress(fleet, log, 'storm', storm0);
    // The agents are back once their connections are open; the server is done with them once
    // every hello of the storm is recorded (its greetings' database work: lease, host, captures).
    // Watched from the cut on, beside the agents' count.
    const stormGreeted = set.dbUrl
      ? waitGreeted(set.dbUrl, n, storm0, stormTimeoutSeconds * 1000, stormStartedAt)
      : Promise.resolve(NaN);
    const stormBack = await fleet.waitConnected(n, stormTimeoutSeconds * 1000, 50).then(
      () => true,
      (error: unknown) => {
        log(`storm: ${(error as Error).message}`);
        return false;
      },
    );
    stormProgress.stop();
    const stormMs = stormBack ? performance.now() - storm0 : NaN;
    const stormQueues = await stormWatch.stop();
    const stormServerCpu = ((await serverCpuSeconds(set)) - stormServer0) / (stormMs / 1000);
    const stormServerMainCpu = ((await serverMainThreadCpuSeconds(set)) - stormServerMain0) / (stormMs / 1000);
    const stormSimCpu = ((await cpuSecondsOf(fleet.pids)) - stormSim0) / (stormMs / 1000);
    const loadStorm = loadavg()[0]!;
    await sleep(2_000);
    const s1 = await fleet.stats();
    log(
      `storm: back in ${(stormMs / 1000).toFixed(1)} s (server ${(stormServerCpu * 100).toFixed(0)} %, its main thread ${(stormServerMainCpu * 100).toFixed(0)} %, simulator ${(stormSimCpu * 100).toFixed(0)} %, load ${loadStorm.toFixed(1)})`,
    );
    log(
      `storm: ${describeQueues(stormQueues)}; reconnect spread announced before the storm ≤ ${s0.largestSpreadInSeconds} s (0: none)`,
    );
    const stormGreetedMs = await stormGreeted;
    const stormProbeGreetedMs = await stormProbeGreeted;
    log(
      `storm: every hello recorded after ${(stormGreetedMs / 1000).toFixed(1)} s (database), ${(stormProbeGreetedMs / 1000).toFixed(1)} s (the server's own count)`,
    );

    // A crash: kill -9 of the last replica; its agents come back through the others.
    let crash: ReplicaCrashFigures | null = null;
    if (set.replicas.length > 1 && !skipCrash) {
      // Every host recorded connected again after the storm (or 120 s), so the crash starts clean.
      if (set.dbUrl) await waitGreeted(set.dbUrl, n, performance.now(), 120_000);
      crash = await measureReplicaCrash({
        victim: set.replicas.at(-1)!,
        fleet,
        agents: n,
        dbUrl: set.dbUrl!,
        timeoutInMs: 300_000,
      });
      const sec = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
      log(
        `crash of replica ${set.replicas.length - 1} (${crash.hostsOnVictim} hosts): agents back ${sec(crash.agentsBackMs)}, its heartbeat expired ${sec(crash.victimExpiredMs)}, leases on live replicas ${sec(crash.leasesMovedMs)}, all recorded connected ${sec(crash.recordedConnectedMs)} (fewest recorded connected ${crash.fewestRecordedConnected}, recorded disconnected at the end ${crash.recordedDisconnectedAtEnd}), load ${loadavg()[0]!.toFixed(1)}`,
      );
    }
    const loadCrash = loadavg()[0]!;
    // Counted after the crash too: reports in flight on the killed replica's connections are lost
    // with it (an agent does not resend reports), and this is where they would show.
    const final = await fleet.stats();
    await fleet.stop();
    await sleep(1_500);
    await set.stop();

    const db = await openDb(set);
    // Every stored sample rolled up into its minute, as the prune does once the raw retention
    // passes it: "in minutes" then counts each stored sample once (a re-sent one too).
    await new Store(db).advanceMetricRawSince(new Date(Date.now() + 3_600_000));
    const [counts] =
      await db.query(`SELECT (SELECT count(*) FROM metric_raw)::float8 AS raw, (SELECT coalesce(sum(n[1]), 0) FROM metric_minutes)::float8 AS minute_reports,
      (SELECT count(*) FROM metric_minutes)::float8 AS minute_rows, pg_total_relation_size('metric_raw')::float8 AS raw_bytes, pg_total_relation_size('metric_minutes')::float8 AS minute_bytes`);
    await db.end();
    return {
      agents: n,
      replicas: set.replicas.length,
      connectMs,
      failedHandshakes: afterConnect.failedAttempts,
      handshakeTimeouts: afterConnect.handshakeTimeouts,
      idleRssBytes: idle.reduce((a, u) => a + u.rssBytes, 0),
      idleHeapBytes: idleHeap,
      steadyHeapBytes: steadyHeap,
      steadyCpu,
      steadyRssBytes: steadyRss,
      steadyCpuByReplica,
      steadyRssBytesByReplica,
      agentsByReplica,
      balancerCpu,
      balancerConnections: balancers.map((b) => b.current),
      balancerMaxConnections: balancers.map((b) => b.max),
      balancerFrontendMax: balancers.map((b) => b.frontendMax),
      createToRunningP50: percentile(latencies, 50),
      createToRunningP99: percentile(latencies, 99),
      realCreateToRunningP50: real.p50,
      realCreateToRunningP99: real.p99,
      fanoutHosts: targets.length,
      fanoutCreateMs: fan.createMs,
      fanoutOrdersMs: fan.ordersMs,
      fanoutFailed: fan.failed,
      fanoutFailureCauses: fan.causes,
      fanoutStopMs: fan.stopMs,
      fanoutDeleteMs: fan.deleteMs,
      stormMs,
      stormFailedAttempts: s1.failedAttempts - s0.failedAttempts,
      stormTimeouts: s1.handshakeTimeouts - s0.handshakeTimeouts,
      crash,
      unexpectedDrops: final.unexpectedDrops,
      failureCauses: final.failureCauses,
      reportsSent: final.metricReports,
      rowsStored: Number(counts!.raw),
      minuteReports: Number(counts!.minute_reports),
      rawBytesPerRow: Number(counts!.raw_bytes) / Math.max(1, Number(counts!.raw)),
      minuteBytesPerRow: Number(counts!.minute_bytes) / Math.max(1, Number(counts!.minute_rows)),
      scrapeMs: scrape.ms,
      scrapeBytes: scrape.bytes,
      vmPageMs: vmPage.ms,
      load: loadavg()[0]!,
      greetedMs,
      stormGreetedMs,
      probeGreetedMs,
      stormProbeGreetedMs,
      connectServerCpu,
      connectServerMainCpu,
      steadyServerMainCpu,
      stormServerMainCpu,
      connectSimCpu,
      steadySimCpu,
      steadySingle,
      stormServerCpu,
      stormSimCpu,
      connectQueues,
      stormQueues,
      loads: { connect: loadConnect, steady: loadSteady, storm: loadStorm, realProbe: loadRealProbe, crash: loadCrash },
    };
  } finally {
    await set.stop();
    // Beside the profiles: the event-loop lines carry the profiles' clock (monoUs), so a hold is found in them.
    if (serverCpuProfDir)
      for (const r of set.replicas)
        await copyFile(r.eventLoopFile, join(serverCpuProfDir, `event-loop-${r.pid}.jsonl`)).catch(() => undefined);
    await dropServerSetData(set, databaseUrl);
  }
}

const results: Figures[] = [];
for (const n of sizes) {
  const figures = await runSize(n);
  if (!figures) continue;
  results.push(figures);
  console.error(JSON.stringify(figures));
}
http.destroy();
if (fanoutOnly) process.exit(0);

const base = results[0]!;
const r = (v: number, b: number) => (b > 0 && Number.isFinite(v) ? `${(v / b).toFixed(2)}×` : '—');
const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const where =
  replicaCount > 1
    ? `${replicaCount} replicas (${routing === 'haproxy' ? `through ${balancerCount} HAProxy` : 'agents given replica addresses, API round-robin'})`
    : 'one replica';
console.log(
  `scale benchmark, ${where} on ${databaseUrl ? 'PostgreSQL' : 'PGlite'}; ratios against ${base.agents} agents in the same run; 1-min load average at each size: ${results.map((x) => x.load.toFixed(1)).join(' / ')}`,
);
console.log(
  '| agents | connect (ratio) | failed / timed-out handshakes | steady CPU, share of a core (per 1,000) | RSS (per agent over idle) | create→Running p50 / p99: simulated (ratio) | real agent (ratio) | fan-out: creates answered / orders at agents (hosts) | stops / deletes answered | storm back (ratio) | storm failures / timeouts | reports sent / stored / in minutes | /metrics scrape | VM list page |',
);
console.log('|---|---|---|---|---|---|---|---|---|---|---|---|---|---|');
for (const x of results) {
  console.log(
    `| ${x.agents} | ${s(x.connectMs)} (${r(x.connectMs, base.connectMs)}) | ${x.failedHandshakes} / ${x.handshakeTimeouts} | ${(x.steadyCpu * 100).toFixed(1)} % (${((x.steadyCpu * 100) / (x.agents / 1000)).toFixed(1)} %; ${r(x.steadyCpu, base.steadyCpu)}) | ${(x.steadyRssBytes / 2 ** 20).toFixed(0)} MiB (${((x.steadyRssBytes - x.idleRssBytes) / x.agents / 1024).toFixed(0)} KiB) | ${x.createToRunningP50.toFixed(0)} / ${x.createToRunningP99.toFixed(0)} ms (${r(x.createToRunningP50, base.createToRunningP50)}) | ${x.realCreateToRunningP50.toFixed(0)} / ${x.realCreateToRunningP99.toFixed(0)} ms (${r(x.realCreateToRunningP50, base.realCreateToRunningP50)}) | ${s(x.fanoutCreateMs)} / ${s(x.fanoutOrdersMs)} (${x.fanoutHosts}; ${r(x.fanoutCreateMs, base.fanoutCreateMs)}${x.fanoutFailed ? `; ${x.fanoutFailed} failed: ${JSON.stringify(x.fanoutFailureCauses)}` : ''}) | ${s(x.fanoutStopMs)} / ${s(x.fanoutDeleteMs)} | ${s(x.stormMs)} (${r(x.stormMs, base.stormMs)}) | ${x.stormFailedAttempts} / ${x.stormTimeouts} | ${x.reportsSent} / ${x.rowsStored} / ${x.minuteReports} | ${x.scrapeMs.toFixed(0)} ms, ${(x.scrapeBytes / 1024).toFixed(0)} KiB | ${x.vmPageMs.toFixed(0)} ms |`,
  );
}
console.log(
  "| agents | all recorded connected after (database; the server's count) | storm: every hello recorded after (database; the server's count) | server CPU: connect / steady / storm | its main thread: connect / steady / storm | simulator CPU: connect (start-up included) / steady / storm | 1-min load: connect / steady / probes / storm / crash |",
);
console.log('|---|---|---|---|---|---|---|');
const pc = (v: number) => `${(v * 100).toFixed(0)} %`;
const fin = (ms: number) => (Number.isFinite(ms) ? s(ms) : '—');
for (const x of results) {
  console.log(
    `| ${x.agents} | ${fin(x.greetedMs)}; ${fin(x.probeGreetedMs)} | ${fin(x.stormGreetedMs)}; ${fin(x.stormProbeGreetedMs)} | ${pc(x.connectServerCpu)} / ${pc(x.steadyCpu)} / ${pc(x.stormServerCpu)} | ${pc(x.connectServerMainCpu)} / ${pc(x.steadyServerMainCpu)} / ${pc(x.stormServerMainCpu)} | ${pc(x.connectSimCpu)} / ${pc(x.steadySimCpu)} / ${pc(x.stormSimCpu)} | ${[x.loads.connect, x.loads.steady, x.loads.realProbe, x.loads.storm, x.loads.crash].map((l) => l.toFixed(1)).join(' / ')} |`,
  );
}
console.log(
  '| agents | phase | listen overflows / drops | SYN-queue full drops / syncookies sent | accept queue max (of backlog), samples full | event-loop delay max / p99 of 500 ms maxima |',
);
console.log('|---|---|---|---|---|---|');
for (const x of results) {
  for (const [phase, q] of [
    ['connect', x.connectQueues],
    ['storm', x.stormQueues],
  ] as const) {
    const c = q.counters;
    console.log(
      `| ${x.agents} | ${phase} | ${c.ListenOverflows} / ${c.ListenDrops} | ${c.TCPReqQFullDrop} / ${c.SyncookiesSent} | ${q.maxRecvQ} (${q.backlog}), ${q.fullSamples} of ${q.samples} | ${q.eventLoopMaxMs} / ${q.eventLoopP99OfMaxMs} ms |`,
    );
  }
}
if (replicaCount > 1) {
  console.log(
    '| agents | agents per replica | steady CPU per replica | RSS per replica | HAProxy (each): CPU, connections / limit (frontend) | crash of one replica (its hosts): agents back / heartbeat expired / leases on live replicas / all recorded connected (fewest recorded connected) |',
  );
  console.log('|---|---|---|---|---|---|');
  for (const x of results) {
    const c = x.crash;
    console.log(
      `| ${x.agents} | ${x.agentsByReplica.join(' / ')} | ${x.steadyCpuByReplica.map(pc).join(' / ')} | ${x.steadyRssBytesByReplica.map((b) => `${(b / 2 ** 20).toFixed(0)} MiB`).join(' / ')} | ${x.balancerCpu.length > 0 ? x.balancerCpu.map((cpu, i) => `${pc(cpu)}, ${x.balancerConnections[i]} / ${x.balancerMaxConnections[i]} (${x.balancerFrontendMax[i]})`).join('; ') : '—'} | ${c ? `(${c.hostsOnVictim}) ${s(c.agentsBackMs)} / ${s(c.victimExpiredMs)} / ${s(c.leasesMovedMs)} / ${s(c.recordedConnectedMs)} (${c.fewestRecordedConnected})` : '—'} |`,
    );
  }
}
if (baselineFormat) {
  console.log(
    `| agents | steady server CPU, ${baselineName} (per 1,000) | steady server CPU, acknowledged batches (per 1,000) | ratio | simulator: baseline / acknowledged | 1-min load: baseline / acknowledged |`,
  );
  console.log('|---|---|---|---|---|---|');
  for (const x of results) {
    const one = x.steadySingle!;
    const per = (v: number) => `${(v * 100).toFixed(1)} % (${((v * 100) / (x.agents / 1000)).toFixed(1)} %)`;
    console.log(
      `| ${x.agents} | ${per(one.cpu)} | ${per(x.steadyCpu)} | ${(x.steadyCpu / one.cpu).toFixed(2)} | ${pc(one.simCpu)} / ${pc(x.steadySimCpu)} | ${one.load.toFixed(1)} / ${x.loads.steady.toFixed(1)} |`,
    );
  }
}
const big = results.at(-1)!;
console.log(
  `storage: ${big.rawBytesPerRow.toFixed(0)} bytes per report row (kept 1 h: ${((big.rawBytesPerRow * 3600) / 2 ** 20).toFixed(2)} MiB per host), ${big.minuteBytesPerRow.toFixed(0)} bytes per host-minute row (${((big.minuteBytesPerRow * 1440) / 2 ** 20).toFixed(2)} MiB per host per day)`,
);
