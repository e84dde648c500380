/**
 * Issue 17, cheap admission: what an agent's hello costs the database when a fleet reconnects at
 * once. The hellos recorded together share one statement for their VMs (and one read of their
 * extensions), never one read and one four-round-trip transaction each; and the record keeps what
 * the hello does not say (a look-back setting, tags written at the same moment, the version it
 * left out). On both engines (a replica set runs on PostgreSQL).
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { AGENT_EXTENSION, type VmBody } from '../../model/index.js';
import { Store, type Db } from '../../store/index.js';
import { openTestDatabase, postgresAvailable, TEST_ENGINES } from '../../store/testing/engines.js';
import type { ServerContext } from './context.js';
import { setAgentConnected } from './vms.js';
import { AgentGreetings } from '../agent-greetings.js';
import { AGENT_GREETINGS_AT_ONCE } from '../server.js';

const havePostgres = await postgresAvailable();
const SUB = '00000000-0000-0000-0000-00000000cafe';

/** `db` with every statement counted as PostgreSQL sees it (a transaction is BEGIN, its statements, COMMIT). */
function counting(db: Db): { db: Db; statements: () => number; reset: () => void } {
  let n = 0;
  const wrap = (inner: Db): Db => ({
    engine: inner.engine,
    query: (sql, params) => {
      n++;
      return inner.query(sql, params);
    },
    transaction: (fn) => {
      n += 2;
      return inner.transaction((tx) => fn(wrap(tx)));
    },
    close: () => inner.close(),
  });
  return {
    db: wrap(db),
    statements: () => n,
    reset: () => {
      n = 0;
    },
  };
}

