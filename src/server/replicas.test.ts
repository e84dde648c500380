/**
 * Replica coordination on a real PostgreSQL (issue 17): orders reach the replica that holds a
 * host's connection, one NOTIFY per woken replica per batch; an order survives the death of its
 * holder and goes out through the host's next one; a dead replica's leases expire and its hosts
 * are handed over exactly once; local storage is refused unless every live replica shares it.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { createLogger } from '../lib/index.js';
import type { ServerToAgent } from '../model/index.js';
import { AGENT_ORDERS_CHANNEL } from '../store/index.js';
import { TEST_DATABASE_URL, openTestDatabase, postgresAvailable } from '../store/testing/engines.js';
import type { AgentHub } from './agent-hub.js';
import { ReplicaCoordinator, type ReplicaTimings } from './replicas.js';

/** The part of a hub the coordinator uses, recording what it delivers over "its" connections. */
function recordingHub(connected: string[]) {
  const delivered: Array<{ vmKey: string; msg: ServerToAgent }> = [];
  const keys = new Set(connected);
  const hub = {
    remoteSend: null as ((vmKey: string, msg: ServerToAgent) => boolean) | null,
    isConnected: (k: string) => keys.has(k),
    connectedKeys: () => [...keys],
    sendLocal: (k: string, msg: ServerToAgent) => {
      if (!keys.has(k)) return 'absent' as const;
      delivered.push({ vmKey: k, msg });
      return 'sent' as const;
    },
    send(k: string, msg: ServerToAgent) {
      return this.sendLocal(k, msg) === 'sent' || (this.remoteSend?.(k, msg) ?? false);
    },
  };
  return { hub, delivered, keys };
}

const FAST: Partial<ReplicaTimings> = { leaseTtlInMs: 1500, heartbeatInMs: 300, orderPollInMs: 5000 };
const logger = createLogger({ name: 'replicas-test', level: 'silent' });

/** The URL of the test database `db` is (the same server as TEST_DATABASE_URL). */
async function databaseUrlOf(db: { query(sql: string): Promise<Array<Record<string, unknown>>> }): Promise<string> {
  const [{ current_database: name }] = (await db.query('SELECT current_database()')) as [{ current_database: string }];
  const url = new URL(TEST_DATABASE_URL);
  url.pathname = `/${name}`;
  return url.toString();
}

