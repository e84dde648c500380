/**
 * One watcher per location holds under concurrency: PUTs of different watcher names in one
 * location at once, and the watcher an agent's enrolment creates, take the location's lock for
 * their check and write, on both engines (PostgreSQL: an advisory transaction lock).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Store } from '../../store/index.js';
import { openTestDatabase, postgresAvailable, TEST_ENGINES } from '../../store/testing/engines.js';
import { ApiError, createLogger } from '../../lib/index.js';
import type { AgentHub } from '../agent-hub.js';
import { newServerMemory, type ServerContext } from './context.js';
import { ensureWatcherForLocation, listWatchers, putWatcher } from './watchers.js';

const SUB = '00000000-0000-0000-0000-000000000000';

for (const engine of TEST_ENGINES) {
  test(`${engine}: concurrent watcher PUTs and enrolments leave one watcher per location`, async (t) => {
    if (engine === 'postgres' && !(await postgresAvailable())) return t.skip('no PostgreSQL');
    const { db, drop } = await openTestDatabase(engine);
    try {
      const ctx = {
        config: { subscriptionId: SUB, defaultLocation: 'westus', dataDir: '/nonexistent' },
        store: new Store(db),
        hub: { isConnected: () => false, send: () => false, connectedCount: 0 } as unknown as AgentHub,
        logger: createLogger({ level: 'silent', name: 'test' }),
        signingKey: Buffer.alloc(32),
        memory: newServerMemory(),
      } as ServerContext;
      const outcomes = await Promise.allSettled([
        ...[0, 1, 2, 3, 4].map((i) => putWatcher(ctx, SUB, 'rg', `nw${i}`, { location: 'eastus' })),
        ...[0, 1, 2].map(() => ensureWatcherForLocation(ctx, SUB, 'EastUS')),
      ]);
      const refused = outcomes.filter((o): o is PromiseRejectedResult => o.status === 'rejected');
      for (const o of refused)
        assert.ok(o.reason instanceof ApiError && o.reason.code === 'Conflict', String(o.reason));
      const watchers = (await listWatchers(ctx, SUB)).filter((w) => w.location?.toLowerCase() === 'eastus');
      assert.equal(watchers.length, 1, `one watcher in eastus, found ${watchers.map((w) => w.name).join(', ')}`);
      // Every enrolment answered with that one watcher.
      for (const o of outcomes.slice(5)) {
        assert.equal(o.status, 'fulfilled');
        assert.equal((o as PromiseFulfilledResult<{ key: string }>).value.key, watchers[0]!.key);
      }
    } finally {
      await drop();
    }
  });
}