for (const engine of TEST_ENGINES) {
  describe(`an agent's hello on ${engine}`, { skip: engine === 'postgres' && !havePostgres }, async () => {
    const { db, drop } = await openTestDatabase(engine);
    after(() => drop());
    const spy = counting(db);
    const store = new Store(spy.db);
    const ctx = { store } as ServerContext;

    /** A VM with its agent extension already Succeeded (a reconnecting host), a look-back setting and a tag. */
    const host = async (name: string) => {
      const key = `/subscriptions/${SUB}/resourcegroups/rg/providers/microsoft.compute/virtualmachines/${name}`;
      const body = {
        type: 'Microsoft.Compute/virtualMachines',
        location: 'westus',
        tags: { team: 'net' },
        properties: {
          netwatcher: {
            agentConnected: false,
            agentVersion: '0.9.0',
            hostname: `${name}.old`,
            enrolledAt: '2026-12-01T00:00:00.000Z',
            lastSeenAt: '2026-12-01T00:00:00.000Z',
            lookback: {
              settings: { seconds: 30, maxBytes: 1_000_000 },
              enabledAt: '2026-12-01T00:00:00.000Z',
              state: null,
            },
          },
        },
      };
      await store.putResource({
        key,
        type: 'vm',
        parentKey: null,
        id: key,
        name,
        subscriptionId: SUB,
        resourceGroup: 'rg',
        location: 'westus',
        body,
      });
      const extKey = `${key}/extensions/${AGENT_EXTENSION.linuxType.toLowerCase()}`;
      await store.putResource({
        key: extKey,
        type: 'extension',
        parentKey: key,
        id: extKey,
        name: AGENT_EXTENSION.linuxType,
        subscriptionId: SUB,
        resourceGroup: 'rg',
        location: 'westus',
        body: { properties: { publisher: AGENT_EXTENSION.publisher, provisioningState: 'Succeeded' } },
      });
      return key;
    };

    const keys: string[] = [];
    for (let i = 0; i < 16; i++) keys.push(await host(`storm${i}`));

    test('16 hellos at once: one statement for their VMs and one read of their extensions', async () => {
      spy.reset();
      const vms = await Promise.all(
        keys.map((key, i) =>
          setAgentConnected(ctx, key, true, { agentVersion: '1.0.0', ...(i % 2 === 0 ? { hostname: `h${i}` } : {}) }),
        ),
      );
      // Before: per batch a read of the VMs, a transaction of four (BEGIN, locked read, write,
      // COMMIT) and the extensions' read: 6.
      assert.equal(spy.statements(), 2);
      vms.forEach((vm, i) => {
        const nw = (vm as { body: VmBody }).body.properties.netwatcher;
        assert.equal(nw.agentConnected, true);
        assert.equal(nw.agentVersion, '1.0.0');
        assert.equal(nw.hostname, i % 2 === 0 ? `h${i}` : `storm${i}.old`, 'a host name not given is kept');
        assert.ok(Date.parse(nw.lastSeenAt!) > Date.parse('2026-12-02T00:00:00.000Z'));
        assert.equal(nw.lookback?.settings.seconds, 30, 'the look-back setting is kept');
      });
      const stored = await store.getResource<VmBody>(keys[1]!);
      assert.equal(stored?.body.properties.netwatcher.agentConnected, true);
      assert.equal(stored?.etag, vms[1]?.etag, 'the record returned is the one written');
    });

    test(`a reconnecting fleet greeted through the server's limit on ${engine}: ${AGENT_GREETINGS_AT_ONCE[engine]} hellos share each statement`, async () => {
      const fleet: string[] = [];
      for (let i = 0; i < 64; i++) fleet.push(await host(`fleet${i}`));
      const greetings = new AgentGreetings(AGENT_GREETINGS_AT_ONCE[engine], () => false);
      spy.reset();
      await Promise.all(
        fleet.map((key) =>
          greetings.hello(key, async () => {
            await setAgentConnected(ctx, key, true, { agentVersion: '1.0.0' });
          }),
        ),
      );
      const batches = spy.statements() / 2;
      if (engine === 'pglite') {
        // One statement at a time, a few ms each whatever its rows, no pool: 64 at once. At 16,
        // 10,000 hellos were bound by their round trips (~35 s after the connect, bench/scale).
        assert.equal(batches, 1, 'the 64 hellos in one batch');
      } else {
        // 16: more took the pool's connections from the handshakes (bench/scale, 22,766 timeouts).
        assert.ok(batches >= 4, `at most 16 hellos a batch (${batches} batches)`);
      }
      for (const key of fleet)
        assert.equal((await store.getResource<VmBody>(key))?.body.properties.netwatcher.agentConnected, true);
    });

    test('a change of the VM at the same moment (tags, a look-back setting) is not lost, nor is the hello', async () => {
      const key = keys[2]!;
      const before = await store.getResource<VmBody>(key);
      await Promise.all([
        setAgentConnected(ctx, key, false),
        store.modifyResourceBody<VmBody & { tags: Record<string, string> }>(key, (b) => ({
          ...b,
          tags: { ...b.tags, owner: 'sre' },
          properties: {
            ...b.properties,
            netwatcher: { ...b.properties.netwatcher, lookback: null },
          },
        })),
      ]);
      const after_ = await store.getResource<VmBody & { tags: Record<string, string> }>(key);
      assert.deepEqual(after_?.body.tags, { team: 'net', owner: 'sre' });
      assert.equal(after_?.body.properties.netwatcher.lookback, null);
      assert.equal(after_?.body.properties.netwatcher.agentConnected, false);
      assert.equal(after_?.body.properties.netwatcher.agentVersion, '1.0.0', 'the version is kept when not given');
      assert.notEqual(after_?.etag, before?.etag);
    });

    test('in a store bound to a transaction (no batching), the same record', async () => {
      const key = keys[3]!;
      const vm = await store.transaction((tx) =>
        setAgentConnected({ store: tx } as ServerContext, key, true, { agentVersion: '2.0.0', hostname: 'h3' }),
      );
      const nw = vm?.body.properties.netwatcher;
      assert.deepEqual([nw?.agentConnected, nw?.agentVersion, nw?.hostname], [true, '2.0.0', 'h3']);
      assert.equal(nw?.lookback?.settings.seconds, 30);
      assert.equal((await store.getResource<VmBody>(key))?.etag, vm?.etag);
    });

    test('a VM without a host state yet (absent, or null) gets one', async () => {
      for (const [name, properties] of [
        ['bare-absent', {}],
        ['bare-null', { netwatcher: null }],
      ] as const) {
        const key = `/subscriptions/${SUB}/resourcegroups/rg/providers/microsoft.compute/virtualmachines/${name}`;
        await store.putResource({
          key,
          type: 'vm',
          parentKey: null,
          id: key,
          name,
          subscriptionId: SUB,
          resourceGroup: 'rg',
          location: 'westus',
          body: { type: 'Microsoft.Compute/virtualMachines', location: 'westus', properties },
        });
        const vm = await setAgentConnected(ctx, key, true, { agentVersion: '1.0.0' });
        const nw = vm?.body.properties.netwatcher as unknown as Record<string, unknown>;
        assert.equal(nw.agentConnected, true, name);
        assert.equal(nw.agentVersion, '1.0.0', name);
      }
    });

    test('no VM, nothing written: null', async () => {
      assert.equal(
        await setAgentConnected(
          ctx,
          `/subscriptions/${SUB}/resourcegroups/rg/providers/microsoft.compute/virtualmachines/none`,
          true,
        ),
        null,
      );
    });
  });
}
