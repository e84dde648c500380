/**
 * Fleet fan-out (issue 14): one capture on a scale set of N simulated hosts (default 1,000) —
 * create → every instance Running, stop → every instance Stopped, delete → gone — against a
 * single-host capture in the same run. Hosts join the scale set with one join key, as a cloud-init
 * fleet does, and speak the real agent protocol (bench/lib/agent-simulator.ts). The server runs as
 * its own process (`nw server`, from dist/) so its CPU is measured alone (/proc/PID/stat).
 *
 * Per-host latency: from the client's request to the host receiving its order (create: the
 * simulated agent answers Running at once; stop: it answers Stopped at once). "All" is the wall
 * time until queryStatus shows every instance Running (or the capture Stopped).
 *
 * Usage: npm run build && node --import tsx bench/fleet-fanout/run.ts [--hosts 1000] [--trials 3] [--postgres URL]
 * (`--postgres postgres://127.0.0.1:5432/postgres`: a fresh database is created there and dropped after;
 * default: the embedded database).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { enrollSimulatedHosts, startSimulatedFleet, type SimulatedHost } from '../lib/agent-simulator.js';
import { NW_BIN } from '../../test/lab/lab.js';

const args = process.argv.slice(2);
const numberArg = (name: string, fallback: number) =>
  args.includes(name) && Number(args[args.indexOf(name) + 1]) > 0 ? Number(args[args.indexOf(name) + 1]) : fallback;
const HOSTS = numberArg('--hosts', 1000);
const TRIALS = numberArg('--trials', 3);
const SUB = '00000000-0000-0000-0000-000000000000';
const RG = 'fleetbench';
const LOC = 'westcentralus';
const rgId = `/subscriptions/${SUB}/resourceGroups/${RG}`;
const TICKS_PER_SECOND = 100; // USER_HZ on Linux

const percentile = (values: number[], p: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? NaN;
};

/** CPU seconds the process has used (user + system). */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8')
    .replace(/^.*\) /, '')
    .split(' ');
  return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
}

const postgresAdminUrl = args.includes('--postgres') ? args[args.indexOf('--postgres') + 1] : undefined;
const dbName = `nw_fanout_${process.pid}`;
async function adminSql(sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: postgresAdminUrl });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}
let databaseUrl: string | undefined;
if (postgresAdminUrl) {
  await adminSql(`CREATE DATABASE ${dbName}`);
  const u = new URL(postgresAdminUrl);
  u.pathname = `/${dbName}`;
  databaseUrl = u.toString();
}
const dataDir = mkdtempSync(join(tmpdir(), 'nw-fanout-'));
const port = 20000 + Math.floor(Math.random() * 20000);
const serverUrl = `http://127.0.0.1:${port}`;
const server = spawn(
  process.execPath,
  [
    ...(process.env['NW_BENCH_PROFILE'] ? ['--cpu-prof', `--cpu-prof-dir=${process.env['NW_BENCH_PROFILE']}`] : []),
    NW_BIN,
    'server',
    '--listen',
    `127.0.0.1:${port}`,
    '--data-dir',
    dataDir,
    '--location',
    LOC,
    '--log-level',
    'warn',
    ...(databaseUrl ? ['--database-url', databaseUrl] : []),
  ],
  { stdio: ['ignore', 'ignore', 'pipe'] },
);
let serverLog = '';
server.stderr?.on('data', (d: Buffer) => {
  serverLog = (serverLog + d.toString()).slice(-4000);
});

