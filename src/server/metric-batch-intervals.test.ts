/**
 * Issue 17, the batch interval follows the rules that watch the host, through the real server
 * (embedded database, loopback agents): a host in the scope of a rule evaluated every second is
 * told 1 s in its welcome, every other host the configured 5 s; creating, disabling, enabling and
 * deleting such a rule while agents are connected re-announces to exactly the hosts whose
 * interval changed.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import WebSocket from 'ws';
import { TEST_DATABASE_URL, postgresAvailable, testDatabaseName } from '../store/testing/engines.js';
import { BATCH_INTERVAL_RULES_POLL_IN_MS } from './metric-batch-intervals.js';
import { ReplicaSettingsMismatchError } from './replicas.js';
import { startServer, type RunningServer } from './server.js';
import { apiCaller, connectLoopbackAgent, waitFor, startLoopbackServer } from './testing/loopback-agent.js';

const SUB = '00000000-0000-0000-0000-000000000000';
const RG = (rg: string) => `/subscriptions/${SUB}/resourceGroups/${rg}`;
const VM_PATH = (rg: string, vm: string) => `${RG(rg)}/providers/Microsoft.Compute/virtualMachines/${vm}`;

/** The API of a server and an agent connected to it, as the tests need them. */
function harness(sockets: WebSocket[], server: () => RunningServer) {
  const call = apiCaller(server, '2018-03-01');
  /** Enrols a VM, connects as its agent (to `connectTo`, default the same server), says hello; returns the intervals its welcomes announced, in order. */
  const agent = async (rg: string, vm: string, connectTo: RunningServer = server()) => {
    const welcomes: number[] = [];
    const { ws } = await connectLoopbackAgent({
      call,
      serverUrl: connectTo.url,
      vmPath: VM_PATH(rg, vm),
      hostname: vm,
      onMessage: (msg) => {
        if (msg.type !== 'welcome') return;
        assert.equal(msg.vmId.toLowerCase(), VM_PATH(rg, vm).toLowerCase());
        welcomes.push(msg.metricsBatchIntervalInSeconds!);
      },
    });
    sockets.push(ws);
    return welcomes;
  };
  const rule = (name: string, scope: string, evaluationFrequency: string, enabled = true) =>
    call('PUT', `${RG('rules')}/providers/Microsoft.Insights/metricAlerts/${name}`, {
      location: 'global',
      properties: {
        severity: 3,
        enabled,
        scopes: [scope],
        evaluationFrequency,
        windowSize: evaluationFrequency === 'PT1S' ? 'PT5S' : 'PT5M',
        criteria: {
          'odata.type': 'Microsoft.Azure.Monitor.MultipleResourceMultipleMetricCriteria',
          allOf: [
            {
              criterionType: 'StaticThresholdCriterion',
              name: 'c0',
              metricName: 'TCP Segments Sent',
              timeAggregation: 'Total',
              operator: 'GreaterThan',
              threshold: 100,
            },
          ],
        },
      },
    });
  return { call, agent, rule };
}

/** Lets any welcome in flight arrive (one sent after the API answered would be a defect too). */
const settle = () => new Promise((r) => setTimeout(r, 300));

