/**
 * Issue 9, point 6: secrets at rest. The data folder is owner-only whatever it was; storage
 * credentials, webhook keys and the signing key never reach the database in plain text (the
 * raw database files, WAL included, and a dump are searched for them); plaintext rows of an
 * earlier version are sealed at start; a wrong or exposed key is refused with a clear error.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  chmodSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer } from '../server/index.js';
import { openPglite } from './db.js';
import { migrate } from './migrations.js';
import { SecretBox } from './secrets.js';
import { Store } from './store.js';

const SUB = '00000000-0000-0000-0000-000000000000';
const S3_SECRET = 'S3secretKEYneverInTheDatabase0123456789';
const AZURE_KEY = 'QXp1cmVLZXlOZXZlckluVGhlRGF0YWJhc2U=';
const WEBHOOK_KEY = 'webhookKEYneverInTheDatabase42';

/** Every file under a folder, symbolic links not followed. */
function walk(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    const st = lstatSync(p);
    if (st.isDirectory()) walk(p, out);
    else if (st.isFile()) out.push(p);
  }
  return out;
}

/** The files of the database folder that contain `needle` (raw bytes: heap, WAL, everything). */
function filesContaining(dbDir: string, needle: string): string[] {
  const bytes = Buffer.from(needle, 'utf8');
  return walk(dbDir).filter((f) => readFileSync(f).includes(bytes));
}

async function put(
  url: string,
  token: string,
  path: string,
  body: unknown,
): Promise<{ status: number; body: Record<string, any> }> {
  const res = await fetch(`${url}${path}?api-version=2023-01-01`, {
    method: 'PUT',
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, any> };
}

test('the data folder becomes owner-only, whatever modes it had', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'nw-sec-mode-'));
  try {
    chmodSync(dataDir, 0o777);
    mkdirSync(join(dataDir, 'storage'), { mode: 0o777 });
    chmodSync(join(dataDir, 'storage'), 0o777);
    writeFileSync(join(dataDir, 'storage', 'old.cap'), 'x', { mode: 0o666 });
    chmodSync(join(dataDir, 'storage', 'old.cap'), 0o666);
    const server = await startServer({
      listenHost: '127.0.0.1',
      listenPort: 0,
      dataDir,
      defaultLocation: 'l',
      subscriptionId: SUB,
      logLevel: 'silent',
    });
    await server.close();
    const entries = [dataDir, ...walkAll(dataDir)];
    for (const p of entries) {
      const st = lstatSync(p);
      if (st.isSymbolicLink()) continue;
      assert.equal(st.mode & 0o077, 0, `${p} has mode ${(st.mode & 0o777).toString(8)}`);
    }
    assert.equal(lstatSync(join(dataDir, 'db')).mode & 0o777, 0o700);
    assert.equal(lstatSync(join(dataDir, 'secret-key')).mode & 0o777, 0o600);
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});

function walkAll(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    out.push(p);
    if (lstatSync(p).isDirectory()) walkAll(p, out);
  }
  return out;
}

