/**
 * Issue 17, no metric sample lost when a replica dies: two `nw server` replicas on one fresh
 * PostgreSQL database, a real `nw agent` reporting a sample a second to the first (batches of one
 * second). The first replica's database writes are held (a lock on metric_raw, as a slow
 * database would) so it has samples it received but not stored, and it is killed with SIGKILL.
 * The agent reconnects to the second and re-sends what was never acknowledged. Afterwards the
 * host's rows cover every second from before the kill to after it: no gap, no repeat.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { dropServerSetData, startServerSet, type ServerSet } from '../bench/scale/replica-set.js';
import { TEST_DATABASE_URL, postgresAvailable, testDatabasePrefix } from '../src/store/testing/engines.js';

const REPO = fileURLToPath(new URL('..', import.meta.url));
const SUB = '00000000-0000-0000-0000-000000000000';
const VM = `/subscriptions/${SUB}/resourceGroups/ackrg/providers/Microsoft.Compute/virtualMachines/ackvm`;
/** NW_TEST_DATABASE_PREFIX (testDatabasePrefix) tells apart sessions sharing one PostgreSQL; this test's own part after it. */
const DATABASE_PREFIX = `${testDatabasePrefix()}_metricack`;

describe('a replica killed while a host reports loses none of its samples', { timeout: 180_000 }, async () => {
  const skip = !(await postgresAvailable());
  let set: ServerSet;
  let db: pg.Client;
  let agent: ChildProcess | null = null;
  let agentLog = '';

  const api = async (url: string, method: string, path: string, body?: unknown) => {
    const res = await fetch(`${url}${path}`, {
      method,
      headers: { Authorization: `Bearer ${set.token}`, 'Content-Type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: res.status, body: (await res.json().catch(() => null)) as Record<string, unknown> | null };
  };
  /** The host's stored samples, oldest first: server-clock times in ms. */
  const rows = async (): Promise<number[]> =>
    (
      await db.query(
        `SELECT (extract(epoch FROM r.at) * 1000)::float8 AS at FROM metric_raw r JOIN metric_hosts k ON k.id = r.host_id
         WHERE k.vm_key = lower($1) ORDER BY r.at`,
        [VM],
      )
    ).rows.map((r: { at: number }) => Number(r.at));
  /** Index of the replica holding the host's lease, or -1. */
  const holder = async (): Promise<number> => {
    const r = await db.query(
      `SELECT l.replica_id FROM agent_leases l JOIN server_replicas s USING (replica_id) WHERE s.expires_at > now() AND l.vm_key = lower($1)`,
      [VM],
    );
    const id = (r.rows[0] as { replica_id?: string } | undefined)?.replica_id;
    return id ? set.replicas.findIndex((x) => x.replicaId === id) : -1;
  };
  const waitFor = async (check: () => Promise<boolean>, timeoutInMs: number, what: string) => {
    const end = Date.now() + timeoutInMs;
    while (!(await check())) {
      if (Date.now() > end) throw new Error(`timed out: ${what}\nagent:\n${agentLog.slice(-3000)}`);
      await sleep(200);
    }
  };

  before(async () => {
    if (skip) return;
    set = await startServerSet({
      count: 2,
      routing: 'direct',
      databaseUrl: TEST_DATABASE_URL,
      databasePrefix: DATABASE_PREFIX,
      serverRoot: REPO,
      repoRoot: REPO,
      cpuProfDir: null,
      // Every sample leaves as it is taken: a second of samples a batch.
      serverArgs: ['--agent-metrics-batch-seconds', '1'],
    });
    db = new pg.Client({ connectionString: set.dbUrl! });
    await db.connect();
  });
  after(async () => {
    if (skip) return;
    if (agent && agent.exitCode === null && agent.signalCode === null) {
      agent.kill('SIGTERM');
      await new Promise((r) => agent!.once('exit', r));
    }
    await db?.end().catch(() => undefined);
    await set?.stop();
    if (set) await dropServerSetData(set, TEST_DATABASE_URL);
  });

  test('the host’s rows cover every second across a SIGKILL of its replica: no gap, no repeat', { skip }, async () => {
    const [a, b] = set.replicas;
    const ext = await api(a!.url, 'PUT', `${VM}/extensions/NetworkWatcherAgentLinux?api-version=2024-03-01`, {
      location: 'westcentralus',
      properties: {
        publisher: 'Microsoft.Azure.NetworkWatcher',
        type: 'NetworkWatcherAgentLinux',
        typeHandlerVersion: '1.4',
      },
    });
    assert.ok(ext.status === 200 || ext.status === 201, JSON.stringify(ext.body));
    const token = (ext.body as { properties: { enrollmentToken: string } }).properties.enrollmentToken;
    const dataDir = join(set.workDir, 'agent');
    mkdirSync(join(dataDir, 'captures'), { recursive: true, mode: 0o700 });
    // The real agent, from this checkout's sources; its first server is replica A, then B.
    agent = spawn(
      process.execPath,
      [
        join(REPO, 'bin', 'nw.js'),
        'agent',
        '--server',
        `${a!.url},${b!.url}`,
        '--token',
        token,
        '--data-dir',
        dataDir,
        '--capture-root',
        join(dataDir, 'captures'),
        '--interface',
        'lo',
        '--log-level',
        'warn',
      ],
      { env: { ...process.env, NW_FROM_SOURCE: '1' }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    agent.stdout!.on('data', (d: Buffer) => (agentLog += d.toString()));
    agent.stderr!.on('data', (d: Buffer) => (agentLog += d.toString()));
    await waitFor(async () => (await holder()) === 0, 60_000, 'the agent connected to replica A');
    await waitFor(async () => (await rows()).length >= 5, 30_000, 'replica A stored five samples');

    // A's database stops taking metric rows (reads go on): what A receives now it holds in memory.
    const lock = new pg.Client({ connectionString: set.dbUrl! });
    await lock.connect();
    await lock.query('BEGIN');
    await lock.query('LOCK TABLE metric_raw IN SHARE MODE');
    const lockedAtInMs = Date.now();
    await sleep(8_000);
    await a!.kill();
    const killedAtInMs = Date.now();
    await lock.query('ROLLBACK');
    await lock.end();
    await waitFor(async () => (await holder()) === 1, 60_000, 'the agent reconnected to replica B');
    // Ten more seconds stored through B.
    await waitFor(
      async () => ((await rows()).at(-1) ?? 0) > killedAtInMs + 10_000,
      60_000,
      'replica B stored samples ten seconds past the kill',
    );

    const times = await rows();
    assert.ok(times[0]! < lockedAtInMs - 3_000, 'the rows start before the database was held');
    const gaps = times.slice(1).map((t, i) => t - times[i]!);
    const holes = gaps.flatMap((g, i) => (g > 1_500 ? [`${new Date(times[i]!).toISOString()} +${g} ms`] : []));
    const repeats = gaps.flatMap((g, i) => (g < 500 ? [`${new Date(times[i]!).toISOString()} +${g} ms`] : []));
    assert.deepEqual(holes, [], `no second missing (${times.length} rows)`);
    assert.deepEqual(repeats, [], 'no sample stored twice');
  });
});
