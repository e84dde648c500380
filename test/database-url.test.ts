/**
 * Issue 10 point 7: NW_DATABASE_URL (the environment form of --database-url) is honoured by
 * `nw server` and `nw up`: their resources land in that PostgreSQL database, not in an embedded
 * one in the data folder. A fresh database per test on the test machine's PostgreSQL, dropped after.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { TEST_DATABASE_URL, postgresAvailable, testDatabaseName } from '../src/store/testing/engines.js';
import { NW_BIN, REPO_ROOT, stopProcess } from './lab/lab.js';

/** A fresh, empty database and its URL. */
async function freshDatabase(): Promise<{
  url: string;
  query(sql: string): Promise<Array<Record<string, unknown>>>;
  drop(): Promise<void>;
}> {
  const name = testDatabaseName('dburl');
  const admin = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  const url = new URL(TEST_DATABASE_URL);
  url.pathname = `/${name}`;
  const client = new pg.Client({ connectionString: url.toString() });
  await client.connect();
  return {
    url: url.toString(),
    query: async (sql) => (await client.query(sql)).rows as Array<Record<string, unknown>>,
    async drop() {
      await client.end();
      await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await admin.end();
    },
  };
}

describe('NW_DATABASE_URL', { timeout: 180_000 }, async () => {
  const skip = !(await postgresAvailable());
  const home = mkdtempSync(join(tmpdir(), 'nw-dburl-'));
  const children: ChildProcess[] = [];
  after(async () => {
    for (const c of children) await stopProcess(c);
    rmSync(home, { recursive: true, force: true });
  });

  const run = async (args: string[], databaseUrl: string, ready: RegExp): Promise<string> => {
    const env = {
      ...process.env,
      HOME: home,
      NW_DATABASE_URL: databaseUrl,
      PATH: `${join(REPO_ROOT, 'bin')}:${process.env.PATH}`,
    } as NodeJS.ProcessEnv;
    delete env.NW_CONFIG;
    const child = spawn(process.execPath, [NW_BIN, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    let out = '';
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
    });
    child.stderr?.on('data', (d: Buffer) => {
      out += d.toString();
    });
    const deadline = Date.now() + 90_000;
    while (!ready.test(out)) {
      if (child.exitCode !== null || Date.now() > deadline) throw new Error(`nw ${args[0]} did not get ready:\n${out}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    await stopProcess(child);
    return out;
  };

  test('nw server keeps its resources in the database NW_DATABASE_URL names', { skip }, async () => {
    const db = await freshDatabase();
    try {
      const dataDir = join(home, 'server');
      await run(
        ['server', '--listen', '127.0.0.1:0', '--data-dir', dataDir, '--log-level', 'warn'],
        db.url,
        /listening on http/,
      );
      const rows = await db.query(`SELECT name FROM resources WHERE type = 'storageAccount'`);
      assert.deepEqual(
        rows.map((r) => r.name),
        ['nwlocal'],
        'the default storage account is in PostgreSQL',
      );
      assert.equal(existsSync(join(dataDir, 'db')), false, 'no embedded database was made');
    } finally {
      await db.drop();
    }
  });

  test('nw up too: its host registered in that database', { skip }, async () => {
    const db = await freshDatabase();
    try {
      const dataDir = join(home, 'up');
      await run(
        [
          'up',
          '--listen',
          '127.0.0.1:0',
          '--data-dir',
          dataDir,
          '--vm-name',
          'dburlhost',
          '--interface',
          'lo',
          '--capture-root',
          join(home, 'captures'),
        ],
        db.url,
        /^ready$/m,
      );
      const rows = await db.query(`SELECT name FROM resources WHERE type = 'vm'`);
      assert.deepEqual(
        rows.map((r) => r.name),
        ['dburlhost'],
      );
      assert.equal(existsSync(join(dataDir, 'db')), false, 'no embedded database was made');
    } finally {
      await db.drop();
    }
  });
});