test('storage credentials, webhook keys and the signing key are not in the database files or a dump', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'nw-sec-dump-'));
  try {
    const server = await startServer({
      listenHost: '127.0.0.1',
      listenPort: 0,
      dataDir,
      defaultLocation: 'l',
      subscriptionId: SUB,
      logLevel: 'silent',
    });
    const rg = `/subscriptions/${SUB}/resourceGroups/rg1/providers`;
    const s3 = await put(server.url, server.adminToken, `${rg}/Microsoft.Storage/storageAccounts/s3acct`, {
      location: 'l',
      properties: {
        backend: {
          type: 's3',
          endpoint: 'http://127.0.0.1:9',
          bucket: 'bucket1',
          accessKeyId: 'AKIDEXAMPLE',
          secretAccessKey: S3_SECRET,
        },
      },
    });
    // Storage account creates answer 200, as Azure's (the Python SDK accepts nothing else: sdk.md).
    assert.equal(s3.status, 200, JSON.stringify(s3.body));
    const az = await put(server.url, server.adminToken, `${rg}/Microsoft.Storage/storageAccounts/azacct`, {
      location: 'l',
      properties: {
        backend: {
          type: 'azureBlob',
          connectionString: `DefaultEndpointsProtocol=http;AccountName=devstore;AccountKey=${AZURE_KEY};BlobEndpoint=http://127.0.0.1:9/devstore`,
        },
      },
    });
    assert.equal(az.status, 200, JSON.stringify(az.body));
    const ag = await put(server.url, server.adminToken, `${rg}/Microsoft.Insights/actionGroups/ag1`, {
      location: 'Global',
      properties: {
        groupShortName: 'ag1',
        enabled: true,
        webhookReceivers: [{ name: 'hook', serviceUri: `http://127.0.0.1:9/hook?code=${WEBHOOK_KEY}` }],
      },
    });
    assert.equal(ag.status, 201, JSON.stringify(ag.body));
    assert.equal(JSON.stringify(ag.body).includes(WEBHOOK_KEY), false, 'the webhook key is redacted on output');
    await server.close();

    const dbDir = join(dataDir, 'db');
    for (const secret of [S3_SECRET, AZURE_KEY, WEBHOOK_KEY])
      assert.deepEqual(filesContaining(dbDir, secret), [], `'${secret}' is in the database files`);

    // A dump: every row of every table, as text.
    const db = await openPglite(dbDir);
    const tables = (
      await db.query<{ tablename: string }>(`SELECT tablename FROM pg_tables WHERE schemaname = 'public'`)
    ).map((r) => r.tablename);
    let dump = '';
    for (const t of tables) dump += JSON.stringify(await db.query(`SELECT * FROM ${t}`));
    for (const secret of [S3_SECRET, AZURE_KEY, WEBHOOK_KEY])
      assert.equal(dump.includes(secret), false, `'${secret}' is in the dump`);
    const [signing] = await db.query<{ value: string }>(`SELECT value FROM server_settings WHERE name = 'signing-key'`);
    assert.ok(SecretBox.isSealed(signing?.value), 'the signing key is sealed');
    // With the key file, the server itself still reads them.
    const store = new Store(
      db,
      new SecretBox(Buffer.from(readFileSync(join(dataDir, 'secret-key'), 'utf8').trim(), 'base64')),
    );
    const account = (await store.listResources('storageAccount')).find((a) => a.name === 's3acct');
    assert.equal((account?.secret as { secretAccessKey?: string }).secretAccessKey, S3_SECRET);
    await db.close();
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test('plaintext secrets of an earlier version are sealed at start', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'nw-sec-migrate-'));
  try {
    // An earlier version's database: secrets in plain jsonb, the signing key in plain text.
    const old = await openPglite(join(dataDir, 'db'));
    await migrate(old);
    const id = `/subscriptions/${SUB}/resourceGroups/rg1/providers/Microsoft.Storage/storageAccounts/oldacct`;
    await new Store(old).putResource({
      key: id,
      type: 'storageAccount',
      parentKey: null,
      id,
      name: 'oldacct',
      subscriptionId: SUB,
      resourceGroup: 'rg1',
      location: 'l',
      body: { properties: {} },
      secret: { type: 's3', secretAccessKey: S3_SECRET },
    });
    await old.query(`INSERT INTO server_settings (name, value) VALUES ('signing-key', $1)`, [
      Buffer.alloc(32, 7).toString('base64'),
    ]);
    await old.close();

    const server = await startServer({
      listenHost: '127.0.0.1',
      listenPort: 0,
      dataDir,
      defaultLocation: 'l',
      subscriptionId: SUB,
      logLevel: 'silent',
    });
    await server.close();
    const db = await openPglite(join(dataDir, 'db'));
    const rows = await db.query<{ secret: unknown }>(`SELECT secret FROM resources WHERE name = 'oldacct'`);
    assert.ok(SecretBox.isSealed(rows[0]?.secret), JSON.stringify(rows));
    assert.equal(JSON.stringify(await db.query('SELECT * FROM resources')).includes(S3_SECRET), false);
    const [signing] = await db.query<{ value: string }>(`SELECT value FROM server_settings WHERE name = 'signing-key'`);
    assert.ok(SecretBox.isSealed(signing?.value));
    await db.close();
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test('a wrong secret key, or one others can read, is refused at start with a clear error', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'nw-sec-key-'));
  try {
    const server = await startServer({
      listenHost: '127.0.0.1',
      listenPort: 0,
      dataDir,
      defaultLocation: 'l',
      subscriptionId: SUB,
      logLevel: 'silent',
    });
    await server.close();
    const other = join(dataDir, 'other-key');
    writeFileSync(other, Buffer.alloc(32, 1).toString('base64'), { mode: 0o600 });
    await assert.rejects(
      startServer({
        listenHost: '127.0.0.1',
        listenPort: 0,
        dataDir,
        defaultLocation: 'l',
        subscriptionId: SUB,
        logLevel: 'silent',
        secretKeyFile: other,
      }),
      /not the one the database's secrets were sealed with/,
    );
    chmodSync(join(dataDir, 'secret-key'), 0o644);
    // (The start tightens the folder's own key file; a key file kept elsewhere is refused instead.)
    chmodSync(other, 0o644);
    const second = join(dataDir, 'second');
    await assert.rejects(
      startServer({
        listenHost: '127.0.0.1',
        listenPort: 0,
        dataDir: second,
        defaultLocation: 'l',
        subscriptionId: SUB,
        logLevel: 'silent',
        secretKeyFile: other,
      }),
      /readable or writable by others/,
    );
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});