describe('metric batch intervals follow the alert rules that watch the host', () => {
  let server: RunningServer;
  const dataDir = mkdtempSync(join(tmpdir(), 'nw-batch-intervals-'));
  const sockets: WebSocket[] = [];
  const { call, agent, rule } = harness(sockets, () => server);

  before(async () => {
    // The default configured interval (5 s).
    server = await startLoopbackServer(dataDir, SUB);
  });
  after(async () => {
    for (const ws of sockets) ws.close();
    await server.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  test('a host under a PT1S rule is told 1 s, others 5 s; rule changes re-announce to exactly the hosts in scope', async () => {
    // Connected before any rule: every host is told the configured 5 s.
    const fastA = await agent('rgfast', 'fasta');
    const fastB = await agent('rgfast', 'fastb');
    const slow = await agent('rgslow', 'slowc');
    assert.deepEqual([fastA, fastB, slow], [[5], [5], [5]]);

    // A PT1M rule on rgslow tolerates 5 s (60 / 12): nothing to re-announce.
    assert.equal((await rule('every-minute', RG('rgslow'), 'PT1M')).status, 200);
    // A PT1S rule on rgfast: its two hosts are told 1 s, the other none.
    const created = await rule('every-second', RG('rgfast'), 'PT1S');
    assert.equal(created.status, 200, JSON.stringify(created.body));
    await waitFor(() => fastA.length === 2 && fastB.length === 2);
    await settle();
    assert.deepEqual([fastA, fastB, slow], [[5, 1], [5, 1], [5]], 'exactly the hosts in scope re-announced');

    // Hosts connecting now: the welcome carries each host's own interval.
    const fastNew = await agent('rgfast', 'fastnew');
    const other = await agent('rgother', 'otherd');
    assert.deepEqual([fastNew, other], [[1], [5]]);

    // Disabled: back to 5 s; enabled again: 1 s.
    assert.equal((await rule('every-second', RG('rgfast'), 'PT1S', false)).status, 200);
    await waitFor(() => fastA.length === 3 && fastB.length === 3 && fastNew.length === 2);
    assert.equal((await rule('every-second', RG('rgfast'), 'PT1S', true)).status, 200);
    await waitFor(() => fastA.length === 4 && fastB.length === 4 && fastNew.length === 3);

    // Deleted: its hosts return to 5 s.
    assert.equal(
      (await call('DELETE', `${RG('rules')}/providers/Microsoft.Insights/metricAlerts/every-second`)).status,
      200,
    );
    await waitFor(() => fastA.length === 5 && fastB.length === 5 && fastNew.length === 4);
    await settle();
    assert.deepEqual(
      [fastA, fastB, fastNew, slow, other],
      [[5, 1, 5, 1, 5], [5, 1, 5, 1, 5], [1, 5, 1, 5], [5], [5]],
      'each change told once, to the hosts it changed',
    );
  });
});

describe('with two replicas on one PostgreSQL, each announces to its own agents', { timeout: 60_000 }, async () => {
  const skip = !(await postgresAvailable());
  const sockets: WebSocket[] = [];
  const servers: RunningServer[] = [];
  const dirs: string[] = [];
  const name = testDatabaseName('batch');
  const admin = new pg.Client({ connectionString: TEST_DATABASE_URL });
  const { call, agent, rule } = harness(sockets, () => servers[0]!);
  const url = new URL(TEST_DATABASE_URL);
  url.pathname = `/${name}`;
  let keyFile = '';
  /** Starts one more replica of the database (`agentMetricsBatchIntervalInSeconds` absent: the default, 5). */
  const replica = (i: number, agentMetricsBatchIntervalInSeconds?: number) => {
    const dataDir = mkdtempSync(join(tmpdir(), `nw-batch-replica${i}-`));
    dirs.push(dataDir);
    return startServer({
      listenHost: '127.0.0.1',
      listenPort: 0,
      dataDir,
      databaseUrl: url.toString(),
      // Every server of one database shares its secret key.
      secretKeyFile: keyFile,
      defaultLocation: 'westcentralus',
      subscriptionId: SUB,
      logLevel: 'silent',
      ...(agentMetricsBatchIntervalInSeconds !== undefined ? { agentMetricsBatchIntervalInSeconds } : {}),
    });
  };

  before(async () => {
    if (skip) return;
    await admin.connect();
    await admin.query(`CREATE DATABASE ${name}`);
    const keyDir = mkdtempSync(join(tmpdir(), 'nw-batch-key-'));
    dirs.push(keyDir);
    keyFile = join(keyDir, 'secret-key');
    writeFileSync(keyFile, `${randomBytes(32).toString('base64')}\n`, { mode: 0o600 });
    // One after the other: the first creates the schema.
    for (let i = 0; i < 2; i++) servers.push(await replica(i));
  });
  after(async () => {
    for (const ws of sockets) ws.close();
    for (const s of servers.reverse()) await s.close().catch(() => undefined);
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
    if (!skip) {
      await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).catch(() => undefined);
      await admin.end();
    }
  });

  test(
    'a rule created through one replica reaches the agents connected to the other within its poll',
    { skip },
    async () => {
      const [first, second] = servers as [RunningServer, RunningServer];
      const onFirst = await agent('rgfast', 'onfirst', first);
      const onSecond = await agent('rgfast', 'onsecond', second);
      assert.deepEqual([onFirst, onSecond], [[5], [5]]);
      const started = Date.now();
      assert.equal((await rule('every-second', RG('rgfast'), 'PT1S')).status, 200);
      // The replica that took the PUT tells its own agent at once.
      await waitFor(() => onFirst.length === 2, 2_000);
      // The other re-reads the rules within its poll and tells its own.
      await waitFor(() => onSecond.length === 2, BATCH_INTERVAL_RULES_POLL_IN_MS + 3_000);
      assert.ok(Date.now() - started <= BATCH_INTERVAL_RULES_POLL_IN_MS + 3_000);
      assert.equal(
        (await call('DELETE', `${RG('rules')}/providers/Microsoft.Insights/metricAlerts/every-second`)).status,
        200,
      );
      await waitFor(() => onFirst.length === 3 && onSecond.length === 3, BATCH_INTERVAL_RULES_POLL_IN_MS + 3_000);
      await settle();
      assert.deepEqual(
        [onFirst, onSecond],
        [
          [5, 1, 5],
          [5, 1, 5],
        ],
        'each told once per change, by its own replica',
      );
    },
  );

  test(
    'a replica started with another --agent-metrics-batch-seconds than the live ones refuses to start, naming their value',
    { skip },
    async (t) => {
      const db = new pg.Client({ connectionString: url.toString() });
      await db.connect();
      t.after(() => db.end());
      const liveReplicas = async () =>
        Number((await db.query('SELECT count(*) AS n FROM server_replicas WHERE expires_at > now()')).rows[0].n);
      assert.equal(await liveReplicas(), 2);
      // A replica that starts anyway is closed again, so the failing test ends.
      const refused = await replica(2, 10).then(
        (started) => started.close().then(() => null),
        (error: unknown) => error,
      );
      assert.ok(refused instanceof ReplicaSettingsMismatchError, `refused with ${String(refused)}`);
      assert.match(
        refused.message,
        /--agent-metrics-batch-seconds is 10 here, but 2 live replica\(s\) on this database use 5\b.*start this one with --agent-metrics-batch-seconds 5\b/,
      );
      // The refused replica left no heartbeat behind (the next one to start is judged by the live ones only).
      assert.equal(await liveReplicas(), 2);
      // The same value, given explicitly, is accepted.
      const third = await replica(3, 5);
      servers.push(third);
      assert.equal(await liveReplicas(), 3);
    },
  );
});
