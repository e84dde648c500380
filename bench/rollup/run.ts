/**
 * bench/rollup: how long the per-minute roll-up (src/store/metrics.ts, advanceMetricRawSince)
 * holds the database, and how long a simple query issued meanwhile waits, for one minute of
 * `--hosts` hosts at one report a second, on PGlite in a worker thread (the server's default)
 * and on PostgreSQL. The baseline is the same roll-up in one statement (every host in one piece),
 * measured in the same run on the same rows.
 *
 *   node --import tsx bench/rollup/run.ts [--hosts 10000] [--engines pglite,postgres] [--hosts-per-piece 500]
 *
 * PostgreSQL: NW_TEST_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/postgres); the
 * database is named after NW_TEST_DATABASE_PREFIX and dropped afterwards.
 */
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { HOST_METRICS } from '../../src/alerts/host-metrics.js';
import { ROLL_UP_HOSTS_PER_PIECE, Store, type Db } from '../../src/store/index.js';
import { openTestDatabase } from '../../src/store/testing/engines.js';

const { values: args } = parseArgs({
  options: {
    hosts: { type: 'string', default: '10000' },
    engines: { type: 'string', default: 'pglite,postgres' },
    'hosts-per-piece': { type: 'string', default: String(ROLL_UP_HOSTS_PER_PIECE) },
  },
});
const hosts = Number(args.hosts);
const hostsPerPiece = Number(args['hosts-per-piece']);
/** The minute rolled up; a second minute after it stays as per-report rows, as the raw retention keeps. */
const T0 = new Date('2026-03-01T00:00:00Z');
const SECONDS_STORED = 120;

process.env.NW_TEST_PGLITE_THREAD = 'worker';

interface Run {
  /** Each piece's transaction (the longest hold of the database or the settings row). */
  piecesInMs: number[];
  totalInMs: number;
  made: number;
  /** Waits of a `SELECT` issued every 5 ms while the roll-up ran. */
  probeWaitsInMs: number[];
}

async function fill(db: Db): Promise<void> {
  await db.query(`INSERT INTO metric_hosts (vm_key) SELECT 'vm' || g FROM generate_series(1, $1::int) g`, [hosts]);
  const v = `ARRAY[${HOST_METRICS.map((_, k) => `(s + h.id + ${k})::float8`).join(', ')}]`;
  // In slices of a few seconds, so filling never builds one giant statement either.
  for (let from = 0; from < SECONDS_STORED; from += 10)
    await db.query(
      `INSERT INTO metric_raw (host_id, at, v) SELECT h.id, $1::timestamptz + s * interval '1 second', ${v}
       FROM metric_hosts h, generate_series($2::int, $3::int) s`,
      [T0, from, from + 9],
    );
  await db.query('ANALYZE metric_raw');
  await db.query('ANALYZE metric_hosts');
}

async function reset(db: Db): Promise<void> {
  await db.query('DELETE FROM metric_minutes');
  await db.query(`DELETE FROM server_settings WHERE name IN ('metric-raw-since', 'metric-roll-up')`);
  await db.query(`INSERT INTO server_settings (name, value) VALUES ('metric-raw-since', $1)`, [T0.toISOString()]);
}

async function rollUp(db: Db, perPiece: number | undefined): Promise<Run> {
  const store = new Store(db);
  const probeWaitsInMs: number[] = [];
  let running = true;
  const probe = (async () => {
    while (running) {
      const t = performance.now();
      await db.query(`SELECT value FROM server_settings WHERE name = 'metric-raw-since'`);
      probeWaitsInMs.push(performance.now() - t);
      await new Promise((r) => setTimeout(r, 5));
    }
  })();
  const piecesInMs: number[] = [];
  let made = 0;
  const start = performance.now();
  const target = new Date(T0.getTime() + 60_000);
  // One piece per call (the progress is committed between), so each piece's hold is timed alone.
  for (;;) {
    const [row] = await db.query(`SELECT value FROM server_settings WHERE name = 'metric-raw-since'`);
    if (new Date(String(row!.value)).getTime() >= target.getTime()) break;
    const t = performance.now();
    if (perPiece === undefined) {
      // As the server does (pieces sized as they go), timed per piece by the probe-free clock below.
      made += await store.advanceMetricRawSince(target, {
        pauseInMs: 0,
        onPiece: (tookInMs) => piecesInMs.push(tookInMs),
      });
      continue;
    }
    made += await store.advanceMetricRawSince(target, { hostsPerPiece: perPiece, stopAfterPieces: 1 });
    piecesInMs.push(performance.now() - t);
  }
  const totalInMs = performance.now() - start;
  running = false;
  await probe;
  return { piecesInMs, totalInMs, made, probeWaitsInMs };
}

function summary(r: Run): string {
  const max = (xs: number[]) => Math.max(...xs);
  const sorted = [...r.probeWaitsInMs].sort((a, b) => a - b);
  const p99 = sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.99))] ?? 0;
  return `pieces ${r.piecesInMs.length}, longest piece ${max(r.piecesInMs).toFixed(1)} ms, total ${r.totalInMs.toFixed(0)} ms, rows made ${r.made}; probe: ${sorted.length} queries, longest wait ${max(r.probeWaitsInMs).toFixed(1)} ms, p99 ${p99.toFixed(1)} ms`;
}

async function main(): Promise<void> {
  console.log(
    `# ${hosts} hosts × 60 reports in the minute rolled up (${SECONDS_STORED} s stored); load ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
  );
  for (const engine of args.engines.split(',') as Array<'pglite' | 'postgres'>) {
    const { db, drop } = await openTestDatabase(engine);
    try {
      const t = performance.now();
      await fill(db);
      console.log(`${engine}: filled ${hosts * SECONDS_STORED} rows in ${(performance.now() - t).toFixed(0)} ms`);
      await reset(db);
      const one = await rollUp(db, Number.MAX_SAFE_INTEGER);
      console.log(`${engine} one statement: ${summary(one)}`);
      await reset(db);
      const pieces = await rollUp(db, hostsPerPiece);
      console.log(`${engine} ${hostsPerPiece} hosts per piece: ${summary(pieces)}`);
      if (pieces.made !== one.made) throw new Error(`pieces made ${pieces.made} rows, one statement ${one.made}`);
      await reset(db);
      const sized = await rollUp(db, undefined);
      console.log(`${engine} pieces sized as the server does: ${summary(sized)}`);
      if (sized.made !== one.made) throw new Error(`sized pieces made ${sized.made} rows, one statement ${one.made}`);
      const ratio = (a: number, b: number) => (a / b).toFixed(3);
      for (const [name, r] of [
        [`${hostsPerPiece} per piece`, pieces],
        ['sized', sized],
      ] as const)
        console.log(
          `${engine} ratios (${name} / one statement): longest hold ${ratio(Math.max(...r.piecesInMs), Math.max(...one.piecesInMs))}, longest probe wait ${ratio(Math.max(...r.probeWaitsInMs), Math.max(...one.probeWaitsInMs))}, total ${ratio(r.totalInMs, one.totalInMs)}`,
        );
    } finally {
      await drop();
    }
  }
  console.log(
    `# load ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
  );
}

await main();
