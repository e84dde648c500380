import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openPglite, translateDatabaseError, type Db } from './db.js';
import { openPgliteWorker } from './pglite-worker.js';

/** The worker must answer exactly as PGlite in-thread does: every case runs on both. */
const ENGINES = { 'in-thread': openPglite, worker: openPgliteWorker } as const;

const results: Record<string, Record<string, unknown>> = { 'in-thread': {}, worker: {} };

for (const [name, open] of Object.entries(ENGINES)) {
  describe(`PGlite ${name}`, async () => {
    const db: Db = await open(null);
    after(() => db.close());
    await db.query('CREATE TABLE t (k text PRIMARY KEY, n int)');
    const seen = results[name]!;

    test('values cross as in-thread: Date, bytea, bigint, JSON, arrays, typed arrays', async () => {
      const when = new Date('2026-12-04T03:50:00.123Z');
      const [row] = await db.query(
        `SELECT $1::timestamptz AS at, $2::bytea AS bytes, $3::int8 AS big, 9007199254740993::int8 AS huge,
                $4::jsonb AS doc, $5::text[] AS texts, $6::float8[] AS floats, $7::integer[] AS ints, $8::bool AS yes,
                NULL::text AS nothing, now() AS now`,
        [
          when,
          Buffer.from([0, 1, 255]),
          42n,
          JSON.stringify({ a: [1, 'x', null] }),
          ['a', 'b'],
          Array.from(new Float64Array([1.5, -2])),
          [1, 2, 3],
          true,
        ],
      );
      assert.ok(row!.at instanceof Date);
      assert.equal((row!.at as Date).toISOString(), when.toISOString());
      assert.ok(row!.bytes instanceof Uint8Array);
      assert.deepEqual([...(row!.bytes as Uint8Array)], [0, 1, 255]);
      assert.deepEqual(row!.doc, { a: [1, 'x', null] });
      assert.deepEqual(row!.texts, ['a', 'b']);
      assert.deepEqual(row!.floats, [1.5, -2]);
      assert.deepEqual(row!.ints, [1, 2, 3]);
      assert.equal(row!.yes, true);
      assert.equal(row!.nothing, null);
      assert.ok(row!.now instanceof Date);
      seen.values = { ...row, now: typeof row!.now, bytes: [...(row!.bytes as Uint8Array)] };
    });

    test('a unique violation keeps its SQLSTATE, constraint and message', async () => {
      await db.query('INSERT INTO t VALUES ($1, $2)', ['a', 1]);
      const error = await db.query('INSERT INTO t VALUES ($1, $2)', ['a', 2]).then(
        () => assert.fail('no error'),
        (e: unknown) => e as { code: string; constraint: string; message: string; detail: string },
      );
      assert.ok(error instanceof Error);
      assert.equal(error.code, '23505');
      assert.equal(error.constraint, 't_pkey');
      assert.match(error.message, /duplicate key value violates unique constraint "t_pkey"/);
      seen.unique = { code: error.code, constraint: error.constraint, message: error.message, detail: error.detail };
    });

    test('a transaction commits, rolls back on a throw, and its handle nests on the same session', async () => {
      const value = await db.transaction(async (tx) => {
        await tx.query('INSERT INTO t VALUES ($1, $2)', ['b', 2]);
        return tx.transaction(async (inner) => {
          await inner.query('UPDATE t SET n = n + 1 WHERE k = $1', ['b']);
          return (await inner.query<{ n: number }>('SELECT n FROM t WHERE k = $1', ['b']))[0]!.n;
        });
      });
      assert.equal(value, 3);
      await assert.rejects(
        db.transaction(async (tx) => {
          await tx.query('INSERT INTO t VALUES ($1, $2)', ['c', 3]);
          throw new Error('changed my mind');
        }),
        /changed my mind/,
      );
      const keys = (await db.query<{ k: string }>('SELECT k FROM t ORDER BY k')).map((r) => r.k);
      assert.deepEqual(keys, ['a', 'b']);
      seen.keys = keys;
    });

    test('a statement outside waits until the open transaction ends (one session)', async () => {
      let release!: () => void;
      const held = new Promise<void>((r) => (release = r));
      const order: string[] = [];
      const tx = db.transaction(async (t) => {
        await t.query('UPDATE t SET n = 100 WHERE k = $1', ['a']);
        order.push('tx wrote');
        await held;
        order.push('tx ends');
      });
      await new Promise((r) => setTimeout(r, 50));
      const outside = db.query<{ n: number }>('SELECT n FROM t WHERE k = $1', ['a']).then((rows) => {
        order.push('outside read');
        return rows[0]!.n;
      });
      await new Promise((r) => setTimeout(r, 50));
      release();
      await tx;
      assert.equal(await outside, 100);
      assert.deepEqual(order, ['tx wrote', 'tx ends', 'outside read']);
      seen.order = order;
    });

    test('a failed statement inside a transaction rolls the whole of it back', async () => {
      await assert.rejects(
        db.transaction(async (tx) => {
          await tx.query('INSERT INTO t VALUES ($1, $2)', ['d', 4]);
          await tx.query('INSERT INTO t VALUES ($1, $2)', ['d', 5]);
        }),
        (e: { code?: string }) => e.code === '23505',
      );
      assert.deepEqual(await db.query('SELECT k FROM t WHERE k = $1', ['d']), []);
    });

    test('a syntax error keeps its code and position', async () => {
      const error = (await db.query('SELEC 1').catch((e: unknown) => e)) as { code: string; position: string };
      assert.equal(error.code, '42601');
      seen.syntax = { code: error.code, position: error.position };
    });
  });
}

test('the worker answered every case exactly as in-thread PGlite', () => {
  assert.deepEqual(results.worker, results['in-thread']);
});

describe('PGlite worker lifecycle', () => {
  test('a database folder persists across a close and a reopen', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'nw-pglite-worker-'));
    try {
      const first = await openPgliteWorker(join(dir, 'db'));
      await first.query('CREATE TABLE kept (v text)');
      await first.query('INSERT INTO kept VALUES ($1)', ['there']);
      await first.close();
      await first.close(); // twice: no-op
      const second = await openPgliteWorker(join(dir, 'db'));
      assert.deepEqual(await second.query('SELECT v FROM kept'), [{ v: 'there' }]);
      await second.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('after close, a statement fails as DatabaseUnavailable', async () => {
    const db = await openPgliteWorker(null);
    await db.close();
    const error = await db.query('SELECT 1').catch((e: unknown) => e);
    assert.equal((error as { code?: string }).code, 'DatabaseUnavailable');
    assert.equal(translateDatabaseError(error, null), error);
  });
});
