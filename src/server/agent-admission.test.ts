/**
 * Issue 17, reconnect storms: an agent's handshake is admitted from a cache of recently verified
 * credentials (no database read), and a revocation through this server is never answered from it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openPglite, migrate, Store, type Db } from '../store/index.js';
import { AgentCredentialCache } from './credentials.js';

async function counted(): Promise<{ store: Store; reads: () => number; close: () => Promise<void> }> {
  const db = await openPglite(null);
  await migrate(db);
  let reads = 0;
  const spy: Db = {
    engine: db.engine,
    query: (sql, params) => {
      if (/FROM api_tokens/.test(sql)) reads++;
      return db.query(sql, params);
    },
    transaction: (fn) => db.transaction(fn),
    close: () => db.close(),
  };
  return { store: new Store(spy), reads: () => reads, close: () => db.close() };
}

test('a reconnecting agent is admitted without a database read; a revoked credential is refused at once', async () => {
  const { store, reads, close } = await counted();
  try {
    const cache = new AgentCredentialCache(store, 60_000);
    const { token } = await store.issueToken('agent', { vmKey: 'VM1' });
    const first = await cache.verify(token);
    assert.equal(first?.kind, 'agent');
    assert.equal(first?.vmKey, 'vm1');
    const before = reads();
    for (let i = 0; i < 100; i++) assert.equal((await cache.verify(token))?.vmKey, 'vm1');
    assert.equal(reads(), before, '100 reconnects, no database read');

    await store.revokeTokens('agent', 'vm1');
    assert.equal(await cache.verify(token), null, 'revoked through this server: refused at the next handshake');
    assert.equal(await cache.verify('nw-agent-unknown'), null);
    assert.equal(await cache.verify(''), null);
    assert.equal(await cache.verify('x'.repeat(10_000)), null, 'megabytes of header are no token');
  } finally {
    await close();
  }
});

test('a credential is looked up again after maxAge (revoked through another replica), and admin tokens are never kept', async () => {
  const { store, reads, close } = await counted();
  try {
    const cache = new AgentCredentialCache(store, 50);
    const { token } = await store.issueToken('agent', { vmKey: 'vm2' });
    const admin = await store.issueToken('admin');
    await cache.verify(token);
    await cache.verify(admin.token);
    const before = reads();
    await cache.verify(admin.token);
    assert.equal(reads(), before + 1, 'admin tokens: always the database');
    await new Promise((r) => setTimeout(r, 80));
    await cache.verify(token);
    assert.equal(reads(), before + 2, 'stale: asked again');
  } finally {
    await close();
  }
});

test('bounded: the least recently used credentials go first', async () => {
  const { store, close } = await counted();
  try {
    const cache = new AgentCredentialCache(store, 60_000, 3);
    const tokens = await Promise.all(
      Array.from({ length: 5 }, (_, i) => store.issueToken('agent', { vmKey: `vm${i}` })),
    );
    for (const t of tokens) await cache.verify(t.token);
    assert.equal(cache.size, 3);
  } finally {
    await close();
  }
});
