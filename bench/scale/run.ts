/**
 * Scale benchmark (issue 17): one `nw server` replica against simulated agents speaking the real
 * protocol (bench/lib/agent-simulator.ts, several processes, each agent from its own 127/8
 * address), at several fleet sizes, each figure also as a ratio against the smallest size of the
 * same run (100 agents by default):
 *
 * - connect: from starting the fleet until every agent is connected; failed and timed-out handshakes
 * - steady: server CPU (share of one core) and RSS with every agent reporting metrics each second,
 *   per 1,000 agents; memory per agent over an idle server
 * - create → Running on one (simulated) host while loaded, p50/p99
 * - fan-out: 1,000 captures created in parallel, one per host, all with the same filters: until all
 *   answered, until every agent had its order; then 1,000 stops and 1,000 deletes in parallel
 * - reconnect storm: every connection cut at once, until all are back
 * - metrics: reports sent by the agents against rows stored (nothing lost), bytes per row
 * - a `/metrics` scrape and a page of the VM list: time and size
 *
 * Usage: node --import tsx bench/scale/run.ts [--sizes 100,1000,3000] [--database-url postgres://…]
 *        [--steady-seconds 20] [--agents-per-process 2500]
 *        [--fanout-only] [--fanout-repeats N] [--skip-fanout] [--server-cpu-prof DIR] [--server-root CHECKOUT]
 *        [--report-format batch|single|both]
 *
 * --report-format: how the simulated agents send their per-second samples — `batch` (default, as
 * the agent does with a server that announces batches: one `metrics.batch` every announced
 * interval), `single` (one `metrics` message a second, as before issue 17's batches), or `both`:
 * the steady state measured twice on the same server and fleet, single reports first, then
 * batches, and their ratio printed.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { request as httpRequest, Agent } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir, loadavg } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { enrollSimulatedHosts, startSimulatedFleetProcesses, type SimulatedHost } from '../lib/agent-simulator.js';
import { openPglite, type Db } from '../../src/store/index.js';

const args = process.argv.slice(2);
const arg = (name: string, fallback: string) => (args.includes(name) ? args[args.indexOf(name) + 1]! : fallback);
const sizes = arg('--sizes', '100,1000,3000').split(',').map(Number);
const databaseUrl = args.includes('--database-url') ? arg('--database-url', '') : null;
const steadySeconds = Number(arg('--steady-seconds', '20'));
const agentsPerProcess = Number(arg('--agents-per-process', '2500'));
// Profiling aids: a V8 CPU profile of the server (written when it stops), and a run of only the
// fan-out (connect, then creates/stops/deletes `--fanout-repeats` times; no steady, probe or storm).
const serverCpuProfDir = args.includes('--server-cpu-prof') ? arg('--server-cpu-prof', '') : null;
const fanoutOnly = args.includes('--fanout-only');
const fanoutRepeats = Number(arg('--fanout-repeats', '1'));
// A short run for connect, steady and storm only (no probe, no fan-out).
const skipFanout = args.includes('--skip-fanout');
const reportFormat = arg('--report-format', 'batch');
if (!['batch', 'single', 'both'].includes(reportFormat)) throw new Error('--report-format is batch, single or both');
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

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

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

/** Server CPU as a share of one core over `seconds`. */
async function cpuShare(pid: number, seconds: number): Promise<number> {
  const a = await usage(pid);
  const t0 = performance.now();
  await sleep(seconds * 1000);
  const b = await usage(pid);
  return (b.cpuSeconds - a.cpuSeconds) / ((performance.now() - t0) / 1000);
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

interface Server {
  url: string;
  token: string;
  pid: number;
  proc: ChildProcess;
  dataDir: string;
  dbName: string | null;
  stop(): Promise<void>;
}

async function startServerProcess(): Promise<Server> {
  const dataDir = await mkdtemp(join(tmpdir(), 'nw-scale-'));
  const port = await freePort();
  let dbUrl: string | null = null;
  let dbName: string | null = null;
  if (databaseUrl) {
    dbName = `nw_scale_${process.pid}_${Date.now()}`;
    const admin = new pg.Client({ connectionString: databaseUrl });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${dbName}`);
    await admin.end();
    const u = new URL(databaseUrl);
    u.pathname = `/${dbName}`;
    dbUrl = u.toString();
  }
  const proc = spawn(
    process.execPath,
    [
      ...(serverCpuProfDir ? ['--cpu-prof', '--cpu-prof-dir', serverCpuProfDir] : []),
      join(serverRoot, 'bin/nw.js'),
      'server',
      '--listen',
      `127.0.0.1:${port}`,
      '--data-dir',
      dataDir,
      '--log-level',
      'warn',
      '-l',
      'westcentralus',
      ...(dbUrl ? ['--database-url', dbUrl] : []),
    ],
    {
      env: { ...process.env, NW_FROM_SOURCE: '1' },
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  // The server's warnings and errors, for the why of any failed handshake.
  const { createWriteStream } = await import('node:fs');
  proc.stdout!.pipe(createWriteStream(join(tmpdir(), `nw-scale-server-${port}.log`)));
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    try {
      if ((await fetch(`${url}/healthz`)).ok) break;
    } catch {
      /* starting */
    }
    if (i > 600) throw new Error('the server did not start');
    await sleep(100);
  }
  const token = readFileSync(join(dataDir, 'admin-token'), 'utf8').trim();
  return {
    url,
    token,
    pid: proc.pid!,
    proc,
    dataDir,
    dbName,
    async stop() {
      proc.kill('SIGTERM');
      await new Promise((r) => proc.once('exit', r));
    },
  };
}

/** Opens the stopped server's database to count what was stored. */
async function openDb(server: Server): Promise<Db & { end(): Promise<void> }> {
  if (server.dbName) {
    const u = new URL(databaseUrl!);
    u.pathname = `/${server.dbName}`;
    const c = new pg.Client({ connectionString: u.toString() });
    await c.connect();
    return {
      engine: 'postgres',
      query: async (sql: string, p?: unknown[]) => (await c.query(sql, p)).rows,
      transaction: () => {
        throw new Error('no');
      },
      close: () => c.end(),
      end: () => c.end(),
    } as never;
  }
  const db = await openPglite(join(server.dataDir, 'db'));
  return Object.assign(db, { end: () => db.close() });
}

async function dropServerData(server: Server): Promise<void> {
  await rm(server.dataDir, { recursive: true, force: true });
  if (server.dbName) {
    const admin = new pg.Client({ connectionString: databaseUrl! });
    await admin.connect();
    await admin.query(`DROP DATABASE IF EXISTS ${server.dbName} WITH (FORCE)`);
    await admin.end();
  }
}

/** Runs `fn` for every item at once; resolves with the time until all answered. */
async function allAtOnce<T>(
  items: T[],
  fn: (item: T) => Promise<{ status: number }>,
  okStatus: (s: number) => boolean,
): Promise<{ ms: number; failed: number }> {
  const started = performance.now();
  const results = await Promise.all(items.map((i) => fn(i).catch(() => ({ status: 0 }))));
  return { ms: performance.now() - started, failed: results.filter((r) => !okStatus(r.status)).length };
}

interface Figures {
  agents: number;
  connectMs: number;
  failedHandshakes: number;
  handshakeTimeouts: number;
  idleRssBytes: number;
  steadyCpu: number;
  steadyRssBytes: number;
  createToRunningP50: number;
  createToRunningP99: number;
  fanoutHosts: number;
  fanoutCreateMs: number;
  fanoutOrdersMs: number;
  fanoutFailed: number;
  fanoutStopMs: number;
  fanoutDeleteMs: number;
  stormMs: number;
  stormFailedAttempts: number;
  stormTimeouts: number;
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
  /** Server and simulator CPU (share of one core) while connecting, steady and in the storm; 1-min load average then. */
  /** From starting the fleet until every host was recorded connected (hello handled); PostgreSQL only. */
  greetedMs: number;
  connectServerCpu: number;
  connectSimCpu: number;
  steadySimCpu: number;
  /** With --report-format both: the steady state with single reports (before the batches' figure). */
  steadySingle: { cpu: number; simCpu: number; load: number } | null;
  stormServerCpu: number;
  stormSimCpu: number;
  loads: { connect: number; steady: number; storm: number };
}

type Fleet = Awaited<ReturnType<typeof startSimulatedFleetProcesses>>;

/** One capture per target host created at once (same filters), then stopped and deleted at once. */
async function fanout(
  server: Server,
  fleet: Fleet,
  targets: SimulatedHost[],
  prefix: string,
): Promise<{ createMs: number; ordersMs: number; stopMs: number; deleteMs: number; failed: number }> {
  const path = (h: SimulatedHost) => `${WATCHER}/packetCaptures/${prefix}-${h.vmName}`;
  const ordersBefore = (await fleet.stats()).ordersReceived;
  if (process.env.BENCH_SQL_STATS) process.kill(server.pid, 'SIGUSR2');
  const fan0 = performance.now();
  const create = await allAtOnce(
    targets,
    (h) =>
      api(server.url, server.token, 'PUT', `${path(h)}?api-version=2024-05-01`, {
        properties: {
          target: h.vmId,
          storageLocation: { storageId: STORAGE },
          timeLimitInSeconds: 300,
          filters: FILTERS,
        },
      }),
    (st) => st === 201,
  );
  if (process.env.BENCH_SQL_STATS) process.kill(server.pid, 'SIGUSR2');
  let ordersMs = NaN;
  for (let i = 0; i < 1200; i++) {
    if ((await fleet.stats()).ordersReceived - ordersBefore >= targets.length) {
      ordersMs = performance.now() - fan0;
      break;
    }
    await sleep(50);
  }
  const stop = await allAtOnce(
    targets,
    (h) => api(server.url, server.token, 'POST', `${path(h)}/stop?api-version=2024-05-01`),
    (st) => st === 200 || st === 202,
  );
  const del = await allAtOnce(
    targets,
    (h) => api(server.url, server.token, 'DELETE', `${path(h)}?api-version=2024-05-01`),
    (st) => st === 200 || st === 202 || st === 204,
  );
  return {
    createMs: create.ms,
    ordersMs,
    stopMs: stop.ms,
    deleteMs: del.ms,
    failed: create.failed + stop.failed + del.failed,
  };
}

async function runSize(n: number): Promise<Figures | null> {
  const server = await startServerProcess();
  try {
    const idle = await usage(server.pid);
    const log = (m: string) => console.error(`[${n}] ${m}`);
    log('enrolling');
    const hosts: SimulatedHost[] = await enrollSimulatedHosts({
      serverUrl: server.url,
      adminToken: server.token,
      count: n,
      concurrency: 32,
    });
    const processes = Math.max(1, Math.ceil(n / agentsPerProcess));
    log(`connecting ${n} agents from ${processes} processes`);
    const beforeConnect = await usage(server.pid);
    const started = performance.now();
    const fleet = await startSimulatedFleetProcesses({
      serverUrl: server.url,
      hosts,
      processes,
      connectConcurrency: 256,
      reportFormat: reportFormat === 'single' ? 'single' : 'batch',
    });
    // The simulator processes were born after \`started\` (their CPU so far, start-up included, is the connect's).
    const simConnect0 = 0;
    await fleet.waitConnected(n, 600_000, 50);
    const connectMs = performance.now() - started;
    const afterConnect = await fleet.stats();
    const connectServerCpu = ((await usage(server.pid)).cpuSeconds - beforeConnect.cpuSeconds) / (connectMs / 1000);
    const connectSimCpu = ((await cpuSecondsOf(fleet.pids)) - simConnect0) / (connectMs / 1000);
    const loadConnect = loadavg()[0]!;
    log(
      `connected in ${(connectMs / 1000).toFixed(1)} s (server ${(connectServerCpu * 100).toFixed(0)} %, simulator ${(connectSimCpu * 100).toFixed(0)} % of a core, load ${loadConnect.toFixed(1)}), ${afterConnect.failedAttempts} failed / ${afterConnect.handshakeTimeouts} timed out`,
    );
    if (fanoutOnly) {
      const targets = hosts.slice(0, Math.min(n, 1000));
      for (let rep = 0; rep < fanoutRepeats; rep++) {
        const f = await fanout(server, fleet, targets, `fan${rep}`);
        const sec = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
        log(
          `fan-out ${targets.length} #${rep}: creates answered ${sec(f.createMs)}, orders ${sec(f.ordersMs)}, stops ${sec(f.stopMs)}, deletes ${sec(f.deleteMs)}, failed ${f.failed}`,
        );
        console.log(JSON.stringify({ agents: n, rep, ...f, load: loadavg()[0] }));
      }
      await fleet.stop();
      await server.stop();
      return null;
    }
    // Steady means every hello handled (the host recorded connected, its reconciliation done): on
    // PostgreSQL read it from the database; the embedded one is the server's own, so wait 5 s.
    let greetedMs = NaN;
    if (server.dbName) {
      const u = new URL(databaseUrl!);
      u.pathname = `/${server.dbName}`;
      const c = new pg.Client({ connectionString: u.toString() });
      await c.connect();
      for (;;) {
        const [row] = (
          await c.query(
            `SELECT count(*)::int AS n FROM resources WHERE type = 'vm' AND body->'properties'->'netwatcher'->>'agentConnected' = 'true'`,
          )
        ).rows as Array<{ n: number }>;
        if (row!.n >= n) break;
        await sleep(250);
      }
      greetedMs = performance.now() - started;
      await c.end();
      log(`every host recorded connected after ${(greetedMs / 1000).toFixed(1)} s`);
    }
    // Both formats on the same server and fleet: single reports first (then batches, the steady figure below).
    let steadySingle: { cpu: number; simCpu: number; load: number } | null = null;
    if (reportFormat === 'both') {
      await fleet.setReportFormat('single');
      await sleep(5_000);
      const sim0 = await cpuSecondsOf(fleet.pids);
      const t0 = performance.now();
      const cpu = await cpuShare(server.pid, steadySeconds);
      const simCpu = ((await cpuSecondsOf(fleet.pids)) - sim0) / ((performance.now() - t0) / 1000);
      steadySingle = { cpu, simCpu, load: loadavg()[0]! };
      log(
        `steady cpu with single reports ${(cpu * 100).toFixed(1)} % (simulator ${(simCpu * 100).toFixed(0)} %), load ${steadySingle.load.toFixed(1)}`,
      );
      await fleet.setReportFormat('batch');
      // The first batches leave one interval after the switch.
      await sleep(2_000);
    }
    await sleep(5_000);
    const simSteady0 = await cpuSecondsOf(fleet.pids);
    const steady0 = performance.now();
    const steadyCpu = await cpuShare(server.pid, steadySeconds);
    const steadySimCpu = ((await cpuSecondsOf(fleet.pids)) - simSteady0) / ((performance.now() - steady0) / 1000);
    const steadyRss = (await usage(server.pid)).rssBytes;
    const loadSteady = loadavg()[0]!;
    log(
      `steady cpu${reportFormat === 'both' ? ' with batches' : ''} ${(steadyCpu * 100).toFixed(1)} % (simulator ${(steadySimCpu * 100).toFixed(0)} %), rss ${(steadyRss / 2 ** 20).toFixed(0)} MiB, load ${loadSteady.toFixed(1)}${steadySingle ? `; batches ÷ single reports ${(steadyCpu / steadySingle.cpu).toFixed(2)}` : ''}`,
    );

    // Create → Running on one host while loaded (a simulated agent answers at once: this is the server's share).
    const latencies: number[] = [];
    if (skipFanout) latencies.push(NaN);
    const probe = hosts[0]!;
    for (let i = 0; i < (skipFanout ? 0 : 20); i++) {
      const path = `${WATCHER}/packetCaptures/probe${i}?api-version=2024-05-01`;
      const t0 = performance.now();
      const put = await api(server.url, server.token, 'PUT', path, {
        properties: {
          target: probe.vmId,
          storageLocation: { storageId: STORAGE },
          timeLimitInSeconds: 60,
          filters: FILTERS,
        },
      });
      if (put.status !== 201) throw new Error(`probe create: ${put.status} ${JSON.stringify(put.body).slice(0, 300)}`);
      const op = new URL(String(put.headers['azure-asyncoperation']));
      for (;;) {
        const st = await api(server.url, server.token, 'GET', `${op.pathname}${op.search}`);
        const status = (st.body as { status?: string }).status;
        if (status === 'Succeeded') break;
        if (status !== 'InProgress')
          throw new Error(`probe create operation: ${JSON.stringify(st.body).slice(0, 300)}`);
        await sleep(5);
      }
      latencies.push(performance.now() - t0);
      await api(server.url, server.token, 'DELETE', path);
    }

    // Fan-out: one capture per host on up to 1,000 hosts, all at once.
    const targets = hosts.slice(1, Math.min(n, 1001));
    const fan = skipFanout
      ? { createMs: NaN, ordersMs: NaN, stopMs: NaN, deleteMs: NaN, failed: 0 }
      : await fanout(server, fleet, targets, 'fan');
    log(
      `fan-out ${targets.length}: answered ${(fan.createMs / 1000).toFixed(1)} s, orders ${(fan.ordersMs / 1000).toFixed(1)} s, failed ${fan.failed}`,
    );

    // Scrape and list while loaded.
    const scrape = await api(server.url, server.token, 'GET', '/metrics');
    const vmPage = await api(
      server.url,
      server.token,
      'GET',
      `/subscriptions/${SUB}/providers/Microsoft.Compute/virtualMachines?api-version=2024-03-01`,
    );

    // Reconnect storm.
    const s0 = await fleet.stats();
    const stormServer0 = (await usage(server.pid)).cpuSeconds;
    const stormSim0 = await cpuSecondsOf(fleet.pids);
    const storm0 = performance.now();
    await fleet.dropAll();
    await fleet.waitConnected(n, 600_000, 50);
    const stormMs = performance.now() - storm0;
    const stormServerCpu = ((await usage(server.pid)).cpuSeconds - stormServer0) / (stormMs / 1000);
    const stormSimCpu = ((await cpuSecondsOf(fleet.pids)) - stormSim0) / (stormMs / 1000);
    const loadStorm = loadavg()[0]!;
    await sleep(2_000);
    const s1 = await fleet.stats();
    log(
      `storm: back in ${(stormMs / 1000).toFixed(1)} s (server ${(stormServerCpu * 100).toFixed(0)} %, simulator ${(stormSimCpu * 100).toFixed(0)} %, load ${loadStorm.toFixed(1)})`,
    );
    await fleet.stop();
    await sleep(1_500);
    const final = s1;
    await server.stop();

    const db = await openDb(server);
    const [counts] =
      await db.query(`SELECT (SELECT count(*) FROM metric_raw)::float8 AS raw, (SELECT coalesce(sum(n[1]), 0) FROM metric_minutes)::float8 AS minute_reports,
      (SELECT count(*) FROM metric_minutes)::float8 AS minute_rows, pg_total_relation_size('metric_raw')::float8 AS raw_bytes, pg_total_relation_size('metric_minutes')::float8 AS minute_bytes`);
    await db.end();
    return {
      agents: n,
      connectMs,
      failedHandshakes: afterConnect.failedAttempts,
      handshakeTimeouts: afterConnect.handshakeTimeouts,
      idleRssBytes: idle.rssBytes || beforeConnect.rssBytes,
      steadyCpu,
      steadyRssBytes: steadyRss,
      createToRunningP50: percentile(latencies, 50),
      createToRunningP99: percentile(latencies, 99),
      fanoutHosts: targets.length,
      fanoutCreateMs: fan.createMs,
      fanoutOrdersMs: fan.ordersMs,
      fanoutFailed: fan.failed,
      fanoutStopMs: fan.stopMs,
      fanoutDeleteMs: fan.deleteMs,
      stormMs,
      stormFailedAttempts: s1.failedAttempts - s0.failedAttempts,
      stormTimeouts: s1.handshakeTimeouts - s0.handshakeTimeouts,
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
      connectServerCpu,
      connectSimCpu,
      steadySimCpu,
      steadySingle,
      stormServerCpu,
      stormSimCpu,
      loads: { connect: loadConnect, steady: loadSteady, storm: loadStorm },
    };
  } finally {
    if (server.proc.exitCode === null) await server.stop();
    await dropServerData(server);
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
console.log(
  `scale benchmark, one replica on ${databaseUrl ? 'PostgreSQL' : 'PGlite'}; ratios against ${base.agents} agents in the same run; 1-min load average at each size: ${results.map((x) => x.load.toFixed(1)).join(' / ')}`,
);
console.log(
  '| agents | connect (ratio) | failed / timed-out handshakes | steady CPU, share of a core (per 1,000) | RSS (per agent over idle) | create→Running p50 / p99 | fan-out: creates answered / orders at agents (hosts) | stops / deletes answered | storm back (ratio) | storm failures / timeouts | reports sent / stored / in minutes | /metrics scrape | VM list page |',
);
console.log('|---|---|---|---|---|---|---|---|---|---|---|---|---|');
for (const x of results) {
  console.log(
    `| ${x.agents} | ${s(x.connectMs)} (${r(x.connectMs, base.connectMs)}) | ${x.failedHandshakes} / ${x.handshakeTimeouts} | ${(x.steadyCpu * 100).toFixed(1)} % (${((x.steadyCpu * 100) / (x.agents / 1000)).toFixed(1)} %; ${r(x.steadyCpu, base.steadyCpu)}) | ${(x.steadyRssBytes / 2 ** 20).toFixed(0)} MiB (${((x.steadyRssBytes - x.idleRssBytes) / x.agents / 1024).toFixed(0)} KiB) | ${x.createToRunningP50.toFixed(0)} / ${x.createToRunningP99.toFixed(0)} ms (${r(x.createToRunningP50, base.createToRunningP50)}) | ${s(x.fanoutCreateMs)} / ${s(x.fanoutOrdersMs)} (${x.fanoutHosts}; ${r(x.fanoutCreateMs, base.fanoutCreateMs)}) | ${s(x.fanoutStopMs)} / ${s(x.fanoutDeleteMs)} | ${s(x.stormMs)} (${r(x.stormMs, base.stormMs)}) | ${x.stormFailedAttempts} / ${x.stormTimeouts} | ${x.reportsSent} / ${x.rowsStored} / ${x.minuteReports} | ${x.scrapeMs.toFixed(0)} ms, ${(x.scrapeBytes / 1024).toFixed(0)} KiB | ${x.vmPageMs.toFixed(0)} ms |`,
  );
}
console.log(
  '| agents | all recorded connected after | server CPU: connect / steady / storm | simulator CPU: connect (start-up included) / steady / storm | 1-min load: connect / steady / storm |',
);
console.log('|---|---|---|---|---|');
const pc = (v: number) => `${(v * 100).toFixed(0)} %`;
for (const x of results) {
  console.log(
    `| ${x.agents} | ${Number.isFinite(x.greetedMs) ? s(x.greetedMs) : '—'} | ${pc(x.connectServerCpu)} / ${pc(x.steadyCpu)} / ${pc(x.stormServerCpu)} | ${pc(x.connectSimCpu)} / ${pc(x.steadySimCpu)} / ${pc(x.stormSimCpu)} | ${x.loads.connect.toFixed(1)} / ${x.loads.steady.toFixed(1)} / ${x.loads.storm.toFixed(1)} |`,
  );
}
if (reportFormat === 'both') {
  console.log(
    '| agents | steady server CPU, single reports (per 1,000) | steady server CPU, batches (per 1,000) | batches ÷ single | simulator single / batches | 1-min load single / batches |',
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
