/**
 * The fixed cost of a server (issue 17): CPU of an `nw server` with no agent connected, over
 * `--seconds`, and (PostgreSQL) the transactions it commits meanwhile — what its timers cost when
 * there is nothing to do (alert evaluation, metric batch flush, retention prune, lease heartbeats
 * and order polls, credential sweep, reconnect-spread checks, GC). With several checkouts
 * (`--server-root A,B`) each round runs one server of each, one after another, under the same
 * conditions, and prints the ratios against the first.
 *
 * Usage: node --import tsx bench/scale/idle.ts [--seconds 30] [--warmup-seconds 5] [--rounds 1]
 *        [--server-root CHECKOUT[,CHECKOUT…]] [--database-url postgres://…] [--database-prefix nw_idle]
 *        [--server-cpu-prof DIR]
 */
import { loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { dropServerSetData, startServerSet } from './replica-set.js';
import { tickCpuSeconds } from '../capture-fidelity/cpu.js';

const args = process.argv.slice(2);
const arg = (name: string, fallback: string) => (args.includes(name) ? args[args.indexOf(name) + 1]! : fallback);
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const seconds = Number(arg('--seconds', '30'));
const warmupSeconds = Number(arg('--warmup-seconds', '5'));
const rounds = Number(arg('--rounds', '1'));
const roots = arg('--server-root', ROOT).split(',');
const databaseUrl = args.includes('--database-url') ? arg('--database-url', '') : null;
const databasePrefix = arg('--database-prefix', 'nw_idle');
const cpuProfDir = args.includes('--server-cpu-prof') ? arg('--server-cpu-prof', '') : null;

/**
 * User + system CPU seconds of a process, and of its main thread alone (the event loop: the
 * thread a V8 CPU profile samples; the rest are V8's GC and compiler helpers and libuv's pool).
 */
async function cpuSecondsOf(pid: number): Promise<{ all: number; main: number }> {
  const all = await tickCpuSeconds(pid);
  const main = await tickCpuSeconds(pid, String(pid));
  if (all === null || main === null) throw new Error(`the server (pid ${pid}) is gone`);
  return { all, main };
}

/** Transactions committed in a database since its statistics began (PostgreSQL's own count, every client's). */
async function commitsOf(dbUrl: string, dbName: string): Promise<number> {
  const c = new pg.Client({ connectionString: dbUrl });
  await c.connect();
  try {
    const { rows } = await c.query('SELECT xact_commit::float8 AS n FROM pg_stat_database WHERE datname = $1', [
      dbName,
    ]);
    return Number((rows[0] as { n: number } | undefined)?.n ?? 0);
  } finally {
    await c.end();
  }
}

interface IdleFigures {
  root: string;
  round: number;
  cpuShare: number;
  /** The main thread's share (the event loop). */
  mainThreadCpuShare: number;
  commitsPerSecond: number | null;
  load: number;
}

async function measure(root: string, round: number): Promise<IdleFigures> {
  const set = await startServerSet({
    count: 1,
    routing: 'direct',
    databaseUrl,
    serverRoot: root,
    repoRoot: ROOT,
    cpuProfDir,
    databasePrefix,
  });
  try {
    await sleep(warmupSeconds * 1000);
    const pid = set.replicas[0]!.pid;
    const cpu0 = await cpuSecondsOf(pid);
    // The statistics collector reports with a delay (up to ~0.5 s); both reads see the same lag.
    const commits0 = set.dbUrl ? await commitsOf(set.dbUrl, set.dbName!) : 0;
    const t0 = performance.now();
    await sleep(seconds * 1000);
    const elapsed = (performance.now() - t0) / 1000;
    const cpu1 = await cpuSecondsOf(pid);
    const commits = set.dbUrl ? (await commitsOf(set.dbUrl, set.dbName!)) - commits0 : null;
    return {
      root,
      round,
      cpuShare: (cpu1.all - cpu0.all) / elapsed,
      mainThreadCpuShare: (cpu1.main - cpu0.main) / elapsed,
      commitsPerSecond: commits === null ? null : commits / elapsed,
      load: loadavg()[0]!,
    };
  } finally {
    await set.stop();
    await dropServerSetData(set, databaseUrl);
  }
}

const figures: IdleFigures[] = [];
for (let round = 0; round < rounds; round++) {
  // Order swapped each round, so neither checkout always runs first.
  const order = round % 2 === 0 ? roots : [...roots].reverse();
  for (const root of order) {
    const f = await measure(root, round);
    console.error(
      `[idle] round ${round} ${root}: ${(f.cpuShare * 100).toFixed(2)} % of a core (main thread ${(f.mainThreadCpuShare * 100).toFixed(2)} %), ${f.commitsPerSecond === null ? '—' : f.commitsPerSecond.toFixed(1)} commits/s, load ${f.load.toFixed(1)}`,
    );
    console.log(JSON.stringify(f));
    figures.push(f);
  }
}
console.log(
  `\n| server | round | idle CPU, share of a core (ratio to the first) | main thread (ratio) | database commits a second (ratio) | 1-min load |\n|---|---|---|---|---|---|`,
);
for (const f of figures) {
  const base = figures.find((b) => b.round === f.round && b.root === roots[0])!;
  const ratio = (x: number | null, y: number | null) =>
    x === null || y === null || y === 0 ? '—' : `${(x / y).toFixed(2)}×`;
  console.log(
    `| ${f.root} | ${f.round} | ${(f.cpuShare * 100).toFixed(2)} % (${ratio(f.cpuShare, base.cpuShare)}) | ${(f.mainThreadCpuShare * 100).toFixed(2)} % (${ratio(f.mainThreadCpuShare, base.mainThreadCpuShare)}) | ${f.commitsPerSecond === null ? '—' : f.commitsPerSecond.toFixed(1)} (${ratio(f.commitsPerSecond, base.commitsPerSecond)}) | ${f.load.toFixed(1)} |`,
  );
}