async function until(check: () => boolean | Promise<boolean>, timeoutInMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutInMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

describe('replicas on one PostgreSQL', { timeout: 60_000 }, async () => {
  const skip = !(await postgresAvailable());
  const cleanups: Array<() => Promise<void>> = [];
  after(async () => {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
  });

  const setUp = async () => {
    const { db, drop } = await openTestDatabase('postgres');
    cleanups.push(drop);
    const gone: string[][] = [];
    const back: string[][] = [];
    const roots: string[] = [];
    const replica = async (connected: string[]) => {
      const h = recordingHub(connected);
      /** The hosts this replica recorded gone. */
      const recordedGone: string[] = [];
      const c = new ReplicaCoordinator(
        db,
        h.hub as unknown as AgentHub,
        logger,
        {
          onHostsGone: async (keys) => {
            gone.push(keys);
            recordedGone.push(...keys);
          },
          onHostsBack: async (keys) => {
            back.push(keys);
          },
          localStorageRoots: async () => roots,
        },
        FAST,
      );
      await c.start();
      for (const k of connected) await c.hostConnected(k);
      cleanups.unshift(() => c.close());
      return { c, ...h, recordedGone };
    };
    return { db, gone, back, roots, replica };
  };

  test(
    'a batch of orders for many hosts reaches their replicas with one NOTIFY per replica, in order',
    { skip },
    async () => {
      const { db, replica } = await setUp();
      const hostsB = Array.from({ length: 50 }, (_, i) => `vm-b-${i}`);
      const hostsC = Array.from({ length: 50 }, (_, i) => `vm-c-${i}`);
      const a = await replica([]);
      const b = await replica(hostsB);
      const c = await replica(hostsC);
      // A listener of its own on the same database counts the wake-ups.
      const [{ current_database: name }] = (await db.query<{ current_database: string }>(
        'SELECT current_database()',
      )) as [{ current_database: string }];
      const url = new URL(TEST_DATABASE_URL);
      url.pathname = `/${name}`;
      const counter = new pg.Client({ connectionString: url.toString() });
      await counter.connect();
      cleanups.push(() => counter.end());
      let notifications = 0;
      counter.on('notification', () => {
        notifications++;
      });
      await counter.query(`LISTEN ${AGENT_ORDERS_CHANNEL}`);

      // One tick of sends from replica A, as a fan-out does: start and stop for every host.
      for (const k of [...hostsB, ...hostsC]) {
        assert.equal(a.hub.send(k, { type: 'capture.start', order: { captureUid: `u-${k}` } as never }), true);
        a.hub.send(k, { type: 'capture.stop', captureUid: `u-${k}` });
      }
      a.hub.send('vm-nowhere', { type: 'capture.stop', captureUid: 'x' });
      await until(() => b.delivered.length === 100 && c.delivered.length === 100, 10_000, 'all orders delivered');
      for (const r of [b, c]) {
        for (let i = 0; i < r.delivered.length; i += 2) {
          assert.equal(r.delivered[i]!.msg.type, 'capture.start');
          assert.equal(r.delivered[i + 1]!.msg.type, 'capture.stop', 'the stop of a host comes after its start');
          assert.equal(r.delivered[i]!.vmKey, r.delivered[i + 1]!.vmKey);
        }
      }
      await sleep(300);
      assert.equal(notifications, 2, 'one NOTIFY per woken replica for the whole batch');
      const left = await db.query('SELECT count(*)::int AS n FROM agent_orders');
      assert.equal(left[0]!.n, 0, 'delivered orders are deleted, and none is kept for a host connected nowhere');
    },
  );

  test(
    "an order whose holder died is delivered by the host's next replica; a dead replica's hosts are handed over once",
    { skip },
    async () => {
      const { db, gone, replica } = await setUp();
      const a = await replica([]);
      const b = await replica(['vm-1', 'vm-2']);
      // B "dies": it stops heartbeating and hearing, without retiring (as kill -9).
      (b.c as unknown as { closed: boolean }).closed = true;
      b.keys.clear();
      a.hub.send('vm-1', { type: 'capture.stop', captureUid: 'u1' });
      await until(
        async () => Number((await db.query('SELECT count(*)::int AS n FROM agent_orders'))[0]!.n) === 1,
        5000,
        'the order stored',
      );
      // vm-1's agent reconnects through C before B's lease expired.
      const c = await replica(['vm-1']);
      await until(() => c.delivered.length === 1, 5000, 'the order delivered by the new holder');
      assert.deepEqual(c.delivered[0], { vmKey: 'vm-1', msg: { type: 'capture.stop', captureUid: 'u1' } });
      // vm-2 stays with the dead replica: its lease expires and it is handed over exactly once.
      await until(() => gone.flat().includes('vm-2'), 6000, 'vm-2 recorded gone');
      await sleep(800);
      assert.deepEqual(
        gone.flat().filter((k) => k === 'vm-2'),
        ['vm-2'],
        'claimed by one replica, once',
      );
      assert.equal(gone.flat().includes('vm-1'), false, 'a host that reconnected elsewhere is not recorded gone');
      assert.equal(await a.c.connectedAnywhere('vm-1'), true);
      assert.equal(await a.c.connectedAnywhere('vm-2'), false);
    },
  );

  test('local storage is refused with several replicas unless every live one shares its folder', { skip }, async () => {
    const { roots, replica } = await setUp();
    const shared = mkdtempSync(join(tmpdir(), 'nw-repl-root-'));
    cleanups.push(async () => rmSync(shared, { recursive: true, force: true }));
    const a = await replica([]);
    await a.c.assertLocalStorageUsable('nwlocal', shared, 'storageId');
    const b = await replica([]);
    // B never wrote into this folder (another machine's folder of the same path): refused, naming the way out.
    await assert.rejects(
      a.c.assertLocalStorageUsable('nwlocal', shared, 'properties.storageLocation.storageId'),
      (e: Error & { code?: string; target?: string }) => {
        assert.equal(e.code, 'OperationNotSupported');
        assert.equal(e.target, 'properties.storageLocation.storageId');
        assert.match(e.message, /Azure Blob or S3/);
        return true;
      },
    );
    // Once B sees the folder (its heartbeat marks the local roots it knows), it is shared.
    roots.push(shared);
    await until(
      async () =>
        a.c.assertLocalStorageUsable('nwlocal', shared, 'x').then(
          () => true,
          () => false,
        ),
      5000,
      'the folder accepted as shared',
    );
    void b;
  });

  test(
    "a stopped replica writes no host's record: a live replica's sweep records its hosts away, or with none left the next start",
    { skip },
    async () => {
      const { db, replica } = await setUp();
      const a = await replica([]);
      // B stops with two hosts whose goodbyes it did not write (they left just before the stop).
      const b = await replica(['vm-s1', 'vm-s2']);
      b.keys.clear();
      await b.c.close();
      assert.deepEqual(b.recordedGone, [], 'the stop itself records nothing');
      await until(() => a.recordedGone.length === 2, 5000, 'the live replica to record them away');
      assert.deepEqual([...a.recordedGone].sort(), ['vm-s1', 'vm-s2']);
      // The last replica stops: nobody sweeps until one starts, whose first sweep records its hosts.
      await a.c.hostConnected('vm-s3');
      await a.c.close();
      await sleep(600);
      const leases = await db.query('SELECT vm_key FROM agent_leases');
      assert.deepEqual(
        leases.map((r) => r.vm_key),
        ['vm-s3'],
        'left for the next start',
      );
      const next = await replica([]);
      assert.deepEqual(next.recordedGone, ['vm-s3'], 'recorded away by the first sweep of the next start');
    },
  );

  test(
    "a host is recorded away only while no live replica holds its lease, checked under the VM's lock",
    { skip },
    async () => {
      const { db, replica } = await setUp();
      const a = await replica([]);
      const b = await replica([]);
      const vm = (name: string) =>
        `/subscriptions/s/resourcegroups/g/providers/microsoft.compute/virtualmachines/${name}`;
      for (const name of ['vm-r1', 'vm-r2'])
        await db.query(
          `INSERT INTO resources (key, type, parent_key, id, name, subscription_id, resource_group, location, body, etag)
           VALUES ($1, 'vm', NULL, $1, $2, 's', 'g', 'local', $3, 'W/"0"')`,
          [vm(name), name, JSON.stringify({ properties: { netwatcher: { agentConnected: true, lastSeenAt: null } } })],
        );
      const connected = async (name: string) =>
        (
          await db.query(
            `SELECT body->'properties'->'netwatcher'->>'agentConnected' AS c FROM resources WHERE key = $1`,
            [vm(name)],
          )
        )[0]!.c;
      // vm-r1's goodbye on A is late: its agent is back through B, whose hello took the lease.
      await b.c.hostConnected(vm('vm-r1'));
      assert.equal(await a.c.store.recordAwayUnlessLeased(vm('vm-r1')), false);
      assert.equal(await connected('vm-r1'), 'true', 'not shown away while connected through B');
      // vm-r2 is connected nowhere: recorded away, with the time last seen.
      assert.equal(await a.c.store.recordAwayUnlessLeased(vm('vm-r2')), true);
      assert.equal(await connected('vm-r2'), 'false');
      // The check waits for the VM's lock: a hello that holds it (lease taken, connected record under way) wins.
      const holder = new pg.Client({ connectionString: await databaseUrlOf(db) });
      await holder.connect();
      cleanups.push(() => holder.end());
      await holder.query('BEGIN');
      await holder.query('SELECT 1 FROM resources WHERE key = $1 FOR UPDATE', [vm('vm-r2')]);
      const away = a.c.store.recordAwayUnlessLeased(vm('vm-r2'));
      await sleep(200);
      await b.c.hostConnected(vm('vm-r2'));
      await holder.query(
        `UPDATE resources SET body = jsonb_set(body, '{properties,netwatcher,agentConnected}', 'true') WHERE key = $1`,
        [vm('vm-r2')],
      );
      await holder.query('COMMIT');
      assert.equal(await away, false, 'the lease taken before the lock was released is seen');
      assert.equal(await connected('vm-r2'), 'true');
    },
  );

  test('a replica whose heartbeat lapsed takes back the hosts still connected to it', { skip }, async () => {
    const { gone, back, replica } = await setUp();
    const a = await replica([]);
    const b = await replica(['vm-3']);
    const internals = b.c as unknown as { closed: boolean; lastBeatInMs: number; beat(): Promise<void> };
    internals.closed = true; // no heartbeats: as a replica cut from the database
    await until(() => gone.flat().includes('vm-3'), 6000, 'vm-3 claimed by the other replica');
    assert.equal(await a.c.connectedAnywhere('vm-3'), false);
    internals.closed = false;
    await internals.beat();
    assert.deepEqual(back, [['vm-3']], 'taken back, and handed to onHostsBack to be shown connected');
    assert.equal(await b.c.store.leaseHolder('vm-3'), b.c.replicaId);
  });
});