async function api(
  method: string,
  path: string,
  body?: unknown,
  token?: string,
): Promise<{ status: number; body: any }> {
  const res = await fetch(`${serverUrl}${path}${path.includes('?') ? '&' : '?'}api-version=2024-07-01`, {
    method,
    headers: {
      ...(token ? { Authorization: `Bearer ${token}` } : {}),
      ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}),
    },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

async function pool<T>(items: T[], concurrency: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}

try {
  const deadline = Date.now() + 120_000;
  for (;;) {
    try {
      if ((await fetch(`${serverUrl}/healthz`)).ok) break;
    } catch {
      /* starting */
    }
    if (server.exitCode !== null || Date.now() > deadline)
      throw new Error(`the server did not start (run npm run build first):\n${serverLog}`);
    await sleep(100);
  }
  const admin = readFileSync(join(dataDir, 'admin-token'), 'utf8').trim();
  const call = (method: string, path: string, body?: unknown) => api(method, path, body, admin);

  // A scale set the N hosts join with one join key; one standalone host for the baseline.
  await call('PUT', `${rgId}/providers/Microsoft.Network/networkWatchers/nw1`, { location: LOC });
  await call('PUT', `${rgId}/providers/Microsoft.Compute/virtualMachineScaleSets/fleet`, { location: LOC });
  const key = (await call('POST', `${rgId}/providers/Netwatcher/joinKeys`, { vmScaleSetName: 'fleet', maxUses: HOSTS }))
    .body as { joinKey: string };
  const joinStarted = performance.now();
  const joined: SimulatedHost[] = new Array(HOSTS);
  await pool(
    Array.from({ length: HOSTS }, (_, i) => i),
    16,
    async (i) => {
      const r = await api('POST', '/agent/v1/join', { joinKey: key.joinKey, vmName: `fleet-host-${i}`, hostname: '' });
      if (r.status !== 200) throw new Error(`join ${i}: ${r.status} ${JSON.stringify(r.body)}`);
      joined[i] = {
        index: i,
        vmName: r.body.vmName,
        vmId: r.body.vmId,
        resourceGroup: RG,
        credential: r.body.credential,
      };
    },
  );
  const joinSeconds = (performance.now() - joinStarted) / 1000;
  const [solo] = await enrollSimulatedHosts({
    serverUrl,
    adminToken: admin,
    count: 1,
    resourceGroup: RG,
    namePrefix: 'solo',
    firstIndex: HOSTS,
  });

  const orderTimes = new Map<string, number>();
  const fleet = await startSimulatedFleet({
    serverUrl,
    hosts: [...joined, solo!],
    metricsIntervalInMs: 0,
    onOrder: (host) => {
      orderTimes.set(host.vmId, performance.now());
    },
  });
  await fleet.waitConnected(HOSTS + 1, 120_000);
  console.log(
    `${HOSTS} hosts joined the scale set in ${joinSeconds.toFixed(1)} s (${(HOSTS / joinSeconds).toFixed(0)}/s); all connected`,
  );

  const pc = (name: string) => `${rgId}/providers/Microsoft.Network/networkWatchers/nw1/packetCaptures/${name}`;
  const status = async (name: string) =>
    (await call('POST', `${pc(name)}/queryStatus`)).body as {
      packetCaptureStatus: string;
      instances: Array<{ packetCaptureStatus: string }>;
    };

  /** One create → all Running → stop → all Stopped → delete cycle; per-host seconds and server CPU seconds per host. */
  async function cycle(name: string, target: string, hosts: number) {
    orderTimes.clear();
    const cpu0 = cpuSeconds(server.pid!);
    const t0 = performance.now();
    const put = await call('PUT', pc(name), {
      properties: { target, storageLocation: { filePath: `/var/captures/${name}.cap` }, timeLimitInSeconds: 600 },
    });
    const createAnswerS = (performance.now() - t0) / 1000;
    if (put.status !== 201) throw new Error(`create ${name}: ${put.status} ${JSON.stringify(put.body)}`);
    let s = await status(name);
    while (!(s.instances.length === hosts && s.instances.every((i) => i.packetCaptureStatus === 'Running'))) {
      await sleep(100);
      s = await status(name);
    }
    const allRunningS = (performance.now() - t0) / 1000;
    const createPerHost = [...orderTimes.values()].map((t) => (t - t0) / 1000);

    const runningBefore = fleet.stats().running;
    const stopTimes: number[] = [];
    const t1 = performance.now();
    const stopped = call('POST', `${pc(name)}/stop`);
    // Each decrement of the fleet's running count is one host that got its stop order.
    let last = runningBefore;
    const watch = (async () => {
      while (stopTimes.length < hosts) {
        const now = fleet.stats().running;
        for (let k = now; k < last; k++) stopTimes.push((performance.now() - t1) / 1000);
        last = now;
        await sleep(2);
      }
    })();
    await stopped;
    const stopAnswerS = (performance.now() - t1) / 1000;
    await watch;
    while ((await status(name)).packetCaptureStatus !== 'Stopped') await sleep(100);
    const allStoppedS = (performance.now() - t1) / 1000;
    const cpuPerHost = (cpuSeconds(server.pid!) - cpu0) / hosts;

    const t2 = performance.now();
    await call('DELETE', pc(name));
    while ((await call('GET', pc(name))).status !== 404) await sleep(20);
    const deletedS = (performance.now() - t2) / 1000;
    return {
      createAnswerS,
      allRunningS,
      createPerHost,
      stopAnswerS,
      allStoppedS,
      stopPerHost: stopTimes,
      deletedS,
      cpuPerHost,
    };
  }

  type Cycle = Awaited<ReturnType<typeof cycle>>;
  const fleetRuns: Cycle[] = [];
  const singleRuns: Cycle[] = [];
  for (let t = 0; t < TRIALS; t++) {
    singleRuns.push(await cycle(`single${t}`, solo!.vmId, 1));
    fleetRuns.push(
      await cycle(`fleet${t}`, `${rgId}/providers/Microsoft.Compute/virtualMachineScaleSets/fleet`, HOSTS),
    );
  }
  await fleet.stop();

  const summarize = (runs: typeof fleetRuns) => {
    const create = runs.flatMap((r) => r.createPerHost);
    const stop = runs.flatMap((r) => r.stopPerHost);
    return {
      createP50: percentile(create, 50),
      createP99: percentile(create, 99),
      allRunning: percentile(
        runs.map((r) => r.allRunningS),
        50,
      ),
      stopP50: percentile(stop, 50),
      stopP99: percentile(stop, 99),
      allStopped: percentile(
        runs.map((r) => r.allStoppedS),
        50,
      ),
      createAnswer: percentile(
        runs.map((r) => r.createAnswerS),
        50,
      ),
      stopAnswer: percentile(
        runs.map((r) => r.stopAnswerS),
        50,
      ),
      deleted: percentile(
        runs.map((r) => r.deletedS),
        50,
      ),
      cpuPerHostMs:
        1000 *
        percentile(
          runs.map((r) => r.cpuPerHost),
          50,
        ),
    };
  };
  const f = summarize(fleetRuns);
  const one = summarize(singleRuns);
  const row = (label: string, a: number, b: number, unit = 's') =>
    console.log(
      `${label.padEnd(34)} ${a.toFixed(3).padStart(9)} ${unit}  ${b.toFixed(3).padStart(9)} ${unit}  ${(a / b).toFixed(1).padStart(7)}×`,
    );
  console.log(`\n${TRIALS} trials; median of trials, per-host percentiles over every host of every trial`);
  console.log(`${''.padEnd(34)} ${`${HOSTS} hosts`.padStart(11)}  ${'1 host'.padStart(11)}  ${'ratio'.padStart(8)}`);
  row('create: API answered', f.createAnswer, one.createAnswer);
  row('create → host has order, p50', f.createP50, one.createP50);
  row('create → host has order, p99', f.createP99, one.createP99);
  row('create → all Running (status)', f.allRunning, one.allRunning);
  row('stop: API answered', f.stopAnswer, one.stopAnswer);
  row('stop → host has order, p50', f.stopP50, one.stopP50);
  row('stop → host has order, p99', f.stopP99, one.stopP99);
  row('stop → all Stopped (status)', f.allStopped, one.allStopped);
  row('delete → gone', f.deleted, one.deleted);
  row('server CPU per host (create+stop)', f.cpuPerHostMs, one.cpuPerHostMs, 'ms');
} finally {
  server.kill('SIGTERM');
  await new Promise((r) => server.once('exit', r));
  rmSync(dataDir, { recursive: true, force: true });
  if (postgresAdminUrl) await adminSql(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
}
