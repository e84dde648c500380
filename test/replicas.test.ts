/**
 * Issue 17 §1: three `nw server` replicas on one PostgreSQL (a fresh database, dropped after)
 * behind a real HAProxy (docs/deploy/haproxy.cfg as it is), a real agent in a test host talking
 * to the load balancer, and the CLI pinned to different replicas. Every call works through every
 * replica; a kill -9 of the replica holding the agent's connection mid-capture loses nothing;
 * a rolling restart of all replicas under a running capture neither.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import pg from 'pg';
import { readPcapBuffer } from '../src/pcap/index.js';
import { TEST_DATABASE_URL, postgresAvailable, testDatabaseName } from '../src/store/testing/engines.js';
import { Lab, stopProcess, type LabHost } from './lab/lab.js';
import { ReplicaSet } from './lab/replica-set.js';

const SUB = '00000000-0000-0000-0000-000000000000';
const LOC = 'westcentralus';
const WATCHER = `/subscriptions/${SUB}/resourceGroups/NetworkWatcherRG/providers/Microsoft.Network/networkWatchers/NetworkWatcher_${LOC}`;
const pc = (...args: string[]) => ['network', 'watcher', 'packet-capture', ...args];

describe('three replicas on one PostgreSQL behind HAProxy', { timeout: 240_000 }, async () => {
  const skip = !(await postgresAvailable());
  let lab: Lab;
  let set: ReplicaSet;
  let host: LabHost;
  let ping: ChildProcess | null = null;
  let admin: pg.Client;
  let dbClient: pg.Client;
  const dbName = testDatabaseName('replicas');
  const rg = `rprg${process.pid}`;

  /** The replica index holding vma's lease now (-1: none live). */
  const holder = async (): Promise<number> => {
    const rows = (
      await dbClient.query(
        `SELECT l.replica_id FROM agent_leases l JOIN server_replicas r ON r.replica_id = l.replica_id AND r.expires_at > now() WHERE l.vm_key LIKE '%/virtualmachines/vma'`,
      )
    ).rows as Array<{ replica_id: string }>;
    return rows.length ? set.indexOf(rows[0]!.replica_id) : -1;
  };
  const status = (i: number, name: string) => set.nwJson(i, pc('show-status', '--name', name, '--location', LOC));
  const waitStatus = async (
    i: number,
    name: string,
    want: (s: Record<string, unknown>) => boolean,
    timeoutInMs: number,
    what: string,
  ) => {
    let last: Record<string, unknown> = {};
    await lab.waitFor(
      async () => {
        try {
          last = await status(i, name);
        } catch (error) {
          last = { error: String((error as Error).message).slice(0, 500) };
          return false;
        }
        return want(last);
      },
      timeoutInMs,
      `${name}: ${what} (last status: ${JSON.stringify(last)})\n${set.output()}`,
    );
    return last;
  };
  /** The full status (queryStatus) through replica i's API: counters and per-host files. */
  const apiStatus = async (i: number, name: string) => {
    const r = await set.api(i, 'POST', `${WATCHER}/packetCaptures/${name}/queryStatus?api-version=2024-05-01`);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    return r.body as {
      packetCaptureStatus: string;
      stopReason?: string;
      packetsCaptured: number;
      instances: Array<{ file: { stored: boolean } | null }>;
    };
  };
  /** Downloads through replica i once stored; checks the file is a pcap holding what the status counted. */
  const download = async (i: number, name: string, packetsCaptured: number) => {
    const out = join(lab.workDir, `${name}-${i}.cap`);
    await lab.waitFor(
      async () =>
        (await set.nw(i, pc('download', '--name', name, '--location', LOC, '--file', out, '--force'))).code === 0,
      20_000,
      `${name} downloadable through replica ${i}`,
    );
    const file = readPcapBuffer(readFileSync(out));
    assert.ok(file.records.length > 0, `${name} holds packets`);
    assert.equal(file.records.length, packetsCaptured, `${name}: the stored file holds every packet the agent counted`);
    return file;
  };

  before(async () => {
    if (skip) return;
    admin = new pg.Client({ connectionString: TEST_DATABASE_URL });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${dbName}`);
    const url = new URL(TEST_DATABASE_URL);
    url.pathname = `/${dbName}`;
    dbClient = new pg.Client({ connectionString: url.toString() });
    await dbClient.connect();
    lab = await Lab.create();
    host = await lab.addHost('a', ['10.0.0.3/24']);
    set = new ReplicaSet(lab, url.toString());
    await set.startLoadBalancer();
    await set.startAll();
    // The install command carries the public URL: the load balancer.
    const installed = await lab.installAgent(host, rg, 'vma', [], { timeoutInMs: 30_000 });
    assert.match(installed.installCommand, /--server http:\/\/10\.0\.0\.1:8817 /);
    // Steady traffic for every capture: a ping from the host to the server namespace.
    ping = host.ns.spawn('ping', ['-q', '-i', '0.2', '10.0.0.1'], { stdio: 'ignore' });
  });
  let receiver: Server | null = null;
  after(async () => {
    receiver?.closeAllConnections();
    receiver?.close();
    await stopProcess(ping);
    await set?.close();
    await lab?.destroy();
    await dbClient?.end().catch(() => undefined);
    if (admin) {
      await admin.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`).catch(() => undefined);
      await admin.end();
    }
  });

  test(
    'create, status, stop, download and delete work through every replica, whichever holds the agent',
    { skip },
    async () => {
      assert.notEqual(await holder(), -1, 'the agent holds a lease on one replica');
      await Promise.all(
        [0, 1, 2].map(async (c) => {
          const [s, st] = [(c + 1) % 3, (c + 2) % 3];
          const name = `each${c}`;
          const created = await set.nwJson(
            c,
            pc(
              'create',
              '--resource-group',
              rg,
              '--vm',
              'vma',
              '--name',
              name,
              '--storage-account',
              'nwlocal',
              '--time-limit',
              '120',
            ),
          );
          assert.equal(created.name, name);
          await waitStatus(s, name, (x) => x.packetCaptureStatus === 'Running', 20_000, `Running through replica ${s}`);
          const stop = await set.nw(st, pc('stop', '--name', name, '--location', LOC));
          assert.equal(stop.code, 0, stop.stderr);
          const stopped = await waitStatus(
            s,
            name,
            (x) => x.packetCaptureStatus === 'Stopped',
            20_000,
            `Stopped through replica ${s}`,
          );
          assert.equal(stopped.stopReason, 'Manual');
          await lab.waitFor(
            async () => (await apiStatus(c, name)).instances[0]?.file?.stored === true,
            20_000,
            `${name} stored`,
          );
          await download(c, name, (await apiStatus(st, name)).packetsCaptured);
          const del = await set.nw(s, pc('delete', '--name', name, '--location', LOC));
          assert.equal(del.code, 0, del.stderr);
          await lab.waitFor(
            async () => (await set.nw(st, pc('show', '--name', name, '--location', LOC))).code !== 0,
            20_000,
            `${name} gone through replica ${st}`,
          );
        }),
      );
    },
  );

  test(
    'kill -9 of the replica holding the agent mid-capture: the agent reconnects through another, the capture completes, its file is stored, nothing lost',
    { skip },
    async () => {
      const h = await holder();
      assert.notEqual(h, -1);
      const [via, third] = [(h + 1) % 3, (h + 2) % 3];
      // Created through a replica that does not hold the agent: the order travels through the database.
      const put = await set.api(via, 'PUT', `${WATCHER}/packetCaptures/crash?api-version=2024-05-01`, {
        properties: {
          target: `/subscriptions/${SUB}/resourceGroups/${rg}/providers/Microsoft.Compute/virtualMachines/vma`,
          storageLocation: {
            storageId: `/subscriptions/${SUB}/resourceGroups/NetworkWatcherRG/providers/Microsoft.Storage/storageAccounts/nwlocal`,
          },
          timeLimitInSeconds: 8,
        },
      });
      assert.equal(put.status, 201, JSON.stringify(put.body));
      const operation = put.headers.get('azure-asyncoperation')!;
      await waitStatus(third, 'crash', (x) => x.packetCaptureStatus === 'Running', 20_000, 'Running');
      await set.kill(h);
      // The agent's connection died with its replica; through HAProxy it lands on a live one.
      await lab.waitFor(
        async () => {
          const now = await holder();
          return now !== -1 && now !== h;
        },
        20_000,
        `the agent to reconnect through another replica\n${set.output()}`,
      );
      await waitStatus(third, 'crash', (x) => x.packetCaptureStatus === 'Stopped', 30_000, 'Stopped');
      await lab.waitFor(
        async () => (await apiStatus(third, 'crash')).instances[0]?.file?.stored === true,
        20_000,
        `crash stored\n${set.output()}`,
      );
      const done = await apiStatus(via, 'crash');
      assert.equal(done.stopReason, 'TimeExceeded');
      await download(via, 'crash', done.packetsCaptured);
      // The operation document of the create still answers, through another replica than the one that made it.
      const opDoc = await set.api(third, 'GET', operation.replace(/^https?:\/\/[^/]+/, set.url(third)));
      assert.equal(opDoc.status, 200);
      assert.equal((opDoc.body as { status?: string }).status, 'Succeeded');
      const vm = await set.api(
        third,
        'GET',
        `/subscriptions/${SUB}/resourceGroups/${rg}/providers/Microsoft.Compute/virtualMachines/vma?api-version=2024-07-01`,
      );
      assert.equal(
        (vm.body as { properties: { netwatcher: { agentConnected: boolean } } }).properties.netwatcher.agentConnected,
        true,
        'shown connected: the lease moved',
      );
      await set.start(h);
    },
  );

  test(
    'a rolling restart of all replicas under a running capture: it runs on, stops through the new replicas and its file is whole',
    { skip },
    async () => {
      await set.nwJson(
        0,
        pc(
          'create',
          '--resource-group',
          rg,
          '--vm',
          'vma',
          '--name',
          'rolling',
          '--storage-account',
          'nwlocal',
          '--time-limit',
          '600',
        ),
      );
      await waitStatus(1, 'rolling', (x) => x.packetCaptureStatus === 'Running', 20_000, 'Running');
      for (const i of [0, 1, 2]) {
        await set.stop(i);
        // The others answer meanwhile (through the load balancer too), and the capture runs on. While
        // the agent of the stopped replica reconnects (jittered back-off) its host is honestly
        // Unknown; within seconds it is Running again through another replica.
        assert.ok(
          ['Running', 'Unknown'].includes(
            String((await lab.nwJson(pc('show-status', '--name', 'rolling', '--location', LOC))).packetCaptureStatus),
          ),
        );
        await waitStatus(
          (i + 1) % 3,
          'rolling',
          (x) => x.packetCaptureStatus === 'Running',
          20_000,
          `Running while replica ${i} is down`,
        );
        await set.start(i);
      }
      await lab.waitFor(async () => (await holder()) !== -1, 20_000, 'the agent connected after the restarts');
      const stop = await lab.nw(pc('stop', '--name', 'rolling', '--location', LOC));
      assert.equal(stop.code, 0, stop.stderr);
      await waitStatus(2, 'rolling', (x) => x.packetCaptureStatus === 'Stopped', 30_000, 'Stopped');
      await lab.waitFor(
        async () => (await apiStatus(1, 'rolling')).instances[0]?.file?.stored === true,
        20_000,
        `rolling stored\n${set.output()}`,
      );
      const done = await apiStatus(0, 'rolling');
      assert.equal(done.stopReason, 'Manual');
      for (const i of [0, 1, 2]) await download(i, 'rolling', done.packetsCaptured);
    },
  );

  test(
    'alerts: an alert-capture burst through all replicas starts one capture; a rule is evaluated once per period, and fires once',
    { skip },
    async () => {
      const received: Array<{ path: string; body: any }> = [];
      receiver = createServer((req, res) => {
        let text = '';
        req.on('data', (c: Buffer) => {
          text += c.toString();
        });
        req.on('end', () => {
          received.push({ path: req.url ?? '', body: JSON.parse(text) });
          res.writeHead(200).end();
        });
      });
      await new Promise<void>((resolve) => receiver!.listen(0, lab.rootAddress, resolve));
      const receiverUrl = `http://${lab.rootAddress}:${(receiver.address() as AddressInfo).port}`;

      const endpoint = await set.nwJson(0, [
        'network',
        'watcher',
        'alert-capture',
        'create',
        '--name',
        'burst',
        '--capture-name',
        'burstcap',
        '--time-limit',
        '3',
        '--session-limit',
        '10',
        '--storage-account',
        'nwlocal',
      ]);
      const url = String(endpoint.url);
      const payload = readFileSync(
        new URL('../src/alerts/fixtures/azure-common-alert-schema.fired.json', import.meta.url),
        'utf8',
      ).replace(
        /resourcegroups\/rg1\/providers\/microsoft\.compute\/virtualmachines\/vm1/gi,
        `resourcegroups/${rg}/providers/microsoft.compute/virtualmachines/vma`,
      );
      // The same firing delivered nine times at once, three times to each replica (Azure retries, several action groups).
      const answers = await Promise.all(
        Array.from({ length: 9 }, (_, n) =>
          fetch(url.replace(/^http:\/\/[^/]+/, set.url(n % 3)), {
            method: 'POST',
            headers: { 'Content-Type': 'application/json' },
            body: payload,
          }).then(async (r) => ({ status: r.status, body: await r.text() })),
        ),
      );
      assert.deepEqual(
        answers.map((a) => a.status).sort(),
        [200, 200, 200, 200, 200, 200, 200, 200, 202],
        JSON.stringify(answers),
      );
      const runs = (await set.nwJson(1, [
        'network',
        'watcher',
        'alert-capture',
        'list-runs',
        '--name',
        'burst',
      ])) as unknown as Array<{ state: string }>;
      assert.equal(runs.length, 9);
      assert.equal(runs.filter((r) => r.state === 'duplicate').length, 8, JSON.stringify(runs.map((r) => r.state)));
      const captures = (await set.nwJson(2, pc('list', '--location', LOC))) as unknown as Array<{ name: string }>;
      assert.deepEqual(captures.filter((c) => c.name === 'burstcap').length, 1, 'one capture for the burst');

      // A rule every second that is always met (the agent's own reports are TCP segments).
      const vmaId = `/subscriptions/${SUB}/resourceGroups/${rg}/providers/Microsoft.Compute/virtualMachines/vma`;
      await set.nwJson(1, [
        'monitor',
        'action-group',
        'create',
        '--name',
        'AGR',
        '--resource-group',
        rg,
        '--action',
        'webhook',
        'observer',
        `${receiverUrl}/alerts`,
      ]);
      await set.nwJson(2, [
        'monitor',
        'metrics',
        'alert',
        'create',
        '--name',
        'always',
        '--resource-group',
        rg,
        '--scopes',
        vmaId,
        '--condition',
        'total TCP Segments Sent > 0',
        '--window-size',
        '5s',
        '--evaluation-frequency',
        '1s',
        '--action',
        'AGR',
      ]);
      const evaluations = async () => {
        let total = 0;
        for (const i of [0, 1, 2]) {
          const text = await fetch(`${set.url(i)}/metrics`, {
            headers: { Authorization: `Bearer ${lab.adminToken}` },
          }).then((r) => r.text());
          total += Number(/^nw_alert_rule_evaluations_total\{outcome="Succeeded"\} (\d+)/m.exec(text)?.[1] ?? 0);
        }
        return total;
      };
      await lab.waitFor(
        async () => received.some((r) => r.path === '/alerts'),
        20_000,
        `the rule to fire\n${set.output()}`,
      );
      const before = await evaluations();
      const startedAt = Date.now();
      await sleep(6000);
      const delta = (await evaluations()) - before;
      const periods = (Date.now() - startedAt) / 1000;
      assert.ok(
        delta >= periods - 2 && delta <= periods + 1,
        `${delta} evaluations in ${periods.toFixed(1)} periods across three replicas: once per period`,
      );
      assert.equal(received.filter((r) => r.path === '/alerts').length, 1, 'fired once, not once per replica');
      await set.nw(0, ['monitor', 'metrics', 'alert', 'delete', '--name', 'always', '--resource-group', rg]);
    },
  );
});
