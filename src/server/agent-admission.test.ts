/**
 * Issue 17, reconnect storms: an agent's handshake is admitted from a cache of recently verified
 * credentials (no database read), and a revocation through this server is never answered from it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openPglite, migrate, Store, type Db } from '../store/index.js';
import { AgentCredentialCache } from './credentials.js';

async function counted(): Promise<{
  store: Store;
  reads: () => number;
  /** Holds every statement until the returned function is called (the database busy, as PGlite is behind a metric backlog). */
  hold: () => () => void;
  /** Resolves when a statement is asked for while held. */
  asked: () => Promise<void>;
  close: () => Promise<void>;
}> {
  const db = await openPglite(null);
  await migrate(db);
  let reads = 0;
  let held: Promise<void> | null = null;
  let onAsked: () => void = () => {};
  const spy: Db = {
    engine: db.engine,
    query: async (sql, params) => {
      if (held) {
        onAsked();
        await held;
      }
      if (/FROM api_tokens/.test(sql)) reads++;
      return db.query(sql, params);
    },
    transaction: (fn) => db.transaction(fn),
    close: () => db.close(),
  };
  const hold = () => {
    let release: () => void = () => {};
    held = new Promise<void>((resolve) => {
      release = () => {
        held = null;
        resolve();
      };
    });
    return release;
  };
  const asked = () =>
    new Promise<void>((resolve) => {
      onAsked = resolve;
    });
  return { store: new Store(spy), reads: () => reads, hold, asked, close: () => db.close() };
}

test('embedded database: a restarted server admits its known agents without a database read, however long since, while the database is busy', async () => {
  const { store, reads, hold, asked, close } = await counted();
  try {
    const tokens = await Promise.all(
      Array.from({ length: 3 }, (_, i) => store.issueToken('agent', { vmKey: `VM${i}` })),
    );
    // A new server process: nothing verified yet; one read at start loads every agent credential.
    const cache = new AgentCredentialCache(store, { authoritative: true, maxAgeInMs: 1 });
    assert.equal(await cache.prime(), 3);
    const afterPrime = reads();
    await new Promise((r) => setTimeout(r, 20));
    // The database does not answer (behind a metric backlog and a storm's greetings): admission does not wait for it.
    const release = hold();
    const askedDb = asked().then(() => 'asked the database');
    const answers = Promise.all(tokens.map((t) => cache.verify(t.token)));
    const first = await Promise.race([answers.then(() => 'answered'), askedDb]);
    release();
    assert.equal(first, 'answered', 'a known agent is admitted without waiting for the database');
    assert.deepEqual(
      (await answers).map((i) => i?.vmKey),
      ['vm0', 'vm1', 'vm2'],
    );
    assert.equal(reads(), afterPrime, 'no database read for a known agent, 20 ms past maxAge');

    // Every revocation passes through this process: refused at once, as before.
    await store.revokeTokens('agent', 'vm1');
    assert.equal(await cache.verify(tokens[1]!.token), null);
    assert.equal((await cache.verify(tokens[0]!.token))?.vmKey, 'vm0');
    // A credential issued after the start (a new host) is looked up once, then kept.
    const late = await store.issueToken('agent', { vmKey: 'vm9' });
    const beforeLate = reads();
    assert.equal((await cache.verify(late.token))?.vmKey, 'vm9');
    assert.equal((await cache.verify(late.token))?.vmKey, 'vm9');
    assert.equal(reads(), beforeLate + 1);
    // Unknown and malformed tokens are still refused (and never kept).
    assert.equal(await cache.verify('nw-agent-unknown'), null);
    assert.equal(await cache.verify('x'.repeat(10_000)), null);
  } finally {
    await close();
  }
});

test('a revocation while the credentials are being loaded is not undone by the load', async () => {
  const { store, hold, close } = await counted();
  try {
    const { token } = await store.issueToken('agent', { vmKey: 'vm1' });
    const cache = new AgentCredentialCache(store, { authoritative: true });
    const release = hold();
    const priming = cache.prime();
    const revoking = store.revokeTokens('agent', 'vm1');
    release();
    await Promise.all([priming, revoking]);
    assert.equal(await cache.verify(token), null);
  } finally {
    await close();
  }
});

test('a reconnecting agent is admitted without a database read; a revoked credential is refused at once', async () => {
  const { store, reads, close } = await counted();
  try {
    const cache = new AgentCredentialCache(store, { maxAgeInMs: 60_000 });
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
    const cache = new AgentCredentialCache(store, { maxAgeInMs: 50 });
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
    const cache = new AgentCredentialCache(store, { maxAgeInMs: 60_000, maxEntries: 3 });
    const tokens = await Promise.all(
      Array.from({ length: 5 }, (_, i) => store.issueToken('agent', { vmKey: `vm${i}` })),
    );
    for (const t of tokens) await cache.verify(t.token);
    assert.equal(cache.size, 3);
  } finally {
    await close();
  }
});

test('on PostgreSQL, credentials past maxAge are dropped, not kept until the bound evicts them (one revoked through another replica never comes back here)', async () => {
  const { store, close } = await counted();
  try {
    const cache = new AgentCredentialCache(store, { maxAgeInMs: 50 });
    const tokens = await Promise.all(
      Array.from({ length: 5 }, (_, i) => store.issueToken('agent', { vmKey: `aged${i}` })),
    );
    for (const t of tokens) await cache.verify(t.token);
    assert.equal(cache.size, 5);
    await new Promise((r) => setTimeout(r, 80));
    // Another host's handshake: the five aged entries go, the new one stays.
    const { token } = await store.issueToken('agent', { vmKey: 'fresh' });
    await cache.verify(token);
    assert.equal(cache.size, 1);
  } finally {
    await close();
  }
});
